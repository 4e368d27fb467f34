// Data-layout passes of the direct kernels: the zero-padded (and dilated) input, the packed
// weights.

#include "conv2d/parts/params"

// ---------------------------------------------------------------------------------------------
// pad: dst[q, py, px] = src[q, (py - top) / d, (px - left) / d] when py - top >= 0 is a multiple
// of the dilation d and the quotient is inside [0, H); likewise columns; zero otherwise.
// `top` and `left` are i32 (negative values crop). q runs over N*C planes.
// Bindings: 1 src [planes, H, W] (f32), 2 dst [planes, Hp, Wp] as vec4 (Wp % 4 == 0).
// Params: n = planes, h = H, w = W, hout = Hp, wout = Wp, pad_top/pad_left = top/left (i32).
// Override DIL = d. Dispatch: grid_1d(planes * Hp, 64): one invocation per destination row, so
// the index arithmetic that needs a division happens once per row, not per element (per-lane
// integer division is a scalar loop on CPU adapters). The dilation is a pipeline constant, not a
// parameter: lavapipe executes both sides of every branch, so a runtime choice between shifts
// and a general division paid for the per-lane division of every element (measured: pad at
// ~1 GB/s, 15% of an mnist-small training step).
@group(0) @binding(1) var<storage, read> pad_src: array<f32>;
@group(0) @binding(2) var<storage, read_write> pad_dst: array<vec4<f32>>;

override DIL: u32 = 1u;

// Source index of padded coordinate `v` (a row or column) along an axis of length `len`, or -1
// where the padded element is zero: (v - off) / DIL when that is a non-negative integer below
// `len` (a division by a constant: shifts for powers of two).
fn pad_index(v: u32, off: u32, len: u32) -> i32 {
    let r = i32(v) - bitcast<i32>(off);
    let q = r / i32(DIL);
    if (r < 0 || r != q * i32(DIL) || u32(q) >= len) {
        return -1;
    }
    return q;
}

// The element at padded column px of a row whose source row starts at `row` (< 0: zero row).
fn pad_read(row: i32, px: u32) -> f32 {
    let sx = pad_index(px, p.pad_left, p.w);
    if (row < 0 || sx < 0) {
        return 0.0;
    }
    return pad_src[u32(row + sx)];
}

// The destination row of an invocation of `pad` or `pad_v4`: its index r (r >= n * hout: none),
// its plane, and its source row in that plane (-1: a row of zeros).
struct PadRow {
    r: u32,
    plane: u32,
    sy: i32,
}

fn pad_row(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> PadRow {
    let r = (wid.x + wid.y * nwg.x) * 64u + lid;
    return PadRow(r, r / p.hout, pad_index(r % p.hout, p.pad_top, p.h));
}

@compute @workgroup_size(64)
fn pad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
       @builtin(local_invocation_index) lid: u32) {
    let pr = pad_row(wid, nwg, lid);
    let r = pr.r;
    if (r >= p.n * p.hout) {
        return;
    }
    var row = -1;
    if (pr.sy >= 0) {
        row = i32((pr.plane * p.h + u32(pr.sy)) * p.w);
    }
    let wq = p.wout / 4u;
    for (var qx = 0u; qx < wq; qx++) {
        let px = qx * 4u;
        pad_dst[r * wq + qx] = vec4<f32>(pad_read(row, px), pad_read(row, px + 1u),
                                         pad_read(row, px + 2u), pad_read(row, px + 3u));
    }
}

// ---------------------------------------------------------------------------------------------
// pad_v4: `pad` for DIL = 1 and W % 4 == 0, reading the source as aligned vec4s: one vec4 load
// per destination vec4 instead of four scalar loads (on lavapipe every storage load is a loop
// over the lanes, so this is what the pass costs). With left = 4a + SHIFT (0 <= SHIFT < 4, a
// pipeline constant so that the swizzle is fixed), destination vec4 qx of a row holds source
// columns 4qx - left .. 4qx - left + 3: the last SHIFT components of source vec4 k - 1 and the
// first 4 - SHIFT of vec4 k, k = qx - a (vec4s outside the row are zero).
// Bindings: 1 src [planes, H, W] as vec4, 2 dst as in `pad`. Params and dispatch: as `pad`.
@group(0) @binding(1) var<storage, read> padv_src: array<vec4<f32>>;

