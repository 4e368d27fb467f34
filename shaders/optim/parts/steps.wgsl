// Template: `adam{{S}}` and `ema{{S}}` on items of {{W}} f32 (the f32 views dst, src, m, v with
// S = "", W = 1; the vec4 views dst4, src4, m4, v4 with S = "4", W = 4: p.n a multiple of 4).

// Adam(W) step, in place on dst (params), m, v:
//   c = clip_on ? min(1, max_norm / (sqrt(sumsq[0]) + 1e-6)) : 1;  g = c src[i]
//   m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2
//   param = param - lr_wd param - step_size m / (sqrt(v) inv_sqrt_bc2 + eps)
// (= p - lr wd p - lr mhat / (sqrt(vhat) + eps) with mhat = m/(1-beta1^t), vhat = v/(1-beta2^t)).
// Bindings 0..5.
@compute @workgroup_size(WG)
fn adam{{S}}(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    var c = 1.0;
    if (p.clip_on != 0u) {
        c = min(1.0, p.max_norm / (sqrt(sumsq[0]) + 1e-6));
    }
    let items = p.n / {{W}}u;
    for (var k = 0u; k < EPI; k++) {
        let i = element(wid, nwg, lid, k);
        if (i >= items) { return; }
        let g = c * src{{S}}[i];
        let mi = p.beta1 * m{{S}}[i] + p.one_m_beta1 * g;
        let vi = p.beta2 * v{{S}}[i] + p.one_m_beta2 * (g * g);
        m{{S}}[i] = mi;
        v{{S}}[i] = vi;
        let w = dst{{S}}[i];
        dst{{S}}[i] = (w - p.lr_wd * w) - p.step_size * mi / (sqrt(vi) * p.inv_sqrt_bc2 + p.eps);
    }
}

// EMA, in place on dst: ema = ema + (1 - decay)(param - ema)  (= decay ema + (1 - decay) param).
// Bindings 0..2.
@compute @workgroup_size(WG)
fn ema{{S}}(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
       @builtin(local_invocation_index) lid: u32) {
    let items = p.n / {{W}}u;
    for (var k = 0u; k < EPI; k++) {
        let i = element(wid, nwg, lid, k);
        if (i >= items) { return; }
        let e = dst{{S}}[i];
        dst{{S}}[i] = e + p.one_m_decay * (src{{S}}[i] - e);
    }
}
