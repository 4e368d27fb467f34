// Group normalisation (torch.nn.GroupNorm) with an optional fused SiLU, forward and backward.
//
// x is [N, C, S] row-major (NCHW with S = H*W). Group g of sample n covers channels
// [g*cpg, (g+1)*cpg) (cpg = C / G), i.e. the K = cpg*S contiguous elements starting at
// (n*G + g) * K. "gi" below is that linear group index n*G + g.
//
// Statistics use the corrected two-pass algorithm: pass 1 gives a shift m0 ~ mean, pass 2
// sums d = x - m0 and d^2, then mean = m0 + sum(d)/K, var = sum(d^2)/K - (sum(d)/K)^2. The
// correction term is tiny, so there is no E[x^2]-E[x]^2 cancellation for large means.
//
// Two variants of each kernel (chosen in src/ops/norm.rs by adapter class):
//   *_wg:     one workgroup of WG invocations per group, strided loops + tree reductions in
//             workgroup memory (real GPUs, WG = 256).
//   *_serial: one invocation per group, plain loops, no barriers (CPU adapters: lavapipe
//             runs invocations as SIMD lanes and barriers are costly there).

struct Params {
    n: u32,       // samples
    c: u32,       // channels
    s: u32,       // spatial size H*W (1 for [N, C] inputs)
    groups: u32,  // G
    cpg: u32,     // channels per group C / G
    eps: f32,
    offset: u32,  // param_grad: element offset of the partial sums it reduces
    _pad: u32,
}

// Workgroup size (a power of two <= 256 for the *_wg tree reductions).
override WG: u32 = 256u;
// Fuse SiLU after the affine transform.
override SILU: bool = false;

@group(0) @binding(0) var<uniform> p: Params;

fn sigmoid(v: f32) -> f32 {
    return 1.0 / (1.0 + exp(-v));
}

// The forward output from the pre-activation.
fn act(pre: f32) -> f32 {
    if (SILU) {
        return pre * sigmoid(pre);
    }
    return pre;
}

// dL/dpre from dL/dy: d/dpre [pre * sigmoid(pre)] = sig * (1 + pre * (1 - sig)).
fn grad_pre(dy: f32, xhat: f32, gamma: f32, beta: f32) -> f32 {
    if (SILU) {
        let pre = xhat * gamma + beta;
        let sg = sigmoid(pre);
        return dy * sg * (1.0 + pre * (1.0 - sg));
    }
    return dy;
}

var<workgroup> red: array<vec2<f32>, 256>;

// Sum of v over the workgroup (every invocation gets the total). Call in uniform control flow.
fn reduce2(lid: u32, v: vec2<f32>) -> vec2<f32> {
    red[lid] = v;
    workgroupBarrier();
    for (var k = WG / 2u; k > 0u; k = k / 2u) {
        if (lid < k) {
            red[lid] = red[lid] + red[lid + k];
        }
        workgroupBarrier();
    }
    let r = red[0];
    workgroupBarrier();
    return r;
}

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

// ---------------------------------------------------------------------------------------------
// vec4 forms of the serial kernels, used when S % 4 == 0 (every U-Net shape). On lavapipe each
// load or store instruction is a loop over the SIMD lanes, so a vec4 access costs about what a
// scalar one does: 4x fewer memory instructions. The statistics come from one pass of
// Welford/Chan updates, one vec4 at a time (merge of (n, mean, M2) with the vec4's
// (4, m4, sum (v - m4)^2)), instead of two passes.

fn act4(pre: vec4<f32>) -> vec4<f32> {
    if (SILU) {
        return pre / (vec4<f32>(1.0) + exp(-pre));
    }
    return pre;
}

fn grad_pre4(dy: vec4<f32>, xhat: vec4<f32>, gamma: f32, beta: f32) -> vec4<f32> {
    if (SILU) {
        let pre = xhat * gamma + beta;
        let sg = vec4<f32>(1.0) / (vec4<f32>(1.0) + exp(-pre));
        return dy * sg * (vec4<f32>(1.0) + pre * (vec4<f32>(1.0) - sg));
    }
    return dy;
}

// Forward bindings as forward_wg, with x and y as vec4 arrays.
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
