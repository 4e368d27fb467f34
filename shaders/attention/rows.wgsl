// *_rows kernels (scalar, barrier-free; see attention/parts/common.wgsl).

#include "attention/parts/common"
#include "attention/parts/row_groups"

// attn_fwd_rows: o = softmax(scale q k^T) v and lse.
// Bindings: 1 q, 2 k, 3 v (read), 4 o (write; also the accumulator), 5 lse (write).
// Dispatch: (ceil(groups / WG), B * heads, 1), groups = ceil(L / 4); invocation x of workgroup
// (gx, bh) owns query rows 4g .. 4g + 3, g = gx * WG + x.
@compute @workgroup_size(WG)
fn attn_fwd_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let bh = wid.y;
    let n = bh / p.heads;
    let h = bh % p.heads;
    let g = wid.x * WG + lid;
    if (g >= p.groups) {
        return;
    }
    let rows = rows_of(g);
    let valid = rows_valid(g);
    let last = p.l - 1u;
    let qo = vec4<u32>(tok(n, h, rows.x), tok(n, h, rows.y), tok(n, h, rows.z), tok(n, h, rows.w));
    let kv0 = tok(n, h, 0u);
    var m = vec4<f32>(NEG_BIG);
    var lsum = vec4<f32>(0.0);
    var s: array<vec4<f32>, KB>;
    for (var j0 = 0u; j0 < p.l; j0 += KB) {
        // Scores of the 4 rows against keys j0 .. j0 + KB - 1 (clamped; masked below).
        for (var j = 0u; j < KB; j++) {
            s[j] = vec4<f32>(0.0);
        }
        for (var ch = 0u; ch < p.d; ch++) {
            let qv = vec4<f32>(q_in[qo.x + ch], q_in[qo.y + ch], q_in[qo.z + ch], q_in[qo.w + ch]);
            for (var j = 0u; j < KB; j++) {
                s[j] += qv * k_in[kv0 + min(j0 + j, last) * p.c + ch];
            }
        }
        var mb = m;
        for (var j = 0u; j < KB; j++) {
            s[j] = select(s[j] * p.scale, vec4<f32>(NEG_BIG), j0 + j >= p.l);
            mb = max(mb, s[j]);
        }
        let alpha = exp(m - mb);
        m = mb;
        var ps = vec4<f32>(0.0);
        for (var j = 0u; j < KB; j++) {
            s[j] = exp(s[j] - mb);
            ps += s[j];
        }
        lsum = lsum * alpha + ps;
        // o_i = alpha o_i + sum_j p_ij v_j; the last block also normalises (o = acc / lsum).
        let fin = select(vec4<f32>(1.0), 1.0 / lsum, j0 + KB >= p.l);
        for (var ch = 0u; ch < p.d; ch++) {
            var acc = vec4<f32>(0.0);
            if (j0 > 0u) {
                acc = alpha * vec4<f32>(o_out[qo.x + ch], o_out[qo.y + ch], o_out[qo.z + ch], o_out[qo.w + ch]);
            }
            for (var j = 0u; j < KB; j++) {
                acc += s[j] * v_in[kv0 + min(j0 + j, last) * p.c + ch];
            }
            store_rows_o(qo + ch, valid, acc * fin);
        }
    }
    let lse = m + log(lsum);
    store_rows_lse(bh * p.l + rows, valid, lse);
}

