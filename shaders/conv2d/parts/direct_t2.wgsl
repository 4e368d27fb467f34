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
// 3 unused (bias; bind any read-only buffer); 4 dx [N, Cin, H, W] (f32, written).
// Params: n, cin = Cout (the reduction), h = Hp, w = Wp, cout = Cin (dx channels), hout = H,
// wout = W, args: `T2Args`.
struct T2Args {
    cout_padded: u32, // CinP: columns of the packed weights (word 0, as in ForwardArgs)
    unused: u32,
    units_per_row: u32, // NP = ceil(W / 8)
    unit_rows: u32,     // A = ceil(H / 2)
}
fn t2_args() -> T2Args {
    return T2Args(p.args.x, p.args.y, p.args.z, p.args.w);
}
// Work unit: (n, a, m) = dx rows 2a, 2a + 1 x columns 8m .. 8m + 7 (4 quads), flat index
// U = (n*A + a)*NP + m. Dispatch: workgroup_size 32, [gx, CinP/16, gz] with
// gx * gz >= ceil(ceil(N*A*NP / 2) / 32) (folded into z past 65,535): invocation
// i = 32 (x + z gx) + lid of workgroup (x, b, z) computes units 2i, 2i + 1 for dx channels
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
    let np = t2_args().units_per_row;
    let na = t2_args().unit_rows;
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
fn direct_t2(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    lane_setup();
    let inv = (wid.x + wid.z * nwg.x) * 32u + lid;
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
        #for V in 0..16
        t2ch({{V}}u);
        #end
    }
    store_all(wid.y * 16u);
}
