// Pointwise kernels (activation, sums, scaling, fill, per-channel broadcasts, channel copies),
// each in a scalar and a vec4 twin generated from one template. Rust side:
// src/ops/elementwise.rs; geometry and bindings: elementwise/parts/common.wgsl.

#include "elementwise/parts/common"

// The launch words of add_channel*: see add_channel in elementwise/parts/pointwise.wgsl.
struct ChannelArgs {
    channels: u32,   // C
    plane: u32,      // S, in items
    per_sample: u32, // 1: b is [N, C]; 0: b is [C]
}
fn channel_args() -> ChannelArgs {
    return ChannelArgs(p.a0, p.a1, p.a2);
}

// The launch words of copy_channels*, all in items: see copy_channels.
struct CopyArgs {
    block: u32,        // cnt * S: block items per sample
    x_per_sample: u32, // Cx * S
    src0: u32,         // src0 * S
    dst0: u32,         // dst0 * S
    y_per_sample: u32, // Cy * S
}
fn copy_args() -> CopyArgs {
    return CopyArgs(p.a0, p.a1, p.a2, p.a3, p.a4);
}

// The channel of item i for add_channel*.
fn channel_index(i: u32) -> u32 {
    let a = channel_args();
    let nc = i / a.plane;
    return select(nc % a.channels, nc, a.per_sample == 1u);
}

#include "elementwise/parts/pointwise" S= T=f32
#include "elementwise/parts/pointwise" S=4 T=vec4<f32>
