// One probe entry point: C chains, 16 multiply-adds each per loop iteration.
@compute @workgroup_size(64)
fn peak_{{C}}(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let i = (wid.x + wid.y * nwg.x) * 64u + lid;
    if (i >= p.n) {
        return;
    }
    let m = vec4<f32>(p.m);
    let c = vec4<f32>(p.c);
    #for K in 0..{{C}}
    var a{{K}} = start(f32({{K}}), i);
    #end
    for (var it = 0u; it < p.iters; it++) {
        #for U in 0..16
        #for K in 0..{{C}}
        a{{K}} = fma(a{{K}}, m, c);
        #end
        #end
    }
    var s = vec4<f32>(0.0);
    #for K in 0..{{C}}
    s += a{{K}};
    #end
    y[i] = s.x + s.y + s.z + s.w;
}
