// Template: the `serial` kernel {{NAME}} summing {{TERM}}({{OFF}}item) and storing with {{FINISH}}
// (see `serial` in reduce.wgsl; OFF is `p.x_off+` for the scalar entries, empty for vec4).
@compute @workgroup_size(WG)
fn {{NAME}}(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = (wid.x + wid.y * nwg.x) * WG + lid;
    if (i >= p.n) { return; }
    let s = serial_run(i);
    var acc = 0.0;
    for (var k = 0u; k < p.len; k++) {
        if (in_run(s, k)) { acc = acc + {{TERM}}({{OFF}}s.base + k * p.kstride); }
    }
    {{FINISH}}(i, acc);
}
