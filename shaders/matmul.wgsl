// Matrix products: out[p] = op(A[p]) @ op(B[p]) (+ bias) (+ out[p] when accumulating), for
// every batch index p, with op(X) = X^T when the override TA / TB is set. Transposes are read
// through strides, never materialised. Sizes come from Params; the Rust side is
// src/ops/matmul.rs.
//
// Storage layouts (row-major, per batch index):
//   A: [M, K] (TA = false) or [K, M] (TA = true); batch stride p.a_bs (0 = broadcast)
//   B: [K, N] (TB = false) or [N, K] (TB = true); batch stride p.b_bs (0 = broadcast)
//   out: [M, N]; batch stride M * N
// Bindings (all entry points of the product kernels): 0 params, 1 out (read_write), 2 A, 3 B,
// 4 bias ([N] or [M]; a 1-element dummy when unused).
//
// This file holds two modules. The first (everything outside the marked block at the end) needs
// no optional feature: mm_tiled and mm_tiled128 for GPUs, mm_cpu as the plain CPU fallback,
// the column sums.
// The second, between the lines "/*@module matmul_subgroup" and "@end-module*/", holds
// mm_cpu_sg, the fast kernel for CPU adapters; it uses subgroup operations, so a device without
// the SUBGROUP feature would reject the whole module: src/ops/matmul.rs cuts it out and compiles
// it on its own, only where the feature is present (to this module, it is a comment).
//
// Grid for the product kernels: x = row tiles (folded: row tile = wid.x + (wid.z % zsplit) * gx,
// so more than 65,535 row tiles fit), y = column tiles, z = batch * zsplit.

struct Params {
    m: u32,
    n: u32,
    k: u32,
    flags: u32,   // bit 0: accumulate into out; bit 1: bias along N; bit 2: bias along M
    a_bs: u32,    // batch stride of A in elements (0: broadcast)
    b_bs: u32,    // batch stride of B in elements (0: broadcast)
    zsplit: u32,  // row-tile groups folded into z (>= 1)
    gx: u32,      // workgroups along x
}

const ACCUMULATE: u32 = 1u;
const BIAS_N: u32 = 2u;
const BIAS_M: u32 = 4u;

override TA: bool = false;
override TB: bool = false;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> o: array<f32>;
@group(0) @binding(2) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;

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

// ---------------------------------------------------------------------------------------------
// mm_cpu: fallback for CPU adapters without subgroup operations (and for shapes the subgroup
// kernel does not take). No workgroup memory, no barriers. A workgroup of 8 invocations (the
// SIMD lanes of a CPU driver) computes 8 rows x 32 columns; invocation l owns columns
// n0 + 4 l .. + 3 of the 8 rows: per k it loads 4 values of op(B) and the 8 values of op(A)
// (the same for every lane) and does 32 multiply-adds. Out-of-range rows/columns are clamped for
// loading and skipped when storing.
// Dispatch: x = ceil(M / 8) row tiles (folded as described at the top), y = ceil(N / 32),
// z = batch * zsplit.
fn a_at(base: u32, m: u32, k: u32) -> f32 {
    return a[base + select(m * p.k + k, k * p.m + m, TA)];
}

fn b_at(base: u32, k: u32, n: u32) -> f32 {
    return b[base + select(k * p.n + n, n * p.k + k, TB)];
}

