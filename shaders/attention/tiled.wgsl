#include "attention/parts/common"

// ---------------------------------------------------------------------------------------------
// *_tiled kernels (workgroup memory; for GPUs)
// Workgroup: 128 invocations = 32 rows x 4 parts; invocation t owns row r = t / 4 and, in every
// 32-wide block, the columns part + 4u (u = 0..7). Dispatch: (ceil(L / 32), B * heads,
// ceil(d / 256)); grid z selects 256 output channels (8 chunks of 32, `DCH` of them per slice).
// ---------------------------------------------------------------------------------------------

const TR: u32 = 32u;  // rows per tile
const TS: u32 = 33u;  // padded row stride of a tile in workgroup memory
const TSIZE: u32 = 1056u;
const SLICE: u32 = 256u;  // output channels per workgroup
override DCH: u32 = 8u;   // 32-channel output chunks per slice actually needed: min(8, ceil(d / 32))

var<workgroup> ta: array<f32, TSIZE>;  // tile of the workgroup's own rows (32 rows x 32 channels)
var<workgroup> tb: array<f32, TSIZE>;  // tile of the other side's rows
var<workgroup> tp: array<f32, TSIZE>;  // 32 x 32 block of probabilities (or ds)
var<workgroup> red: array<f32, 128>;   // one value per invocation, for row reductions

// Element i (0..8) of invocation t in a 32 x 32 tile of rows row0.., channels c0..: (tile index,
// row, channel, 1 if inside L x d else 0). Consecutive invocations take consecutive channels.
fn tile_index(t: u32, i: u32, row0: u32, c0: u32) -> vec4<u32> {
    let e = t + 128u * i;
    let rr = e / TR;
    let cc = e % TR;
    let ok = row0 + rr < p.l && c0 + cc < p.d;
    return vec4<u32>(rr * TS + cc, row0 + rr, c0 + cc, select(0u, 1u, ok));
}

// Element e (vec4 from tile_index) of q (which = 0), k (1) or v (2); 0 outside the tensor.
fn fetch_qkv(which: u32, n: u32, h: u32, e: vec4<u32>) -> f32 {
    if (e.w == 0u) {
        return 0.0;
    }
    let at = tok(n, h, e.y) + e.z;
    switch which {
        case 0u: { return q_in[at]; }
        case 1u: { return k_in[at]; }
        default: { return v_in[at]; }
    }
}

fn fetch_do(n: u32, h: u32, e: vec4<u32>) -> f32 {
    if (e.w == 0u) {
        return 0.0;
    }
    return do_in[tok(n, h, e.y) + e.z];
}

// Tile ta / tb <- rows row0.., channels c0.. of q, k or v (which), or of dout.
fn fill_a(which: u32, t: u32, n: u32, h: u32, row0: u32, c0: u32) {
    for (var i = 0u; i < 8u; i++) {
        let e = tile_index(t, i, row0, c0);
        ta[e.x] = fetch_qkv(which, n, h, e);
    }
}

fn fill_b(which: u32, t: u32, n: u32, h: u32, row0: u32, c0: u32) {
    for (var i = 0u; i < 8u; i++) {
        let e = tile_index(t, i, row0, c0);
        tb[e.x] = fetch_qkv(which, n, h, e);
    }
}

fn fill_a_do(t: u32, n: u32, h: u32, row0: u32, c0: u32) {
    for (var i = 0u; i < 8u; i++) {
        let e = tile_index(t, i, row0, c0);
        ta[e.x] = fetch_do(n, h, e);
    }
}

fn fill_b_do(t: u32, n: u32, h: u32, row0: u32, c0: u32) {
    for (var i = 0u; i < 8u; i++) {
        let e = tile_index(t, i, row0, c0);
        tb[e.x] = fetch_do(n, h, e);
    }
}

// sc[u] += sum_c ta[r][c] tb[part + 4u][c] over the 32 channels of the current tiles.
fn tile_dots(sc: array<f32, 8>, r: u32, part: u32) -> array<f32, 8> {
    var acc = sc;
    for (var c = 0u; c < TR; c++) {
        let a = ta[r * TS + c];
        for (var u = 0u; u < 8u; u++) {
            acc[u] += a * tb[(part + 4u * u) * TS + c];
        }
    }
    return acc;
}

// acc[base + w] += sum_j tp[r][j] tb[j][part + 4w] (w = 0..7): one 32-channel output chunk.
fn tile_accumulate(acc: ptr<function, array<f32, 64>>, base: u32, r: u32, part: u32) {
    for (var j = 0u; j < TR; j++) {
        let pj = tp[r * TS + j];
        for (var w = 0u; w < 8u; w++) {
            (*acc)[base + w] += pj * tb[j * TS + part + 4u * w];
        }
    }
}

