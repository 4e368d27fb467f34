// The f32 views of out, A and B and the scalar result writes, shared by mm_cpu, mm_tiled,
// mm_tiled128 and the column sums.

#include "matmul/parts/params"

@group(0) @binding(1) var<storage, read_write> o: array<f32>;
@group(0) @binding(2) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;

// Writes one result element (row < M, col < N checked by the caller) with bias / accumulate.
fn put(obase: u32, row: u32, col: u32, v: f32) {
    var r = v;
    if ((p.flags & BIAS_N) != 0u) {
        r += bias[col];
    }
    if ((p.flags & BIAS_M) != 0u) {
        r += bias[row];
    }
    let i = obase + row * p.n + col;
    if ((p.flags & ACCUMULATE) != 0u) {
        r += o[i];
    }
    o[i] = r;
}

// Writes 4 consecutive result columns col..col+3 of one row, skipping those past the edge.
fn put4(obase: u32, row: u32, col: u32, v: vec4<f32>) {
    if (row >= p.m) {
        return;
    }
    for (var j = 0u; j < 4u; j++) {
        if (col + j < p.n) {
            put(obase, row, col + j, v[j]);
        }
    }
}
