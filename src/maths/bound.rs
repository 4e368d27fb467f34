//! The variational bound's shared maths (the DDPM paper's `diffusion_utils_2.py`): the
//! per-timestep constants of a term (the GPU kernel `ops::bound` takes them as parameters), the
//! Gaussian KL and the prior term, which `diffusion::bound` computes on the CPU. The float64
//! reference of the terms themselves is `reference::bound`.

use std::f64::consts::LN_2;

/// KL(N(mean1, e^logvar1) || N(mean2, e^logvar2)) per dimension, in nats (`normal_kl`).
pub fn normal_kl(mean1: f64, logvar1: f64, mean2: f64, logvar2: f64) -> f64 {
    0.5 * (-1.0 + logvar2 - logvar1
        + (logvar1 - logvar2).exp()
        + (mean1 - mean2).powi(2) * (-logvar2).exp())
}

/// The per-timestep constants of one bound term, in float64 (`Schedule::vb_coefs` builds them
/// from the schedule).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VbCoefs {
    /// 1/sqrt(abar_t) and sqrt(1/abar_t - 1): x0_hat = a x_t - b eps.
    pub sqrt_recip_abar: f64,
    pub sqrt_recipm1_abar: f64,
    /// Posterior mean mu~ = coef1 x_0 + coef2 x_t.
    pub coef1: f64,
    pub coef2: f64,
    /// log beta~_t, with beta~_1 in place of beta~_0 = 0 (the paper code's clipped log).
    pub true_logvar: f64,
    /// log sigma_t^2 of the model.
    pub model_logvar: f64,
    /// t == 0: the term is the decoder NLL, not a KL.
    pub decoder: bool,
}

/// `_prior_bpd`: KL(q(x_T | x_0) || N(0, I)) in bits/dim for one image, `abar_last` = abar_{T-1}
/// (0-based).
pub fn prior_bpd(x0: &[f64], abar_last: f64) -> f64 {
    let logvar = (1.0 - abar_last).ln();
    let sum: f64 = x0
        .iter()
        .map(|&x| normal_kl(abar_last.sqrt() * x, logvar, 0.0, 0.0))
        .sum();
    sum / x0.len() as f64 / LN_2
}