override SHIFT: u32 = 0u;

// Source vec4 k of the row starting at vec4 `row` (`len` vec4s per row), zero outside it.
fn padv_read(row: u32, k: i32, len: u32) -> vec4<f32> {
    if (k < 0 || u32(k) >= len) {
        return vec4<f32>(0.0);
    }
    return padv_src[row + u32(k)];
}

@compute @workgroup_size(64)
fn pad_v4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let pr = pad_row(wid, nwg, lid);
    let r = pr.r;
    if (r >= p.n * p.hout) {
        return;
    }
    let wq = p.wout / 4u;
    // A row of zeros reads from an empty source row.
    var len = 0u;
    var row = 0u;
    if (pr.sy >= 0) {
        len = p.w / 4u;
        row = (pr.plane * p.h + u32(pr.sy)) * len;
    }
    let a = (bitcast<i32>(p.pad_left) - i32(SHIFT)) / 4; // exact: left - SHIFT is a multiple of 4
    var prev = padv_read(row, -a - 1, len);
    for (var qx = 0u; qx < wq; qx++) {
        let cur = padv_read(row, i32(qx) - a, len);
        var v = cur;
        if (SHIFT == 1u) {
            v = vec4<f32>(prev.w, cur.xyz);
        } else if (SHIFT == 2u) {
            v = vec4<f32>(prev.zw, cur.xy);
        } else if (SHIFT == 3u) {
            v = vec4<f32>(prev.yzw, cur.x);
        }
        pad_dst[r * wq + qx] = v;
        prev = cur;
    }
}

// ---------------------------------------------------------------------------------------------
// pack_weights: repacks w [Cout, Cin, KH, KW] as a [R, OP] matrix, OP = `cols` (a multiple
// of 16), R = `rows` >= the real row count; columns and rows past the real counts are zero:
//   flip = 0 (forward):       out[(ci*KH + ky)*KW + kx, co] = w[co, ci, ky, kx]
//   flip = 1 (input grad):    out[(co*KH + ky)*KW + kx, ci] = w[co, ci, KH-1-ky, KW-1-kx]
// Bindings: 1 w (f32), 2 out (f32). Params: cin, cout, kh, kw, args: `PackArgs`.
// Dispatch: [ceil(OP / 16), ceil(ceil(R / (KH*KW)) / 4), 1], workgroups of 64 = 16 columns x 4
// row groups; invocation (column o, row group a) writes rows a*KH*KW .. + KH*KW - 1 of column
// o, i.e. the taps of one (co, ci) pair, read from their KH*KW consecutive floats in w. The
// grid gives both coordinates, so no invocation divides: per-lane integer division is a scalar
// loop on CPU adapters (the 1D version, decomposing a flat index with four divisions per
// element, ran at 0.5-0.65 GB/s on lavapipe).
struct PackArgs {
    flip: u32, // 1: the input-gradient packing
    cols: u32, // OP
    rows: u32, // R
}
fn pack_args() -> PackArgs {
    return PackArgs(p.args.x, p.args.y, p.args.z);
}
@group(0) @binding(1) var<storage, read> pk_w: array<f32>;
@group(0) @binding(2) var<storage, read_write> pk_out: array<f32>;

@compute @workgroup_size(64)
fn pack_weights(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let args = pack_args();
    let o = wid.x * 16u + lid % 16u;
    let a = wid.y * 4u + lid / 16u;
    let kk = p.kh * p.kw;
    if (o >= args.cols || a * kk >= args.rows) {
        return;
    }
    let flip = args.flip != 0u;
    // forward: o = co, a = ci; flip: o = ci, a = co
    let real = select(o < p.cout && a < p.cin, o < p.cin && a < p.cout, flip);
    let src = select((o * p.cin + a) * kk, (a * p.cin + o) * kk, flip);
    for (var t = 0u; t < kk; t++) {
        let r = a * kk + t;
        if (r < args.rows) {
            var v = 0.0;
            if (real) {
                v = pk_w[src + select(t, kk - 1u - t, flip)];
            }
            pk_out[r * args.cols + o] = v;
        }
    }
}
