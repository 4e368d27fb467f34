// 2-D convolution (cross-correlation, PyTorch semantics), forward and backward.
//
// Layouts: x [N, Cin, H, W]; weight [Cout, Cin, KH, KW]; y [N, Cout, Hout, Wout]; all f32.
// Two families of kernels (chosen per adapter in src/ops/conv.rs):
//  - `direct_*` / `wgrad_direct_*`: barrier-free register-blocked kernels for CPU adapters
//    (lavapipe), where every storage-buffer load costs a per-lane loop: they load vec4s only,
//    from a zero-padded copy of the input whose rows are multiples of 4 floats (`pad`), and
//    from weights repacked as [Cin*KH*KW, CoutP] (`pack_weights`), and keep a large block of
//    accumulators per invocation so that each load feeds many FMAs.
//  - `gemm_*`: implicit-GEMM kernels with shared-memory tiles for real GPUs (any kernel size,
//    stride and padding, bounds-checked im2col on the fly).
// The input gradient is computed as a stride-1 convolution of the zero-dilated, padded output
// gradient with the flipped, transposed weights (`pack_weights` with flip = 1), so every
// forward kernel also serves the backward-input pass; on CPU adapters the 3x3 stride-2 case
// has its own kernel (`direct_t2`) that skips the zeros of the dilation.

struct Params {
    n: u32,        // batch (or planes for `pad`)
    cin: u32,      // input channels of the convolution
    h: u32,        // input rows (padded rows Hp for direct kernels)
    w: u32,        // input columns (padded row length Wp for direct kernels)
    cout: u32,     // output channels
    hout: u32,
    wout: u32,
    kh: u32,
    kw: u32,
    stride: u32,
    pad_top: u32,  // i32 bit pattern where noted
    pad_left: u32, // i32 bit pattern where noted
    e0: u32,       // entry-specific, see each entry point
    e1: u32,
    e2: u32,
    e3: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

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

@compute @workgroup_size(64)
fn pad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
       @builtin(local_invocation_index) lid: u32) {
    let r = (wid.x + wid.y * nwg.x) * 64u + lid;
    if (r >= p.n * p.hout) {
        return;
    }
    let py = r % p.hout;
    let plane = r / p.hout;
    let sy = pad_index(py, p.pad_top, p.h);
    var row = -1;
    if (sy >= 0) {
        row = i32((plane * p.h + u32(sy)) * p.w);
    }
    let wq = p.wout / 4u;
    for (var qx = 0u; qx < wq; qx++) {
        let px = qx * 4u;
        pad_dst[r * wq + qx] = vec4<f32>(pad_read(row, px), pad_read(row, px + 1u),
                                         pad_read(row, px + 2u), pad_read(row, px + 3u));
    }
}

// ---------------------------------------------------------------------------------------------
// pack_weights: repacks w [Cout, Cin, KH, KW] as a [R, OP] matrix, OP = e1 (a multiple of
// 16), R = e2 >= the real row count; columns and rows past the real counts are zero:
//   flip = 0 (forward):       out[(ci*KH + ky)*KW + kx, co] = w[co, ci, ky, kx]
//   flip = 1 (input grad):    out[(co*KH + ky)*KW + kx, ci] = w[co, ci, KH-1-ky, KW-1-kx]
// Bindings: 1 w (f32), 2 out (f32). Params: cin, cout, kh, kw, e0 = flip, e1 = OP, e2 = R.
// Dispatch: grid_1d(R * OP, 64); one invocation per output element.
@group(0) @binding(1) var<storage, read> pk_w: array<f32>;
@group(0) @binding(2) var<storage, read_write> pk_out: array<f32>;

@compute @workgroup_size(64)
fn pack_weights(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let i = (wid.x + wid.y * nwg.x) * 64u + lid;
    let op = p.e1;
    let kk = p.kh * p.kw;
    let flip = p.e0 != 0u;
    let rows = select(p.cin, p.cout, flip) * kk;
    if (i >= p.e2 * op) {
        return;
    }
    let o = i % op;
    let r = i / op;
    let tap = r % kk;
    let a = r / kk;
    var v = 0.0;
    if (r >= rows) {
        v = 0.0;
    } else if (flip) {
        if (o < p.cin) {
            v = pk_w[(a * p.cin + o) * kk + (kk - 1u - tap)];
        }
    } else if (o < p.cout) {
        v = pk_w[(o * p.cin + a) * kk + tap];
    }
    pk_out[i] = v;
}

// ---------------------------------------------------------------------------------------------
// Direct forward kernels (CPU adapters).
//   y[n, co, oy, ox] = bias[co]
//       + sum_{ci,ky,kx} wp[(ci*KH + ky)*KW + kx, co] * xp[n, ci, oy*S + ky, ox*S + kx]
// xp: the input already padded (`pad`) to [N, Cin, Hp, Wp], Wp % 4 == 0, with the convolution's
// padding applied, so no bounds checks are needed. Outputs are grouped in quads (4 consecutive
// pixels of one output row; QW = ceil(Wout/4) quads per row) in the flat order
// q = (n*Hout + oy)*QW + qx. One invocation computes 16 output channels x the 8 quads
// q = 8i .. 8i+7 (128 vec4 accumulators), which may span rows and images, so small images
// waste nothing. For `direct_k3`, QW is even (the caller rounds it up; the extra quads are not
// stored), so the 8 quads form 8/SEG runs
// of SEG consecutive quads of one row, SEG = 4 if QW % 4 == 0 else 2, and neighbouring quads
// share input vec4s: per input row 8/SEG * (SEG*S + 1) vec4 loads instead of 8 * (S + 1).
// Per input channel the kernel first loads all 9 taps' input windows and weights into private
// arrays, then updates each accumulator with its 9 FMAs in a row: the accumulators live in
// memory (far more than the registers), and this loads/stores each once per 9 FMAs (measured
// on lavapipe: 1.6x faster than updating all accumulators tap by tap).
// Output: y [N, Cout, Hout, Wout] (f32), stored element by element, skipping the columns past
// Wout (on lavapipe a vec4 store is a per-lane, per-component loop too, so this costs about the
// same as vec4 stores and saves a separate crop pass over the output).
// Bindings: 1 xp (vec4), 2 wp [Cin*KH*KW, CoutP] (vec4), 3 bias [Cout] (read only if e1 != 0;
// bind any read-only buffer otherwise), 4 y (f32).
// Params: n, cin, h = Hp, w = Wp, cout, hout, wout, e0 = CoutP, e1 = has_bias, e2 = QW.
// Dispatch: workgroup_size 32, [ceil(ceil(N*Hout*QW / 8) / 32), CoutP/16, 1]; invocation
// lid of workgroup (x, b) computes quad block i = 32x + lid (quads 8i .. 8i+7) for channel block
// b (co0 = 16b). Per input channel (3x3) or 9 input channels (1x1) the 36 weight vec4s of the
// block are loaded by `load_w9`: by every lane, or with 8-wide subgroups 5 loads per lane shared
// by broadcasts (the `conv2d_subgroup` module below).
// `direct_k3`: 3x3, stride STRIDE (1 or 2); Wp >= 4*QW*STRIDE + 4. QW = e2 (even) here.
// `direct_k1`: 1x1, stride 1; Wp >= 4*QW; 9 input channels per accumulator update, so wp must
// have a multiple of 9 rows (zero past Cin).
// Every private array below is indexed with constants only (helpers are called with literal
// arguments, short constant loops unroll): lavapipe keeps such arrays out of indexable memory.

@group(0) @binding(1) var<storage, read> d_x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> d_w: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> d_bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> d_y: array<f32>;

override STRIDE: u32 = 1u;
override SEG: u32 = 2u;

var<private> acc: array<vec4<f32>, 128>; // acc[c * 8 + v]: tile channel c, quad v
var<private> q_y: array<u32, 8>;         // index in y of (n, co = 0, oy, 4*qx)
var<private> q_n: array<u32, 8>;         // columns of the quad to store (0: none)
var<private> q_x: array<u32, 8>;         // vec4 index in xp of (n, ci = 0, oy*S, 4*qx*S)
var<private> xa: array<vec4<f32>, 8>;    // per quad: input vec4s at column 4*qx*S (+0, +4, +8)
var<private> xb: array<vec4<f32>, 8>;
var<private> xc: array<vec4<f32>, 8>;
var<private> sw: array<vec4<f32>, 72>;   // sw[t * 8 + v]: the 4 inputs of tap t for quad v
var<private> wv: array<vec4<f32>, 36>;   // wv[t * 4 + g]: weights of tap t, channels 4g..4g+3

