// The direct forward kernels (direct_k3, direct_k1) with 32-channel blocks, weight loads
// shared across 8-wide subgroups (uses subgroup operations, so compiled only there).

#include "conv2d/parts/params"
#include "conv2d/parts/direct_forward" CB=32 NG=8 ACC=256 WV=72
#include "conv2d/parts/weights_subgroup" NG=8 WV=72 NL=9 FULL=9 TAIL=0
