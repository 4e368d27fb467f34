// Scaled dot-product attention over tokens, forward and backward, flash-attention style: the
// softmax is computed online over blocks of keys and never stored as an L x L matrix.
//
// Tensors q, k, v, o, dout, dq, dk, dv are [B, L, C] token-major; head h of `heads` uses channels
// h*d .. h*d + d - 1 (d = C / heads). Per batch n and head h (bh = n * heads + h):
//   s_ij = scale * q_i . k_j,   lse_i = log sum_j exp(s_ij),   p_ij = exp(s_ij - lse_i),
//   o_i = sum_j p_ij v_j.
// Backward (dd_i = D_i = dout_i . o_i):
//   dv_j = sum_i p_ij dout_i,  ds_ij = p_ij (dout_i . v_j - D_i),
//   dq_i = scale sum_j ds_ij k_j,  dk_j = scale sum_i ds_ij q_i.
// lse and dd are [B, heads, L].
//
// Three kernel families (the Rust side, src/ops/attention.rs, picks one per adapter):
// - `*_rows` (CPU adapters without subgroups, or d not a multiple of 4): no barriers, no
//   workgroup memory, scalar loads. One invocation owns 4 rows (query rows forward and for dq,
//   key rows for dk/dv), held as the 4 lanes of a vec4; the other side is walked in blocks of KB
//   rows at addresses uniform across the workgroup. Accumulators over channels live in the output
//   buffer itself (read-modify-write once per block), so neither d nor L is limited.
// - `*_sg` (CPU adapters with subgroups of exactly 8, d a multiple of 4), after the marker line
//   near the end of this file (the Rust side drops that part on adapters without subgroups):
//   like `*_rows`, but with vec4 loads, and the other side's rows are loaded once per subgroup
//   (lane i loads row 8t + i of a block of 64) and handed to all 8 lanes with subgroupShuffle.
//   On lavapipe every storage load is a loop over the 8 lanes, so loads dominate; a shuffle is
//   a cheap register operation. The 4 x 64 score block lives in registers as 8 `Tile`s.
// - `*_tiled` (real GPUs): a workgroup of 128 invocations owns 32 rows; blocks of 32 rows of the
//   other side are staged through workgroup memory 32 channels at a time; accumulators are
//   registers (up to 256 channels per workgroup; wider heads are split over grid z).