// acc[4g + j, v] += sum_{t < nt} wv[t*4 + g][j] * sw[t*8 + v]  (j = 0..3).
fn macg(g: u32, v: u32, nt: u32) {
    var a0 = acc[(4u * g + 0u) * 8u + v];
    var a1 = acc[(4u * g + 1u) * 8u + v];
    var a2 = acc[(4u * g + 2u) * 8u + v];
    var a3 = acc[(4u * g + 3u) * 8u + v];
    for (var t = 0u; t < 9u; t++) {
        if (t < nt) {
            let s = sw[t * 8u + v];
            let w = wv[t * 4u + g];
            a0 = fma(s, vec4<f32>(w.x), a0);
            a1 = fma(s, vec4<f32>(w.y), a1);
            a2 = fma(s, vec4<f32>(w.z), a2);
            a3 = fma(s, vec4<f32>(w.w), a3);
        }
    }
    acc[(4u * g + 0u) * 8u + v] = a0;
    acc[(4u * g + 1u) * 8u + v] = a1;
    acc[(4u * g + 2u) * 8u + v] = a2;
    acc[(4u * g + 3u) * 8u + v] = a3;
}

fn mac_all(nt: u32) {
    macg(0u, 0u, nt);
    macg(0u, 1u, nt);
    macg(0u, 2u, nt);
    macg(0u, 3u, nt);
    macg(0u, 4u, nt);
    macg(0u, 5u, nt);
    macg(0u, 6u, nt);
    macg(0u, 7u, nt);
    macg(1u, 0u, nt);
    macg(1u, 1u, nt);
    macg(1u, 2u, nt);
    macg(1u, 3u, nt);
    macg(1u, 4u, nt);
    macg(1u, 5u, nt);
    macg(1u, 6u, nt);
    macg(1u, 7u, nt);
    macg(2u, 0u, nt);
    macg(2u, 1u, nt);
    macg(2u, 2u, nt);
    macg(2u, 3u, nt);
    macg(2u, 4u, nt);
    macg(2u, 5u, nt);
    macg(2u, 6u, nt);
    macg(2u, 7u, nt);
    macg(3u, 0u, nt);
    macg(3u, 1u, nt);
    macg(3u, 2u, nt);
    macg(3u, 3u, nt);
    macg(3u, 4u, nt);
    macg(3u, 5u, nt);
    macg(3u, 6u, nt);
    macg(3u, 7u, nt);
}

// @cpu-weights-begin (replaced by the block of the `conv2d_subgroup` module at the end of this
// file where the adapter has 8-wide subgroups; see `subgroup_shader` in src/ops/conv.rs)
fn lane_setup() {}

// wv: the weights of packed rows r0 .. r0 + 8, 16 channels from vec4 column wc (= co0 / 4).
fn load_w9(r0: u32, wc: u32) {
    for (var t = 0u; t < 9u; t++) {
        let wi = (r0 + t) * (p.e0 / 4u) + wc;
        wv[t * 4u] = d_w[wi];
        wv[t * 4u + 1u] = d_w[wi + 1u];
        wv[t * 4u + 2u] = d_w[wi + 2u];
        wv[t * 4u + 3u] = d_w[wi + 3u];
    }
}
// Loads dy of channel co0 + c for quads qx, qx + 1 of the current row (zero past Cout).
fn load_dv(c: u32, base: u32, plane: u32, qx: u32) {
    let co = g_co0 + c;
    let i = base + min(co, p.cout - 1u) * plane + qx;
    dv[c] = select(vec4<f32>(0.0), g_dy[i], co < p.cout);
    dv[16u + c] = select(vec4<f32>(0.0), g_dy[i + 1u], co < p.cout);
}

fn load_dv_all(base: u32, plane: u32, qx: u32) {
    load_dv(0u, base, plane, qx);
    load_dv(1u, base, plane, qx);
    load_dv(2u, base, plane, qx);
    load_dv(3u, base, plane, qx);
    load_dv(4u, base, plane, qx);
    load_dv(5u, base, plane, qx);
    load_dv(6u, base, plane, qx);
    load_dv(7u, base, plane, qx);
    load_dv(8u, base, plane, qx);
    load_dv(9u, base, plane, qx);
    load_dv(10u, base, plane, qx);
    load_dv(11u, base, plane, qx);
    load_dv(12u, base, plane, qx);
    load_dv(13u, base, plane, qx);
    load_dv(14u, base, plane, qx);
    load_dv(15u, base, plane, qx);
}

// @cpu-weights-end

// Loads the input vec4s of every quad at vec4 offset `o` (channel plane + kernel row) from
// their first column: xa (and xb, xc as the stride and kernel width need). Runs of SEG
// consecutive quads load their shared vec4s once.
fn load_row(o: u32, nvec: u32) {
    if (SEG == 4u && nvec > 1u) {
        let b0 = q_x[0] + o;
        let b1 = q_x[4] + o;
        if (STRIDE == 1u) {
            xa[0] = d_x[b0 + 0u];
            xa[1] = d_x[b0 + 1u];
            xa[2] = d_x[b0 + 2u];
            xa[3] = d_x[b0 + 3u];
            xb[0] = xa[1];
            xb[1] = xa[2];
            xb[2] = xa[3];
            xb[3] = d_x[b0 + 4u];
            xa[4] = d_x[b1 + 0u];
            xa[5] = d_x[b1 + 1u];
            xa[6] = d_x[b1 + 2u];
            xa[7] = d_x[b1 + 3u];
            xb[4] = xa[5];
            xb[5] = xa[6];
            xb[6] = xa[7];
            xb[7] = d_x[b1 + 4u];
        } else {
            xa[0] = d_x[b0 + 0u];
            xb[0] = d_x[b0 + 1u];
            xa[1] = d_x[b0 + 2u];
            xb[1] = d_x[b0 + 3u];
            xa[2] = d_x[b0 + 4u];
            xb[2] = d_x[b0 + 5u];
            xa[3] = d_x[b0 + 6u];
            xb[3] = d_x[b0 + 7u];
            xc[0] = xa[1];
            xc[1] = xa[2];
            xc[2] = xa[3];
            xc[3] = d_x[b0 + 8u];
            xa[4] = d_x[b1 + 0u];
            xb[4] = d_x[b1 + 1u];
            xa[5] = d_x[b1 + 2u];
            xb[5] = d_x[b1 + 3u];
            xa[6] = d_x[b1 + 4u];
            xb[6] = d_x[b1 + 5u];
            xa[7] = d_x[b1 + 6u];
            xb[7] = d_x[b1 + 7u];
            xc[4] = xa[5];
            xc[5] = xa[6];
            xc[6] = xa[7];
            xc[7] = d_x[b1 + 8u];
        }
        return;
    }
    if (SEG == 2u && nvec > 1u) {
        let b0 = q_x[0] + o;
        let b1 = q_x[2] + o;
        let b2 = q_x[4] + o;
        let b3 = q_x[6] + o;
        if (STRIDE == 1u) {
            xa[0] = d_x[b0 + 0u];
            xa[1] = d_x[b0 + 1u];
            xb[0] = xa[1];
            xb[1] = d_x[b0 + 2u];
            xa[2] = d_x[b1 + 0u];
            xa[3] = d_x[b1 + 1u];
            xb[2] = xa[3];
            xb[3] = d_x[b1 + 2u];
            xa[4] = d_x[b2 + 0u];
            xa[5] = d_x[b2 + 1u];
            xb[4] = xa[5];
            xb[5] = d_x[b2 + 2u];
            xa[6] = d_x[b3 + 0u];
            xa[7] = d_x[b3 + 1u];
            xb[6] = xa[7];
            xb[7] = d_x[b3 + 2u];
        } else {
            xa[0] = d_x[b0 + 0u];
            xb[0] = d_x[b0 + 1u];
            xa[1] = d_x[b0 + 2u];
            xb[1] = d_x[b0 + 3u];
            xc[0] = xa[1];
            xc[1] = d_x[b0 + 4u];
            xa[2] = d_x[b1 + 0u];
            xb[2] = d_x[b1 + 1u];
            xa[3] = d_x[b1 + 2u];
            xb[3] = d_x[b1 + 3u];
            xc[2] = xa[3];
            xc[3] = d_x[b1 + 4u];
            xa[4] = d_x[b2 + 0u];
            xb[4] = d_x[b2 + 1u];
            xa[5] = d_x[b2 + 2u];
            xb[5] = d_x[b2 + 3u];
            xc[4] = xa[5];
            xc[5] = d_x[b2 + 4u];
            xa[6] = d_x[b3 + 0u];
            xb[6] = d_x[b3 + 1u];
            xa[7] = d_x[b3 + 2u];
            xb[7] = d_x[b3 + 3u];
            xc[6] = xa[7];
            xc[7] = d_x[b3 + 4u];
        }
        return;
    }
    xa[0] = d_x[q_x[0] + o];
    xa[1] = d_x[q_x[1] + o];
    xa[2] = d_x[q_x[2] + o];
    xa[3] = d_x[q_x[3] + o];
    xa[4] = d_x[q_x[4] + o];
    xa[5] = d_x[q_x[5] + o];
    xa[6] = d_x[q_x[6] + o];
    xa[7] = d_x[q_x[7] + o];
    if (nvec > 1u) {
        xb[0] = d_x[q_x[0] + o + 1u];
        xb[1] = d_x[q_x[1] + o + 1u];
        xb[2] = d_x[q_x[2] + o + 1u];
        xb[3] = d_x[q_x[3] + o + 1u];
        xb[4] = d_x[q_x[4] + o + 1u];
        xb[5] = d_x[q_x[5] + o + 1u];
        xb[6] = d_x[q_x[6] + o + 1u];
        xb[7] = d_x[q_x[7] + o + 1u];
    }
    if (nvec > 2u) {
        xc[0] = vec4<f32>(d_x[q_x[0] + o + 2u].x, 0.0, 0.0, 0.0);
        xc[1] = vec4<f32>(d_x[q_x[1] + o + 2u].x, 0.0, 0.0, 0.0);
        xc[2] = vec4<f32>(d_x[q_x[2] + o + 2u].x, 0.0, 0.0, 0.0);
        xc[3] = vec4<f32>(d_x[q_x[3] + o + 2u].x, 0.0, 0.0, 0.0);
        xc[4] = vec4<f32>(d_x[q_x[4] + o + 2u].x, 0.0, 0.0, 0.0);
        xc[5] = vec4<f32>(d_x[q_x[5] + o + 2u].x, 0.0, 0.0, 0.0);
        xc[6] = vec4<f32>(d_x[q_x[6] + o + 2u].x, 0.0, 0.0, 0.0);
        xc[7] = vec4<f32>(d_x[q_x[7] + o + 2u].x, 0.0, 0.0, 0.0);
    }
}