@compute @workgroup_size(8)
fn mm_cpu(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let tile = wid.x + (wid.z % p.zsplit) * p.gx;
    let batch = wid.z / p.zsplit;
    if (tile * 8u >= p.m) {
        return;
    }
    let m0 = tile * 8u;
    let n = wid.y * 32u + 4u * lid;
    let abase = batch * p.a_bs;
    let bbase = batch * p.b_bs;
    let last_m = p.m - 1u;
    let last_n = p.n - 1u;
    let r1 = min(m0 + 1u, last_m);
    let r2 = min(m0 + 2u, last_m);
    let r3 = min(m0 + 3u, last_m);
    let r4 = min(m0 + 4u, last_m);
    let r5 = min(m0 + 5u, last_m);
    let r6 = min(m0 + 6u, last_m);
    let r7 = min(m0 + 7u, last_m);
    let n0 = min(n, last_n);
    let n1 = min(n + 1u, last_n);
    let n2 = min(n + 2u, last_n);
    let n3 = min(n + 3u, last_n);
    var c0 = vec4<f32>(0.0);
    var c1 = vec4<f32>(0.0);
    var c2 = vec4<f32>(0.0);
    var c3 = vec4<f32>(0.0);
    var c4 = vec4<f32>(0.0);
    var c5 = vec4<f32>(0.0);
    var c6 = vec4<f32>(0.0);
    var c7 = vec4<f32>(0.0);
    for (var k = 0u; k < p.k; k++) {
        let bv = vec4<f32>(b_at(bbase, k, n0), b_at(bbase, k, n1), b_at(bbase, k, n2), b_at(bbase, k, n3));
        c0 = fma(vec4<f32>(a_at(abase, m0, k)), bv, c0);
        c1 = fma(vec4<f32>(a_at(abase, r1, k)), bv, c1);
        c2 = fma(vec4<f32>(a_at(abase, r2, k)), bv, c2);
        c3 = fma(vec4<f32>(a_at(abase, r3, k)), bv, c3);
        c4 = fma(vec4<f32>(a_at(abase, r4, k)), bv, c4);
        c5 = fma(vec4<f32>(a_at(abase, r5, k)), bv, c5);
        c6 = fma(vec4<f32>(a_at(abase, r6, k)), bv, c6);
        c7 = fma(vec4<f32>(a_at(abase, r7, k)), bv, c7);
    }
    let obase = batch * p.m * p.n;
    put4(obase, m0, n, c0);
    put4(obase, m0 + 1u, n, c1);
    put4(obase, m0 + 2u, n, c2);
    put4(obase, m0 + 3u, n, c3);
    put4(obase, m0 + 4u, n, c4);
    put4(obase, m0 + 5u, n, c5);
    put4(obase, m0 + 6u, n, c6);
    put4(obase, m0 + 7u, n, c7);
}

// ---------------------------------------------------------------------------------------------
// mm_tiled: for real GPUs. Shared-memory tiling: a workgroup of 256 invocations computes a
// 64 x 64 block of out, walking K in steps of 16; each step stages a 64 x 16 slice of op(A) and
// a 16 x 64 slice of op(B) in workgroup memory (loads coalesced along the stored contiguous
// dimension, zero-filled past the edges), then each invocation accumulates a 4 x 4 micro-tile.
// Dispatch: grid x = ceil(M / 64) row tiles (folded as described at the top), y = ceil(N / 64),
// z = batch * zsplit.
const TBM: u32 = 64u;
const TBN: u32 = 64u;
const TBK: u32 = 16u;

var<workgroup> As: array<vec4<f32>, 256>; // [k][m / 4], TBK x TBM
var<workgroup> Bs: array<vec4<f32>, 256>; // [k][n / 4], TBK x TBN

@compute @workgroup_size(256)
fn mm_tiled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let tile = wid.x + (wid.z % p.zsplit) * p.gx;
    let batch = wid.z / p.zsplit;
    let M = p.m;
    let N = p.n;
    let K = p.k;
    if (tile * TBM >= M) {
        return;
    }
    let m0 = tile * TBM;
    let n0 = wid.y * TBN;
    let abase = batch * p.a_bs;
    let bbase = batch * p.b_bs;
    let tx = lid % 16u;
    let ty = lid / 16u;
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    for (var k0 = 0u; k0 < K; k0 += TBK) {
        for (var e = 0u; e < 4u; e++) {
            let idx = lid + e * 256u;
            // op(A) element (mm, kk); consecutive invocations walk the stored contiguous dim.
            let kk = select(idx % TBK, idx / TBM, TA);
            let mm = select(idx / TBK, idx % TBM, TA);
            let gm = m0 + mm;
            let gk = k0 + kk;
            var v = 0.0;
            if (gm < M && gk < K) {
                v = a[abase + select(gm * K + gk, gk * M + gm, TA)];
            }
            As[kk * 16u + mm / 4u][mm % 4u] = v;
            // op(B) element (kb, nn).
            let kb = select(idx / TBN, idx % TBK, TB);
            let nn = select(idx % TBN, idx / TBK, TB);
            let gn = n0 + nn;
            let gkb = k0 + kb;
            var w = 0.0;
            if (gn < N && gkb < K) {
                w = b[bbase + select(gkb * N + gn, gn * K + gkb, TB)];
            }
            Bs[kb * 16u + nn / 4u][nn % 4u] = w;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < TBK; kk++) {
            let av = As[kk * 16u + ty];
            let bv = Bs[kk * 16u + tx];
            acc0 += av.x * bv;
            acc1 += av.y * bv;
            acc2 += av.z * bv;
            acc3 += av.w * bv;
        }
        workgroupBarrier();
    }
    let obase = batch * M * N;
    let r = m0 + ty * 4u;
    let c = n0 + tx * 4u;
    put4(obase, r, c, acc0);
    put4(obase, r + 1u, c, acc1);
    put4(obase, r + 2u, c, acc2);
    put4(obase, r + 3u, c, acc3);
}

