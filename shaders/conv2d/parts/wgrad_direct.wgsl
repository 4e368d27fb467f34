// ---------------------------------------------------------------------------------------------
// Direct weight-gradient kernels (CPU adapters).
//   dw[co, ci, ky, kx] (+)= sum over output pixels (n, oy, ox) in this split of
//                           dy[n, co, oy, ox] * xp[n, ci, oy*S + ky, ox*S + kx]
// dyq: dy with each row padded with zeros to 4*QE columns, QE = ceil(Wout/4) rounded up to
// even, read as vec4 ([N, Cout, Hout, 4*QE]); xp: the padded input as for the forward kernels,
// with rows for QE quads (Wp >= 4*QE*S + 4, or 4*QE for 1x1). The reduction runs over the
// steps (n, oy, pair of quads) P*split .. P*(split+1) (P = steps_per_split) in row-major
// order: per step, one vec4
// of dy per channel and quad times the vec4 input window of each tap, dot-accumulated, so
// each accumulator is loaded and stored once per 8 FMAs.
// Tile per invocation: `wgrad_direct_k3`: 16 co x 4 ci x 9 taps (stride STRIDE = 1 or 2);
// `wgrad_direct_k1`: 16 co x 16 ci (1x1, stride 1). 576 / 256 scalar accumulators.
// Bindings: 1 dyq (vec4), 2 xp (vec4), 3 part (vec4, written): partial sums, one tile of T
// vec4s per (split, invocation), element (ci_local*KH*KW + tap)*16 + co_local; `wgrad_reduce`
// adds them into dw. (Unconditional vec4 stores keep the kernel small: lavapipe expands each
// store into a per-lane loop, and 576 guarded scalar stores took LLVM half a minute.)
// Params: n, cin, h = Hp, w = Wp, cout, hout, wout, kh, kw, args: `WgradDirectArgs`
// (T = tile_vec4s); NIB8 = ceil(Cin/CI) rounded up to a multiple of 8.
// Dispatch: workgroup_size 8; [ceil(Cout/16) * NIB8 / 8, splits, 1].
struct WgradDirectArgs {
    steps_per_split: u32,
    tiles_per_split: u32, // ceil(Cout/16) * NIB8
    tile_vec4s: u32,      // vec4s per tile (144 for k3, 64 for k1)
    quads_per_row: u32,   // QE
}
fn wgrad_direct_args() -> WgradDirectArgs {
    return WgradDirectArgs(p.args.x, p.args.y, p.args.z, p.args.w);
}

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
    // Tile (split, cib * ncb + cb) of the partial sums.
    let a = wgrad_direct_args();
    g_tile_base = (wid.y * a.tiles_per_split + cib * ncb + wid.x % ncb) * a.tile_vec4s;
    wacc = array<f32, 576>();
}

@compute @workgroup_size(8)
fn wgrad_direct_k3(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    wgrad_setup(wid, lid, 4u);
    // One loop over (row, pair) steps: nested row / pair loops made LLVM move the 576
    // accumulators at every inner-loop entry, which cost as much as a step on small images.
    let qw = wgrad_direct_args().quads_per_row;
    let np = qw / 2u;
    let per = wgrad_direct_args().steps_per_split;
    let s0 = wid.y * per;
    let s1 = min(s0 + per, p.n * p.hout * np);
    for (var st = s0; st < s1; st++) {
        let r = st / np;
        let qx = (st % np) * 2u;
        let n = r / p.hout;
        let oy = r % p.hout;
        #for V in 0..4
        set_xq({{V}}u, n, oy);
        #end
        load_dv_all((n * p.cout * p.hout + oy) * qw, p.hout * qw, qx);
        #for V in 0..4
        wci({{V}}u, qx);
        #end
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
    let qw = wgrad_direct_args().quads_per_row;
    let np = qw / 2u;
    let per = wgrad_direct_args().steps_per_split;
    let s0 = wid.y * per;
    let s1 = min(s0 + per, p.n * p.hout * np);
    for (var st = s0; st < s1; st++) {
        let r = st / np;
        let qx = (st % np) * 2u;
        let n = r / p.hout;
        let oy = r % p.hout;
        #for V in 0..16
        set_xq({{V}}u, n, oy);
        #end
        load_dv_all((n * p.cout * p.hout + oy) * qw, p.hout * qw, qx);
        #for V in 0..16
        w1({{V}}u, qx);
        #end
    }
    wst4(0u);
    wst4(4u);
    wst4(8u);
    wst4(12u);
}
