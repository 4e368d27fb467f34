// Reductions of the convolution backward pass: weight-gradient partials, bias gradient.

#include "conv2d/parts/params"

// ---------------------------------------------------------------------------------------------
// Weight-gradient partial sums: dw[co, ci, tap] += sum_{s < S} part[s, ...], two layouts:
// - `wgrad_reduce` (from gemm_wgrad): part [S, Cout, Cin*KH*KW], element s * len + i.
//   Dispatch: grid_1d(len, 64), one invocation per dw element.
// - `wgrad_reduce_tiles` (from wgrad_direct_*): tiles of `tile_len` = CI * KH*KW * CO floats
//   (CO: the tile's output channels, a multiple of 8), n tiles per split, tile
//   (s, (ci / CI) * ceil(Cout/CO) + co / CO), element ((ci % CI) * KH*KW + tap) * CO + co % CO.
//   Dispatch: [CO / 8, ceil(ceil(Cin / CI) / 8), ceil(Cout / CO)], workgroups of 64 = 8 output
//   channels x 8 blocks of CI input channels; invocation lid of (x, y, b) adds the CI x KH*KW
//   taps of co = b CO + 8 x + lid % 8 and ci = CI (8 y + lid / 8) + 0 .. CI - 1. The grid gives
//   the channels, so the only divisions are of values uniform per workgroup: a per-lane integer
//   division is a scalar loop on CPU adapters (the 1D form, decomposing a flat index with ten,
//   ran at 0.4-0.5 GB/s on lavapipe).
// Bindings: 1 part (f32), 2 dw (f32, read_write). Params: cin, cout, kh, kw, n = tiles per
// split, args: `ReduceArgs`.
struct ReduceArgs {
    len: u32,         // dw elements
    splits: u32,      // S
    ci_per_tile: u32, // CI (tiled layout only)
    tile_len: u32,    // floats per tile (tiled layout only)
}
fn reduce_args() -> ReduceArgs {
    return ReduceArgs(p.args.x, p.args.y, p.args.z, p.args.w);
}

@group(0) @binding(1) var<storage, read> r_part: array<f32>;
@group(0) @binding(2) var<storage, read_write> r_dw: array<f32>;

@compute @workgroup_size(64)
fn wgrad_reduce(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let a = reduce_args();
    let i = (wid.x + wid.y * nwg.x) * 64u + lid;
    if (i >= a.len) {
        return;
    }
    var s = 0.0;
    for (var k = 0u; k < a.splits; k++) {
        s += r_part[i + k * a.len];
    }
    r_dw[i] += s;
}

@compute @workgroup_size(64)
fn wgrad_reduce_tiles(@builtin(workgroup_id) wid: vec3<u32>,
                      @builtin(local_invocation_index) lid: u32) {
    let a = reduce_args();
    let kk = p.kh * p.kw;
    let cob = a.tile_len / (a.ci_per_tile * kk); // CO, uniform
    let col = wid.x * 8u + lid % 8u; // co % CO
    let co = wid.z * cob + col;
    let ct = wid.y * 8u + lid / 8u; // the tile's block of CI input channels
    let ci0 = ct * a.ci_per_tile;
    if (co >= p.cout || ci0 >= p.cin) {
        return;
    }
    let tile = ct * ((p.cout + cob - 1u) / cob) + wid.z;
    let step = p.n * a.tile_len; // one split
    let n_ci = min(a.ci_per_tile, p.cin - ci0);
    for (var c = 0u; c < n_ci; c++) {
        let first = tile * a.tile_len + c * kk * cob + col;
        let out = (co * p.cin + ci0 + c) * kk;
        for (var t = 0u; t < kk; t++) {
            var s = 0.0;
            for (var k = 0u; k < a.splits; k++) {
                s += r_part[first + t * cob + k * step];
            }
            r_dw[out + t] += s;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// bias_grad: db[co] += sum_{n, pix} dy[n, co, pix].
// Bindings: 1 dy [N, Cout, HW] (f32), 2 db [Cout] (f32, read_write). Params: n, cout,
// args.x = HW (the plane size; no struct for one word).
// Dispatch: [Cout, 1, 1]; one workgroup of 64 per channel: strided partial sums, then a tree
// reduction in workgroup memory.
@group(0) @binding(1) var<storage, read> b_dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> b_db: array<f32>;
var<workgroup> b_red: array<f32, 64>;

@compute @workgroup_size(64)
fn bias_grad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let co = wid.x;
    let hw = p.args.x;
    var s = 0.0;
    for (var n = 0u; n < p.n; n++) {
        let base = (n * p.cout + co) * hw;
        for (var i = lid; i < hw; i += 64u) {
            s += b_dy[base + i];
        }
    }
    b_red[lid] = s;
    workgroupBarrier();
    for (var k = 32u; k > 0u; k >>= 1u) {
        if (lid < k) {
            b_red[lid] += b_red[lid + k];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        b_db[co] += b_red[0];
    }
}

// ---------------------------------------------------------------------------------------------
// bias_grad_rows: db[co] += sum_n dy[n, co] for dy [N, Cout] (planes of one pixel: on CPU
// adapters the plane sums of `sum_spatial`). Bindings and Params as `bias_grad`.
// Dispatch: [ceil(Cout / 16), 1, 1]; one invocation per channel, a serial loop over n: no
// workgroup memory and no barriers (on lavapipe `bias_grad`'s six barriers made each call cost
// ~0.5 ms whatever its size).
@compute @workgroup_size(16)
fn bias_grad_rows(@builtin(global_invocation_id) gid: vec3<u32>) {
    let co = gid.x;
    if (co >= p.cout) {
        return;
    }
    var s = 0.0;
    for (var n = 0u; n < p.n; n++) {
        s += b_dy[n * p.cout + co];
    }
    b_db[co] += s;
}
