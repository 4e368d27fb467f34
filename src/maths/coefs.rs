//! The scalars of one sampler step, computed in float64 from the noise schedule: the GPU
//! kernels (`ops::diffusion`) take them as f32 launch parameters, the float64 reference
//! (`reference::diffusion`) uses them as they are.

/// The scalars of one DDPM reverse step, as f64 (the same fields as `ops::diffusion::DdpmStep`).
#[derive(Clone, Copy, Debug)]
pub struct DdpmCoefs {
    pub sqrt_recip_abar: f64,
    pub sqrt_recipm1_abar: f64,
    pub coef_x0: f64,
    pub coef_xt: f64,
    pub eps_coef: f64,
    pub inv_sqrt_alpha: f64,
    pub sigma: f64,
    pub clip: bool,
}

impl DdpmCoefs {
    /// The coefficients at a timestep with cumulative products `abar_t` and `abar_prev`
    /// (1 at t = 0) and noise scale `sigma` (0 at t = 0; sqrt(beta_t) for "fixed large",
    /// sqrt(beta_tilde_t) for "fixed small").
    pub fn new(abar_t: f64, abar_prev: f64, sigma: f64, clip: bool) -> DdpmCoefs {
        let alpha = abar_t / abar_prev;
        let beta = 1.0 - alpha;
        DdpmCoefs {
            sqrt_recip_abar: (1.0 / abar_t).sqrt(),
            sqrt_recipm1_abar: (1.0 / abar_t - 1.0).sqrt(),
            coef_x0: abar_prev.sqrt() * beta / (1.0 - abar_t),
            coef_xt: alpha.sqrt() * (1.0 - abar_prev) / (1.0 - abar_t),
            eps_coef: beta / (1.0 - abar_t).sqrt(),
            inv_sqrt_alpha: 1.0 / alpha.sqrt(),
            sigma,
            clip,
        }
    }
}

/// The scalars of one DDIM step (the fields of `ops::diffusion::DdimStep`), as f64.
#[derive(Clone, Copy, Debug)]
pub struct DdimCoefs {
    pub sqrt_abar: f64,
    pub sqrt_one_minus_abar: f64,
    pub sqrt_abar_prev: f64,
    pub dir_coef: f64,
    pub sigma: f64,
    pub clip: bool,
}

impl DdimCoefs {
    /// DDIM (Song et al. 2021, eq. 12) from `abar_t` to `abar_prev` with stochasticity `eta`
    /// (0 = deterministic DDIM, 1 = DDPM-like): `sigma = eta sqrt((1 - abar_prev)/(1 - abar_t)
    /// (1 - abar_t/abar_prev))`, `dir_coef = sqrt(1 - abar_prev - sigma^2)`.
    pub fn new(abar_t: f64, abar_prev: f64, eta: f64, clip: bool) -> DdimCoefs {
        let var = (1.0 - abar_prev) / (1.0 - abar_t) * (1.0 - abar_t / abar_prev);
        let sigma = eta * var.max(0.0).sqrt();
        DdimCoefs {
            sqrt_abar: abar_t.sqrt(),
            sqrt_one_minus_abar: (1.0 - abar_t).sqrt(),
            sqrt_abar_prev: abar_prev.sqrt(),
            dir_coef: (1.0 - abar_prev - sigma * sigma).max(0.0).sqrt(),
            sigma,
            clip,
        }
    }
}