// ---------------------------------------------------------------------------------------------
// mm_tiled128: for real GPUs on large products. Like mm_tiled with 128 x 128 output tiles and
// K steps of 8: each of the 256 invocations accumulates an 8 x 8 micro-tile (rows
// 4 ty .. + 3 and 64 + 4 ty .. + 3, columns 4 tx .. + 3 and 64 + 4 tx .. + 3 of the tile), so every
// value read from workgroup memory feeds 8 multiply-adds.
// Dispatch: grid x = ceil(M / 128) row tiles (folded as described at the top), y = ceil(N / 128),
// z = batch * zsplit.
var<workgroup> As2: array<vec4<f32>, 256>; // [k][m / 4], 8 x 128
var<workgroup> Bs2: array<vec4<f32>, 256>; // [k][n / 4], 8 x 128

fn row8(c: ptr<function, array<vec4<f32>, 16>>, r: u32, x: f32, b0: vec4<f32>, b1: vec4<f32>) {
    (*c)[2u * r] = fma(vec4<f32>(x), b0, (*c)[2u * r]);
    (*c)[2u * r + 1u] = fma(vec4<f32>(x), b1, (*c)[2u * r + 1u]);
}

@compute @workgroup_size(256)
fn mm_tiled128(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let tile = wid.x + (wid.z % p.zsplit) * p.gx;
    let batch = wid.z / p.zsplit;
    let M = p.m;
    let N = p.n;
    let K = p.k;
    if (tile * 128u >= M) {
        return;
    }
    let m0 = tile * 128u;
    let n0 = wid.y * 128u;
    let abase = batch * p.a_bs;
    let bbase = batch * p.b_bs;
    let tx = lid % 16u;
    let ty = lid / 16u;
    var acc: array<vec4<f32>, 16>; // [row r of 8][column block j of 2]
    for (var k0 = 0u; k0 < K; k0 += 8u) {
        for (var e = 0u; e < 4u; e++) {
            let idx = lid + e * 256u;
            // op(A) element (mm, kk); consecutive invocations walk the stored contiguous dim.
            let kk = select(idx % 8u, idx / 128u, TA);
            let mm = select(idx / 8u, idx % 128u, TA);
            let gm = m0 + mm;
            let gk = k0 + kk;
            var v = 0.0;
            if (gm < M && gk < K) {
                v = a[abase + select(gm * K + gk, gk * M + gm, TA)];
            }
            As2[kk * 32u + mm / 4u][mm % 4u] = v;
            // op(B) element (kb, nn).
            let kb = select(idx / 128u, idx % 8u, TB);
            let nn = select(idx % 128u, idx / 8u, TB);
            let gn = n0 + nn;
            let gkb = k0 + kb;
            var w = 0.0;
            if (gn < N && gkb < K) {
                w = b[bbase + select(gkb * N + gn, gn * K + gkb, TB)];
            }
            Bs2[kb * 32u + nn / 4u][nn % 4u] = w;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < 8u; kk++) {
            let a0 = As2[kk * 32u + ty];
            let a1 = As2[kk * 32u + 16u + ty];
            let b0 = Bs2[kk * 32u + tx];
            let b1 = Bs2[kk * 32u + 16u + tx];
            row8(&acc, 0u, a0.x, b0, b1);
            row8(&acc, 1u, a0.y, b0, b1);
            row8(&acc, 2u, a0.z, b0, b1);
            row8(&acc, 3u, a0.w, b0, b1);
            row8(&acc, 4u, a1.x, b0, b1);
            row8(&acc, 5u, a1.y, b0, b1);
            row8(&acc, 6u, a1.z, b0, b1);
            row8(&acc, 7u, a1.w, b0, b1);
        }
        workgroupBarrier();
    }
    let obase = batch * M * N;
    for (var r = 0u; r < 8u; r++) {
        let row = m0 + 64u * (r / 4u) + 4u * ty + r % 4u;
        put4(obase, row, n0 + 4u * tx, acc[2u * r]);
        put4(obase, row, n0 + 64u + 4u * tx, acc[2u * r + 1u]);
    }
}

