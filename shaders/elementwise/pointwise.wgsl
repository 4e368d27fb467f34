// Pointwise kernels (activation, sums, scaling, fill, per-channel broadcasts, channel copies),
// each in a scalar and a vec4 twin generated from one template. Rust side:
// src/ops/elementwise.rs; geometry and bindings: elementwise/parts/common.wgsl.

#include "elementwise/parts/common"

// The channel of item i for add_channel*: see add_channel in elementwise/parts/pointwise.wgsl.
fn channel_index(i: u32) -> u32 {
    let nc = i / p.d2;
    return select(nc % p.d1, nc, p.d3 == 1u);
}

#include "elementwise/parts/pointwise" S= T=f32
#include "elementwise/parts/pointwise" S=4 T=vec4<f32>
