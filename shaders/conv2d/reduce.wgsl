// Reductions of the convolution backward pass: weight-gradient partials, bias gradient.

#include "conv2d/parts/params"

// ---------------------------------------------------------------------------------------------
// wgrad_reduce: dw[co, ci, tap] += sum_{s < S} part[s, ...] for one of two partial layouts:
//   e2 = 0 (from gemm_wgrad): part [S, Cout, Cin*KH*KW], element s * len + i;
//   e2 = CI > 0 (from wgrad_direct_*): tiles of e3 floats, n tiles per split, tile
//   (s, (ci / CI) * ceil(Cout/16) + co / 16), element ((ci % CI) * KH*KW + tap) * 16 + co % 16.
// Bindings: 1 part (f32), 2 dw (f32, read_write). Params: cin, cout, kh, kw, e0 = len = dw
// elements, e1 = S, e2 = CI, e3 = floats per tile. Dispatch: grid_1d(len, 64).
@group(0) @binding(1) var<storage, read> r_part: array<f32>;
@group(0) @binding(2) var<storage, read_write> r_dw: array<f32>;

@compute @workgroup_size(64)
fn wgrad_reduce(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let i = (wid.x + wid.y * nwg.x) * 64u + lid;
    if (i >= p.e0) {
        return;
    }
    var first = i;
    var step = p.e0;
    if (p.e2 != 0u) {
        let kk = p.kh * p.kw;
        let tap = i % kk;
        let ci = (i / kk) % p.cin;
        let co = i / (kk * p.cin);
        let ncb = (p.cout + 15u) / 16u;
        let tile = (ci / p.e2) * ncb + co / 16u;
        first = tile * p.e3 + ((ci % p.e2) * kk + tap) * 16u + co % 16u;
        step = p.n * p.e3;
    }
    var s = 0.0;
    for (var k = 0u; k < p.e1; k++) {
        s += r_part[first + k * step];
    }
    r_dw[i] += s;
}

// ---------------------------------------------------------------------------------------------
// bias_grad: db[co] += sum_{n, pix} dy[n, co, pix].
// Bindings: 1 dy [N, Cout, HW] (f32), 2 db [Cout] (f32, read_write). Params: n, cout, e0 = HW.
// Dispatch: [Cout, 1, 1]; one workgroup of 64 per channel: strided partial sums, then a tree
// reduction in workgroup memory.
@group(0) @binding(1) var<storage, read> b_dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> b_db: array<f32>;
var<workgroup> b_red: array<f32, 64>;

@compute @workgroup_size(64)
fn bias_grad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let co = wid.x;
    let hw = p.e0;
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
