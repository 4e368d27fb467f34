// The dy loads of the weight-gradient kernels, lane by lane (every adapter). On adapters with
// 8-wide subgroups, conv2d/parts/loads_subgroup.wgsl replaces this file.
// Template value: CO, the output channels of a weight-gradient tile.

// Loads dy of channel co0 + c for quads qx, qx + 1 of the current row (zero past Cout).
fn load_dv(c: u32, base: u32, plane: u32, qx: u32) {
    let co = g_co0 + c;
    let i = base + min(co, p.cout - 1u) * plane + qx;
    dv[c] = select(vec4<f32>(0.0), g_dy[i], co < p.cout);
    dv[{{CO}}u + c] = select(vec4<f32>(0.0), g_dy[i + 1u], co < p.cout);
}

fn load_dv_all(base: u32, plane: u32, qx: u32) {
    #for V in 0..{{CO}}
    load_dv({{V}}u, base, plane, qx);
    #end
}