// ---------------------------------------------------------------------------------------------
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

// =============================================================================================
/*@module matmul_subgroup
// mm_cpu_sg: matmul for CPU adapters (Mesa lavapipe) with subgroup operations, where the
// invocations of a subgroup are the SIMD lanes of one CPU thread. Same maths, Params and
// binding order as the product kernels of the first module, but out, A and B are read as vec4.
// Preconditions (checked by the Rust side): subgroup size 8, N % 4 == 0, K % 4 == 0 unless TA,
// M % 4 == 0 when TA, K % 4 == 0 when TB; batch strides are then multiples of 4.
//
// Why this shape: on lavapipe every storage-buffer load whose address is not a compile-time
// uniform is executed lane by lane (about 30 instructions per lane for a vec4), while ALU work and
// subgroupBroadcast (an extract and a splat) are cheap. So each lane loads distinct data only:
// for every 4 k, lane l loads one vec4 of op(A) per 8-row group (8 rows x 4 k spread over the 8
// lanes, then broadcast to all of them) and the vec4s of op(B) of its own 8 columns, and feeds
// them to 32 x 8 x 4 multiply-adds: 12 vec4 loads per 1024 lane multiply-adds. The 128 vec4
// accumulators live in explicit variables (indexing them dynamically in the main loop would move
// them to memory); the code is kept to helpers called with constant arguments so that it stays
// small (the driver compiles it with LLVM at first use, about 2 s per (TA, TB) pair).
// Dispatch: workgroup = one subgroup of 8 invocations computing 32 rows x 64 columns;
// x = ceil(M / 32) row tiles (folded as described at the top), y = ceil(N / 64), z = batch * zsplit.
struct Params {
    m: u32,
    n: u32,
    k: u32,
    flags: u32,
    a_bs: u32,
    b_bs: u32,
    zsplit: u32,
    gx: u32,
}

const ACCUMULATE: u32 = 1u;
const BIAS_N: u32 = 2u;
const BIAS_M: u32 = 4u;

override TA: bool = false;
override TB: bool = false;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> o: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;

// Accumulators of one 8-row group: index 2 r + j = row r of the group, column block j.
alias Acc = array<vec4<f32>, 16>;
// op(B) for one step of 4 k: index 2 kk + j = the 4 columns of block j at k + kk.
alias Bk = array<vec4<f32>, 8>;

fn fma_row(c: ptr<function, Acc>, r: u32, x: vec4<f32>, bv: ptr<function, Bk>) {
    (*c)[2u * r] = fma(vec4<f32>(x.w), (*bv)[6], fma(vec4<f32>(x.z), (*bv)[4],
        fma(vec4<f32>(x.y), (*bv)[2], fma(vec4<f32>(x.x), (*bv)[0], (*c)[2u * r]))));
    (*c)[2u * r + 1u] = fma(vec4<f32>(x.w), (*bv)[7], fma(vec4<f32>(x.z), (*bv)[5],
        fma(vec4<f32>(x.y), (*bv)[3], fma(vec4<f32>(x.x), (*bv)[1], (*c)[2u * r + 1u]))));
}

// av: this lane's share of the group's 8 rows x 4 k of op(A) (see load_a); the 8 shares are
// broadcast to every lane.
fn group8(c: ptr<function, Acc>, av: vec4<f32>, bv: ptr<function, Bk>) {
    let w0 = subgroupBroadcast(av, 0u);
    let w1 = subgroupBroadcast(av, 1u);
    let w2 = subgroupBroadcast(av, 2u);
    let w3 = subgroupBroadcast(av, 3u);
    let w4 = subgroupBroadcast(av, 4u);
    let w5 = subgroupBroadcast(av, 5u);
    let w6 = subgroupBroadcast(av, 6u);
    let w7 = subgroupBroadcast(av, 7u);
    if (TA) {
        // lane 2 kk + h holds rows 4 h .. 4 h + 3 at k + kk
        fma_row(c, 0u, vec4<f32>(w0.x, w2.x, w4.x, w6.x), bv);
        fma_row(c, 1u, vec4<f32>(w0.y, w2.y, w4.y, w6.y), bv);
        fma_row(c, 2u, vec4<f32>(w0.z, w2.z, w4.z, w6.z), bv);
        fma_row(c, 3u, vec4<f32>(w0.w, w2.w, w4.w, w6.w), bv);
        fma_row(c, 4u, vec4<f32>(w1.x, w3.x, w5.x, w7.x), bv);
        fma_row(c, 5u, vec4<f32>(w1.y, w3.y, w5.y, w7.y), bv);
        fma_row(c, 6u, vec4<f32>(w1.z, w3.z, w5.z, w7.z), bv);
        fma_row(c, 7u, vec4<f32>(w1.w, w3.w, w5.w, w7.w), bv);
    } else {
        // lane r holds row r at k .. k + 3
        fma_row(c, 0u, w0, bv);
        fma_row(c, 1u, w1, bv);
        fma_row(c, 2u, w2, bv);
        fma_row(c, 3u, w3, bv);
        fma_row(c, 4u, w4, bv);
        fma_row(c, 5u, w5, bv);
        fma_row(c, 6u, w6, bv);
        fma_row(c, 7u, w7, bv);
    }
}

// This lane's vec4 of op(A) for the 8-row group starting at row m and k .. k + 3.
// TA (A stored [K, M]): rows m + 4 (l % 2) .. + 3 at k + l / 2, zero past K.
// Otherwise (A stored [M, K]): row m + l at k .. k + 3. Rows past M are clamped.
fn load_a(abase: u32, m: u32, k: u32, l: u32) -> vec4<f32> {
    if (TA) {
        let kr = k + l / 2u;
        let v = a[(abase + min(kr, p.k - 1u) * p.m + min(m + 4u * (l % 2u), p.m - 4u)) / 4u];
        return select(v, vec4<f32>(0.0), kr >= p.k);
    }
    return a[(abase + min(m + l, p.m - 1u) * p.k + k) / 4u];
}

// TB (B stored [N, K]): columns c .. c + 3 of op(B) at k .. k + 3, regrouped by k.
fn load_bt(bbase: u32, c: u32, k: u32) -> array<vec4<f32>, 4> {
    let u0 = b[(bbase + min(c, p.n - 1u) * p.k + k) / 4u];
    let u1 = b[(bbase + min(c + 1u, p.n - 1u) * p.k + k) / 4u];
    let u2 = b[(bbase + min(c + 2u, p.n - 1u) * p.k + k) / 4u];
    let u3 = b[(bbase + min(c + 3u, p.n - 1u) * p.k + k) / 4u];
    return array<vec4<f32>, 4>(vec4<f32>(u0.x, u1.x, u2.x, u3.x), vec4<f32>(u0.y, u1.y, u2.y, u3.y),
        vec4<f32>(u0.z, u1.z, u2.z, u3.z), vec4<f32>(u0.w, u1.w, u2.w, u3.w));
}

// op(B) at k .. k + 3 for this lane's column blocks n (j = 0) and n + 32 (j = 1); columns
// past N are clamped, rows past K (only when TA, see load_a) read the last row.
fn load_b(bbase: u32, n: u32, k: u32) -> Bk {
    if (TB) {
        let t0 = load_bt(bbase, n, k);
        let t1 = load_bt(bbase, n + 32u, k);
        return Bk(t0[0], t1[0], t0[1], t1[1], t0[2], t1[2], t0[3], t1[3]);
    }
    let c0 = min(n, p.n - 4u);
    let c1 = min(n + 32u, p.n - 4u);
    let r0 = bbase + min(k, p.k - 1u) * p.n;
    let r1 = bbase + min(k + 1u, p.k - 1u) * p.n;
    let r2 = bbase + min(k + 2u, p.k - 1u) * p.n;
    let r3 = bbase + min(k + 3u, p.k - 1u) * p.n;
    return Bk(b[(r0 + c0) / 4u], b[(r0 + c1) / 4u], b[(r1 + c0) / 4u], b[(r1 + c1) / 4u],
        b[(r2 + c0) / 4u], b[(r2 + c1) / 4u], b[(r3 + c0) / 4u], b[(r3 + c1) / 4u]);
}

// Stores columns col .. col + 3 of one row when in range, adding the old value if accumulating.
fn store4(obase: u32, row: u32, col: u32, v: vec4<f32>) {
    if (row < p.m && col < p.n) {
        let i = (obase + row * p.n + col) / 4u;
        var w = v;
        if ((p.flags & ACCUMULATE) != 0u) {
            w += o[i];
        }
        o[i] = w;
    }
}

// Bias of columns col .. col + 3 when it runs along N, else zero.
fn bias_n(col: u32) -> vec4<f32> {
    if ((p.flags & BIAS_N) == 0u) {
        return vec4<f32>(0.0);
    }
    let c = min(col, p.n - 4u);
    return vec4<f32>(bias[c], bias[c + 1u], bias[c + 2u], bias[c + 3u]);
}

// Stores the 8-row group at rows m .. m + 7 with its bias.
fn store_group(c: ptr<function, Acc>, obase: u32, m: u32, n: u32, bn0: vec4<f32>, bn1: vec4<f32>, l: u32) {
    // bias along M: lane l loads row m + l's, every lane then takes row r's from lane r
    var bm = 0.0;
    if ((p.flags & BIAS_M) != 0u) {
        bm = bias[min(m + l, p.m - 1u)];
    }
    for (var r = 0u; r < 8u; r++) {
        let x = subgroupShuffle(bm, r);
        store4(obase, m + r, n, (*c)[2u * r] + bn0 + vec4<f32>(x));
        store4(obase, m + r, n + 32u, (*c)[2u * r + 1u] + bn1 + vec4<f32>(x));
    }
}

// mm_cpu_sg (see the comment at the top of this module): one workgroup = one subgroup of 8 lanes
// computing 32 rows x 64 columns; lane l owns columns n0 + 4 l .. + 3 and n0 + 32 + 4 l .. + 3.
@compute @workgroup_size(8)
fn mm_cpu_sg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) l: u32) {
    let tile = wid.x + (wid.z % p.zsplit) * p.gx;
    let batch = wid.z / p.zsplit;
    if (tile * 32u >= p.m) {
        return;
    }
    let m0 = tile * 32u;
    let n = wid.y * 64u + 4u * l;
    let abase = batch * p.a_bs;
    let bbase = batch * p.b_bs;
    var c0: Acc;
    var c1: Acc;
    var c2: Acc;
    var c3: Acc;
    for (var k = 0u; k < p.k; k += 4u) {
        var bv = load_b(bbase, n, k);
        let a0 = load_a(abase, m0, k, l);
        let a1 = load_a(abase, m0 + 8u, k, l);
        let a2 = load_a(abase, m0 + 16u, k, l);
        let a3 = load_a(abase, m0 + 24u, k, l);
        group8(&c0, a0, &bv);
        group8(&c1, a1, &bv);
        group8(&c2, a2, &bv);
        group8(&c3, a3, &bv);
    }
    let obase = batch * p.m * p.n;
    let bn0 = bias_n(n);
    let bn1 = bias_n(n + 32u);
    store_group(&c0, obase, m0, n, bn0, bn1, l);
    store_group(&c1, obase, m0 + 8u, n, bn0, bn1, l);
    store_group(&c2, obase, m0 + 16u, n, bn0, bn1, l);
    store_group(&c3, obase, m0 + 24u, n, bn0, bn1, l);
}
@end-module*/
