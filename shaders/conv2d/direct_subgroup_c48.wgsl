// The direct forward kernels (direct_k3, direct_k1) with 48-channel blocks, weight loads
// shared across 8-wide subgroups (uses subgroup operations, so compiled only there).

#include "conv2d/parts/params"
#include "conv2d/parts/direct_forward" CB=48 NG=12 ACC=384 WV=108
#include "conv2d/parts/weights_subgroup" NG=12 WV=108 NL=14 FULL=13 TAIL=4
