// The direct convolution kernels for every CPU adapter, with 16-channel blocks: forward
// (direct_k3, direct_k1), the 3x3 stride-2 input gradient (direct_t2) and the weight gradient
// (wgrad_direct_k3, _k1). Wider channel blocks: direct_cpu_c24, _c32.

#include "conv2d/parts/params"
#include "conv2d/parts/direct_forward" CB=16 NG=4 ACC=128 WV=36
#include "conv2d/parts/direct_t2"
#include "conv2d/parts/wgrad_direct" CO=16 NG=4 CI3=4 CI1=16 WACC=576 DV=32 ROWS3=36
#include "conv2d/parts/weights_cpu" NG=4
#include "conv2d/parts/loads_cpu" CO=16
