// The weight loads of the direct forward kernels, lane by lane (every adapter). On adapters
// with 8-wide subgroups, conv2d/parts/weights_subgroup.wgsl replaces this file.
// Template value: NG, the channel groups of 4 in a block (CB / 4).
fn lane_setup() {}

// wv: the weights of packed rows r0 .. r0 + 8, NG vec4s of channels from vec4 column wc
// (= co0 / 4). (p.args.x = CoutP: word 0 of ForwardArgs and T2Args.)
fn load_w9(r0: u32, wc: u32) {
    for (var t = 0u; t < 9u; t++) {
        let wi = (r0 + t) * (p.args.x / 4u) + wc;
        #for G in 0..{{NG}}
        wv[t * {{NG}}u + {{G}}u] = d_w[wi + {{G}}u];
        #end
    }
}
