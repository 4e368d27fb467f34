// Nearest 2x upsampling and its backward, scalar and vec4 (different index maths, so not one
// template). Rust side: src/ops/elementwise.rs; geometry and bindings:
// elementwise/parts/common.wgsl.

#include "elementwise/parts/common"

// The launch words of every kernel here: the low-resolution plane.
struct PlaneArgs {
    width: u32,  // W
    height: u32, // H
}
fn plane_args() -> PlaneArgs {
    return PlaneArgs(p.a0, p.a1);
}

// upsample2x: nearest 2x upsampling, y[m, i, j] = x[m, i / 2, j / 2] for x [M = N*C, H, W] and
// y [M, 2H, 2W]; PlaneArgs = (W, H). Unary; p.n = M * 2H * 2W items, one output each.
fn upsample2x_item(o: u32) {
    let pl = plane_args();
    let w2 = 2u * pl.width;
    let j = o % w2;
    let row = o / w2;             // m * 2H + i
    let i = row % (2u * pl.height);
    let m = row / (2u * pl.height);
    y[o] = x[(m * pl.height + i / 2u) * pl.width + j / 2u];
}
#include "elementwise/parts/flat" NAME=upsample2x
// upsample2x4: the same with one output vec4 (outputs 4q..4q+3 of a row, from inputs 2q and
// 2q + 1) per item; needs W % 2 == 0 so that an output row is a whole number of vec4s.
// Bindings 1 = x (read, f32), 2 = y (read_write, vec4). p.n = M * 2H * 2W / 4 items.
fn upsample2x4_item(o: u32) {
    let pl = plane_args();
    let q_row = pl.width / 2u;              // vec4 items per output row (2W / 4)
    let q = o % q_row;
    let row = o / q_row;
    let i = row % (2u * pl.height);
    let m = row / (2u * pl.height);
    let src = (m * pl.height + i / 2u) * pl.width + 2u * q;
    let a = x[src];
    let c = x[src + 1u];
    y4[o] = vec4<f32>(a, a, c, c);
}
#include "elementwise/parts/flat" NAME=upsample2x4

// upsample2x_bwd: the backward of upsample2x, y[m, i, j] = sum of the 2x2 block
// x[m, 2i..2i+2, 2j..2j+2], for x = dy [M, 2H, 2W] and y = dx [M, H, W]; PlaneArgs = (W, H).
// Unary; p.n = M * H * W items, one output each.
fn upsample2x_bwd_item(o: u32) {
    let pl = plane_args();
    let j = o % pl.width;
    let row = o / pl.width;           // m * H + i
    let top = (2u * row) * (2u * pl.width) + 2u * j;
    let bottom = top + 2u * pl.width;
    y[o] = (x[top] + x[top + 1u]) + (x[bottom] + x[bottom + 1u]);
}
#include "elementwise/parts/flat" NAME=upsample2x_bwd
// upsample2x_bwd4: the same with one output vec4 (outputs 4q..4q+3 of a row, from two vec4s
// of each of the two input rows) per item; needs W % 4 == 0. Bindings 1 = x (read, vec4),
// 2 = y (read_write, vec4). p.n = M * H * W / 4 items.
fn upsample2x_bwd4_item(o: u32) {
    let pl = plane_args();
    let q_row = pl.width / 4u;              // vec4 items per output row
    let q = o % q_row;
    let row = o / q_row;          // m * H + i
    let top = (2u * row) * (pl.width / 2u) + 2u * q;   // in vec4s of the input
    let bottom = top + pl.width / 2u;
    let t0 = x4[top];
    let t1 = x4[top + 1u];
    let b0 = x4[bottom];
    let b1 = x4[bottom + 1u];
    let s0 = t0 + b0;
    let s1 = t1 + b1;
    y4[o] = vec4<f32>(s0.x + s0.y, s0.z + s0.w, s1.x + s1.y, s1.z + s1.w);
}
#include "elementwise/parts/flat" NAME=upsample2x_bwd4
