// Weight and dy loads of the direct kernels, lane by lane (every adapter). On adapters with
// 8-wide subgroups, conv2d/parts/loads_subgroup.wgsl replaces this file.
fn lane_setup() {}

// wv: the weights of packed rows r0 .. r0 + 8, 16 channels from vec4 column wc (= co0 / 4).
// (p.args.x = CoutP: word 0 of ForwardArgs and T2Args.)
fn load_w9(r0: u32, wc: u32) {
    for (var t = 0u; t < 9u; t++) {
        let wi = (r0 + t) * (p.args.x / 4u) + wc;
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
    #for V in 0..16
    load_dv({{V}}u, base, plane, qx);
    #end
}

