#include "attention/parts/common"
#include "attention/parts/row_groups"

// *_sg kernels (compiled only when the device has subgroups; see src/ops/attention.rs): one
// invocation owns 4 rows (vec4 lanes / matrix columns), the subgroup (8 lanes)
// owns 32 rows; the other side is walked in blocks of 64 (forward) or 32 (backward) rows, of
// which lane i loads rows 8t + i one channel quad at a time, and subgroupShuffle hands each row
// to every lane. Costs on lavapipe: a vec4 storage load or store is a loop over the 8 lanes,
// ~500 instructions; a shuffle ~15; so the blocks are as large as the registers allow.
// Requires subgroups of exactly 8 invocations, d % 4 == 0 and C % 4 == 0.
// Dispatch: (ceil(groups / WG), B * heads, 1), groups = ceil(L / 4), WG a multiple of 8; lanes
// past the last group work on clamped rows (so every shuffle sees a full subgroup) and store nothing.

#include "attention/parts/sg_tiles"

// attn_fwd_sg: as attn_fwd_rows, in blocks of 64 keys (8 tiles: the o read-modify-write and the
// q loads are paid once per 64 keys). Bindings: 1 q, 2 k, 3 v (read), 4 o, 5 lse (write).
@compute @workgroup_size(WG)
fn attn_fwd_sg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
               @builtin(subgroup_invocation_id) sl: u32) {
    let bh = wid.y;
    let n = bh / p.heads;
    let h = bh % p.heads;
    let own = own_rows(n, h, wid.x, lid);
    let d4 = p.d / 4u;
    var m = vec4<f32>(NEG_BIG);
    var lsum = vec4<f32>(0.0);
    for (var j0 = 0u; j0 < p.l; j0 += 64u) {
        #for V in 0..8
        let kr{{V}} = other_row(n, h, j0, {{V}}u, sl);
        #end
        #for V in 0..8
        var s{{V}} = zero_tile();
        #end
        for (var ch = 0u; ch < d4; ch++) {
            let q = mat4x4<f32>(q4[own.at.x + ch], q4[own.at.y + ch], q4[own.at.z + ch], q4[own.at.w + ch]);
            #for V in 0..8
            s{{V}} = dots8(s{{V}}, q, k4[kr{{V}} + ch]);
            #end
        }
        s0 = tile_scale_mask(s0, j0 + 0u);
        s1 = tile_scale_mask(s1, j0 + 8u);
        s2 = tile_scale_mask(s2, j0 + 16u);
        s3 = tile_scale_mask(s3, j0 + 24u);
        s4 = tile_scale_mask(s4, j0 + 32u);
        s5 = tile_scale_mask(s5, j0 + 40u);
        s6 = tile_scale_mask(s6, j0 + 48u);
        s7 = tile_scale_mask(s7, j0 + 56u);
        let mb = max(max(max(m, max(tile_max(s0), tile_max(s1))), max(tile_max(s2), tile_max(s3))),
                     max(max(tile_max(s4), tile_max(s5)), max(tile_max(s6), tile_max(s7))));
        let alpha = exp(m - mb);
        m = mb;
        #for V in 0..8
        s{{V}} = tile_exp(s{{V}}, mb);
        #end
        lsum = lsum * alpha + (((tile_sum(s0) + tile_sum(s1)) + (tile_sum(s2) + tile_sum(s3)))
                            + ((tile_sum(s4) + tile_sum(s5)) + (tile_sum(s6) + tile_sum(s7))));
        // The last block also normalises (o = acc / lsum).
        let fin = select(vec4<f32>(1.0), 1.0 / lsum, j0 + 64u >= p.l);
        for (var ch = 0u; ch < d4; ch++) {
            var a = mat4x4<f32>();
            if (j0 > 0u) {
                a = mat4x4<f32>(alpha.x * o4[own.at.x + ch], alpha.y * o4[own.at.y + ch],
                                alpha.z * o4[own.at.z + ch], alpha.w * o4[own.at.w + ch]);
            }
            #for V in 0..8
            a = combine8(a, s{{V}}, v4[kr{{V}} + ch]);
            #end
            store_o4(own, ch, mat4x4<f32>(fin.x * a[0], fin.y * a[1], fin.z * a[2], fin.w * a[3]));
        }
    }
    store_rows_lse(bh * p.l + own.rows, own.valid, m + log(lsum));
}

