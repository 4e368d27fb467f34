#include "norm/parts/common"

// ---------------------------------------------------------------------------------------------
// Parameter gradients. Bindings: 1 part [2*N*C] (read), 2 grad [C] (read_write).
// grad[c] += sum_n part[offset + n*C + c]  (offset 0: dbeta, offset N*C: dgamma).
// Geometry: one invocation per channel, grid_1d(C, WG).

@group(0) @binding(1) var<storage, read> ppart: array<f32>;
@group(0) @binding(2) var<storage, read_write> pgrad: array<f32>;

@compute @workgroup_size(WG)
fn param_grad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let ch = (wid.x + wid.y * nwg.x) * WG + lid;
    if (ch >= p.c) {
        return;
    }
    var acc = 0.0;
    for (var i = 0u; i < p.n; i++) {
        acc += ppart[p.offset + i * p.c + ch];
    }
    pgrad[ch] += acc;
}