struct Params {
    l: u32,        // tokens
    c: u32,        // channels of the [B, L, C] tensors
    d: u32,        // channels per head
    heads: u32,
    scale: f32,    // 1 / sqrt(d)
    groups: u32,   // *_rows, *_sg: row groups of 4 per (batch, head)
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

// Binding layout shared by the forward, dq and dk/dv kernels (each entry point uses 1..n).
@group(0) @binding(1) var<storage, read> q_in: array<f32>;
@group(0) @binding(2) var<storage, read> k_in: array<f32>;
@group(0) @binding(3) var<storage, read> v_in: array<f32>;
// forward outputs
@group(0) @binding(4) var<storage, read_write> o_out: array<f32>;
@group(0) @binding(5) var<storage, read_write> lse_out: array<f32>;
// backward inputs and outputs
@group(0) @binding(4) var<storage, read> do_in: array<f32>;
@group(0) @binding(5) var<storage, read> lse_in: array<f32>;
@group(0) @binding(6) var<storage, read> dd_in: array<f32>;
@group(0) @binding(7) var<storage, read_write> dq_out: array<f32>;  // dq, or dk for dk/dv
@group(0) @binding(8) var<storage, read_write> dv_out: array<f32>;

override WG: u32 = 16u;
const KB: u32 = 8u;           // *_rows: keys (queries for dk/dv) per block
const NEG_BIG: f32 = -3.0e38; // "minus infinity" that stays finite through exp and subtraction

// Element offset of channel 0 of head h of token t of batch n.
fn tok(n: u32, h: u32, t: u32) -> u32 {
    return (n * p.l + t) * p.c + h * p.d;
}

// ---------------------------------------------------------------------------------------------
// attn_bwd_prep: dd_i = dout_i . o_i (D of the backward pass), for every variant.
// Bindings: 1 o, 2 dout (read), 3 dd (write, [B, heads, L]).
// Dispatch: (ceil(L / 64), B * heads, 1); one invocation per row.
// ---------------------------------------------------------------------------------------------
@group(0) @binding(1) var<storage, read> prep_o: array<f32>;
@group(0) @binding(2) var<storage, read> prep_do: array<f32>;
@group(0) @binding(3) var<storage, read_write> prep_dd: array<f32>;

@compute @workgroup_size(64)
fn attn_bwd_prep(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = wid.x * 64u + lid;
    if (i >= p.l) {
        return;
    }
    let bh = wid.y;
    let base = tok(bh / p.heads, bh % p.heads, i);
    var acc = 0.0;
    for (var ch = 0u; ch < p.d; ch++) {
        acc += prep_o[base + ch] * prep_do[base + ch];
    }
    prep_dd[bh * p.l + i] = acc;
}

// ---------------------------------------------------------------------------------------------
// *_rows kernels (scalar, barrier-free)
// ---------------------------------------------------------------------------------------------

// The 4 rows of row group g (clamped to L - 1; `rows_valid` says which are real).
fn rows_of(g: u32) -> vec4<u32> {
    let r0 = g * 4u;
    let last = p.l - 1u;
    return vec4<u32>(min(r0, last), min(r0 + 1u, last), min(r0 + 2u, last), min(r0 + 3u, last));
}

fn rows_valid(g: u32) -> vec4<bool> {
    let r0 = g * 4u;
    return vec4<bool>(r0 < p.l, r0 + 1u < p.l, r0 + 2u < p.l, r0 + 3u < p.l);
}

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

fn store_rows_o(at: vec4<u32>, valid: vec4<bool>, v: vec4<f32>) {
    if (valid.x) { o_out[at.x] = v.x; }
    if (valid.y) { o_out[at.y] = v.y; }
    if (valid.z) { o_out[at.z] = v.z; }
    if (valid.w) { o_out[at.w] = v.w; }
}

fn store_rows_lse(at: vec4<u32>, valid: vec4<bool>, v: vec4<f32>) {
    if (valid.x) { lse_out[at.x] = v.x; }
    if (valid.y) { lse_out[at.y] = v.y; }
    if (valid.z) { lse_out[at.z] = v.z; }
    if (valid.w) { lse_out[at.w] = v.w; }
}

fn store_rows_dq(at: vec4<u32>, valid: vec4<bool>, v: vec4<f32>) {
    if (valid.x) { dq_out[at.x] = v.x; }
    if (valid.y) { dq_out[at.y] = v.y; }
    if (valid.z) { dq_out[at.z] = v.z; }
    if (valid.w) { dq_out[at.w] = v.w; }
}

fn store_rows_dv(at: vec4<u32>, valid: vec4<bool>, v: vec4<f32>) {
    if (valid.x) { dv_out[at.x] = v.x; }
    if (valid.y) { dv_out[at.y] = v.y; }
    if (valid.z) { dv_out[at.z] = v.z; }
    if (valid.w) { dv_out[at.w] = v.w; }
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

// ==== subgroup kernels (kept only when the device has subgroups; see src/ops/attention.rs) ====
//
// *_sg kernels: one invocation owns 4 rows (vec4 lanes / matrix columns), the subgroup (8 lanes)
// owns 32 rows; the other side is walked in blocks of 64 (forward) or 32 (backward) rows, of
// which lane i loads rows 8t + i one channel quad at a time, and subgroupShuffle hands each row
// to every lane. Costs on lavapipe: a vec4 storage load or store is a loop over the 8 lanes,
// ~500 instructions; a shuffle ~15; so the blocks are as large as the registers allow.
// Requires subgroups of exactly 8 invocations, d % 4 == 0 and C % 4 == 0.
// Dispatch: (ceil(groups / WG), B * heads, 1), groups = ceil(L / 4), WG a multiple of 8; lanes
// past the last group work on clamped rows (so every shuffle sees a full subgroup) and store nothing.

@group(0) @binding(1) var<storage, read> q4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> k4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> v4: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> o4: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> do4: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> dq4: array<vec4<f32>>;  // dq, or dk
@group(0) @binding(8) var<storage, read_write> dv4: array<vec4<f32>>;

// Scores (or probabilities) of the 4 own rows (lanes of each vec4) against 8 rows of the other
// side (columns lo[0..3], hi[0..3]).
struct Tile {
    lo: mat4x4<f32>,
    hi: mat4x4<f32>,
}

fn zero_tile() -> Tile {
    return Tile(mat4x4<f32>(), mat4x4<f32>());
}

// (a_r . x) for the 4 own rows a_r (the columns of a: one channel quad each).
fn dot4(a: mat4x4<f32>, x: vec4<f32>) -> vec4<f32> {
    return vec4<f32>(dot(a[0], x), dot(a[1], x), dot(a[2], x), dot(a[3], x));
}

// t[., j] += a . x_j for the 8 rows x_j whose channel quad lane j of the subgroup holds in xl.
fn dots8(t: Tile, a: mat4x4<f32>, xl: vec4<f32>) -> Tile {
    var r = t;
    r.lo[0] += dot4(a, subgroupShuffle(xl, 0u));
    r.lo[1] += dot4(a, subgroupShuffle(xl, 1u));
    r.lo[2] += dot4(a, subgroupShuffle(xl, 2u));
    r.lo[3] += dot4(a, subgroupShuffle(xl, 3u));
    r.hi[0] += dot4(a, subgroupShuffle(xl, 4u));
    r.hi[1] += dot4(a, subgroupShuffle(xl, 5u));
    r.hi[2] += dot4(a, subgroupShuffle(xl, 6u));
    r.hi[3] += dot4(a, subgroupShuffle(xl, 7u));
    return r;
}

// Rank-1 update: acc[r] += w[r] x (rows r = columns of acc).
fn outer4(acc: mat4x4<f32>, x: vec4<f32>, w: vec4<f32>) -> mat4x4<f32> {
    return mat4x4<f32>(acc[0] + w.x * x, acc[1] + w.y * x, acc[2] + w.z * x, acc[3] + w.w * x);
}

// acc[r] += sum_j t[r][j] x_j for the 8 rows x_j whose channel quad lane j holds in xl.
fn combine8(acc: mat4x4<f32>, t: Tile, xl: vec4<f32>) -> mat4x4<f32> {
    var r = acc;
    r = outer4(r, subgroupShuffle(xl, 0u), t.lo[0]);
    r = outer4(r, subgroupShuffle(xl, 1u), t.lo[1]);
    r = outer4(r, subgroupShuffle(xl, 2u), t.lo[2]);
    r = outer4(r, subgroupShuffle(xl, 3u), t.lo[3]);
    r = outer4(r, subgroupShuffle(xl, 4u), t.hi[0]);
    r = outer4(r, subgroupShuffle(xl, 5u), t.hi[1]);
    r = outer4(r, subgroupShuffle(xl, 6u), t.hi[2]);
    r = outer4(r, subgroupShuffle(xl, 7u), t.hi[3]);
    return r;
}

// Scaled scores, with columns j0 + j >= L set to NEG_BIG (probability 0).
fn tile_scale_mask(t: Tile, j0: u32) -> Tile {
    let big = vec4<f32>(NEG_BIG);
    var r: Tile;
    r.lo[0] = select(t.lo[0] * p.scale, big, j0 >= p.l);
    r.lo[1] = select(t.lo[1] * p.scale, big, j0 + 1u >= p.l);
    r.lo[2] = select(t.lo[2] * p.scale, big, j0 + 2u >= p.l);
    r.lo[3] = select(t.lo[3] * p.scale, big, j0 + 3u >= p.l);
    r.hi[0] = select(t.hi[0] * p.scale, big, j0 + 4u >= p.l);
    r.hi[1] = select(t.hi[1] * p.scale, big, j0 + 5u >= p.l);
    r.hi[2] = select(t.hi[2] * p.scale, big, j0 + 6u >= p.l);
    r.hi[3] = select(t.hi[3] * p.scale, big, j0 + 7u >= p.l);
    return r;
}

fn tile_max(t: Tile) -> vec4<f32> {
    return max(max(max(t.lo[0], t.lo[1]), max(t.lo[2], t.lo[3])),
               max(max(t.hi[0], t.hi[1]), max(t.hi[2], t.hi[3])));
}

fn tile_sum(t: Tile) -> vec4<f32> {
    return ((t.lo[0] + t.lo[1]) + (t.lo[2] + t.lo[3])) + ((t.hi[0] + t.hi[1]) + (t.hi[2] + t.hi[3]));
}

// exp(t - m) with m per own row.
fn tile_exp(t: Tile, m: vec4<f32>) -> Tile {
    return Tile(mat4x4<f32>(exp(t.lo[0] - m), exp(t.lo[1] - m), exp(t.lo[2] - m), exp(t.lo[3] - m)),
                mat4x4<f32>(exp(t.hi[0] - m), exp(t.hi[1] - m), exp(t.hi[2] - m), exp(t.hi[3] - m)));
}

// scale * pr * (dp - dd), dd per own row.
fn tile_ds(pr: Tile, dp: Tile, dd: vec4<f32>) -> Tile {
    let s = p.scale;
    return Tile(mat4x4<f32>(s * pr.lo[0] * (dp.lo[0] - dd), s * pr.lo[1] * (dp.lo[1] - dd),
                            s * pr.lo[2] * (dp.lo[2] - dd), s * pr.lo[3] * (dp.lo[3] - dd)),
                mat4x4<f32>(s * pr.hi[0] * (dp.hi[0] - dd), s * pr.hi[1] * (dp.hi[1] - dd),
                            s * pr.hi[2] * (dp.hi[2] - dd), s * pr.hi[3] * (dp.hi[3] - dd)));
}

// Column-wise variants for dk/dv, where the softmax statistics belong to the columns (queries):
// lane j of the subgroup holds lse (or dd) of column j in `xl`.
fn col(xl: f32, j: u32) -> vec4<f32> {
    return vec4<f32>(subgroupShuffle(xl, j));
}

// exp(scale * t - lse_j), zero for columns j0 + j >= L.
fn tile_prob_cols(t: Tile, lsel: f32, j0: u32) -> Tile {
    var r: Tile;
    let z = vec4<f32>(0.0);
    let s = p.scale;
    r.lo[0] = select(exp(s * t.lo[0] - col(lsel, 0u)), z, j0 >= p.l);
    r.lo[1] = select(exp(s * t.lo[1] - col(lsel, 1u)), z, j0 + 1u >= p.l);
    r.lo[2] = select(exp(s * t.lo[2] - col(lsel, 2u)), z, j0 + 2u >= p.l);
    r.lo[3] = select(exp(s * t.lo[3] - col(lsel, 3u)), z, j0 + 3u >= p.l);
    r.hi[0] = select(exp(s * t.hi[0] - col(lsel, 4u)), z, j0 + 4u >= p.l);
    r.hi[1] = select(exp(s * t.hi[1] - col(lsel, 5u)), z, j0 + 5u >= p.l);
    r.hi[2] = select(exp(s * t.hi[2] - col(lsel, 6u)), z, j0 + 6u >= p.l);
    r.hi[3] = select(exp(s * t.hi[3] - col(lsel, 7u)), z, j0 + 7u >= p.l);
    return r;
}

// scale * pr * (dp - dd_j), dd per column.
fn tile_ds_cols(pr: Tile, dp: Tile, ddl: f32) -> Tile {
    let s = p.scale;
    return Tile(mat4x4<f32>(s * pr.lo[0] * (dp.lo[0] - col(ddl, 0u)), s * pr.lo[1] * (dp.lo[1] - col(ddl, 1u)),
                            s * pr.lo[2] * (dp.lo[2] - col(ddl, 2u)), s * pr.lo[3] * (dp.lo[3] - col(ddl, 3u))),
                mat4x4<f32>(s * pr.hi[0] * (dp.hi[0] - col(ddl, 4u)), s * pr.hi[1] * (dp.hi[1] - col(ddl, 5u)),
                            s * pr.hi[2] * (dp.hi[2] - col(ddl, 6u)), s * pr.hi[3] * (dp.hi[3] - col(ddl, 7u))));
}

// Row offsets (in vec4 units) of the 4 own rows and which of them are real; lanes past the last
// group take the last group's rows (and store nothing).
struct Own {
    at: vec4<u32>,
    rows: vec4<u32>,
    valid: vec4<bool>,
}

fn own_rows(n: u32, h: u32, gx: u32, lid: u32) -> Own {
    let g0 = gx * WG + lid;
    let g = min(g0, p.groups - 1u);
    let rows = rows_of(g);
    let valid = rows_valid(g) & vec4<bool>(g0 < p.groups);
    let at = vec4<u32>(tok(n, h, rows.x), tok(n, h, rows.y), tok(n, h, rows.z), tok(n, h, rows.w)) / 4u;
    return Own(at, rows, valid);
}

// The vec4 offset of the row of block row j0 + 8t + lane that this lane loads (clamped).
fn other_row(n: u32, h: u32, j0: u32, t: u32, sl: u32) -> u32 {
    return tok(n, h, min(j0 + 8u * t + sl, p.l - 1u)) / 4u;
}

fn store_o4(o: Own, ch: u32, a: mat4x4<f32>) {
    if (o.valid.x) { o4[o.at.x + ch] = a[0]; }
    if (o.valid.y) { o4[o.at.y + ch] = a[1]; }
    if (o.valid.z) { o4[o.at.z + ch] = a[2]; }
    if (o.valid.w) { o4[o.at.w + ch] = a[3]; }
}

fn store_dq4(o: Own, ch: u32, a: mat4x4<f32>) {
    if (o.valid.x) { dq4[o.at.x + ch] = a[0]; }
    if (o.valid.y) { dq4[o.at.y + ch] = a[1]; }
    if (o.valid.z) { dq4[o.at.z + ch] = a[2]; }
    if (o.valid.w) { dq4[o.at.w + ch] = a[3]; }
}

fn store_dv4(o: Own, ch: u32, a: mat4x4<f32>) {
    if (o.valid.x) { dv4[o.at.x + ch] = a[0]; }
    if (o.valid.y) { dv4[o.at.y + ch] = a[1]; }
    if (o.valid.z) { dv4[o.at.z + ch] = a[2]; }
    if (o.valid.w) { dv4[o.at.w + ch] = a[3]; }
}

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
        let kr0 = other_row(n, h, j0, 0u, sl);
        let kr1 = other_row(n, h, j0, 1u, sl);
        let kr2 = other_row(n, h, j0, 2u, sl);
        let kr3 = other_row(n, h, j0, 3u, sl);
        let kr4 = other_row(n, h, j0, 4u, sl);
        let kr5 = other_row(n, h, j0, 5u, sl);
        let kr6 = other_row(n, h, j0, 6u, sl);
        let kr7 = other_row(n, h, j0, 7u, sl);
        var s0 = zero_tile();
        var s1 = zero_tile();
        var s2 = zero_tile();
        var s3 = zero_tile();
        var s4 = zero_tile();
        var s5 = zero_tile();
        var s6 = zero_tile();
        var s7 = zero_tile();
        for (var ch = 0u; ch < d4; ch++) {
            let q = mat4x4<f32>(q4[own.at.x + ch], q4[own.at.y + ch], q4[own.at.z + ch], q4[own.at.w + ch]);
            s0 = dots8(s0, q, k4[kr0 + ch]);
            s1 = dots8(s1, q, k4[kr1 + ch]);
            s2 = dots8(s2, q, k4[kr2 + ch]);
            s3 = dots8(s3, q, k4[kr3 + ch]);
            s4 = dots8(s4, q, k4[kr4 + ch]);
            s5 = dots8(s5, q, k4[kr5 + ch]);
            s6 = dots8(s6, q, k4[kr6 + ch]);
            s7 = dots8(s7, q, k4[kr7 + ch]);
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
        s0 = tile_exp(s0, mb);
        s1 = tile_exp(s1, mb);
        s2 = tile_exp(s2, mb);
        s3 = tile_exp(s3, mb);
        s4 = tile_exp(s4, mb);
        s5 = tile_exp(s5, mb);
        s6 = tile_exp(s6, mb);
        s7 = tile_exp(s7, mb);
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
            a = combine8(a, s0, v4[kr0 + ch]);
            a = combine8(a, s1, v4[kr1 + ch]);
            a = combine8(a, s2, v4[kr2 + ch]);
            a = combine8(a, s3, v4[kr3 + ch]);
            a = combine8(a, s4, v4[kr4 + ch]);
            a = combine8(a, s5, v4[kr5 + ch]);
            a = combine8(a, s6, v4[kr6 + ch]);
            a = combine8(a, s7, v4[kr7 + ch]);
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
        let kr0 = other_row(n, h, j0, 0u, sl);
        let kr1 = other_row(n, h, j0, 1u, sl);
        let kr2 = other_row(n, h, j0, 2u, sl);
        let kr3 = other_row(n, h, j0, 3u, sl);
        let kr4 = other_row(n, h, j0, 4u, sl);
        let kr5 = other_row(n, h, j0, 5u, sl);
        let kr6 = other_row(n, h, j0, 6u, sl);
        let kr7 = other_row(n, h, j0, 7u, sl);
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
            a = combine8(a, s0, k4[kr0 + ch]);
            a = combine8(a, s1, k4[kr1 + ch]);
            a = combine8(a, s2, k4[kr2 + ch]);
            a = combine8(a, s3, k4[kr3 + ch]);
            a = combine8(a, s4, k4[kr4 + ch]);
            a = combine8(a, s5, k4[kr5 + ch]);
            a = combine8(a, s6, k4[kr6 + ch]);
            a = combine8(a, s7, k4[kr7 + ch]);
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
        let qr0 = other_row(n, h, i0, 0u, sl);
        let qr1 = other_row(n, h, i0, 1u, sl);
        let qr2 = other_row(n, h, i0, 2u, sl);
        let qr3 = other_row(n, h, i0, 3u, sl);
        let qr4 = other_row(n, h, i0, 4u, sl);
        let qr5 = other_row(n, h, i0, 5u, sl);
        let qr6 = other_row(n, h, i0, 6u, sl);
        let qr7 = other_row(n, h, i0, 7u, sl);
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
