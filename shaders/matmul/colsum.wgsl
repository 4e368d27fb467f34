#include "matmul/parts/scalar_buffers"

// Column sums, for bias gradients: out[j] (+)= sum_r X[r, j], X: [rows = p.m, cols = p.n].
// Two passes so a GPU gets enough parallelism: colsum_partial writes
// part[c, j] = sum of X[r, j] over the rows r of chunk c (p.k rows per chunk), colsum_finish adds
// the chunks: out[j] = (out[j] if accumulating) + sum_c part[c, j] (p.m = number of chunks).
// Bindings: 0 params, 1 output (read_write), 2 input (reuses the `a` binding).
// Dispatch: colsum_partial: x = ceil(cols / 64), y = chunks; one invocation per (column, chunk).
//           colsum_finish: x = ceil(cols / 64); one invocation per column.
@compute @workgroup_size(64)
fn colsum_partial(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let j = wid.x * 64u + lid;
    if (j >= p.n) {
        return;
    }
    let r0 = wid.y * p.k;
    let r1 = min(r0 + p.k, p.m);
    var s = 0.0;
    for (var r = r0; r < r1; r++) {
        s += a[r * p.n + j];
    }
    o[wid.y * p.n + j] = s;
}

@compute @workgroup_size(64)
fn colsum_finish(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let j = wid.x * 64u + lid;
    if (j >= p.n) {
        return;
    }
    var s = 0.0;
    for (var c = 0u; c < p.m; c++) {
        s += a[c * p.n + j];
    }
    if ((p.flags & ACCUMULATE) != 0u) {
        s += o[j];
    }
    o[j] = s;
}
