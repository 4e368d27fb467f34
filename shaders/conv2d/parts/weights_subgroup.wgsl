// Replaces conv2d/parts/weights_cpu.wgsl on adapters with 8-wide subgroups: the WV weight
// vec4s that every lane of a subgroup needs in the direct forward kernels (the channel block
// is uniform per workgroup) are loaded NL = ceil(WV / 8) per lane and broadcast, since on
// lavapipe each storage load is a loop over the lanes (~30 instructions per lane for a vec4)
// while a broadcast is an extract and a splat.
// Template values: NG (CB / 4), WV (9 NG), NL (ceil(WV / 8)), FULL (floor(WV / 8)) and
// TAIL (WV % 8): vec4s 8 FULL .. WV - 1 come from the last load's first TAIL lanes.
var<private> w_lane: u32; // this invocation's index in its subgroup (all 8 lanes are active)

fn lane_setup() {
    w_lane = subgroupExclusiveAdd(1u);
}

// wv: the weights of packed rows r0 .. r0 + 8, NG vec4s of channels from vec4 column wc
// (= co0 / 4). Vec4 k = NG t + g (tap t, channels 4g .. 4g+3) is loaded by lane k % 8 as its
// load k / 8 (lanes past the end re-read vec4 WV - 1, unused).
fn load_w9(r0: u32, wc: u32) {
    let stride = p.args.x / 4u; // CoutP / 4: word 0 of ForwardArgs and T2Args
    #for J in 0..{{NL}}
    let k{{J}} = min(8u * {{J}}u + w_lane, {{WV}}u - 1u);
    let v{{J}} = d_w[(r0 + k{{J}} / {{NG}}u) * stride + wc + k{{J}} % {{NG}}u];
    #end
    #for J in 0..{{FULL}}
    #for L in 0..8
    wv[8 * {{J}} + {{L}}] = subgroupBroadcast(v{{J}}, {{L}}u);
    #end
    #end
    #for L in 0..{{TAIL}}
    wv[8 * {{FULL}} + {{L}}] = subgroupBroadcast(v{{FULL}}, {{L}}u);
    #end
}
