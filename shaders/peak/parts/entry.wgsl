// One probe entry point: R rounds of the 8 chains' multiply-adds per loop iteration.
@compute @workgroup_size(64)
fn peak_{{R}}(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i >= p.n) {
        return;
    }
    let m = vec4<f32>(p.m);
    let c = vec4<f32>(p.c);
    #for K in 0..8
    var a{{K}} = start(f32({{K}}), i);
    #end
    for (var it = 0u; it < p.iters; it++) {
        #for U in 0..{{R}}
        #for K in 0..8
        a{{K}} = fma(a{{K}}, m, c);
        #end
        #end
    }
    let s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
    y[i] = s.x + s.y + s.z + s.w;
}
