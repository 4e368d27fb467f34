// The direct forward (direct_k3, direct_k1) and weight-gradient (wgrad_direct_k3, _k1) kernels
// with 48-channel blocks, weight and dy loads shared across 8-wide subgroups (uses subgroup
// operations, so compiled only there).

#include "conv2d/parts/params"
#include "conv2d/parts/direct_forward" CB=48 NG=12 ACC=384 WV=108
#include "conv2d/parts/wgrad_direct" CO=48 NG=12 CI3=2 CI1=16 WACC=864 DV=96 ROWS3=18
#include "conv2d/parts/weights_subgroup" NG=12 WV=108 NL=14 FULL=13 TAIL=4
#include "conv2d/parts/loads_subgroup" CO=48 NJ=6