// Input windows of tap slot t for kx = 0 (stride 1) or a 1x1 kernel.
fn win0(t: u32) {
    sw[t * 8u + 0u] = xa[0];
    sw[t * 8u + 1u] = xa[1];
    sw[t * 8u + 2u] = xa[2];
    sw[t * 8u + 3u] = xa[3];
    sw[t * 8u + 4u] = xa[4];
    sw[t * 8u + 5u] = xa[5];
    sw[t * 8u + 6u] = xa[6];
    sw[t * 8u + 7u] = xa[7];
}

// Input windows of tap slot t for stride 1, kx = 1.
fn win_s1_1(t: u32) {
    sw[t * 8u + 0u] = vec4<f32>(xa[0].yzw, xb[0].x);
    sw[t * 8u + 1u] = vec4<f32>(xa[1].yzw, xb[1].x);
    sw[t * 8u + 2u] = vec4<f32>(xa[2].yzw, xb[2].x);
    sw[t * 8u + 3u] = vec4<f32>(xa[3].yzw, xb[3].x);
    sw[t * 8u + 4u] = vec4<f32>(xa[4].yzw, xb[4].x);
    sw[t * 8u + 5u] = vec4<f32>(xa[5].yzw, xb[5].x);
    sw[t * 8u + 6u] = vec4<f32>(xa[6].yzw, xb[6].x);
    sw[t * 8u + 7u] = vec4<f32>(xa[7].yzw, xb[7].x);
}

// Input windows of tap slot t for stride 1, kx = 2.
fn win_s1_2(t: u32) {
    sw[t * 8u + 0u] = vec4<f32>(xa[0].zw, xb[0].xy);
    sw[t * 8u + 1u] = vec4<f32>(xa[1].zw, xb[1].xy);
    sw[t * 8u + 2u] = vec4<f32>(xa[2].zw, xb[2].xy);
    sw[t * 8u + 3u] = vec4<f32>(xa[3].zw, xb[3].xy);
    sw[t * 8u + 4u] = vec4<f32>(xa[4].zw, xb[4].xy);
    sw[t * 8u + 5u] = vec4<f32>(xa[5].zw, xb[5].xy);
    sw[t * 8u + 6u] = vec4<f32>(xa[6].zw, xb[6].xy);
    sw[t * 8u + 7u] = vec4<f32>(xa[7].zw, xb[7].xy);
}

// Input windows of tap slot t for stride 2, kx = 0: columns 0, 2, 4, 6.
fn win_s2_0(t: u32) {
    sw[t * 8u + 0u] = vec4<f32>(xa[0].xz, xb[0].xz);
    sw[t * 8u + 1u] = vec4<f32>(xa[1].xz, xb[1].xz);
    sw[t * 8u + 2u] = vec4<f32>(xa[2].xz, xb[2].xz);
    sw[t * 8u + 3u] = vec4<f32>(xa[3].xz, xb[3].xz);
    sw[t * 8u + 4u] = vec4<f32>(xa[4].xz, xb[4].xz);
    sw[t * 8u + 5u] = vec4<f32>(xa[5].xz, xb[5].xz);
    sw[t * 8u + 6u] = vec4<f32>(xa[6].xz, xb[6].xz);
    sw[t * 8u + 7u] = vec4<f32>(xa[7].xz, xb[7].xz);
}

// Input windows of tap slot t for stride 2, kx = 1: columns 1, 3, 5, 7.
fn win_s2_1(t: u32) {
    sw[t * 8u + 0u] = vec4<f32>(xa[0].yw, xb[0].yw);
    sw[t * 8u + 1u] = vec4<f32>(xa[1].yw, xb[1].yw);
    sw[t * 8u + 2u] = vec4<f32>(xa[2].yw, xb[2].yw);
    sw[t * 8u + 3u] = vec4<f32>(xa[3].yw, xb[3].yw);
    sw[t * 8u + 4u] = vec4<f32>(xa[4].yw, xb[4].yw);
    sw[t * 8u + 5u] = vec4<f32>(xa[5].yw, xb[5].yw);
    sw[t * 8u + 6u] = vec4<f32>(xa[6].yw, xb[6].yw);
    sw[t * 8u + 7u] = vec4<f32>(xa[7].yw, xb[7].yw);
}

// Input windows of tap slot t for stride 2, kx = 2: columns 2, 4, 6, 8.
fn win_s2_2(t: u32) {
    sw[t * 8u + 0u] = vec4<f32>(xa[0].z, xb[0].xz, xc[0].x);
    sw[t * 8u + 1u] = vec4<f32>(xa[1].z, xb[1].xz, xc[1].x);
    sw[t * 8u + 2u] = vec4<f32>(xa[2].z, xb[2].xz, xc[2].x);
    sw[t * 8u + 3u] = vec4<f32>(xa[3].z, xb[3].xz, xc[3].x);
    sw[t * 8u + 4u] = vec4<f32>(xa[4].z, xb[4].xz, xc[4].x);
    sw[t * 8u + 5u] = vec4<f32>(xa[5].z, xb[5].xz, xc[5].x);
    sw[t * 8u + 6u] = vec4<f32>(xa[6].z, xb[6].xz, xc[6].x);
    sw[t * 8u + 7u] = vec4<f32>(xa[7].z, xb[7].xz, xc[7].x);
}

// Sets up quad v of invocation `inv`: output and input locations.
fn quad_setup(v: u32, inv: u32) {
    let qw = p.e2;
    let nq = p.n * p.hout * qw;
    let q = min(inv * 8u + v, nq - 1u);
    let qx = q % qw;
    let t = q / qw;
    let oy = t % p.hout;
    let n = t / p.hout;
    q_n[v] = select(0u, min(p.wout - min(4u * qx, p.wout), 4u), inv * 8u + v < nq);
    q_y[v] = (n * p.cout * p.hout + oy) * p.wout + 4u * qx;
    q_x[v] = ((n * p.cin * p.h + oy * STRIDE) * p.w + qx * 4u * STRIDE) / 4u;
}

