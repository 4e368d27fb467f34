// The direct forward kernels (direct_k3, direct_k1) with 32-channel blocks, weights loaded
// lane by lane (every CPU adapter).

#include "conv2d/parts/params"
#include "conv2d/parts/direct_forward" CB=32 NG=8 ACC=256 WV=72
#include "conv2d/parts/weights_cpu" NG=8
