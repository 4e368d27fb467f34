// Template: the `rows` kernel {{NAME}} summing {{TERM}}(item) and storing with {{FINISH}}
// (see `rows` in reduce.wgsl).
@compute @workgroup_size(WG)
fn {{NAME}}(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let rc = row_chunk(wid, nwg);
    if (rc.w >= p.n * p.q) { return; }   // uniform over the workgroup
    var acc = 0.0;
    for (var k = 0u; k < p.epi; k++) {
        let j = rc.first + k * WG + lid;
        if (j < p.len) { acc = acc + {{TERM}}(rc.base + j); }
    }
    let total = workgroup_sum(acc, lid);
    if (lid == 0u) { {{FINISH}}(rc.w, total); }
}