// attn_bwd_dq_sg: as attn_bwd_dq_rows, in blocks of 64 keys. Bindings: 1 q, 2 k, 3 v, 4 dout,
// 5 lse, 6 dd (read), 7 dq (write; also the accumulator).
@compute @workgroup_size(WG)
fn attn_bwd_dq_sg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                  @builtin(subgroup_invocation_id) sl: u32) {
    let bh = wid.y;
    let n = bh / p.heads;
    let h = bh % p.heads;
    let own = own_rows(n, h, wid.x, lid);
    let d4 = p.d / 4u;
    let lr = bh * p.l + own.rows;
    let lse = vec4<f32>(lse_in[lr.x], lse_in[lr.y], lse_in[lr.z], lse_in[lr.w]);
    let dd = vec4<f32>(dd_in[lr.x], dd_in[lr.y], dd_in[lr.z], dd_in[lr.w]);
    for (var j0 = 0u; j0 < p.l; j0 += 64u) {
        #for V in 0..8
        let kr{{V}} = other_row(n, h, j0, {{V}}u, sl);
        #end
        var s0 = zero_tile();
        var e0 = zero_tile();
        var s1 = zero_tile();
        var e1 = zero_tile();
        var s2 = zero_tile();
        var e2 = zero_tile();
        var s3 = zero_tile();
        var e3 = zero_tile();
        var s4 = zero_tile();
        var e4 = zero_tile();
        var s5 = zero_tile();
        var e5 = zero_tile();
        var s6 = zero_tile();
        var e6 = zero_tile();
        var s7 = zero_tile();
        var e7 = zero_tile();
        for (var ch = 0u; ch < d4; ch++) {
            let q = mat4x4<f32>(q4[own.at.x + ch], q4[own.at.y + ch], q4[own.at.z + ch], q4[own.at.w + ch]);
            let g = mat4x4<f32>(do4[own.at.x + ch], do4[own.at.y + ch], do4[own.at.z + ch], do4[own.at.w + ch]);
            s0 = dots8(s0, q, k4[kr0 + ch]);
            e0 = dots8(e0, g, v4[kr0 + ch]);
            s1 = dots8(s1, q, k4[kr1 + ch]);
            e1 = dots8(e1, g, v4[kr1 + ch]);
            s2 = dots8(s2, q, k4[kr2 + ch]);
            e2 = dots8(e2, g, v4[kr2 + ch]);
            s3 = dots8(s3, q, k4[kr3 + ch]);
            e3 = dots8(e3, g, v4[kr3 + ch]);
            s4 = dots8(s4, q, k4[kr4 + ch]);
            e4 = dots8(e4, g, v4[kr4 + ch]);
            s5 = dots8(s5, q, k4[kr5 + ch]);
            e5 = dots8(e5, g, v4[kr5 + ch]);
            s6 = dots8(s6, q, k4[kr6 + ch]);
            e6 = dots8(e6, g, v4[kr6 + ch]);
            s7 = dots8(s7, q, k4[kr7 + ch]);
            e7 = dots8(e7, g, v4[kr7 + ch]);
        }
        // s becomes scale * ds.
        s0 = tile_ds(tile_exp(tile_scale_mask(s0, j0 + 0u), lse), e0, dd);
        s1 = tile_ds(tile_exp(tile_scale_mask(s1, j0 + 8u), lse), e1, dd);
        s2 = tile_ds(tile_exp(tile_scale_mask(s2, j0 + 16u), lse), e2, dd);
        s3 = tile_ds(tile_exp(tile_scale_mask(s3, j0 + 24u), lse), e3, dd);
        s4 = tile_ds(tile_exp(tile_scale_mask(s4, j0 + 32u), lse), e4, dd);
        s5 = tile_ds(tile_exp(tile_scale_mask(s5, j0 + 40u), lse), e5, dd);
        s6 = tile_ds(tile_exp(tile_scale_mask(s6, j0 + 48u), lse), e6, dd);
        s7 = tile_ds(tile_exp(tile_scale_mask(s7, j0 + 56u), lse), e7, dd);
        for (var ch = 0u; ch < d4; ch++) {
            var a = mat4x4<f32>();
            if (j0 > 0u) {
                a = mat4x4<f32>(dq4[own.at.x + ch], dq4[own.at.y + ch], dq4[own.at.z + ch], dq4[own.at.w + ch]);
            }
            #for V in 0..8
            a = combine8(a, s{{V}}, k4[kr{{V}} + ch]);
            #end
            store_dq4(own, ch, a);
        }
    }
}

