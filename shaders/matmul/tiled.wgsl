#include "matmul/parts/scalar_buffers"

// mm_tiled: for real GPUs. Shared-memory tiling: a workgroup of 256 invocations computes a
// 64 x 64 block of out, walking K in steps of 16; each step stages a 64 x 16 slice of op(A) and
// a 16 x 64 slice of op(B) in workgroup memory (loads coalesced along the stored contiguous
// dimension, zero-filled past the edges), then each invocation accumulates a 4 x 4 micro-tile.
// Split K (for products with few output tiles and a long K, e.g. weight gradients): split s
// of ksplit = ceil(K / kchunk) sums only its K range, into result matrix s * batches + batch
// (partial sums; flags are 0 then and the caller adds the splits up).
// Dispatch: grid x = ceil(M / 64) row tiles (folded as described at the top), y = ceil(N / 64),
// z = ksplit * batch * zsplit.
const TBM: u32 = 64u;
const TBN: u32 = 64u;
const TBK: u32 = 16u;

// Rows of the staged slices are RS = 17 vec4s apart, not 16: where consecutive invocations stage
// consecutive k of one m (A not transposed, B transposed), their stores would otherwise land
// 64 floats apart, all in one of a GPU's 32 shared-memory banks (a 16-way conflict); with
// the extra vec4 they spread over 8 banks. (Not yet measured on a GPU.)
const RS: u32 = 17u;
var<workgroup> As: array<vec4<f32>, 272>; // [k][m / 4], TBK x TBM, row stride RS
var<workgroup> Bs: array<vec4<f32>, 272>; // [k][n / 4], TBK x TBN, row stride RS

@compute @workgroup_size(256)
fn mm_tiled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let tile = wid.x + (wid.z % p.zsplit) * p.gx;
    let zb = wid.z / p.zsplit;
    let batch = zb % p.batches;
    let split = zb / p.batches;
    let M = p.m;
    let N = p.n;
    let kbegin = split * p.kchunk;
    let K = min(p.k, kbegin + p.kchunk); // the end of this split's K range
    if (tile * TBM >= M) {
        return;
    }
    let m0 = tile * TBM;
    let n0 = wid.y * TBN;
    let abase = batch * p.a_bs;
    let bbase = batch * p.b_bs;
    let tx = lid % 16u;
    let ty = lid / 16u;
    #for V in 0..4
    var acc{{V}} = vec4<f32>(0.0);
    #end
    let KS = p.k; // the row stride of the stored operands
    for (var k0 = kbegin; k0 < K; k0 += TBK) {
        for (var e = 0u; e < 4u; e++) {
            let idx = lid + e * 256u;
            // op(A) element (mm, kk); consecutive invocations walk the stored contiguous dim.
            let kk = select(idx % TBK, idx / TBM, TA);
            let mm = select(idx / TBK, idx % TBM, TA);
            let gm = m0 + mm;
            let gk = k0 + kk;
            var v = 0.0;
            if (gm < M && gk < K) {
                v = a[abase + select(gm * KS + gk, gk * M + gm, TA)];
            }
            As[kk * RS + mm / 4u][mm % 4u] = v;
            // op(B) element (kb, nn).
            let kb = select(idx / TBN, idx % TBK, TB);
            let nn = select(idx % TBN, idx / TBK, TB);
            let gn = n0 + nn;
            let gkb = k0 + kb;
            var w = 0.0;
            if (gn < N && gkb < K) {
                w = b[bbase + select(gkb * N + gn, gn * KS + gkb, TB)];
            }
            Bs[kb * RS + nn / 4u][nn % 4u] = w;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < TBK; kk++) {
            let av = As[kk * RS + ty];
            let bv = Bs[kk * RS + tx];
            acc0 += av.x * bv;
            acc1 += av.y * bv;
            acc2 += av.z * bv;
            acc3 += av.w * bv;
        }
        workgroupBarrier();
    }
    let obase = (split * p.batches + batch) * M * N;
    let r = m0 + ty * 4u;
    let c = n0 + tx * 4u;
    put4(obase, r, c, acc0);
    put4(obase, r + 1u, c, acc1);
    put4(obase, r + 2u, c, acc2);
    put4(obase, r + 3u, c, acc3);
}

// mm_tiled128: for real GPUs on large products. Like mm_tiled with 128 x 128 output tiles and
// K steps of 8: each of the 256 invocations accumulates an 8 x 8 micro-tile (rows
// 4 ty .. + 3 and 64 + 4 ty .. + 3, columns 4 tx .. + 3 and 64 + 4 tx .. + 3 of the tile), so every
// value read from workgroup memory feeds 8 multiply-adds.
// Dispatch: grid x = ceil(M / 128) row tiles (folded as described at the top), y = ceil(N / 128),
// z = batch * zsplit.
const RS2: u32 = 33u; // row stride of the staged slices: 32 vec4s + 1 (see RS)
var<workgroup> As2: array<vec4<f32>, 264>; // [k][m / 4], 8 x 128, row stride RS2
var<workgroup> Bs2: array<vec4<f32>, 264>; // [k][n / 4], 8 x 128, row stride RS2

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
            As2[kk * RS2 + mm / 4u][mm % 4u] = v;
            // op(B) element (kb, nn).
            let kb = select(idx / 128u, idx % 8u, TB);
            let nn = select(idx % 128u, idx / 8u, TB);
            let gn = n0 + nn;
            let gkb = k0 + kb;
            var w = 0.0;
            if (gn < N && gkb < K) {
                w = b[bbase + select(gkb * N + gn, gn * K + gkb, TB)];
            }
            Bs2[kb * RS2 + nn / 4u][nn % 4u] = w;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < 8u; kk++) {
            let a0 = As2[kk * RS2 + ty];
            let a1 = As2[kk * RS2 + 16u + ty];
            let b0 = Bs2[kk * RS2 + tx];
            let b1 = Bs2[kk * RS2 + 16u + tx];
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
