#include "attention/parts/common"

// ---------------------------------------------------------------------------------------------
// The row passes of the dense attention variant (src/ops/attention.rs, `Variant::Dense`): one
// head (d = C), L % 4 == 0. The Rust side forms the L x L matrices with batched matmuls, which on
// lavapipe do fewer loads per multiply-add than the flash kernels; these kernels do the
// elementwise steps between them, row by row:
//   forward:  s = q k^T  ->  attn_dense_softmax: p = softmax(scale s) in place, lse
//             o = p v
//   backward: s = q k^T  ->  attn_dense_probs:   p = exp(scale s - lse) in place
//             dv = p^T dout,  dp = dout v^T  ->  attn_dense_dscores: ds = scale p (dp - D) in
//             place,  dq = ds k,  dk = ds^T q
// Matrices are [B, L, L] (row i of batch n at vec4 offset (n L + i) L / 4); lse and D are
// [B, 1, L]. Dispatch of all three: (ceil(L / 64), B, 1), one invocation per row; the row's
// vec4s are walked in order (L / 4 vec4 loads per pass).
// ---------------------------------------------------------------------------------------------

// Vec4s per row, and the first vec4 of row i of batch n.
fn row_quads() -> u32 {
    return p.l / 4u;
}

fn row_start(n: u32, i: u32) -> u32 {
    return (n * p.l + i) * row_quads();
}

// attn_dense_softmax: p_ij = exp(scale s_ij - lse_i), lse_i = log sum_j exp(scale s_ij), in
// place. The maximum and the sum are taken in one pass (the sum rescaled when the maximum
// grows), the probabilities written in a second. Bindings: 1 s (read-write), 2 lse (write).
@group(0) @binding(1) var<storage, read_write> dn_s: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> dn_lse_out: array<f32>;

@compute @workgroup_size(64)
fn attn_dense_softmax(@builtin(workgroup_id) wid: vec3<u32>,
                      @builtin(local_invocation_index) lid: u32) {
    let i = wid.x * 64u + lid;
    if (i >= p.l) {
        return;
    }
    let start = row_start(wid.y, i);
    var m = NEG_BIG;
    var sum = 0.0;
    for (var j = 0u; j < row_quads(); j++) {
        let x = p.scale * dn_s[start + j];
        let mx = max(max(x.x, x.y), max(x.z, x.w));
        let m_new = max(m, mx);
        let e = exp(x - vec4<f32>(m_new));
        sum = sum * exp(m - m_new) + (e.x + e.y) + (e.z + e.w);
        m = m_new;
    }
    let lse = m + log(sum);
    for (var j = 0u; j < row_quads(); j++) {
        dn_s[start + j] = exp(p.scale * dn_s[start + j] - vec4<f32>(lse));
    }
    dn_lse_out[wid.y * p.l + i] = lse;
}

// attn_dense_probs: p_ij = exp(scale s_ij - lse_i) in place (the backward pass recomputes the
// probabilities from the forward's lse). Bindings: 1 s (read-write), 2 lse (read).
@group(0) @binding(2) var<storage, read> dn_lse_in: array<f32>;

@compute @workgroup_size(64)
fn attn_dense_probs(@builtin(workgroup_id) wid: vec3<u32>,
                    @builtin(local_invocation_index) lid: u32) {
    let i = wid.x * 64u + lid;
    if (i >= p.l) {
        return;
    }
    let start = row_start(wid.y, i);
    let lse = vec4<f32>(dn_lse_in[wid.y * p.l + i]);
    for (var j = 0u; j < row_quads(); j++) {
        dn_s[start + j] = exp(p.scale * dn_s[start + j] - lse);
    }
}

// attn_dense_dscores: ds_ij = scale p_ij (dp_ij - D_i) in place on dp (the softmax backward,
// with the scale of the scores folded in so that dq = ds k and dk = ds^T q).
// Bindings: 1 dp (read-write), 2 p (read), 3 D (read).
@group(0) @binding(2) var<storage, read> dn_p: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> dn_dd: array<f32>;

@compute @workgroup_size(64)
fn attn_dense_dscores(@builtin(workgroup_id) wid: vec3<u32>,
                      @builtin(local_invocation_index) lid: u32) {
    let i = wid.x * 64u + lid;
    if (i >= p.l) {
        return;
    }
    let start = row_start(wid.y, i);
    let dd = vec4<f32>(dn_dd[wid.y * p.l + i]);
    for (var j = 0u; j < row_quads(); j++) {
        dn_s[start + j] = p.scale * dn_p[start + j] * (dn_s[start + j] - dd);
    }
}