// Sets up invocation inv = wid.x * 32 + lid of channel block b = wid.y (uniform per workgroup,
// so the subgroup variant can share weight loads); returns b.
fn direct_setup(wid: vec3<u32>, lid: u32) -> u32 {
    lane_setup();
    let inv = wid.x * 32u + lid;
    let ninv = (p.n * p.hout * p.e2 + 7u) / 8u;
    let ic = min(inv, ninv - 1u);
    quad_setup(0u, ic);
    quad_setup(1u, ic);
    quad_setup(2u, ic);
    quad_setup(3u, ic);
    quad_setup(4u, ic);
    quad_setup(5u, ic);
    quad_setup(6u, ic);
    quad_setup(7u, ic);
    q_n[0] = select(0u, q_n[0], inv < ninv);
    q_n[1] = select(0u, q_n[1], inv < ninv);
    q_n[2] = select(0u, q_n[2], inv < ninv);
    q_n[3] = select(0u, q_n[3], inv < ninv);
    q_n[4] = select(0u, q_n[4], inv < ninv);
    q_n[5] = select(0u, q_n[5], inv < ninv);
    q_n[6] = select(0u, q_n[6], inv < ninv);
    q_n[7] = select(0u, q_n[7], inv < ninv);
    acc = array<vec4<f32>, 128>();
    return wid.y;
}

fn put(v: u32, c: u32, o: u32, b: f32) {
    let a = acc[c * 8u + v] + vec4<f32>(b);
    let i = q_y[v] + o;
    let n = q_n[v];
    if (n > 0u) {
        d_y[i] = a.x;
    }
    if (n > 1u) {
        d_y[i + 1u] = a.y;
    }
    if (n > 2u) {
        d_y[i + 2u] = a.z;
    }
    if (n > 3u) {
        d_y[i + 3u] = a.w;
    }
}

// Stores tile channel c (output channel co0 + c) for the 8 quads.
fn store_ch(c: u32, co0: u32) {
    let co = co0 + c;
    if (co >= p.cout) {
        return;
    }
    var b = 0.0;
    if (p.e1 != 0u) {
        b = d_bias[co];
    }
    let o = co * p.hout * p.wout;
    put(0u, c, o, b);
    put(1u, c, o, b);
    put(2u, c, o, b);
    put(3u, c, o, b);
    put(4u, c, o, b);
    put(5u, c, o, b);
    put(6u, c, o, b);
    put(7u, c, o, b);
}

fn store_all(co0: u32) {
    store_ch(0u, co0);
    store_ch(1u, co0);
    store_ch(2u, co0);
    store_ch(3u, co0);
    store_ch(4u, co0);
    store_ch(5u, co0);
    store_ch(6u, co0);
    store_ch(7u, co0);
    store_ch(8u, co0);
    store_ch(9u, co0);
    store_ch(10u, co0);
    store_ch(11u, co0);
    store_ch(12u, co0);
    store_ch(13u, co0);
    store_ch(14u, co0);
    store_ch(15u, co0);
}

// Input windows of kernel row ky of a 3x3 tap set: input row at vec4 offset o.
fn row3(ky: u32, o: u32) {
    load_row(o, STRIDE + 1u);
    if (STRIDE == 1u) {
        win0(3u * ky);
        win_s1_1(3u * ky + 1u);
        win_s1_2(3u * ky + 2u);
    } else {
        win_s2_0(3u * ky);
        win_s2_1(3u * ky + 1u);
        win_s2_2(3u * ky + 2u);
    }
}

@compute @workgroup_size(32)
fn direct_k3(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let cb = direct_setup(wid, lid);
    let wc = cb * 4u;           // vec4 column of channel co0 = 16 * cb in wp
    let plane = p.h * p.w / 4u; // vec4s per input plane
    let row = p.w / 4u;         // vec4s per input row
    for (var ci = 0u; ci < p.cin; ci++) {
        let o = ci * plane;
        load_w9(ci * 9u, wc);
        row3(0u, o);
        row3(1u, o + row);
        row3(2u, o + 2u * row);
        mac_all(9u);
    }
    store_all(cb * 16u);
}

// Input channel ci + t of a 1x1 conv into tap slot t. Past Cin the packed weights are zero
// rows (see `pack_weights`, e2) and the input is read from channel Cin - 1 (a real value, so the
// zero product cannot create a NaN the true sum would not have).
fn chan1(t: u32, ci: u32, plane: u32) {
    load_row(min(ci + t, p.cin - 1u) * plane, 1u);
    win0(t);
}

@compute @workgroup_size(32)
fn direct_k1(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let cb = direct_setup(wid, lid);
    let wc = cb * 4u;
    let plane = p.h * p.w / 4u;
    for (var ci = 0u; ci < p.cin; ci += 9u) {
        load_w9(ci, wc);
        chan1(0u, ci, plane);
        chan1(1u, ci, plane);
        chan1(2u, ci, plane);
        chan1(3u, ci, plane);
        chan1(4u, ci, plane);
        chan1(5u, ci, plane);
        chan1(6u, ci, plane);
        chan1(7u, ci, plane);
        chan1(8u, ci, plane);
        mac_all(9u);
    }
    store_all(cb * 16u);
}

// ---------------------------------------------------------------------------------------------
// direct_t2: the input gradient of a 3x3 stride-2 convolution with top and left padding
// T2_TOP, T2_LEFT in {0, 1} (CPU adapters). The forward relation iy = 2*oy + ky - top,
// ix = 2*ox + kx - left gives
//   dx[n, ci, iy, ix] = sum_{co, ky, kx} w[co, ci, ky, kx] * dy[n, co, oy, ox]
// over the taps where iy + top - ky and ix + left - kx are even (and oy, ox inside dy): rows
// with iy + top even get ky = 0 and 2, the others ky = 1; likewise columns. Only these taps
// are visited (9 multiply-adds per dx element and dy channel on average over 4 elements,
// where the stride-1 conv of the zero-dilated dy did 36).
// dx rows are taken in pairs (2a, 2a + 1): row 2a + T2_TOP gets ky = 2 from dy row a + top - 1
// and ky = 0 from dy row a + top, row 2a + 1 - T2_TOP gets ky = 1 from dy row a (= a + top - 1
// + (1 - top)). Columns: in dyp (below), dx columns 8m .. 8m + 7 (quads 2m, 2m + 1) read the 5
// values d[k] = dyp[.., 4m + k], k = 0..4, and with w0, w1, w2 = the weights kx = 0, 1, 2 of
// one kernel row, quad 2m + h gets (see `t2q`, with d shifted by 2h)
//   T2_LEFT = 0: (w0 d1 + w2 d0, w1 d1, w0 d2 + w2 d1, w1 d2)
//   T2_LEFT = 1: (w1 d0, w0 d1 + w2 d0, w1 d1, w0 d2 + w2 d1).
// Bindings: 1 dyp [N, Cout, Hp, Wp] (vec4): dy zero-padded by `pad` so that
//   dyp[n, co, r, c] = dy[n, co, r - 1, c - 1 + T2_LEFT] (zero outside dy), Hp >= A + 2,
//   Wp = 4*NP + 4 (so the unit (a, m) reads rows a + T2_TOP, a + T2_TOP + 1, vec4 columns m and
//   m + 1, all inside);
// 2 wp: the weights packed with flip = 1 ([Cout*9, CinP], row (co*3 + 2-ky)*3 + 2-kx);
// 3 unused (bias; bind any read-only buffer, e1 = 0); 4 dx [N, Cin, H, W] (f32, written).
// Params: n, cin = Cout (the reduction), h = Hp, w = Wp, cout = Cin (dx channels), hout = H,
// wout = W, e0 = CinP, e1 = 0, e2 = NP = ceil(W / 8), e3 = A = ceil(H / 2).
// Work unit: (n, a, m) = dx rows 2a, 2a + 1 x columns 8m .. 8m + 7 (4 quads), flat index
// U = (n*A + a)*NP + m. Dispatch: workgroup_size 32, [ceil(ceil(N*A*NP / 2) / 32), CinP/16, 1]:
// invocation i = 32x + lid of workgroup (x, b) computes units 2i, 2i + 1 for dx channels
// 16b .. 16b + 15, in the accumulators of `direct_k3` (quad slot v = 4*unit + 2*row + h);
// units past the end and rows past H are computed from clamped reads and not stored.
override T2_TOP: u32 = 0u;
override T2_LEFT: u32 = 0u;

var<private> t2_x: array<u32, 2>;       // vec4 index in dyp of (n, co = 0, a + T2_TOP, m) per unit
var<private> dr: array<vec4<f32>, 4>;   // dr[2u + r]: dyp row a + T2_TOP + r, vec4 column m
var<private> de: array<f32, 4>;         // de[2u + r]: the next value (column 4m + 4)

