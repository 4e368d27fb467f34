#include "attention/parts/common"

// ---------------------------------------------------------------------------------------------
// attn_bwd_prep: dd_i = dout_i . o_i (D of the backward pass), for every variant.
// Bindings: 1 o, 2 dout (read), 3 dd (write, [B, heads, L]).
// Dispatch: (ceil(L / 64), B * heads, 1); one invocation per row.
// ---------------------------------------------------------------------------------------------
@group(0) @binding(1) var<storage, read> prep_o: array<f32>;
@group(0) @binding(2) var<storage, read> prep_do: array<f32>;
@group(0) @binding(3) var<storage, read_write> prep_dd: array<f32>;

@compute @workgroup_size(64)
fn attn_bwd_prep(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = wid.x * 64u + lid;
    if (i >= p.l) {
        return;
    }
    let bh = wid.y;
    let base = tok(bh / p.heads, bh % p.heads, i);
    var acc = 0.0;
    for (var ch = 0u; ch < p.d; ch++) {
        acc += prep_o[base + ch] * prep_do[base + ch];
    }
    prep_dd[bh * p.l + i] = acc;
}
