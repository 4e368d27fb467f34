// Template: mse_bwd{{S}} on items of x{{S}}, t{{S}} into {{OUT}} (see `mse_bwd` in reduce.wgsl).
@compute @workgroup_size(WG)
fn mse_bwd{{S}}(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let base = (wid.x + wid.y * nwg.x) * WG * EPI + lid;
    for (var k = 0u; k < EPI; k++) {
        let i = base + k * WG;
        if (i < p.n) { {{OUT}}[i] = p.scale * (x{{S}}[i] - t{{S}}[i]); }
    }
}
