// Replaces conv2d/parts/loads_cpu.wgsl on adapters with 8-wide subgroups: the 32 dy vec4s of
// a step of the weight-gradient kernels are loaded 4 per lane and broadcast, since on lavapipe
// each storage load is a loop over the lanes (~30 instructions per lane for a vec4) while a
// broadcast is an extract and a splat. Needs `w_lane` (conv2d/parts/weights_subgroup).
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
