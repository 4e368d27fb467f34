// Template: the flat-launch entry point {{NAME}}, which calls {{NAME}}_item(i) for each item i
// < p.n it covers (geometry in elementwise/parts/common.wgsl).
@compute @workgroup_size(WG)
fn {{NAME}}(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let base = first_item(wid, nwg) + lid;
    for (var k = 0u; k < EPI; k++) {
        let i = base + k * WG;
        if (i < p.n) { {{NAME}}_item(i); }
    }
}