// Quad h of one kernel row (weights w0, w1, w2 for kx = 0, 1, 2) from d0, d1, d2 = d[2h ..].
fn t2q(a: vec4<f32>, d0: f32, d1: f32, d2: f32, w0: f32, w1: f32, w2: f32) -> vec4<f32> {
    if (T2_LEFT == 0u) {
        return vec4<f32>(fma(w0, d1, fma(w2, d0, a.x)), fma(w1, d1, a.y),
                         fma(w0, d2, fma(w2, d1, a.z)), fma(w1, d2, a.w));
    }
    return vec4<f32>(fma(w1, d0, a.x), fma(w0, d1, fma(w2, d0, a.y)),
                     fma(w1, d1, a.z), fma(w0, d2, fma(w2, d1, a.w)));
}

// Both quads of one row of unit u for tile channel c: kernel row ky from dy row slot r.
fn t2row(c: u32, u: u32, e: u32, ky: u32, r: u32) {
    // Flipped packing: tap (ky, kx) is packed row 8 - 3ky - kx; channel c in vec4 c/4.
    let w0 = wv[(8u - 3u * ky) * 4u + c / 4u][c % 4u];
    let w1 = wv[(7u - 3u * ky) * 4u + c / 4u][c % 4u];
    let w2 = wv[(6u - 3u * ky) * 4u + c / 4u][c % 4u];
    let d = dr[2u * u + r];
    let v = c * 8u + 4u * u + 2u * e;
    acc[v] = t2q(acc[v], d.x, d.y, d.z, w0, w1, w2);
    acc[v + 1u] = t2q(acc[v + 1u], d.z, d.w, de[2u * u + r], w0, w1, w2);
}

// One dy channel's contributions to tile channel c, both units.
fn t2ch(c: u32) {
    t2row(c, 0u, T2_TOP, 2u, 0u);
    t2row(c, 0u, T2_TOP, 0u, 1u);
    t2row(c, 0u, 1u - T2_TOP, 1u, 1u - T2_TOP);
    t2row(c, 1u, T2_TOP, 2u, 0u);
    t2row(c, 1u, T2_TOP, 0u, 1u);
    t2row(c, 1u, 1u - T2_TOP, 1u, 1u - T2_TOP);
}

// Unit u of invocation `inv`: dyp location and the output locations of its 4 quads.
fn t2_unit(u: u32, inv: u32) {
    let np = p.e2;
    let na = p.e3;
    let nu = p.n * na * np;
    let un = min(inv * 2u + u, nu - 1u);
    let m = un % np;
    let a = (un / np) % na;
    let n = un / (np * na);
    t2_x[u] = ((n * p.cin * p.h + a + T2_TOP) * p.w) / 4u + m;
    let ok = inv * 2u + u < nu;
    for (var e = 0u; e < 2u; e++) {
        let iy = 2u * a + e;
        for (var h = 0u; h < 2u; h++) {
            let ix = 4u * (2u * m + h);
            let v = 4u * u + 2u * e + h;
            q_n[v] = select(0u, min(p.wout - min(ix, p.wout), 4u), ok && iy < p.hout);
            q_y[v] = (n * p.cout * p.hout + min(iy, p.hout - 1u)) * p.wout + ix;
        }
    }
}

@compute @workgroup_size(32)
fn direct_t2(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    lane_setup();
    let inv = wid.x * 32u + lid;
    t2_unit(0u, inv);
    t2_unit(1u, inv);
    acc = array<vec4<f32>, 128>();
    let wc = wid.y * 4u;        // vec4 column of dx channel 16 * wid.y in wp
    let plane = p.h * p.w / 4u; // vec4s per dyp plane
    let row = p.w / 4u;
    for (var co = 0u; co < p.cin; co++) {
        load_w9(co * 9u, wc);
        let o0 = t2_x[0] + co * plane;
        let o1 = t2_x[1] + co * plane;
        dr[0] = d_x[o0];
        de[0] = d_x[o0 + 1u].x;
        dr[1] = d_x[o0 + row];
        de[1] = d_x[o0 + row + 1u].x;
        dr[2] = d_x[o1];
        de[2] = d_x[o1 + 1u].x;
        dr[3] = d_x[o1 + row];
        de[3] = d_x[o1 + row + 1u].x;
        t2ch(0u);
        t2ch(1u);
        t2ch(2u);
        t2ch(3u);
        t2ch(4u);
        t2ch(5u);
        t2ch(6u);
        t2ch(7u);
        t2ch(8u);
        t2ch(9u);
        t2ch(10u);
        t2ch(11u);
        t2ch(12u);
        t2ch(13u);
        t2ch(14u);
        t2ch(15u);
    }
    store_all(wid.y * 16u);
}

// The window of 4 stride-1 outputs shifted by 1 / 2 columns, from two consecutive vec4s.
fn sh1(a: vec4<f32>, b: vec4<f32>) -> vec4<f32> {
    return vec4<f32>(a.yzw, b.x);
}
fn sh2(a: vec4<f32>, b: vec4<f32>) -> vec4<f32> {
    return vec4<f32>(a.zw, b.xy);
}

// ---------------------------------------------------------------------------------------------
// Direct weight-gradient kernels (CPU adapters).
//   dw[co, ci, ky, kx] (+)= sum over output pixels (n, oy, ox) in this split of
//                           dy[n, co, oy, ox] * xp[n, ci, oy*S + ky, ox*S + kx]
// dyq: dy with each row padded with zeros to 4*QE columns, QE = e3 = ceil(Wout/4) rounded up to
// even, read as vec4 ([N, Cout, Hout, 4*QE]); xp: the padded input as for the forward kernels,
// with rows for QE quads (Wp >= 4*QE*S + 4, or 4*QE for 1x1). The reduction runs over the
// steps (n, oy, pair of quads) e0*split .. e0*(split+1) in row-major order: per step, one vec4
// of dy per channel and quad times the vec4 input window of each tap, dot-accumulated, so
// each accumulator is loaded and stored once per 8 FMAs.
// Tile per invocation: `wgrad_direct_k3`: 16 co x 4 ci x 9 taps (stride STRIDE = 1 or 2);
// `wgrad_direct_k1`: 16 co x 16 ci (1x1, stride 1). 576 / 256 scalar accumulators.
// Bindings: 1 dyq (vec4), 2 xp (vec4), 3 part (vec4, written): partial sums, one tile of e2
// vec4s per (split, invocation), element (ci_local*KH*KW + tap)*16 + co_local; `wgrad_reduce`
// adds them into dw. (Unconditional vec4 stores keep the kernel small: lavapipe expands each
// store into a per-lane loop, and 576 guarded scalar stores took LLVM half a minute.)
// Params: n, cin, h = Hp, w = Wp, cout, hout, wout, kh, kw, e0 = steps per split,
// e1 = tiles per split = ceil(Cout/16) * NIB8, e2 = vec4s per tile (144 for k3, 64 for k1),
// e3 = QE; NIB8 = ceil(Cin/CI) rounded up to a multiple of 8.
// Dispatch: workgroup_size 8; [ceil(Cout/16) * NIB8 / 8, splits, 1].

@group(0) @binding(1) var<storage, read> g_dy: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> g_x: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> g_out: array<vec4<f32>>;

// wacc[t * 16 + c]: channel co0 + c, t = ci_local * KH*KW + tap.
var<private> wacc: array<f32, 576>;
var<private> dv: array<vec4<f32>, 32>; // dv[j * 16 + c]: dy of channel co0 + c, quad j of the pair
var<private> xq: array<u32, 16>; // vec4 index in xp of (n, ci0 + i, oy*S, 0) for this row
var<private> g_co0: u32;
var<private> g_ci0: u32;
var<private> g_tile_base: u32;

