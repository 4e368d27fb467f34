// The direct convolution kernels for CPU adapters with 8-wide subgroups (uses subgroup operations, so compiled only there): forward (direct_k3, direct_k1), the 3x3
// stride-2 input gradient (direct_t2) and the weight gradient (wgrad_direct_k3, _k1).

#include "conv2d/parts/params"
#include "conv2d/parts/direct_forward"
#include "conv2d/parts/direct_t2"
#include "conv2d/parts/wgrad_direct"
#include "conv2d/parts/loads_subgroup"
