// mm_cpu_sg: matmul for CPU adapters (Mesa lavapipe) with subgroup operations, where the
// invocations of a subgroup are the SIMD lanes of one CPU thread. Same maths, Params and
// binding order as the other product kernels, but out, A and B are read as vec4. It uses
// subgroup operations, so it is compiled only on devices with the SUBGROUP feature.
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
#include "matmul/parts/params"

@group(0) @binding(1) var<storage, read_write> o: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> b: array<vec4<f32>>;

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
    #for V in 0..8
    let w{{V}} = subgroupBroadcast(av, {{V}}u);
    #end
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
        #for V in 0..8
        fma_row(c, {{V}}u, w{{V}}, bv);
        #end
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
    #for V in 0..4
    var c{{V}}: Acc;
    #end
    for (var k = 0u; k < p.k; k += 4u) {
        var bv = load_b(bbase, n, k);
        let a0 = load_a(abase, m0, k, l);
        let a1 = load_a(abase, m0 + 8u, k, l);
        let a2 = load_a(abase, m0 + 16u, k, l);
        let a3 = load_a(abase, m0 + 24u, k, l);
        #for V in 0..4
        group8(&c{{V}}, a{{V}}, &bv);
        #end
    }
    let obase = batch * p.m * p.n;
    let bn0 = bias_n(n);
    let bn1 = bias_n(n + 32u);
    store_group(&c0, obase, m0, n, bn0, bn1, l);
    store_group(&c1, obase, m0 + 8u, n, bn0, bn1, l);
    store_group(&c2, obase, m0 + 16u, n, bn0, bn1, l);
    store_group(&c3, obase, m0 + 24u, n, bn0, bn1, l);
}