// attn_fwd_tiled: as attn_fwd_rows. Bindings: 1 q, 2 k, 3 v (read), 4 o, 5 lse (write).
@compute @workgroup_size(128)
fn attn_fwd_tiled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let bh = wid.y;
    let n = bh / p.heads;
    let h = bh % p.heads;
    let i0 = wid.x * TR;
    let r = t / 4u;
    let part = t % 4u;
    let cz = wid.z * SLICE;
    var m = NEG_BIG;
    var lpart = 0.0;  // this invocation's share of the row sum (its 8 columns of each block)
    var acc: array<f32, 64>;
    for (var k = 0u; k < 64u; k++) {
        acc[k] = 0.0;
    }
    for (var j0 = 0u; j0 < p.l; j0 += TR) {
        var sc: array<f32, 8>;
        for (var u = 0u; u < 8u; u++) {
            sc[u] = 0.0;
        }
        for (var c0 = 0u; c0 < p.d; c0 += TR) {
            fill_a(0u, t, n, h, i0, c0);
            fill_b(1u, t, n, h, j0, c0);
            workgroupBarrier();
            sc = tile_dots(sc, r, part);
            workgroupBarrier();
        }
        var mloc = NEG_BIG;
        for (var u = 0u; u < 8u; u++) {
            sc[u] = select(sc[u] * p.scale, NEG_BIG, j0 + part + 4u * u >= p.l);
            mloc = max(mloc, sc[u]);
        }
        red[t] = mloc;
        workgroupBarrier();
        let mb = max(max(red[r * 4u], red[r * 4u + 1u]), max(red[r * 4u + 2u], red[r * 4u + 3u]));
        let m_new = max(m, mb);
        let alpha = exp(m - m_new);
        m = m_new;
        var ls = 0.0;
        for (var u = 0u; u < 8u; u++) {
            let pu = exp(sc[u] - m_new);
            ls += pu;
            tp[r * TS + part + 4u * u] = pu;
        }
        lpart = lpart * alpha + ls;
        for (var k = 0u; k < 64u; k++) {
            acc[k] *= alpha;
        }
        workgroupBarrier();
        for (var cc = 0u; cc < DCH; cc++) {
            let c0 = cz + cc * TR;
            if (c0 < p.d) {
                fill_b(2u, t, n, h, j0, c0);
                workgroupBarrier();
                tile_accumulate(&acc, cc * 8u, r, part);
                workgroupBarrier();
            }
        }
    }
    red[t] = lpart;
    workgroupBarrier();
    let l = (red[r * 4u] + red[r * 4u + 1u]) + (red[r * 4u + 2u] + red[r * 4u + 3u]);
    let row = i0 + r;
    if (row < p.l) {
        let base = tok(n, h, row);
        for (var cc = 0u; cc < DCH; cc++) {
            for (var w = 0u; w < 8u; w++) {
                let c = cz + cc * TR + part + 4u * w;
                if (c < p.d) {
                    o_out[base + c] = acc[cc * 8u + w] / l;
                }
            }
        }
        if (part == 0u && wid.z == 0u) {
            lse_out[bh * p.l + row] = m + log(l);
        }
    }
}

// attn_bwd_dq_tiled: as attn_bwd_dq_rows. Bindings: 1 q, 2 k, 3 v, 4 dout, 5 lse, 6 dd (read),
// 7 dq (write). Workgroup rows are query rows.
@compute @workgroup_size(128)
fn attn_bwd_dq_tiled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let bh = wid.y;
    let n = bh / p.heads;
    let h = bh % p.heads;
    let i0 = wid.x * TR;
    let r = t / 4u;
    let part = t % 4u;
    let cz = wid.z * SLICE;
    let row = i0 + r;
    let lr = bh * p.l + min(row, p.l - 1u);
    let lse = lse_in[lr];
    let dd = dd_in[lr];
    var acc: array<f32, 64>;
    for (var k = 0u; k < 64u; k++) {
        acc[k] = 0.0;
    }
    for (var j0 = 0u; j0 < p.l; j0 += TR) {
        var sc: array<f32, 8>;
        var dp: array<f32, 8>;
        for (var u = 0u; u < 8u; u++) {
            sc[u] = 0.0;
            dp[u] = 0.0;
        }
        for (var c0 = 0u; c0 < p.d; c0 += TR) {
            fill_a(0u, t, n, h, i0, c0);
            fill_b(1u, t, n, h, j0, c0);
            workgroupBarrier();
            sc = tile_dots(sc, r, part);
            workgroupBarrier();
            fill_a_do(t, n, h, i0, c0);
            fill_b(2u, t, n, h, j0, c0);
            workgroupBarrier();
            dp = tile_dots(dp, r, part);
            workgroupBarrier();
        }
        for (var u = 0u; u < 8u; u++) {
            let pu = select(exp(sc[u] * p.scale - lse), 0.0, j0 + part + 4u * u >= p.l);
            tp[r * TS + part + 4u * u] = p.scale * pu * (dp[u] - dd);
        }
        workgroupBarrier();
        for (var cc = 0u; cc < DCH; cc++) {
            let c0 = cz + cc * TR;
            if (c0 < p.d) {
                fill_b(1u, t, n, h, j0, c0);
                workgroupBarrier();
                tile_accumulate(&acc, cc * 8u, r, part);
                workgroupBarrier();
            }
        }
    }
    if (row < p.l) {
        let base = tok(n, h, row);
        for (var cc = 0u; cc < DCH; cc++) {
            for (var w = 0u; w < 8u; w++) {
                let c = cz + cc * TR + part + 4u * w;
                if (c < p.d) {
                    dq_out[base + c] = acc[cc * 8u + w];
                }
            }
        }
    }
}

