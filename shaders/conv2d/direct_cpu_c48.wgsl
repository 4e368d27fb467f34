// The direct forward (direct_k3, direct_k1) and weight-gradient (wgrad_direct_k3, _k1) kernels
// with 48-channel blocks, weights and dy loaded lane by lane (every CPU adapter).

#include "conv2d/parts/params"
#include "conv2d/parts/direct_forward" CB=48 NG=12 ACC=384 WV=108
#include "conv2d/parts/wgrad_direct" CO=48 NG=12 CI3=2 CI1=16 WACC=864 DV=96 ROWS3=18
#include "conv2d/parts/weights_cpu" NG=12
#include "conv2d/parts/loads_cpu" CO=48
