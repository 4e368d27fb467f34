// Reductions of the convolution backward pass: weight-gradient partials, bias gradient.

#include "conv2d/parts/params"

// ---------------------------------------------------------------------------------------------
// wgrad_reduce: dw[co, ci, tap] += sum_{s < S} part[s, ...] for one of two partial layouts:
//   CI = 0 (from gemm_wgrad): part [S, Cout, Cin*KH*KW], element s * len + i;
//   CI > 0 (from wgrad_direct_*): tiles of `tile_len` = CI * KH*KW * CO floats (CO: the tile's
//   output channels), n tiles per split, tile (s, (ci / CI) * ceil(Cout/CO) + co / CO),
//   element ((ci % CI) * KH*KW + tap) * CO + co % CO.
// Bindings: 1 part (f32), 2 dw (f32, read_write). Params: cin, cout, kh, kw, n = tiles per
// split, args: `ReduceArgs`. Dispatch: grid_1d(len, 64).
struct ReduceArgs {
    len: u32,         // dw elements
    splits: u32,      // S
    ci_per_tile: u32, // CI (0: the plain layout)
    tile_len: u32,    // floats per tile
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
    var first = i;
    var step = a.len;
    if (a.ci_per_tile != 0u) {
        let kk = p.kh * p.kw;
        let tap = i % kk;
        let ci = (i / kk) % p.cin;
        let co = i / (kk * p.cin);
        let cob = a.tile_len / (a.ci_per_tile * kk);
        let ncb = (p.cout + cob - 1u) / cob;
        let tile = (ci / a.ci_per_tile) * ncb + co / cob;
        first = tile * a.tile_len + ((ci % a.ci_per_tile) * kk + tap) * cob + co % cob;
        step = p.n * a.tile_len;
    }
    var s = 0.0;
    for (var k = 0u; k < a.splits; k++) {
        s += r_part[first + k * step];
    }
    r_dw[i] += s;
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
