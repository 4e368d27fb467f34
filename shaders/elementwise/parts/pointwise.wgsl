// Template: the pointwise kernels for one item type, T = {{T}} with entry-point suffix "{{S}}"
// (f32 and "", or vec4<f32> and "4": the vec4 twins move 4 consecutive elements per item). The
// buffers x{{S}}, b{{S}}, io{{S}}, y{{S}}, z{{S}} are declared in elementwise/parts/common.wgsl.

fn sigmoid{{S}}(v: {{T}}) -> {{T}} {
    return 1.0 / (1.0 + exp(-v));
}

// silu: y = x * sigmoid(x). Unary; p.n items.
fn silu{{S}}_item(i: u32) {
    let v = x{{S}}[i];
    y{{S}}[i] = v * sigmoid{{S}}(v);
}
#include "elementwise/parts/flat" NAME=silu{{S}}

// silu_backward: z = b * (s + x s (1 - s)), s = sigmoid(x); x = forward input, b = dy.
// Binary; p.n items.
fn silu_bwd{{S}}_item(i: u32) {
    let v = x{{S}}[i];
    let s = sigmoid{{S}}(v);
    z{{S}}[i] = b{{S}}[i] * s * (1.0 + v * (1.0 - s));
}
#include "elementwise/parts/flat" NAME=silu_bwd{{S}}

// add: z = x + b. Binary; p.n items.
fn add{{S}}_item(i: u32) {
    z{{S}}[i] = x{{S}}[i] + b{{S}}[i];
}
#include "elementwise/parts/flat" NAME=add{{S}}

// axpy: io = io + alpha * b (add_assign is alpha = 1). In place; p.n items.
fn axpy{{S}}_item(i: u32) {
    io{{S}}[i] = io{{S}}[i] + p.alpha * b{{S}}[i];
}
#include "elementwise/parts/flat" NAME=axpy{{S}}

// scale: y = alpha * x. Unary; p.n items.
fn scale{{S}}_item(i: u32) {
    y{{S}}[i] = p.alpha * x{{S}}[i];
}
#include "elementwise/parts/flat" NAME=scale{{S}}

// fill: io = alpha. Binding 1 only (read_write); p.n items.
fn fill{{S}}_item(i: u32) {
    io{{S}}[i] = {{T}}(p.alpha);
}
#include "elementwise/parts/flat" NAME=fill{{S}}

// add_channel: z[n,c,s] = x[n,c,s] + b[v(n,c)] with x [N, C, S] flattened; ChannelArgs:
// channels = C, plane = S (in items: S/4 in the vec4 entry, which needs S % 4 == 0 so a vec4
// lies in one channel), per_sample = 1 if b is [N, C] (v = n*C + c) else 0 ([C], v = c).
// Since n*C + c = item / S, the per-sample index is a single division. Binary; p.n items.
fn add_channel{{S}}_item(i: u32) {
    z{{S}}[i] = x{{S}}[i] + b[channel_index(i)];
}
#include "elementwise/parts/flat" NAME=add_channel{{S}}

// add_channel_assign: io[n,c,s] += b[v(n,c)], sizes as in add_channel. In place; p.n items.
fn add_channel_assign{{S}}_item(i: u32) {
    io{{S}}[i] = io{{S}}[i] + b[channel_index(i)];
}
#include "elementwise/parts/flat" NAME=add_channel_assign{{S}}

// copy_channels: copies a block of channels between two [N, *, S] tensors:
//   y[n, dst0 + c, s] = x[n, src0 + c, s]   for c < cnt, s < S.
// All sizes in items (S/4 per channel in the vec4 entry, which needs S % 4 == 0):
// CopyArgs (block = cnt * S, x_per_sample = Cx * S, src0 = src0 * S, dst0 = dst0 * S,
// y_per_sample = Cy * S).
// Concat is two of these (a, then b, into y), split is two as well (x into a, x into b).
// Unary; p.n = N * cnt * S items.
fn copy_channels{{S}}_item(i: u32) {
    let a = copy_args();
    let n = i / a.block;
    let r = i - n * a.block;
    y{{S}}[n * a.y_per_sample + a.dst0 + r] = x{{S}}[n * a.x_per_sample + a.src0 + r];
}
#include "elementwise/parts/flat" NAME=copy_channels{{S}}