// Accumulator row t += dy . window, for both quads of the pair (windows w0, w1).
fn wmac(t: u32, w0: vec4<f32>, w1: vec4<f32>) {
    let b = t * 16u;
    wacc[b + 0u] += dot(dv[0], w0) + dot(dv[16], w1);
    wacc[b + 1u] += dot(dv[1], w0) + dot(dv[17], w1);
    wacc[b + 2u] += dot(dv[2], w0) + dot(dv[18], w1);
    wacc[b + 3u] += dot(dv[3], w0) + dot(dv[19], w1);
    wacc[b + 4u] += dot(dv[4], w0) + dot(dv[20], w1);
    wacc[b + 5u] += dot(dv[5], w0) + dot(dv[21], w1);
    wacc[b + 6u] += dot(dv[6], w0) + dot(dv[22], w1);
    wacc[b + 7u] += dot(dv[7], w0) + dot(dv[23], w1);
    wacc[b + 8u] += dot(dv[8], w0) + dot(dv[24], w1);
    wacc[b + 9u] += dot(dv[9], w0) + dot(dv[25], w1);
    wacc[b + 10u] += dot(dv[10], w0) + dot(dv[26], w1);
    wacc[b + 11u] += dot(dv[11], w0) + dot(dv[27], w1);
    wacc[b + 12u] += dot(dv[12], w0) + dot(dv[28], w1);
    wacc[b + 13u] += dot(dv[13], w0) + dot(dv[29], w1);
    wacc[b + 14u] += dot(dv[14], w0) + dot(dv[30], w1);
    wacc[b + 15u] += dot(dv[15], w0) + dot(dv[31], w1);
}

// The three taps of one kernel row for accumulator rows t .. t+2; `o`: vec4 index of the first
// input vec4 of the pair's windows (row oy*S + ky, column 4*qx*S).
fn wky(t: u32, o: u32) {
    let a = g_x[o];
    let b = g_x[o + 1u];
    let c = g_x[o + 2u];
    if (STRIDE == 1u) {
        wmac(t, a, b);
        wmac(t + 1u, sh1(a, b), sh1(b, c));
        wmac(t + 2u, sh2(a, b), sh2(b, c));
    } else {
        // Quad 0 reads columns 0..8 (a, b, c.x), quad 1 columns 8..16 (c, d, e).
        let d = g_x[o + 3u];
        let e = g_x[o + 4u].x;
        wmac(t, vec4<f32>(a.xz, b.xz), vec4<f32>(c.xz, d.xz));
        wmac(t + 1u, vec4<f32>(a.yw, b.yw), vec4<f32>(c.yw, d.yw));
        wmac(t + 2u, vec4<f32>(a.z, b.xz, c.x), vec4<f32>(c.z, d.xz, e));
    }
}

fn wci(cl: u32, qx: u32) {
    let o = xq[cl] + qx * STRIDE;
    let row = p.w / 4u;
    wky(cl * 9u, o);
    wky(cl * 9u + 3u, o + row);
    wky(cl * 9u + 6u, o + 2u * row);
}

// Stores accumulator rows t (16 channels each) as 4 vec4s into this invocation's tile of the
// partial-sum buffer (no conditions: the tile layout is private to `wgrad_reduce`).
fn wst(t: u32) {
    let o = g_tile_base + t * 4u;
    let b = t * 16u;
    g_out[o] = vec4<f32>(wacc[b], wacc[b + 1u], wacc[b + 2u], wacc[b + 3u]);
    g_out[o + 1u] = vec4<f32>(wacc[b + 4u], wacc[b + 5u], wacc[b + 6u], wacc[b + 7u]);
    g_out[o + 2u] = vec4<f32>(wacc[b + 8u], wacc[b + 9u], wacc[b + 10u], wacc[b + 11u]);
    g_out[o + 3u] = vec4<f32>(wacc[b + 12u], wacc[b + 13u], wacc[b + 14u], wacc[b + 15u]);
}

fn wst4(t0: u32) {
    wst(t0);
    wst(t0 + 1u);
    wst(t0 + 2u);
    wst(t0 + 3u);
}

fn set_xq(i: u32, n: u32, oy: u32) {
    let ci = min(g_ci0 + i, p.cin - 1u);
    xq[i] = ((n * p.cin + ci) * p.h + oy * STRIDE) * (p.w / 4u);
}

// Sets up the tile of invocation (wid, lid) with `ci_per` input channels: channel block
// co0 = 16 * (wid.x % ncb) (uniform per workgroup, so the subgroup variant can share dy loads)
// and input-channel block (wid.x / ncb) * 8 + lid. Lanes past the last input-channel block
// compute a clamped copy into spare tiles that `wgrad_reduce` ignores.
fn wgrad_setup(wid: vec3<u32>, lid: u32, ci_per: u32) {
    lane_setup();
    let ncb = (p.cout + 15u) / 16u;
    let cib = (wid.x / ncb) * 8u + lid;
    g_co0 = (wid.x % ncb) * 16u;
    g_ci0 = cib * ci_per;
    // Tile (split, cib * ncb + cb) of the partial sums: e2 vec4s per tile, e1 tiles per split.
    g_tile_base = (wid.y * p.e1 + cib * ncb + wid.x % ncb) * p.e2;
    wacc = array<f32, 576>();
}

@compute @workgroup_size(8)
fn wgrad_direct_k3(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    wgrad_setup(wid, lid, 4u);
    // One loop over (row, pair) steps: nested row / pair loops made LLVM move the 576
    // accumulators at every inner-loop entry, which cost as much as a step on small images.
    let qw = p.e3;
    let np = qw / 2u;
    let s0 = wid.y * p.e0;
    let s1 = min(s0 + p.e0, p.n * p.hout * np);
    for (var st = s0; st < s1; st++) {
        let r = st / np;
        let qx = (st % np) * 2u;
        let n = r / p.hout;
        let oy = r % p.hout;
        set_xq(0u, n, oy);
        set_xq(1u, n, oy);
        set_xq(2u, n, oy);
        set_xq(3u, n, oy);
        load_dv_all((n * p.cout * p.hout + oy) * qw, p.hout * qw, qx);
        wci(0u, qx);
        wci(1u, qx);
        wci(2u, qx);
        wci(3u, qx);
    }
    wst4(0u);
    wst4(4u);
    wst4(8u);
    wst4(12u);
    wst4(16u);
    wst4(20u);
    wst4(24u);
    wst4(28u);
    wst4(32u);
}

fn w1(cl: u32, qx: u32) {
    wmac(cl, g_x[xq[cl] + qx], g_x[xq[cl] + qx + 1u]);
}

@compute @workgroup_size(8)
fn wgrad_direct_k1(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    wgrad_setup(wid, lid, 16u);
    let qw = p.e3;
    let np = qw / 2u;
    let s0 = wid.y * p.e0;
    let s1 = min(s0 + p.e0, p.n * p.hout * np);
    for (var st = s0; st < s1; st++) {
        let r = st / np;
        let qx = (st % np) * 2u;
        let n = r / p.hout;
        let oy = r % p.hout;
        set_xq(0u, n, oy);
        set_xq(1u, n, oy);
        set_xq(2u, n, oy);
        set_xq(3u, n, oy);
        set_xq(4u, n, oy);
        set_xq(5u, n, oy);
        set_xq(6u, n, oy);
        set_xq(7u, n, oy);
        set_xq(8u, n, oy);
        set_xq(9u, n, oy);
        set_xq(10u, n, oy);
        set_xq(11u, n, oy);
        set_xq(12u, n, oy);
        set_xq(13u, n, oy);
        set_xq(14u, n, oy);
        set_xq(15u, n, oy);
        load_dv_all((n * p.cout * p.hout + oy) * qw, p.hout * qw, qx);
        w1(0u, qx);
        w1(1u, qx);
        w1(2u, qx);
        w1(3u, qx);
        w1(4u, qx);
        w1(5u, qx);
        w1(6u, qx);
        w1(7u, qx);
        w1(8u, qx);
        w1(9u, qx);
        w1(10u, qx);
        w1(11u, qx);
        w1(12u, qx);
        w1(13u, qx);
        w1(14u, qx);
        w1(15u, qx);
    }
    wst4(0u);
    wst4(4u);
    wst4(8u);
    wst4(12u);
}

// ---------------------------------------------------------------------------------------------
// wgrad_reduce: dw[co, ci, tap] += sum_{s < S} part[s, ...] for one of two partial layouts:
//   e2 = 0 (from gemm_wgrad): part [S, Cout, Cin*KH*KW], element s * len + i;
//   e2 = CI > 0 (from wgrad_direct_*): tiles of e3 floats, n tiles per split, tile
//   (s, (ci / CI) * ceil(Cout/16) + co / 16), element ((ci % CI) * KH*KW + tap) * 16 + co % 16.
// Bindings: 1 part (f32), 2 dw (f32, read_write). Params: cin, cout, kh, kw, e0 = len = dw
// elements, e1 = S, e2 = CI, e3 = floats per tile. Dispatch: grid_1d(len, 64).
@group(0) @binding(1) var<storage, read> r_part: array<f32>;
@group(0) @binding(2) var<storage, read_write> r_dw: array<f32>;

