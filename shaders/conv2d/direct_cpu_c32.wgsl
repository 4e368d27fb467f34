// The direct forward (direct_k3, direct_k1) and weight-gradient (wgrad_direct_k3, _k1) kernels
// with 32-channel blocks, weights and dy loaded lane by lane (every CPU adapter).

#include "conv2d/parts/params"
#include "conv2d/parts/direct_forward" CB=32 NG=8 ACC=256 WV=72
#include "conv2d/parts/wgrad_direct" CO=32 NG=8 CI3=3 CI1=16 WACC=864 DV=64 ROWS3=27
#include "conv2d/parts/weights_cpu" NG=8
#include "conv2d/parts/loads_cpu" CO=32
