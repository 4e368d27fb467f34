#include "norm/parts/common"

// ---------------------------------------------------------------------------------------------
// Backward. Bindings: 1 dy [N*C*S] (read), 2 x [N*C*S] (read), 3 gamma [C], 4 beta [C],
// 5 mean [N*G], 6 rstd [N*G], 7 dx [N*C*S] (write), 8 part [2*N*C] (write): per (sample,
// channel) partial sums for the parameter gradients, part[n*C + c] = sum_s dpre (for dbeta)
// and part[N*C + n*C + c] = sum_s dpre * xhat (for dgamma).
//
// Per group: xhat = (x - mean) * rstd, dpre = grad_pre(dy, ...), dxhat = dpre * gamma[c],
// dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)).

@group(0) @binding(1) var<storage, read> bdy: array<f32>;
@group(0) @binding(2) var<storage, read> bx: array<f32>;
@group(0) @binding(3) var<storage, read> bgamma: array<f32>;
@group(0) @binding(4) var<storage, read> bbeta: array<f32>;
@group(0) @binding(5) var<storage, read> bmean: array<f32>;
@group(0) @binding(6) var<storage, read> brstd: array<f32>;
@group(0) @binding(7) var<storage, read_write> bdx: array<f32>;
@group(0) @binding(8) var<storage, read_write> bpart: array<f32>;

// Geometry: one workgroup of WG invocations per group gi (grid_1d of N*G, 1 per workgroup).
// Channel by channel, invocation lid takes positions lid, lid + WG, ...; one tree reduction
// per channel gives its partial sums (written by lid 0) and, weighted by gamma, the group sums.
@compute @workgroup_size(WG)
fn backward_wg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let gi = wid.x + wid.y * nwg.x;
    if (gi >= p.n * p.groups) {
        return;
    }
    let k = p.cpg * p.s;
    let base = gi * k;
    let mean = bmean[gi];
    let rstd = brstd[gi];
    let sample = gi / p.groups;
    let c0 = (gi % p.groups) * p.cpg;
    var t = vec2<f32>(0.0);
    for (var ci = 0u; ci < p.cpg; ci++) {
        let ch = c0 + ci;
        let ga = bgamma[ch];
        let be = bbeta[ch];
        let cb = base + ci * p.s;
        var a = vec2<f32>(0.0);
        for (var j = lid; j < p.s; j += WG) {
            let xh = (bx[cb + j] - mean) * rstd;
            let d = grad_pre(bdy[cb + j], xh, ga, be);
            a += vec2<f32>(d, d * xh);
        }
        let r = reduce2(lid, a);
        if (lid == 0u) {
            bpart[sample * p.c + ch] = r.x;
            bpart[(p.n + sample) * p.c + ch] = r.y;
        }
        t += ga * r;
    }
    let m = t / f32(k);
    for (var i = lid; i < k; i += WG) {
        let ch = c0 + i / p.s;
        let ga = bgamma[ch];
        let xh = (bx[base + i] - mean) * rstd;
        let d = grad_pre(bdy[base + i], xh, ga, bbeta[ch]);
        bdx[base + i] = rstd * (ga * d - m.x - xh * m.y);
    }
}

// Same maths as backward_wg. Geometry: one invocation per group (grid_1d of N*G, WG per
// workgroup), plain loops, no barriers.
@compute @workgroup_size(WG)
fn backward_serial(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) lid: u32) {
    let gi = (wid.x + wid.y * nwg.x) * WG + lid;
    if (gi >= p.n * p.groups) {
        return;
    }
    let k = p.cpg * p.s;
    let base = gi * k;
    let mean = bmean[gi];
    let rstd = brstd[gi];
    let sample = gi / p.groups;
    let c0 = (gi % p.groups) * p.cpg;
    var t = vec2<f32>(0.0);
    for (var ci = 0u; ci < p.cpg; ci++) {
        let ch = c0 + ci;
        let ga = bgamma[ch];
        let be = bbeta[ch];
        let cb = base + ci * p.s;
        var a = vec2<f32>(0.0);
        for (var j = 0u; j < p.s; j++) {
            let xh = (bx[cb + j] - mean) * rstd;
            let d = grad_pre(bdy[cb + j], xh, ga, be);
            a += vec2<f32>(d, d * xh);
        }
        bpart[sample * p.c + ch] = a.x;
        bpart[(p.n + sample) * p.c + ch] = a.y;
        t += ga * a;
    }
    let m = t / f32(k);
    for (var ci = 0u; ci < p.cpg; ci++) {
        let ch = c0 + ci;
        let ga = bgamma[ch];
        let be = bbeta[ch];
        let cb = base + ci * p.s;
        for (var j = 0u; j < p.s; j++) {
            let xh = (bx[cb + j] - mean) * rstd;
            let d = grad_pre(bdy[cb + j], xh, ga, be);
            bdx[cb + j] = rstd * (ga * d - m.x - xh * m.y);
        }
    }
}

@group(0) @binding(1) var<storage, read> bdy4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> bx4: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> bdx4: array<vec4<f32>>;

// Same maths as backward_wg. Geometry: one invocation per group, as backward_serial; S % 4 == 0.
@compute @workgroup_size(WG)
fn backward_serial4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) lid: u32) {
    let gi = (wid.x + wid.y * nwg.x) * WG + lid;
    if (gi >= p.n * p.groups) {
        return;
    }
    let s4 = p.s / 4u;
    let base = gi * p.cpg * s4;
    let mean = bmean[gi];
    let rstd = brstd[gi];
    let sample = gi / p.groups;
    let c0 = (gi % p.groups) * p.cpg;
    var t = vec2<f32>(0.0);
    for (var ci = 0u; ci < p.cpg; ci++) {
        let ch = c0 + ci;
        let ga = bgamma[ch];
        let be = bbeta[ch];
        let cb = base + ci * s4;
        var a1 = vec4<f32>(0.0);
        var a2 = vec4<f32>(0.0);
        for (var j = 0u; j < s4; j++) {
            let xh = (bx4[cb + j] - mean) * rstd;
            let d = grad_pre4(bdy4[cb + j], xh, ga, be);
            a1 += d;
            a2 += d * xh;
        }
        let a = vec2<f32>(dot(a1, vec4<f32>(1.0)), dot(a2, vec4<f32>(1.0)));
        bpart[sample * p.c + ch] = a.x;
        bpart[(p.n + sample) * p.c + ch] = a.y;
        t += ga * a;
    }
    let m = t / f32(p.cpg * p.s);
    for (var ci = 0u; ci < p.cpg; ci++) {
        let ch = c0 + ci;
        let ga = bgamma[ch];
        let be = bbeta[ch];
        let cb = base + ci * s4;
        for (var j = 0u; j < s4; j++) {
            let xh = (bx4[cb + j] - mean) * rstd;
            let d = grad_pre4(bdy4[cb + j], xh, ga, be);
            bdx4[cb + j] = rstd * (ga * d - m.x - xh * m.y);
        }
    }
}