@compute @workgroup_size(64)
fn wgrad_reduce(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let i = (wid.x + wid.y * nwg.x) * 64u + lid;
    if (i >= p.e0) {
        return;
    }
    var first = i;
    var step = p.e0;
    if (p.e2 != 0u) {
        let kk = p.kh * p.kw;
        let tap = i % kk;
        let ci = (i / kk) % p.cin;
        let co = i / (kk * p.cin);
        let ncb = (p.cout + 15u) / 16u;
        let tile = (ci / p.e2) * ncb + co / 16u;
        first = tile * p.e3 + ((ci % p.e2) * kk + tap) * 16u + co % 16u;
        step = p.n * p.e3;
    }
    var s = 0.0;
    for (var k = 0u; k < p.e1; k++) {
        s += r_part[first + k * step];
    }
    r_dw[i] += s;
}

// ---------------------------------------------------------------------------------------------
// bias_grad: db[co] += sum_{n, pix} dy[n, co, pix].
// Bindings: 1 dy [N, Cout, HW] (f32), 2 db [Cout] (f32, read_write). Params: n, cout, e0 = HW.
// Dispatch: [Cout, 1, 1]; one workgroup of 64 per channel: strided partial sums, then a tree
// reduction in workgroup memory.
@group(0) @binding(1) var<storage, read> b_dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> b_db: array<f32>;
var<workgroup> b_red: array<f32, 64>;

@compute @workgroup_size(64)
fn bias_grad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let co = wid.x;
    let hw = p.e0;
    var s = 0.0;
    for (var n = 0u; n < p.n; n++) {
        let base = (n * p.cout + co) * hw;
        for (var i = lid; i < hw; i += 64u) {
            s += b_dy[base + i];
        }
    }
    b_red[lid] = s;
    workgroupBarrier();
    for (var k = 32u; k > 0u; k >>= 1u) {
        if (lid < k) {
            b_red[lid] += b_red[lid + k];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        b_db[co] += b_red[0];
    }
}

// ---------------------------------------------------------------------------------------------
// Implicit-GEMM kernels (real GPUs). Shared-memory tiles of 64 x 64 outputs, K in chunks of
// 16, 256 invocations each computing a 4 x 4 register block. The im2col matrix is never
// stored: B[k, pix] with k = (ci*KH + ky)*KW + kx and pix = (n*Hout + oy)*Wout + ox reads
//   x[n, ci, oy*S + ky - pad_top, ox*S + kx - pad_left]  (zero outside the image).

var<workgroup> t_a: array<vec4<f32>, 256>; // [16 k][64 m] as vec4 along m
var<workgroup> t_b: array<vec4<f32>, 256>; // [16 k][64 n] as vec4 along n

// Index into x of im2col element (k, pixel (n, oy, ox)), or -1 where it reads zero padding.
fn im2col_index(k: u32, n: u32, oy: u32, ox: u32) -> i32 {
    let kk = p.kh * p.kw;
    let ci = k / kk;
    let tap = k % kk;
    let ky = tap / p.kw;
    let kx = tap % p.kw;
    let iy = i32(oy * p.stride + ky) - i32(p.pad_top);
    let ix = i32(ox * p.stride + kx) - i32(p.pad_left);
    if (ci >= p.cin || iy < 0 || ix < 0 || iy >= i32(p.h) || ix >= i32(p.w)) {
        return -1;
    }
    return i32(((n * p.cin + ci) * p.h + u32(iy)) * p.w + u32(ix));
}

// The 4x4 register-block product of one K chunk held in t_a / t_b.
fn gemm_chunk(acc4: ptr<function, array<vec4<f32>, 4>>, ty: u32, tx: u32) {
    for (var k = 0u; k < 16u; k++) {
        let a = t_a[k * 16u + ty];
        let b = t_b[k * 16u + tx];
        (*acc4)[0] = fma(vec4<f32>(a.x), b, (*acc4)[0]);
        (*acc4)[1] = fma(vec4<f32>(a.y), b, (*acc4)[1]);
        (*acc4)[2] = fma(vec4<f32>(a.z), b, (*acc4)[2]);
        (*acc4)[3] = fma(vec4<f32>(a.w), b, (*acc4)[3]);
    }
}

// gemm_conv: y[n, co, oy, ox] = bias[co] + sum_k wp[k, co] * B[k, pix], K = Cin*KH*KW.
// Bindings: 1 x [N, Cin, H, W] (f32), 2 wp [K, CoutP] (f32), 3 bias (read only if e1 != 0),
// 4 y (f32). Params: all geometry fields (pad as u32), e0 = CoutP, e1 = has_bias.
// Dispatch: [ceil(N*Hout*Wout / 64), ceil(Cout / 64), 1]; workgroup 256 = 16 x 16 threads,
// thread (ty, tx) computes channels co0 + 4*ty .. +3 and pixels pix0 + 4*tx .. +3.
@group(0) @binding(1) var<storage, read> m_x: array<f32>;
@group(0) @binding(2) var<storage, read> m_w: array<f32>;
@group(0) @binding(3) var<storage, read> m_bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> m_y: array<f32>;

@compute @workgroup_size(256)
fn gemm_conv(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let tx = lid % 16u;
    let ty = lid / 16u;
    let hw = p.hout * p.wout;
    let npix = p.n * hw;
    let kdim = p.cin * p.kh * p.kw;
    let co0 = wid.y * 64u;
    let pix0 = wid.x * 64u;
    // This thread loads B column j = lid % 64 (fixed pixel) for rows lid / 64 + 4r.
    let j = lid % 64u;
    let pix = min(pix0 + j, npix - 1u);
    let bn = pix / hw;
    let boy = (pix % hw) / p.wout;
    let box = pix % p.wout;
    let pix_ok = pix0 + j < npix;
    var acc4 = array<vec4<f32>, 4>();
    for (var k0 = 0u; k0 < kdim; k0 += 16u) {
        for (var r = 0u; r < 4u; r++) {
            let e = lid + 256u * r;
            let kl = e / 64u;
            let m = e % 64u;
            let k = k0 + kl;
            let co = co0 + m;
            var a = 0.0;
            if (k < kdim && co < p.e0) {
                a = m_w[k * p.e0 + co];
            }
            t_a[kl * 16u + m / 4u][m % 4u] = a;
            var b = 0.0;
            if (k < kdim && pix_ok) {
                let xi = im2col_index(k, bn, boy, box);
                if (xi >= 0) {
                    b = m_x[u32(xi)];
                }
            }
            t_b[kl * 16u + j / 4u][j % 4u] = b;
        }
        workgroupBarrier();
        gemm_chunk(&acc4, ty, tx);
        workgroupBarrier();
    }
    for (var i = 0u; i < 4u; i++) {
        let co = co0 + ty * 4u + i;
        if (co >= p.cout) {
            continue;
        }
        var bias = 0.0;
        if (p.e1 != 0u) {
            bias = m_bias[co];
        }
        for (var jj = 0u; jj < 4u; jj++) {
            let q = pix0 + tx * 4u + jj;
            if (q < npix) {
                let n = q / hw;
                m_y[(n * p.cout + co) * hw + q % hw] = acc4[i][jj] + bias;
            }
        }
    }
}

// gemm_wgrad: dW[co, k] (+)= sum over pixels pix of split s of dy[n, co, pix] * B[k, pix].
// M = Cout (tile 64), N = K = Cin*KH*KW (tile 64), reduced over pixels in chunks of 16.
// Bindings: 1 dy [N, Cout, Hout, Wout] (f32), 2 x [N, Cin, H, W] (f32), 3 out (f32, rw):
//   e1 = 0: out = dw [Cout, K], sums are added into it; e1 = 1: out = partials [S, Cout, K].
// Params: geometry, e0 = pixels per split (a multiple of 16), e1 = mode.
// Dispatch: [ceil(K / 64), ceil(Cout / 64), S]; workgroup 256; thread (ty, tx) computes
// channels co0 + 4*ty .. +3 and columns k0 + 4*tx .. +3.
@group(0) @binding(1) var<storage, read> v_dy: array<f32>;
@group(0) @binding(2) var<storage, read> v_x: array<f32>;
@group(0) @binding(3) var<storage, read_write> v_out: array<f32>;

