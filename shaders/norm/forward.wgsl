#include "norm/parts/common"

// ---------------------------------------------------------------------------------------------
// Forward. Bindings: 1 x [N*C*S] (read), 2 gamma [C], 3 beta [C], 4 y [N*C*S] (write),
// 5 mean [N*G] (write), 6 rstd [N*G] (write).

@group(0) @binding(1) var<storage, read> fx: array<f32>;
@group(0) @binding(2) var<storage, read> fgamma: array<f32>;
@group(0) @binding(3) var<storage, read> fbeta: array<f32>;
@group(0) @binding(4) var<storage, read_write> fy: array<f32>;
@group(0) @binding(5) var<storage, read_write> fmean: array<f32>;
@group(0) @binding(6) var<storage, read_write> frstd: array<f32>;

// y = act((x - mean) * rstd * gamma[c] + beta[c]); mean/rstd saved per group.
// Geometry: one workgroup of WG invocations per group gi = wid.x + wid.y * nwg.x (grid_1d of
// N*G groups, 1 per workgroup); invocation lid handles elements lid, lid + WG, ... of the group.
@compute @workgroup_size(WG)
fn forward_wg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let gi = wid.x + wid.y * nwg.x;
    if (gi >= p.n * p.groups) {
        return;
    }
    let k = p.cpg * p.s;
    let base = gi * k;
    let kf = f32(k);
    var a = 0.0;
    for (var i = lid; i < k; i += WG) {
        a += fx[base + i];
    }
    let shift = reduce2(lid, vec2<f32>(a, 0.0)).x / kf;
    var b = vec2<f32>(0.0);
    for (var i = lid; i < k; i += WG) {
        let d = fx[base + i] - shift;
        b += vec2<f32>(d, d * d);
    }
    let r = reduce2(lid, b);
    let dm = r.x / kf;
    let mean = shift + dm;
    let rstd = inverseSqrt(max(r.y / kf - dm * dm, 0.0) + p.eps);
    if (lid == 0u) {
        fmean[gi] = mean;
        frstd[gi] = rstd;
    }
    let c0 = (gi % p.groups) * p.cpg;
    for (var i = lid; i < k; i += WG) {
        let ch = c0 + i / p.s;
        let scale = fgamma[ch] * rstd;
        fy[base + i] = act((fx[base + i] - mean) * scale + fbeta[ch]);
    }
}

// Same maths as forward_wg. Geometry: one invocation per group, gi = global linear index
// ((wid.x + wid.y * nwg.x) * WG + lid; grid_1d of N*G with WG per workgroup).
@compute @workgroup_size(WG)
fn forward_serial(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
    let gi = (wid.x + wid.y * nwg.x) * WG + lid;
    if (gi >= p.n * p.groups) {
        return;
    }
    let k = p.cpg * p.s;
    let base = gi * k;
    let kf = f32(k);
    var a = 0.0;
    for (var i = 0u; i < k; i++) {
        a += fx[base + i];
    }
    let shift = a / kf;
    var b = vec2<f32>(0.0);
    for (var i = 0u; i < k; i++) {
        let d = fx[base + i] - shift;
        b += vec2<f32>(d, d * d);
    }
    let dm = b.x / kf;
    let mean = shift + dm;
    let rstd = inverseSqrt(max(b.y / kf - dm * dm, 0.0) + p.eps);
    fmean[gi] = mean;
    frstd[gi] = rstd;
    let c0 = (gi % p.groups) * p.cpg;
    for (var ci = 0u; ci < p.cpg; ci++) {
        let scale = fgamma[c0 + ci] * rstd;
        let shift2 = fbeta[c0 + ci] - mean * scale;
        let cb = base + ci * p.s;
        for (var j = 0u; j < p.s; j++) {
            fy[cb + j] = act(fx[cb + j] * scale + shift2);
        }
    }
}

@group(0) @binding(1) var<storage, read> fx4: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> fy4: array<vec4<f32>>;

// Same maths as forward_wg. Geometry: one invocation per group, as forward_serial; S % 4 == 0.
@compute @workgroup_size(WG)
fn forward_serial4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) lid: u32) {
    let gi = (wid.x + wid.y * nwg.x) * WG + lid;
    if (gi >= p.n * p.groups) {
        return;
    }
    let s4 = p.s / 4u;
    let k4 = p.cpg * s4;
    let base = gi * k4;
    var mean = 0.0;
    var m2 = 0.0;
    for (var i = 0u; i < k4; i++) {
        let v = fx4[base + i];
        let m4 = dot(v, vec4<f32>(0.25));
        let d = v - m4;
        // Merge (4i elements, mean, m2) with (4, m4, |d|^2): weights 1/(i+1) and i/(i+1).
        let delta = m4 - mean;
        let w = 1.0 / f32(i + 1u);
        mean += delta * w;
        m2 += dot(d, d) + delta * delta * (4.0 * f32(i)) * w;
    }
    let rstd = inverseSqrt(m2 / f32(4u * k4) + p.eps);
    fmean[gi] = mean;
    frstd[gi] = rstd;
    let c0 = (gi % p.groups) * p.cpg;
    for (var ci = 0u; ci < p.cpg; ci++) {
        let scale = fgamma[c0 + ci] * rstd;
        let shift = fbeta[c0 + ci] - mean * scale;
        let cb = base + ci * s4;
        for (var j = 0u; j < s4; j++) {
            fy4[cb + j] = act4(fx4[cb + j] * scale + shift);
        }
    }
}

// Backward bindings as backward_wg, with dy, x and dx as vec4 arrays.