// attn_bwd_dkdv_sg: as attn_bwd_dkdv_rows (invocations own KEY rows), in blocks of 64 queries.
// Bindings: 1 q, 2 k, 3 v, 4 dout, 5 lse, 6 dd (read), 7 dk, 8 dv (write; also accumulators).
@compute @workgroup_size(WG)
fn attn_bwd_dkdv_sg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                    @builtin(subgroup_invocation_id) sl: u32) {
    let bh = wid.y;
    let n = bh / p.heads;
    let h = bh % p.heads;
    let own = own_rows(n, h, wid.x, lid);
    let d4 = p.d / 4u;
    let lo = bh * p.l;
    let last = p.l - 1u;
    for (var i0 = 0u; i0 < p.l; i0 += 64u) {
        #for V in 0..8
        let qr{{V}} = other_row(n, h, i0, {{V}}u, sl);
        #end
        var s0 = zero_tile();
        var e0 = zero_tile();
        var s1 = zero_tile();
        var e1 = zero_tile();
        var s2 = zero_tile();
        var e2 = zero_tile();
        var s3 = zero_tile();
        var e3 = zero_tile();
        var s4 = zero_tile();
        var e4 = zero_tile();
        var s5 = zero_tile();
        var e5 = zero_tile();
        var s6 = zero_tile();
        var e6 = zero_tile();
        var s7 = zero_tile();
        var e7 = zero_tile();
        for (var ch = 0u; ch < d4; ch++) {
            let kk = mat4x4<f32>(k4[own.at.x + ch], k4[own.at.y + ch], k4[own.at.z + ch], k4[own.at.w + ch]);
            let vv = mat4x4<f32>(v4[own.at.x + ch], v4[own.at.y + ch], v4[own.at.z + ch], v4[own.at.w + ch]);
            s0 = dots8(s0, kk, q4[qr0 + ch]);
            e0 = dots8(e0, vv, do4[qr0 + ch]);
            s1 = dots8(s1, kk, q4[qr1 + ch]);
            e1 = dots8(e1, vv, do4[qr1 + ch]);
            s2 = dots8(s2, kk, q4[qr2 + ch]);
            e2 = dots8(e2, vv, do4[qr2 + ch]);
            s3 = dots8(s3, kk, q4[qr3 + ch]);
            e3 = dots8(e3, vv, do4[qr3 + ch]);
            s4 = dots8(s4, kk, q4[qr4 + ch]);
            e4 = dots8(e4, vv, do4[qr4 + ch]);
            s5 = dots8(s5, kk, q4[qr5 + ch]);
            e5 = dots8(e5, vv, do4[qr5 + ch]);
            s6 = dots8(s6, kk, q4[qr6 + ch]);
            e6 = dots8(e6, vv, do4[qr6 + ch]);
            s7 = dots8(s7, kk, q4[qr7 + ch]);
            e7 = dots8(e7, vv, do4[qr7 + ch]);
        }
        // s becomes p^T, e becomes scale * ds^T; the statistics of query 8t + j come from lane j.
        let st0 = lo + min(i0 + 0u + sl, last);
        s0 = tile_prob_cols(s0, lse_in[st0], i0 + 0u);
        e0 = tile_ds_cols(s0, e0, dd_in[st0]);
        let st1 = lo + min(i0 + 8u + sl, last);
        s1 = tile_prob_cols(s1, lse_in[st1], i0 + 8u);
        e1 = tile_ds_cols(s1, e1, dd_in[st1]);
        let st2 = lo + min(i0 + 16u + sl, last);
        s2 = tile_prob_cols(s2, lse_in[st2], i0 + 16u);
        e2 = tile_ds_cols(s2, e2, dd_in[st2]);
        let st3 = lo + min(i0 + 24u + sl, last);
        s3 = tile_prob_cols(s3, lse_in[st3], i0 + 24u);
        e3 = tile_ds_cols(s3, e3, dd_in[st3]);
        let st4 = lo + min(i0 + 32u + sl, last);
        s4 = tile_prob_cols(s4, lse_in[st4], i0 + 32u);
        e4 = tile_ds_cols(s4, e4, dd_in[st4]);
        let st5 = lo + min(i0 + 40u + sl, last);
        s5 = tile_prob_cols(s5, lse_in[st5], i0 + 40u);
        e5 = tile_ds_cols(s5, e5, dd_in[st5]);
        let st6 = lo + min(i0 + 48u + sl, last);
        s6 = tile_prob_cols(s6, lse_in[st6], i0 + 48u);
        e6 = tile_ds_cols(s6, e6, dd_in[st6]);
        let st7 = lo + min(i0 + 56u + sl, last);
        s7 = tile_prob_cols(s7, lse_in[st7], i0 + 56u);
        e7 = tile_ds_cols(s7, e7, dd_in[st7]);
        for (var ch = 0u; ch < d4; ch++) {
            var av = mat4x4<f32>();
            var ak = mat4x4<f32>();
            if (i0 > 0u) {
                av = mat4x4<f32>(dv4[own.at.x + ch], dv4[own.at.y + ch], dv4[own.at.z + ch], dv4[own.at.w + ch]);
                ak = mat4x4<f32>(dq4[own.at.x + ch], dq4[own.at.y + ch], dq4[own.at.z + ch], dq4[own.at.w + ch]);
            }
            av = combine8(av, s0, do4[qr0 + ch]);
            ak = combine8(ak, e0, q4[qr0 + ch]);
            av = combine8(av, s1, do4[qr1 + ch]);
            ak = combine8(ak, e1, q4[qr1 + ch]);
            av = combine8(av, s2, do4[qr2 + ch]);
            ak = combine8(ak, e2, q4[qr2 + ch]);
            av = combine8(av, s3, do4[qr3 + ch]);
            ak = combine8(ak, e3, q4[qr3 + ch]);
            av = combine8(av, s4, do4[qr4 + ch]);
            ak = combine8(ak, e4, q4[qr4 + ch]);
            av = combine8(av, s5, do4[qr5 + ch]);
            ak = combine8(ak, e5, q4[qr5 + ch]);
            av = combine8(av, s6, do4[qr6 + ch]);
            ak = combine8(ak, e6, q4[qr6 + ch]);
            av = combine8(av, s7, do4[qr7 + ch]);
            ak = combine8(ak, e7, q4[qr7 + ch]);
            store_dv4(own, ch, av);
            store_dq4(own, ch, ak);
        }
    }
}