@compute @workgroup_size(256)
fn gemm_wgrad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let tx = lid % 16u;
    let ty = lid / 16u;
    let hw = p.hout * p.wout;
    let npix = p.n * hw;
    let kdim = p.cin * p.kh * p.kw;
    let kc0 = wid.x * 64u;
    let co0 = wid.y * 64u;
    let p0 = wid.z * p.e0;
    let p1 = min(p0 + p.e0, npix);
    var acc4 = array<vec4<f32>, 4>();
    for (var q0 = p0; q0 < p1; q0 += 16u) {
        for (var r = 0u; r < 4u; r++) {
            // Element e of the 16 x 64 chunk: pixel e % 16, row (channel / column) e / 16.
            let e = lid + 256u * r;
            let pl = e % 16u;
            let m = e / 16u;
            let q = q0 + pl;
            let n = q / hw;
            let pp = q % hw;
            var a = 0.0;
            let co = co0 + m;
            if (q < p1 && co < p.cout) {
                a = v_dy[(n * p.cout + co) * hw + pp];
            }
            t_a[pl * 16u + m / 4u][m % 4u] = a;
            var b = 0.0;
            let k = kc0 + m;
            if (q < p1 && k < kdim) {
                let xi = im2col_index(k, n, pp / p.wout, pp % p.wout);
                if (xi >= 0) {
                    b = v_x[u32(xi)];
                }
            }
            t_b[pl * 16u + m / 4u][m % 4u] = b;
        }
        workgroupBarrier();
        gemm_chunk(&acc4, ty, tx);
        workgroupBarrier();
    }
    let total = p.cout * kdim;
    for (var i = 0u; i < 4u; i++) {
        let co = co0 + ty * 4u + i;
        for (var jj = 0u; jj < 4u; jj++) {
            let k = kc0 + tx * 4u + jj;
            if (co < p.cout && k < kdim) {
                let idx = co * kdim + k;
                if (p.e1 == 0u) {
                    v_out[idx] += acc4[i][jj];
                } else {
                    v_out[wid.z * total + idx] = acc4[i][jj];
                }
            }
        }
    }
}

// =============================================================================================
/*@module conv2d_subgroup
// Replaces the block between "@cpu-weights-begin" and "@cpu-weights-end" above (the rest of
// the module is the first one) on adapters with 8-wide subgroups: the 36 weight vec4s that every
// lane of a subgroup needs in the direct forward kernels (the channel block is uniform per
// workgroup) are loaded 5 per lane and broadcast, likewise the 32 dy vec4s of a step of the
// weight-gradient kernels (4 per lane), since on lavapipe each storage load is a loop over the lanes (~30
// instructions per lane for a vec4) while a broadcast is an extract and a splat.
var<private> w_lane: u32; // this invocation's index in its subgroup (all 8 lanes are active)

fn lane_setup() {
    w_lane = subgroupExclusiveAdd(1u);
}

// wv: the weights of packed rows r0 .. r0 + 8, 16 channels from vec4 column wc (= co0 / 4).
// Vec4 k = 4 t + g (tap t, channels 4g .. 4g+3) is loaded by lane k % 8 as its load k / 8.
fn load_w9(r0: u32, wc: u32) {
    let stride = p.e0 / 4u;
    let base = r0 * stride + wc + (w_lane % 4u) + (w_lane / 4u) * stride;
    let v0 = d_w[base];
    let v1 = d_w[base + 2u * stride];
    let v2 = d_w[base + 4u * stride];
    let v3 = d_w[base + 6u * stride];
    // Lanes 4..7 would read row r0 + 9: they re-read row r0 + 8 (unused).
    let v4 = d_w[base + (8u - w_lane / 4u) * stride];
    wv[0] = subgroupBroadcast(v0, 0u);
    wv[1] = subgroupBroadcast(v0, 1u);
    wv[2] = subgroupBroadcast(v0, 2u);
    wv[3] = subgroupBroadcast(v0, 3u);
    wv[4] = subgroupBroadcast(v0, 4u);
    wv[5] = subgroupBroadcast(v0, 5u);
    wv[6] = subgroupBroadcast(v0, 6u);
    wv[7] = subgroupBroadcast(v0, 7u);
    wv[8] = subgroupBroadcast(v1, 0u);
    wv[9] = subgroupBroadcast(v1, 1u);
    wv[10] = subgroupBroadcast(v1, 2u);
    wv[11] = subgroupBroadcast(v1, 3u);
    wv[12] = subgroupBroadcast(v1, 4u);
    wv[13] = subgroupBroadcast(v1, 5u);
    wv[14] = subgroupBroadcast(v1, 6u);
    wv[15] = subgroupBroadcast(v1, 7u);
    wv[16] = subgroupBroadcast(v2, 0u);
    wv[17] = subgroupBroadcast(v2, 1u);
    wv[18] = subgroupBroadcast(v2, 2u);
    wv[19] = subgroupBroadcast(v2, 3u);
    wv[20] = subgroupBroadcast(v2, 4u);
    wv[21] = subgroupBroadcast(v2, 5u);
    wv[22] = subgroupBroadcast(v2, 6u);
    wv[23] = subgroupBroadcast(v2, 7u);
    wv[24] = subgroupBroadcast(v3, 0u);
    wv[25] = subgroupBroadcast(v3, 1u);
    wv[26] = subgroupBroadcast(v3, 2u);
    wv[27] = subgroupBroadcast(v3, 3u);
    wv[28] = subgroupBroadcast(v3, 4u);
    wv[29] = subgroupBroadcast(v3, 5u);
    wv[30] = subgroupBroadcast(v3, 6u);
    wv[31] = subgroupBroadcast(v3, 7u);
    wv[32] = subgroupBroadcast(v4, 0u);
    wv[33] = subgroupBroadcast(v4, 1u);
    wv[34] = subgroupBroadcast(v4, 2u);
    wv[35] = subgroupBroadcast(v4, 3u);
}

// dv: dy of channels co0 .. co0 + 15 for quads qx, qx + 1 of the current row (zero past Cout);
// lane l loads channels co0 + l and co0 + l + 8, and the 32 vec4s are broadcast.
fn load_dv_all(base: u32, plane: u32, qx: u32) {
    let ca = g_co0 + w_lane;
    let cb = ca + 8u;
    let ia = base + min(ca, p.cout - 1u) * plane + qx;
    let ib = base + min(cb, p.cout - 1u) * plane + qx;
    let v0 = select(vec4<f32>(0.0), g_dy[ia], ca < p.cout);
    let v1 = select(vec4<f32>(0.0), g_dy[ia + 1u], ca < p.cout);
    let v2 = select(vec4<f32>(0.0), g_dy[ib], cb < p.cout);
    let v3 = select(vec4<f32>(0.0), g_dy[ib + 1u], cb < p.cout);
    dv[0] = subgroupBroadcast(v0, 0u);
    dv[16] = subgroupBroadcast(v1, 0u);
    dv[1] = subgroupBroadcast(v0, 1u);
    dv[17] = subgroupBroadcast(v1, 1u);
    dv[2] = subgroupBroadcast(v0, 2u);
    dv[18] = subgroupBroadcast(v1, 2u);
    dv[3] = subgroupBroadcast(v0, 3u);
    dv[19] = subgroupBroadcast(v1, 3u);
    dv[4] = subgroupBroadcast(v0, 4u);
    dv[20] = subgroupBroadcast(v1, 4u);
    dv[5] = subgroupBroadcast(v0, 5u);
    dv[21] = subgroupBroadcast(v1, 5u);
    dv[6] = subgroupBroadcast(v0, 6u);
    dv[22] = subgroupBroadcast(v1, 6u);
    dv[7] = subgroupBroadcast(v0, 7u);
    dv[23] = subgroupBroadcast(v1, 7u);
    dv[8] = subgroupBroadcast(v2, 0u);
    dv[24] = subgroupBroadcast(v3, 0u);
    dv[9] = subgroupBroadcast(v2, 1u);
    dv[25] = subgroupBroadcast(v3, 1u);
    dv[10] = subgroupBroadcast(v2, 2u);
    dv[26] = subgroupBroadcast(v3, 2u);
    dv[11] = subgroupBroadcast(v2, 3u);
    dv[27] = subgroupBroadcast(v3, 3u);
    dv[12] = subgroupBroadcast(v2, 4u);
    dv[28] = subgroupBroadcast(v3, 4u);
    dv[13] = subgroupBroadcast(v2, 5u);
    dv[29] = subgroupBroadcast(v3, 5u);
    dv[14] = subgroupBroadcast(v2, 6u);
    dv[30] = subgroupBroadcast(v3, 6u);
    dv[15] = subgroupBroadcast(v2, 7u);
    dv[31] = subgroupBroadcast(v3, 7u);
}
@end-module*/
