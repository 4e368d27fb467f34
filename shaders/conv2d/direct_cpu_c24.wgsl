// The direct forward (direct_k3, direct_k1) and weight-gradient (wgrad_direct_k3, _k1) kernels
// with 24-channel blocks, weights and dy loaded lane by lane (every CPU adapter).

#include "conv2d/parts/params"
#include "conv2d/parts/direct_forward" CB=24 NG=6 ACC=192 WV=54
#include "conv2d/parts/wgrad_direct" CO=24 NG=6 CI3=4 CI1=16 WACC=864 DV=48 ROWS3=36
#include "conv2d/parts/weights_cpu" NG=6
#include "conv2d/parts/loads_cpu" CO=24
