// The direct forward (direct_k3, direct_k1) and weight-gradient (wgrad_direct_k3, _k1) kernels
// with 24-channel blocks, weight and dy loads shared across 8-wide subgroups (uses subgroup
// operations, so compiled only there).

#include "conv2d/parts/params"
#include "conv2d/parts/direct_forward" CB=24 NG=6 ACC=192 WV=54
#include "conv2d/parts/wgrad_direct" CO=24 NG=6 CI3=4 CI1=16 WACC=864 DV=48 ROWS3=36
#include "conv2d/parts/weights_subgroup" NG=6 WV=54 NL=7 FULL=6 TAIL=6
#include "conv2d/parts/loads_subgroup" CO=24 NJ=3
