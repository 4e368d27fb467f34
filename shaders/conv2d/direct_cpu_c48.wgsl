// The direct forward kernels (direct_k3, direct_k1) with 48-channel blocks, weights loaded
// lane by lane (every CPU adapter).

#include "conv2d/parts/params"
#include "conv2d/parts/direct_forward" CB=48 NG=12 ACC=384 WV=108
#include "conv2d/parts/weights_cpu" NG=12
