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

// The group of a serial-kernel invocation (one per group): gi = (wid.x + wid.y * nwg.x) * WG +
// lid; past N*G for the spare invocations of the last workgroup.
fn serial_group(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * WG + lid;
}

// (scale, shift) of channel ci of group gi, so that y = act(x * scale + shift), from the
// group's st = (mean, rstd).
fn channel_affine(gi: u32, ci: u32, st: vec2<f32>) -> vec2<f32> {
    let ch = (gi % p.groups) * p.cpg + ci;
    let scale = fgamma[ch] * st.y;
    return vec2<f32>(scale, fbeta[ch] - st.x * scale);
}

// (mean, rstd) of group gi, saved for the backward; two passes of scalar loads.
fn stats1(gi: u32) -> vec2<f32> {
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
    return vec2<f32>(mean, rstd);
}

// Same maths as forward_wg. Geometry: one invocation per group, gi = global linear index
// ((wid.x + wid.y * nwg.x) * WG + lid; grid_1d of N*G with WG per workgroup).
@compute @workgroup_size(WG)
fn forward_serial(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
    let gi = serial_group(wid, nwg, lid);
    if (gi >= p.n * p.groups) {
        return;
    }
    let st = stats1(gi);
    for (var ci = 0u; ci < p.cpg; ci++) {
        let a = channel_affine(gi, ci, st);
        let cb = (gi * p.cpg + ci) * p.s;
        for (var j = 0u; j < p.s; j++) {
            fy[cb + j] = act(fx[cb + j] * a.x + a.y);
        }
    }
}

@group(0) @binding(1) var<storage, read> fx4: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> fy4: array<vec4<f32>>;

// (mean, rstd) of group gi (S % 4 == 0), saved for the backward; one pass of vec4 loads.
fn stats4(gi: u32) -> vec2<f32> {
    let k4 = p.cpg * (p.s / 4u);
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
    return vec2<f32>(mean, rstd);
}

// Same maths as forward_wg. Geometry: one invocation per group, as forward_serial; S % 4 == 0.
@compute @workgroup_size(WG)
fn forward_serial4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) lid: u32) {
    let gi = serial_group(wid, nwg, lid);
    if (gi >= p.n * p.groups) {
        return;
    }
    let st = stats4(gi);
    let s4 = p.s / 4u;
    for (var ci = 0u; ci < p.cpg; ci++) {
        let a = channel_affine(gi, ci, st);
        let cb = (gi * p.cpg + ci) * s4;
        for (var j = 0u; j < s4; j++) {
            fy4[cb + j] = act4(fx4[cb + j] * a.x + a.y);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The serial forward kernels writing y into the zero-padded layout a direct convolution reads
// (src/ops/conv.rs `PaddedLayout`): pixel (y, x) of plane q = n*C + c goes to
// q * out_plane + out_origin + y * out_w + x. The caller zeroes the buffer first (a fill, much
// cheaper on lavapipe than a kernel's per-lane stores), so the conv needs no pad pass. Same
// maths, bindings (fy scalar) and geometry as forward_serial4 / forward_serial.

// forward_serial4_pad: S % 4 == 0; each vec4 of x holds 4 consecutive pixels of the plane,
// which may wrap to the next row (W % 4 != 0), so the row is tracked pixel by pixel.
@compute @workgroup_size(WG)
fn forward_serial4_pad(@builtin(workgroup_id) wid: vec3<u32>,
                       @builtin(num_workgroups) nwg: vec3<u32>,
                       @builtin(local_invocation_index) lid: u32) {
    let gi = serial_group(wid, nwg, lid);
    if (gi >= p.n * p.groups) {
        return;
    }
    let st = stats4(gi);
    let s4 = p.s / 4u;
    for (var ci = 0u; ci < p.cpg; ci++) {
        let a = channel_affine(gi, ci, st);
        let plane = gi * p.cpg + ci;
        var row = plane * p.out_plane + p.out_origin;
        var x = 0u;
        for (var j = 0u; j < s4; j++) {
            let v = act4(fx4[plane * s4 + j] * a.x + a.y);
            for (var k = 0u; k < 4u; k++) {
                fy[row + x] = v[k];
                // Selects, not branches: lavapipe runs both sides of a branch anyway.
                let wrap = x + 1u == p.width;
                row = select(row, row + p.out_w, wrap);
                x = select(x + 1u, 0u, wrap);
            }
        }
    }
}

// forward_serial4_pad1: W % 4 == 0, out_w % 4 == 0 and left == 1 (a 3x3 conv's input rows,
// e.g. 28 wide): destination vec4 k of a row holds source columns 4k - 1 .. 4k + 2, i.e. the
// last component of source vec4 k - 1 and the first three of vec4 k, so every store is an
// aligned vec4 (a quarter of the store instructions of forward_serial4_pad). The row's left
// border column and the columns past the source are written as zeros here.
@compute @workgroup_size(WG)
fn forward_serial4_pad1(@builtin(workgroup_id) wid: vec3<u32>,
                        @builtin(num_workgroups) nwg: vec3<u32>,
                        @builtin(local_invocation_index) lid: u32) {
    let gi = serial_group(wid, nwg, lid);
    if (gi >= p.n * p.groups) {
        return;
    }
    let st = stats4(gi);
    let w4 = p.width / 4u;
    let h = p.s / p.width;
    for (var ci = 0u; ci < p.cpg; ci++) {
        let a = channel_affine(gi, ci, st);
        let plane = gi * p.cpg + ci;
        // out_origin - 1 = top * out_w: the padded row of source row 0 starts on a vec4.
        let dst0 = (plane * p.out_plane + p.out_origin - 1u) / 4u;
        for (var y = 0u; y < h; y++) {
            let src = plane * (p.s / 4u) + y * w4;
            let dst = dst0 + y * (p.out_w / 4u);
            var prev = 0.0;
            for (var k = 0u; k < w4; k++) {
                let v = act4(fx4[src + k] * a.x + a.y);
                fy4[dst + k] = vec4<f32>(prev, v.xyz);
                prev = v.w;
            }
            fy4[dst + w4] = vec4<f32>(prev, 0.0, 0.0, 0.0);
        }
    }
}

// forward_serial_pad: any S (rows of H = S / W pixels).
@compute @workgroup_size(WG)
fn forward_serial_pad(@builtin(workgroup_id) wid: vec3<u32>,
                      @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_index) lid: u32) {
    let gi = serial_group(wid, nwg, lid);
    if (gi >= p.n * p.groups) {
        return;
    }
    let st = stats1(gi);
    let h = p.s / p.width;
    for (var ci = 0u; ci < p.cpg; ci++) {
        let a = channel_affine(gi, ci, st);
        let plane = gi * p.cpg + ci;
        for (var y = 0u; y < h; y++) {
            let src = plane * p.s + y * p.width;
            let dst = plane * p.out_plane + p.out_origin + y * p.out_w;
            for (var x = 0u; x < p.width; x++) {
                fy[dst + x] = act(fx[src + x] * a.x + a.y);
            }
        }
    }
}
