// The direct convolution kernels for CPU adapters with 8-wide subgroups (uses subgroup
// operations, so compiled only there), with 16-channel blocks: forward (direct_k3, direct_k1),
// the 3x3 stride-2 input gradient (direct_t2) and the weight gradient (wgrad_direct_k3, _k1).
// Wider channel blocks: direct_subgroup_c24, _c32.

#include "conv2d/parts/params"
#include "conv2d/parts/direct_forward" CB=16 NG=4 ACC=128 WV=36
#include "conv2d/parts/direct_t2"
#include "conv2d/parts/wgrad_direct" CO=16 NG=4 CI3=4 CI1=16 WACC=576 DV=32 ROWS3=36
#include "conv2d/parts/weights_subgroup" NG=4 WV=36 NL=5 FULL=4 TAIL=4
#include "conv2d/parts/loads_subgroup" CO=16 NJ=2
