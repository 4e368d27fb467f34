// Replaces conv2d/parts/loads_cpu.wgsl on adapters with 8-wide subgroups: the 2 CO dy vec4s
// of a step of the weight-gradient kernels are loaded 2 CO / 8 per lane and broadcast, since on
// lavapipe each storage load is a loop over the lanes (~30 instructions per lane for a vec4)
// while a broadcast is an extract and a splat. Needs `w_lane` (conv2d/parts/weights_subgroup).
// Template values: CO (a multiple of 8), NJ = CO / 8.

// dv: dy of channels co0 .. co0 + CO - 1 for quads qx, qx + 1 of the current row (zero past
// Cout); lane l loads channels co0 + 8j + l (j < NJ), and the 2 CO vec4s are broadcast.
fn load_dv_all(base: u32, plane: u32, qx: u32) {
    #for J in 0..{{NJ}}
    let c{{J}} = g_co0 + 8u * {{J}}u + w_lane;
    let i{{J}} = base + min(c{{J}}, p.cout - 1u) * plane + qx;
    let a{{J}} = select(vec4<f32>(0.0), g_dy[i{{J}}], c{{J}} < p.cout);
    let b{{J}} = select(vec4<f32>(0.0), g_dy[i{{J}} + 1u], c{{J}} < p.cout);
    #end
    #for J in 0..{{NJ}}
    #for L in 0..8
    dv[8 * {{J}} + {{L}}] = subgroupBroadcast(a{{J}}, {{L}}u);
    dv[{{CO}} + 8 * {{J}} + {{L}}] = subgroupBroadcast(b{{J}}, {{L}}u);
    #end
    #end
}