// attn_bwd_dkdv_tiled: as attn_bwd_dkdv_rows. Bindings: 1 q, 2 k, 3 v, 4 dout, 5 lse, 6 dd
// (read), 7 dk, 8 dv (write). Workgroup rows are key rows; the loop walks blocks of 32 queries.
@compute @workgroup_size(128)
fn attn_bwd_dkdv_tiled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let bh = wid.y;
    let n = bh / p.heads;
    let h = bh % p.heads;
    let j0 = wid.x * TR;
    let r = t / 4u;
    let part = t % 4u;
    let cz = wid.z * SLICE;
    let lo = bh * p.l;
    var ak: array<f32, 64>;
    var av: array<f32, 64>;
    for (var k = 0u; k < 64u; k++) {
        ak[k] = 0.0;
        av[k] = 0.0;
    }
    for (var i0 = 0u; i0 < p.l; i0 += TR) {
        var sc: array<f32, 8>;
        var dp: array<f32, 8>;
        for (var u = 0u; u < 8u; u++) {
            sc[u] = 0.0;
            dp[u] = 0.0;
        }
        for (var c0 = 0u; c0 < p.d; c0 += TR) {
            fill_a(1u, t, n, h, j0, c0);
            fill_b(0u, t, n, h, i0, c0);
            workgroupBarrier();
            sc = tile_dots(sc, r, part);
            workgroupBarrier();
            fill_a(2u, t, n, h, j0, c0);
            fill_b_do(t, n, h, i0, c0);
            workgroupBarrier();
            dp = tile_dots(dp, r, part);
            workgroupBarrier();
        }
        // p^T into tp; keep scale * ds^T in dp.
        for (var u = 0u; u < 8u; u++) {
            let i = i0 + part + 4u * u;
            let qi = lo + min(i, p.l - 1u);
            let pu = select(exp(sc[u] * p.scale - lse_in[qi]), 0.0, i >= p.l);
            tp[r * TS + part + 4u * u] = pu;
            dp[u] = p.scale * pu * (dp[u] - dd_in[qi]);
        }
        workgroupBarrier();
        for (var cc = 0u; cc < DCH; cc++) {
            let c0 = cz + cc * TR;
            if (c0 < p.d) {
                fill_b_do(t, n, h, i0, c0);
                workgroupBarrier();
                tile_accumulate(&av, cc * 8u, r, part);
                workgroupBarrier();
            }
        }
        for (var u = 0u; u < 8u; u++) {
            tp[r * TS + part + 4u * u] = dp[u];
        }
        workgroupBarrier();
        for (var cc = 0u; cc < DCH; cc++) {
            let c0 = cz + cc * TR;
            if (c0 < p.d) {
                fill_b(0u, t, n, h, i0, c0);
                workgroupBarrier();
                tile_accumulate(&ak, cc * 8u, r, part);
                workgroupBarrier();
            }
        }
        workgroupBarrier();
    }
    let row = j0 + r;
    if (row < p.l) {
        let base = tok(n, h, row);
        for (var cc = 0u; cc < DCH; cc++) {
            for (var w = 0u; w < 8u; w++) {
                let c = cz + cc * TR + part + 4u * w;
                if (c < p.d) {
                    dq_out[base + c] = ak[cc * 8u + w];
                    dv_out[base + c] = av[cc * 8u + w];
                }
            }
        }
    }
}
