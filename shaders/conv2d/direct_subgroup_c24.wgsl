// The direct forward kernels (direct_k3, direct_k1) with 24-channel blocks, weight loads
// shared across 8-wide subgroups (uses subgroup operations, so compiled only there).

#include "conv2d/parts/params"
#include "conv2d/parts/direct_forward" CB=24 NG=6 ACC=192 WV=54
#include "conv2d/parts/weights_subgroup" NG=6 WV=54 NL=7 FULL=6 TAIL=6
