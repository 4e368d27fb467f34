// Reductions: sums, sums of squares, the MSE loss and its gradient. Rust side: src/ops/reduce.rs.
//
// No float atomics: a large reduction runs in levels. `rows` reduces chunks of WG * p.epi
// contiguous elements of each row to one partial each (a serial sum of p.epi terms per
// invocation, then a shared-memory tree over the WG invocations); the Rust side launches it
// again on the partials until one value per row is left. `serial` sums short strided runs,
// one output per invocation (small rows, and sums over the batch dimension). Every level
// accumulates in f32 with a short serial part and a pairwise tree, so the error of a
// 36M-element sum stays near 1e-7 relative.
//
// The entry points suffixed `4` read the input as vec4<f32> items (4 consecutive elements;
// all sizes, strides and offsets of the input are then counted in vec4 items); their outputs
// stay f32. Each vec4 term is folded as (t.x + t.y) + (t.z + t.w) before it is accumulated.
//
// Bindings (group 0): 0 = the uniform Params; then the tensors, per entry point:
//   rows(4), serial(4)          : 1 = x (read),               2 = out (read_write)
//   rows_mse(4), serial_mse(4)  : 1 = x (read), 2 = t (read), 3 = out (read_write)
//   mse_bwd(4)                  : 1 = x (read), 2 = t (read), 3 = out (read_write)

