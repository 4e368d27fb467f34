//! Reference of the diffusion kernels (`shaders/diffusion/steps.wgsl`, `ops::diffusion`): the forward
//! noising `q_sample` and one reverse step of the DDPM and DDIM samplers, elementwise in float64.
//!
//! Coefficients are passed the way the GPU ops receive them (f32 values computed by the caller
//! from the float64 schedule); the reference evaluates the same formulas in float64, so a
//! comparison measures only the kernels' f32 rounding. The noise `z` of a step is passed in
//! explicitly: the GPU generates it inside the kernel as `ops::rng::normal` would, so the checks
//! pass `reference::rng::normal(n, seed, stream)`.

pub use crate::maths::coefs::{DdimCoefs, DdpmCoefs};
/// Forward noising, per sample `b` of `x0` (`[batch, per_sample]` flattened):
/// `x_t = sqrt_abar[t_b] x0 + sqrt_one_minus_abar[t_b] eps`.
pub fn q_sample(
    x0: &[f64],
    eps: &[f64],
    t: &[u32],
    sqrt_abar: &[f64],
    sqrt_one_minus_abar: &[f64],
) -> Vec<f64> {
    assert_eq!(x0.len(), eps.len());
    let batch = t.len();
    assert!(batch > 0 && x0.len().is_multiple_of(batch));
    let per = x0.len() / batch;
    let mut out = vec![0.0; x0.len()];
    for (b, &tb) in t.iter().enumerate() {
        let tb = tb as usize;
        for j in 0..per {
            let i = b * per + j;
            out[i] = sqrt_abar[tb] * x0[i] + sqrt_one_minus_abar[tb] * eps[i];
        }
    }
    out
}

/// Gradients of `q_sample` with respect to `x0` and `eps` (it is linear in both):
/// `dx0 = sqrt_abar[t_b] dy`, `deps = sqrt_one_minus_abar[t_b] dy`.
pub fn q_sample_backward(
    dy: &[f64],
    t: &[u32],
    sqrt_abar: &[f64],
    sqrt_one_minus_abar: &[f64],
) -> (Vec<f64>, Vec<f64>) {
    let per = dy.len() / t.len();
    let mut dx0 = vec![0.0; dy.len()];
    let mut deps = vec![0.0; dy.len()];
    for (i, &g) in dy.iter().enumerate() {
        let tb = t[i / per] as usize;
        dx0[i] = sqrt_abar[tb] * g;
        deps[i] = sqrt_one_minus_abar[tb] * g;
    }
    (dx0, deps)
}

/// The model's estimate of x0 from x_t and eps, clamped to [-1, 1] when `clip`.
pub fn predict_x0(x_t: f64, eps: f64, c: &DdpmCoefs) -> f64 {
    let x0 = c.sqrt_recip_abar * x_t - c.sqrt_recipm1_abar * eps;
    if c.clip {
        x0.clamp(-1.0, 1.0)
    } else {
        x0
    }
}

/// One DDPM reverse step, elementwise:
/// - without clip (the paper's Algorithm 2): `x_prev = (x_t - eps_coef eps) inv_sqrt_alpha + sigma z`;
/// - with clip (posterior-mean form, diffusers `clip_sample`):
///   `x0 = clamp(sqrt_recip_abar x_t - sqrt_recipm1_abar eps, -1, 1)`,
///   `x_prev = coef_x0 x0 + coef_xt x_t + sigma z`.
pub fn ddpm_step(x_t: &[f64], eps: &[f64], z: &[f64], c: &DdpmCoefs) -> Vec<f64> {
    assert!(x_t.len() == eps.len() && x_t.len() == z.len());
    (0..x_t.len())
        .map(|i| {
            let mean = if c.clip {
                c.coef_x0 * predict_x0(x_t[i], eps[i], c) + c.coef_xt * x_t[i]
            } else {
                (x_t[i] - c.eps_coef * eps[i]) * c.inv_sqrt_alpha
            };
            mean + c.sigma * z[i]
        })
        .collect()
}

/// One DDIM step, elementwise: `x0 = (x_t - sqrt(1-abar) eps) / sqrt(abar)` (clamped to
/// [-1, 1] when `clip`), `x_prev = sqrt_abar_prev x0 + dir_coef eps + sigma z` (diffusers'
/// DDIMScheduler with use_clipped_model_output = False: eps is not re-derived after clipping).
pub fn ddim_step(x_t: &[f64], eps: &[f64], z: &[f64], c: &DdimCoefs) -> Vec<f64> {
    assert!(x_t.len() == eps.len() && x_t.len() == z.len());
    (0..x_t.len())
        .map(|i| {
            let mut x0 = (x_t[i] - c.sqrt_one_minus_abar * eps[i]) / c.sqrt_abar;
            if c.clip {
                x0 = x0.clamp(-1.0, 1.0);
            }
            c.sqrt_abar_prev * x0 + c.dir_coef * eps[i] + c.sigma * z[i]
        })
        .collect()
}

/// The linear beta schedule of the DDPM paper (`T` steps from `beta_start` to `beta_end`,
/// float64) and its cumulative products `abar_t` (t = 0..T-1). For tests of the step kernels;
/// the product's scheduler lives in the diffusion module.
pub fn linear_abar(t_steps: usize, beta_start: f64, beta_end: f64) -> Vec<f64> {
    let mut abar = Vec::with_capacity(t_steps);
    let mut prod = 1.0;
    for t in 0..t_steps {
        let beta = beta_start + (beta_end - beta_start) * t as f64 / (t_steps - 1) as f64;
        prod *= 1.0 - beta;
        abar.push(prod);
    }
    abar
}