// attn_bwd_dq_rows: dq_i = scale sum_j p_ij (dout_i . v_j - D_i) k_j.
// Bindings: 1 q, 2 k, 3 v, 4 dout, 5 lse, 6 dd (read), 7 dq (write; also the accumulator).
// Dispatch: as attn_fwd_rows (invocation owns query rows 4g .. 4g + 3).
@compute @workgroup_size(WG)
fn attn_bwd_dq_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let bh = wid.y;
    let n = bh / p.heads;
    let h = bh % p.heads;
    let g = wid.x * WG + lid;
    if (g >= p.groups) {
        return;
    }
    let rows = rows_of(g);
    let valid = rows_valid(g);
    let last = p.l - 1u;
    let qo = vec4<u32>(tok(n, h, rows.x), tok(n, h, rows.y), tok(n, h, rows.z), tok(n, h, rows.w));
    let kv0 = tok(n, h, 0u);
    let lr = bh * p.l + rows;
    let lse = vec4<f32>(lse_in[lr.x], lse_in[lr.y], lse_in[lr.z], lse_in[lr.w]);
    let dd = vec4<f32>(dd_in[lr.x], dd_in[lr.y], dd_in[lr.z], dd_in[lr.w]);
    var s: array<vec4<f32>, KB>;
    var dp: array<vec4<f32>, KB>;
    for (var j0 = 0u; j0 < p.l; j0 += KB) {
        for (var j = 0u; j < KB; j++) {
            s[j] = vec4<f32>(0.0);
            dp[j] = vec4<f32>(0.0);
        }
        for (var ch = 0u; ch < p.d; ch++) {
            let qv = vec4<f32>(q_in[qo.x + ch], q_in[qo.y + ch], q_in[qo.z + ch], q_in[qo.w + ch]);
            let gv = vec4<f32>(do_in[qo.x + ch], do_in[qo.y + ch], do_in[qo.z + ch], do_in[qo.w + ch]);
            for (var j = 0u; j < KB; j++) {
                let at = kv0 + min(j0 + j, last) * p.c + ch;
                s[j] += qv * k_in[at];
                dp[j] += gv * v_in[at];
            }
        }
        // s becomes scale * ds (zero for keys beyond L).
        for (var j = 0u; j < KB; j++) {
            let pj = select(exp(s[j] * p.scale - lse), vec4<f32>(0.0), j0 + j >= p.l);
            s[j] = p.scale * pj * (dp[j] - dd);
        }
        for (var ch = 0u; ch < p.d; ch++) {
            var acc = vec4<f32>(0.0);
            if (j0 > 0u) {
                acc = vec4<f32>(dq_out[qo.x + ch], dq_out[qo.y + ch], dq_out[qo.z + ch], dq_out[qo.w + ch]);
            }
            for (var j = 0u; j < KB; j++) {
                acc += s[j] * k_in[kv0 + min(j0 + j, last) * p.c + ch];
            }
            store_rows_dq(qo + ch, valid, acc);
        }
    }
}

// attn_bwd_dkdv_rows: dv_j = sum_i p_ij dout_i, dk_j = scale sum_i p_ij (dout_i . v_j - D_i) q_i.
// Bindings: 1 q, 2 k, 3 v, 4 dout, 5 lse, 6 dd (read), 7 dk, 8 dv (write; also accumulators).
// Dispatch: as attn_fwd_rows, but invocation g owns KEY rows 4g .. 4g + 3 and walks the queries.
@compute @workgroup_size(WG)
fn attn_bwd_dkdv_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let bh = wid.y;
    let n = bh / p.heads;
    let h = bh % p.heads;
    let g = wid.x * WG + lid;
    if (g >= p.groups) {
        return;
    }
    let rows = rows_of(g);
    let valid = rows_valid(g);
    let last = p.l - 1u;
    let ko = vec4<u32>(tok(n, h, rows.x), tok(n, h, rows.y), tok(n, h, rows.z), tok(n, h, rows.w));
    let q0 = tok(n, h, 0u);
    let lo = bh * p.l;
    var s: array<vec4<f32>, KB>;   // scores, then p^T
    var dp: array<vec4<f32>, KB>;  // dout . v, then scale * ds^T
    for (var i0 = 0u; i0 < p.l; i0 += KB) {
        for (var i = 0u; i < KB; i++) {
            s[i] = vec4<f32>(0.0);
            dp[i] = vec4<f32>(0.0);
        }
        for (var ch = 0u; ch < p.d; ch++) {
            let kv = vec4<f32>(k_in[ko.x + ch], k_in[ko.y + ch], k_in[ko.z + ch], k_in[ko.w + ch]);
            let vv = vec4<f32>(v_in[ko.x + ch], v_in[ko.y + ch], v_in[ko.z + ch], v_in[ko.w + ch]);
            for (var i = 0u; i < KB; i++) {
                let at = q0 + min(i0 + i, last) * p.c + ch;
                s[i] += kv * q_in[at];
                dp[i] += vv * do_in[at];
            }
        }
        for (var i = 0u; i < KB; i++) {
            let qi = lo + min(i0 + i, last);
            let pi = select(exp(s[i] * p.scale - lse_in[qi]), vec4<f32>(0.0), i0 + i >= p.l);
            s[i] = pi;
            dp[i] = p.scale * pi * (dp[i] - dd_in[qi]);
        }
        for (var ch = 0u; ch < p.d; ch++) {
            var av = vec4<f32>(0.0);
            var ak = vec4<f32>(0.0);
            if (i0 > 0u) {
                av = vec4<f32>(dv_out[ko.x + ch], dv_out[ko.y + ch], dv_out[ko.z + ch], dv_out[ko.w + ch]);
                ak = vec4<f32>(dq_out[ko.x + ch], dq_out[ko.y + ch], dq_out[ko.z + ch], dq_out[ko.w + ch]);
            }
            for (var i = 0u; i < KB; i++) {
                let at = q0 + min(i0 + i, last) * p.c + ch;
                av += s[i] * do_in[at];
                ak += dp[i] * q_in[at];
            }
            store_rows_dv(ko + ch, valid, av);
            store_rows_dq(ko + ch, valid, ak);
        }
    }
}