struct Params {
    n: u32,        // rows: rows; serial: outputs; mse_bwd: items
    len: u32,      // rows: row length; serial: terms per output (at most)
    stride: u32,   // rows: distance between row starts; serial: group stride
    q: u32,        // rows: chunks per row (partials per row); serial: columns per group
    epi: u32,      // rows: iterations per invocation (chunk = WG * epi)
    out_off: u32,  // first output element written by this dispatch
    flags: u32,    // bit 0: accumulate into out (out += scale * sum) instead of overwrite
    scale: f32,    // the sum is multiplied by this before it is written
    cstride: u32,  // serial: column stride
    kstride: u32,  // serial: term stride
    total: u32,    // serial: terms in all groups together (bound on g * len + k)
    limit: u32,    // serial: bound on col * cstride + k * kstride (the row length)
    x_off: u32,    // serial (scalar): offset added to every input index
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

override WG: u32 = 256u;  // invocations per workgroup (a power of two, <= 256)
override MODE: u32 = 0u;  // rows / serial: 0 = sum of x, 1 = sum of x^2
override EPI: u32 = 4u;   // mse_bwd: items per invocation

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> t: array<f32>;
@group(0) @binding(2) var<storage, read> t4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> out3: array<f32>;
@group(0) @binding(3) var<storage, read_write> out4: array<vec4<f32>>;

var<workgroup> sh: array<f32, 256>;

// The terms summed, one per entry-point flavour (index in items).
fn term(i: u32) -> f32 {
    let v = x[i];
    if (MODE == 1u) { return v * v; }
    return v;
}
fn term4(i: u32) -> f32 {
    var v = x4[i];
    if (MODE == 1u) { v = v * v; }
    return (v.x + v.y) + (v.z + v.w);
}
fn term_mse(i: u32) -> f32 {
    let d = x[i] - t[i];
    return d * d;
}
fn term_mse4(i: u32) -> f32 {
    let d = x4[i] - t4[i];
    let v = d * d;
    return (v.x + v.y) + (v.z + v.w);
}

// Tree sum of `v` over the workgroup (pairwise); the result is valid in invocation 0.
fn workgroup_sum(v: f32, lid: u32) -> f32 {
    sh[lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s / 2u) {
        if (lid < s) { sh[lid] = sh[lid] + sh[lid + s]; }
        workgroupBarrier();
    }
    return sh[0];
}

// Writes scale * total (+ the old value when accumulating) to out / out3 [out_off + i].
fn finish(i: u32, total: f32) {
    var v = p.scale * total;
    if ((p.flags & 1u) != 0u) { v = v + out[p.out_off + i]; }
    out[p.out_off + i] = v;
}
fn finish3(i: u32, total: f32) {
    var v = p.scale * total;
    if ((p.flags & 1u) != 0u) { v = v + out3[p.out_off + i]; }
    out3[p.out_off + i] = v;
}

// rows: partial sums of chunks of rows, with a shared-memory tree per workgroup:
//   out[out_off + r * q + c] (+)= scale * sum_{j in chunk c, j < len} term(r * stride + j)
// for rows r < n, chunks c < q, chunk c = [c * WG * epi, (c + 1) * WG * epi). Workgroup w
// (linear index over a 2-D grid) handles row w / q, chunk w % q; invocation lid sums the
// items j = c * WG * epi + k * WG + lid for k < epi (adjacent invocations, adjacent items),
// then the workgroup's pairwise tree. Launch: gpu::grid_1d(n * q, 1) workgroups.
// rows4 / rows_mse / rows_mse4: the same with the other terms (and out at binding 3 for mse).
struct RowChunk { w: u32, base: u32, first: u32 }  // partial index, row start, first item
fn row_chunk(wid: vec3<u32>, nwg: vec3<u32>) -> RowChunk {
    let w = wid.x + wid.y * nwg.x;
    let r = w / max(p.q, 1u);
    let c = w - r * p.q;
    return RowChunk(w, r * p.stride, c * WG * p.epi);
}
#include "reduce/parts/rows" NAME=rows TERM=term FINISH=finish
#include "reduce/parts/rows" NAME=rows4 TERM=term4 FINISH=finish
#include "reduce/parts/rows" NAME=rows_mse TERM=term_mse FINISH=finish3
#include "reduce/parts/rows" NAME=rows_mse4 TERM=term_mse4 FINISH=finish3

// serial: one output per invocation, a serial sum of up to `len` strided terms, no barriers:
//   out[out_off + i] (+)= scale * sum_k term(x_off + g * stride + col * cstride + k * kstride)
// over k < len with g * len + k < total and col * cstride + k * kstride < limit, where
// g = i / q and col = i % q (q outputs per group), for i < n. Uses:
// - sum over the leading dimension A of x [A, M], in groups of `len` rows: q = M, cstride = 1,
//   kstride = M, stride = len * M, total = A, limit = no bound, n = ceil(A / len) * M;
// - partial sums of rows x [R, L] with q = M partials per row, partial m summing the
//   items m, m + M, m + 2M, ... (adjacent invocations read adjacent items): stride = L,
//   cstride = 1, kstride = M, len = ceil(L / M), limit = L, total = no bound, n = R * M;
// - sums of short rows x [R, L]: q = R, cstride = L, kstride = 1, len = total = L, n = R.
// x_off is applied by the scalar `serial` only (the vec4 entries bind views instead).
// Launch: gpu::grid_1d(n, WG) workgroups, one output per invocation.
// serial4 / serial_mse / serial_mse4: the same with the other terms (out at binding 3 for mse).
struct SerialRun { base: u32, g_first: u32, c_first: u32 }
fn serial_run(i: u32) -> SerialRun {
    let g = i / p.q;
    let col = i - g * p.q;
    return SerialRun(g * p.stride + col * p.cstride, g * p.len, col * p.cstride);
}
fn in_run(s: SerialRun, k: u32) -> bool {
    return s.g_first + k < p.total && s.c_first + k * p.kstride < p.limit;
}
#include "reduce/parts/serial" NAME=serial TERM=term OFF=p.x_off+ FINISH=finish
#include "reduce/parts/serial" NAME=serial4 TERM=term4 OFF= FINISH=finish
#include "reduce/parts/serial" NAME=serial_mse TERM=term_mse OFF=p.x_off+ FINISH=finish3
#include "reduce/parts/serial" NAME=serial_mse4 TERM=term_mse4 OFF= FINISH=finish3

// mse_bwd: out = scale * (x - t), the gradient of mean((x - t)^2) with scale = 2 / numel.
// Flat: gpu::grid_1d(n, WG * EPI) workgroups; workgroup g covers items
// [g WG EPI, (g + 1) WG EPI), invocation lid the items g WG EPI + k WG + lid, k < EPI;
// an item is one f32 (mse_bwd) or one vec4 (mse_bwd4); p.n counts items.
#include "reduce/parts/mse_bwd" S= OUT=out3
#include "reduce/parts/mse_bwd" S=4 OUT=out4
