// Diffusion kernels: forward noising (q_sample) and one fused reverse step of the DDPM and DDIM
// samplers, with the step's noise z ~ N(0, 1) generated inside from (seed, stream, element index)
// by the same Philox 4x32-10 and Box-Muller as `rng.wgsl` (the code below is a copy of it; the
// checks compare both with `reference::rng`). Reference: `src/reference/diffusion.rs`.
//
// Geometry: every entry point gives one invocation PER loop trips of one "block" of 4 consecutive
// elements (a Philox block: the 4 normals of block b come from one Philox call); block =
// (group * PER + k) * WG + lid, group = wid.x + wid.y * nwg.x. Launched with
// `grid_1d(ceil(n / 4), WG * PER)`.
//
// Bindings (shared by all entry points):
//   0: uniform Params
//   1: dst, read_write array<f32>: the output x_t or x_prev
//   2: xa, read array<f32>: x0 (q_sample) or x_t (steps)
//   3: eps, read array<f32>: the noise (q_sample) or the model's prediction of it (steps)
//   4: tsteps, read array<u32>: per-sample timesteps (q_sample only)
//   5: ca, read array<f32>: sqrt(abar_t) table [T] (q_sample only)
//   6: cb, read array<f32>: sqrt(1 - abar_t) table [T] (q_sample only)

override WG: u32 = 256u;
override PER: u32 = 1u;

