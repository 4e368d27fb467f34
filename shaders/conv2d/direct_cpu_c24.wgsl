// The direct forward kernels (direct_k3, direct_k1) with 24-channel blocks, weights loaded
// lane by lane (every CPU adapter).

#include "conv2d/parts/params"
#include "conv2d/parts/direct_forward" CB=24 NG=6 ACC=192 WV=54
#include "conv2d/parts/weights_cpu" NG=6
