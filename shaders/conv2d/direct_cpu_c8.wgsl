// The direct forward (direct_k3, direct_k1) and weight-gradient (wgrad_direct_k3, _k1) kernels
// with 8-channel blocks, weights and dy loaded lane by lane (every CPU adapter). For layers of
// at most 8 output channels (the output conv's 1 or 3), which 16-channel blocks pad 2-16x.

#include "conv2d/parts/params"
#include "conv2d/parts/direct_forward" CB=8 NG=2 ACC=64 WV=18
#include "conv2d/parts/wgrad_direct" CO=8 NG=2 CI3=4 CI1=16 WACC=288 DV=16 ROWS3=36
#include "conv2d/parts/weights_cpu" NG=2
#include "conv2d/parts/loads_cpu" CO=8
