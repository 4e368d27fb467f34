// Diffusion kernels: forward noising (q_sample) and one fused reverse step of the DDPM and DDIM
// samplers, with the step's noise z ~ N(0, 1) generated inside from (seed, stream, element index)
// by the Philox 4x32-10 and Box-Muller of `common/philox.wgsl`, as `rng/` (the checks compare
// both with `reference::rng`). Reference: `src/reference/diffusion.rs`.
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

#include "common/philox_blocks"

// The 4 normals of block b (zero when sigma == 0: no noise at the last step, nothing generated).
fn noise(b: u32, sigma: f32) -> vec4<f32> {
    if (sigma == 0.0) {
        return vec4<f32>(0.0);
    }
    let w = philox_block(b);
    return vec4<f32>(box_muller(w.x, w.y), box_muller(w.z, w.w));
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
