// Replaces conv2d/parts/loads_cpu.wgsl on adapters with 8-wide subgroups: the 36 weight vec4s that every
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
    let stride = p.args.x / 4u; // CoutP / 4: word 0 of ForwardArgs and T2Args
    let base = r0 * stride + wc + (w_lane % 4u) + (w_lane / 4u) * stride;
    let v0 = d_w[base];
    let v1 = d_w[base + 2u * stride];
    let v2 = d_w[base + 4u * stride];
    let v3 = d_w[base + 6u * stride];
    // Lanes 4..7 would read row r0 + 9: they re-read row r0 + 8 (unused).
    let v4 = d_w[base + (8u - w_lane / 4u) * stride];
    #for V in 0..8
    wv[{{V}}] = subgroupBroadcast(v0, {{V}}u);
    #end
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
