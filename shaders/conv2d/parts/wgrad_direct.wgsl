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
// Tile per invocation: `wgrad_direct_k3`: CO co x CI3 ci x 9 taps (stride STRIDE = 1 or 2);
// `wgrad_direct_k1`: CO co x CI1 ci (1x1, stride 1). Template values: CO (8, 16, 24 or 32,
// the forward kernels' channel block for this Cout), NG = CO/4, CI3, CI1, WACC = max(9 CO CI3,
// CO CI1) scalar accumulators, DV = 2 CO, ROWS3 = 9 CI3. Each input load (a per-lane loop on
// lavapipe) feeds 8 CO FMAs, so wider CO blocks amortise them better; CI shrinks as CO grows to
// keep the accumulators (private memory) near 864.
// Bindings: 1 dyq (vec4), 2 xp (vec4), 3 part (vec4, written): partial sums, one tile of T
// vec4s per (split, invocation), element (ci_local*KH*KW + tap)*CO + co_local; `wgrad_reduce`
// adds them into dw. (Unconditional vec4 stores keep the kernel small: lavapipe expands each
// store into a per-lane loop, and 576 guarded scalar stores took LLVM half a minute.)
// Params: n, cin, h = Hp, w = Wp, cout, hout, wout, kh, kw, args: `WgradDirectArgs`
// (T = tile_vec4s); NIB8 = ceil(Cin/CI) rounded up to a multiple of 8.
// Dispatch: workgroup_size 8; [ceil(Cout/CO) * NIB8 / 8, splits, 1].
struct WgradDirectArgs {
    steps_per_split: u32,
    tiles_per_split: u32, // ceil(Cout/CO) * NIB8
    tile_vec4s: u32,      // vec4s per tile (9 CI3 CO / 4 for k3, CI1 CO / 4 for k1)
    quads_per_row: u32,   // QE
}
fn wgrad_direct_args() -> WgradDirectArgs {
    return WgradDirectArgs(p.args.x, p.args.y, p.args.z, p.args.w);
}

@group(0) @binding(1) var<storage, read> g_dy: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> g_x: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> g_out: array<vec4<f32>>;

// wacc[t * CO + c]: channel co0 + c, t = ci_local * KH*KW + tap.
var<private> wacc: array<f32, {{WACC}}>;
var<private> dv: array<vec4<f32>, {{DV}}>; // dv[j * CO + c]: dy of channel co0 + c, quad j of the pair
var<private> xq: array<u32, {{CI1}}>; // vec4 index in xp of (n, ci0 + i, oy*S, 0) for this row
var<private> g_co0: u32;
var<private> g_ci0: u32;
var<private> g_tile_base: u32;

// Accumulator row t += dy . window, for both quads of the pair (windows w0, w1).
fn wmac(t: u32, w0: vec4<f32>, w1: vec4<f32>) {
    let b = t * {{CO}}u;
    #for C in 0..{{CO}}
    wacc[b + {{C}}u] += dot(dv[{{C}}], w0) + dot(dv[{{CO}} + {{C}}], w1);
    #end
}

// The window of 4 stride-1 outputs shifted by 1 / 2 columns, from two consecutive vec4s.
fn sh1(a: vec4<f32>, b: vec4<f32>) -> vec4<f32> {
    return vec4<f32>(a.yzw, b.x);
}
fn sh2(a: vec4<f32>, b: vec4<f32>) -> vec4<f32> {
    return vec4<f32>(a.zw, b.xy);
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

// Stores accumulator row t (CO channels) as NG vec4s into this invocation's tile of the
// partial-sum buffer (no conditions: the tile layout is private to `wgrad_reduce`).
fn wst(t: u32) {
    let o = g_tile_base + t * {{NG}}u;
    let b = t * {{CO}}u;
    #for G in 0..{{NG}}
    g_out[o + {{G}}u] = vec4<f32>(wacc[b + 4u * {{G}}u], wacc[b + 4u * {{G}}u + 1u],
                                  wacc[b + 4u * {{G}}u + 2u], wacc[b + 4u * {{G}}u + 3u]);
    #end
}

fn set_xq(i: u32, n: u32, oy: u32) {
    let ci = min(g_ci0 + i, p.cin - 1u);
    xq[i] = ((n * p.cin + ci) * p.h + oy * STRIDE) * (p.w / 4u);
}

// Sets up the tile of invocation (wid, lid) with `ci_per` input channels: channel block
// co0 = CO * (wid.x % ncb) (uniform per workgroup, so the subgroup variant can share dy loads)
// and input-channel block (wid.x / ncb) * 8 + lid. Lanes past the last input-channel block
// compute a clamped copy into spare tiles that `wgrad_reduce` ignores.
fn wgrad_setup(wid: vec3<u32>, lid: u32, ci_per: u32) {
    lane_setup();
    let ncb = (p.cout + {{CO}}u - 1u) / {{CO}}u;
    let cib = (wid.x / ncb) * 8u + lid;
    g_co0 = (wid.x % ncb) * {{CO}}u;
    g_ci0 = cib * ci_per;
    // Tile (split, cib * ncb + cb) of the partial sums.
    let a = wgrad_direct_args();
    g_tile_base = (wid.y * a.tiles_per_split + cib * ncb + wid.x % ncb) * a.tile_vec4s;
    wacc = array<f32, {{WACC}}>();
}

@compute @workgroup_size(8)
fn wgrad_direct_k3(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    wgrad_setup(wid, lid, {{CI3}}u);
    // One loop over (row, pair) steps: nested row / pair loops made LLVM move the
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
        #for V in 0..{{CI3}}
        set_xq({{V}}u, n, oy);
        #end
        load_dv_all((n * p.cout * p.hout + oy) * qw, p.hout * qw, qx);
        #for V in 0..{{CI3}}
        wci({{V}}u, qx);
        #end
    }
    #for T in 0..{{ROWS3}}
    wst({{T}}u);
    #end
}

fn w1(cl: u32, qx: u32) {
    wmac(cl, g_x[xq[cl] + qx], g_x[xq[cl] + qx + 1u]);
}

@compute @workgroup_size(8)
fn wgrad_direct_k1(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    wgrad_setup(wid, lid, {{CI1}}u);
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
        #for V in 0..{{CI1}}
        set_xq({{V}}u, n, oy);
        #end
        load_dv_all((n * p.cout * p.hout + oy) * qw, p.hout * qw, qx);
        #for V in 0..{{CI1}}
        w1({{V}}u, qx);
        #end
    }
    #for T in 0..{{CI1}}
    wst({{T}}u);
    #end
}
