// The direct forward (direct_k3, direct_k1) and weight-gradient (wgrad_direct_k3, _k1) kernels
// with 32-channel blocks, weight and dy loads shared across 8-wide subgroups (uses subgroup
// operations, so compiled only there).

#include "conv2d/parts/params"
#include "conv2d/parts/direct_forward" CB=32 NG=8 ACC=256 WV=72
#include "conv2d/parts/wgrad_direct" CO=32 NG=8 CI3=3 CI1=16 WACC=864 DV=64 ROWS3=27
#include "conv2d/parts/weights_subgroup" NG=8 WV=72 NL=9 FULL=9 TAIL=0
#include "conv2d/parts/loads_subgroup" CO=32 NJ=4
