// The direct forward (direct_k3, direct_k1) and weight-gradient (wgrad_direct_k3, _k1) kernels
// with 8-channel blocks, weight and dy loads shared across 8-wide subgroups (uses subgroup
// operations, so compiled only there). For layers of at most 8 output channels.

#include "conv2d/parts/params"
#include "conv2d/parts/direct_forward" CB=8 NG=2 ACC=64 WV=18
#include "conv2d/parts/wgrad_direct" CO=8 NG=2 CI3=4 CI1=16 WACC=288 DV=16 ROWS3=36
#include "conv2d/parts/weights_subgroup" NG=2 WV=18 NL=3 FULL=2 TAIL=2
#include "conv2d/parts/loads_subgroup" CO=8 NJ=1