struct Params {
    n: u32,         // number of elements
    per_sample: u32, // q_sample: elements per batch sample
    t_len: u32,     // q_sample: length T of the tables
    clip: u32,      // steps: 1 = clamp the predicted x0 to [-1, 1]
    key0: u32,      // seed lo/hi, stream lo/hi of the step noise
    key1: u32,
    stream0: u32,
    stream1: u32,
    // Step coefficients (see the entry points): c[0..8].
    c0: vec4<f32>,
    c1: vec4<f32>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<storage, read> xa: array<f32>;
@group(0) @binding(3) var<storage, read> eps: array<f32>;
@group(0) @binding(4) var<storage, read> tsteps: array<u32>;
@group(0) @binding(5) var<storage, read> ca: array<f32>;
@group(0) @binding(6) var<storage, read> cb: array<f32>;

// ---- Philox 4x32-10 and Box-Muller: identical to rng.wgsl ----
const PHILOX_M0: u32 = 0xD2511F53u;
const PHILOX_M1: u32 = 0xCD9E8D57u;
const PHILOX_W0: u32 = 0x9E3779B9u;
const PHILOX_W1: u32 = 0xBB67AE85u;

fn mulhi(a: u32, b: u32) -> u32 {
    let al = a & 0xffffu;
    let ah = a >> 16u;
    let bl = b & 0xffffu;
    let bh = b >> 16u;
    let lh = al * bh;
    let hl = ah * bl;
    let mid = ((al * bl) >> 16u) + (lh & 0xffffu) + (hl & 0xffffu);
    return ah * bh + (lh >> 16u) + (hl >> 16u) + (mid >> 16u);
}

fn philox_block(b: u32) -> vec4<u32> {
    var c = vec4<u32>(b, p.stream0, p.stream1, 0u);
    var k = vec2<u32>(p.key0, p.key1);
    for (var r = 0u; r < 10u; r++) {
        let hi0 = mulhi(PHILOX_M0, c.x);
        let lo0 = PHILOX_M0 * c.x;
        let hi1 = mulhi(PHILOX_M1, c.z);
        let lo1 = PHILOX_M1 * c.z;
        c = vec4<u32>(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
        k = k + vec2<u32>(PHILOX_W0, PHILOX_W1);
    }
    return c;
}

fn unit(w: u32) -> f32 {
    return (f32(w >> 9u) + 0.5) * (1.0 / 8388608.0);
}

fn ln_pos(u: f32) -> f32 {
    let fr = frexp(u);
    var m = fr.fract;
    var e = f32(fr.exp);
    if (m < 0.70710678) {
        m = m * 2.0;
        e = e - 1.0;
    }
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let series = 2.0 * s * (1.0 + s2 * (0.33333333 + s2 * (0.2 + s2 * (0.14285714 + s2 * 0.11111111))));
    return e * 0.693145751953125 + (series + e * 1.4286068203094173e-06);
}

fn box_muller(a: u32, b: u32) -> vec2<f32> {
    let r = sqrt(-2.0 * ln_pos(unit(a)));
    let theta = 3.14159265358979 * (2.0 * unit(b) - 1.0);
    return r * vec2<f32>(cos(theta), sin(theta));
}

// The 4 normals of block b (zero when sigma == 0: no noise at the last step, nothing generated).
fn noise(b: u32, sigma: f32) -> vec4<f32> {
    if (sigma == 0.0) {
        return vec4<f32>(0.0);
    }
    let w = philox_block(b);
    return vec4<f32>(box_muller(w.x, w.y), box_muller(w.z, w.w));
}
// ---- end of the copy ----

fn block_index(wid: vec3<u32>, nwg: vec3<u32>, lid: u32, k: u32) -> u32 {
    return ((wid.x + wid.y * nwg.x) * PER + k) * WG + lid;
}

// Forward noising: dst[i] = ca[t] xa[i] + cb[t] eps[i], t = min(tsteps[i / per_sample], T - 1).
// Bindings 0..6.
@compute @workgroup_size(WG)
fn q_sample(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    for (var k = 0u; k < PER; k++) {
        let b = block_index(wid, nwg, lid, k);
        if (4u * b >= p.n) { return; }
        for (var j = 0u; j < 4u; j++) {
            let i = 4u * b + j;
            if (i < p.n) {
                let t = min(tsteps[i / p.per_sample], p.t_len - 1u);
                dst[i] = ca[t] * xa[i] + cb[t] * eps[i];
            }
        }
    }
}

// DDPM reverse step, x_t = xa, z from (seed, stream, i). c0 = (sqrt_recip_abar, sqrt_recipm1_abar,
// coef_x0, coef_xt), c1 = (eps_coef, inv_sqrt_alpha, sigma, 0).
//   clip == 0: dst = (x_t - eps_coef eps) inv_sqrt_alpha + sigma z
//   clip == 1: x0 = clamp(sqrt_recip_abar x_t - sqrt_recipm1_abar eps, -1, 1);
//              dst = coef_x0 x0 + coef_xt x_t + sigma z
// Bindings 0..3.
@compute @workgroup_size(WG)
fn ddpm_step(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let sigma = p.c1.z;
    for (var k = 0u; k < PER; k++) {
        let b = block_index(wid, nwg, lid, k);
        if (4u * b >= p.n) { return; }
        let z = noise(b, sigma);
        for (var j = 0u; j < 4u; j++) {
            let i = 4u * b + j;
            if (i < p.n) {
                let xt = xa[i];
                let e = eps[i];
                var mean: f32;
                if (p.clip != 0u) {
                    let x0 = clamp(p.c0.x * xt - p.c0.y * e, -1.0, 1.0);
                    mean = p.c0.z * x0 + p.c0.w * xt;
                } else {
                    mean = (xt - p.c1.x * e) * p.c1.y;
                }
                dst[i] = mean + sigma * z[j];
            }
        }
    }
}

// DDIM step, x_t = xa, z from (seed, stream, i). c0 = (sqrt_abar, sqrt_one_minus_abar,
// sqrt_abar_prev, dir_coef), c1 = (sigma, 0, 0, 0).
//   x0 = (x_t - sqrt_one_minus_abar eps) / sqrt_abar, clamped to [-1, 1] if clip;
//   dst = sqrt_abar_prev x0 + dir_coef eps + sigma z.
// Bindings 0..3.
@compute @workgroup_size(WG)
fn ddim_step(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let sigma = p.c1.x;
    for (var k = 0u; k < PER; k++) {
        let b = block_index(wid, nwg, lid, k);
        if (4u * b >= p.n) { return; }
        let z = noise(b, sigma);
        for (var j = 0u; j < 4u; j++) {
            let i = 4u * b + j;
            if (i < p.n) {
                let e = eps[i];
                var x0 = (xa[i] - p.c0.y * e) / p.c0.x;
                if (p.clip != 0u) {
                    x0 = clamp(x0, -1.0, 1.0);
                }
                dst[i] = p.c0.z * x0 + p.c0.w * e + sigma * z[j];
            }
        }
    }
}
