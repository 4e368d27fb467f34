#include "matmul/parts/scalar_buffers"

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
    #for V in 1..8
    let r{{V}} = min(m0 + {{V}}u, last_m);
    #end
    let n0 = min(n, last_n);
    let n1 = min(n + 1u, last_n);
    let n2 = min(n + 2u, last_n);
    let n3 = min(n + 3u, last_n);
    #for V in 0..8
    var c{{V}} = vec4<f32>(0.0);
    #end
    for (var k = 0u; k < p.k; k++) {
        let bv = vec4<f32>(b_at(bbase, k, n0), b_at(bbase, k, n1), b_at(bbase, k, n2), b_at(bbase, k, n3));
        c0 = fma(vec4<f32>(a_at(abase, m0, k)), bv, c0);
        #for V in 1..8
        c{{V}} = fma(vec4<f32>(a_at(abase, r{{V}}, k)), bv, c{{V}});
        #end
    }
    let obase = batch * p.m * p.n;
    put4(obase, m0, n, c0);
    #for V in 1..8
    put4(obase, m0 + {{V}}u, n, c{{V}});
    #end
}
