//! Reference of the variational bound (`shaders/bound.wgsl`, `ops::bound`, `diffusion::bound`):
//! the terms of the DDPM paper's code (`diffusion_utils_2.py` of hojonathanho/diffusion:
//! `normal_kl`, `approx_standard_normal_cdf`, `discretized_gaussian_log_likelihood`,
//! `_vb_terms_bpd`, `_prior_bpd`), written the same way, in float64.
//!
//! Timesteps are 0-based as in that code: term `t` is computed from x_t (the network's input
//! at timestep t); term 0 is the decoder -log p(x_0 | x_1) of the paper's 1-based notation,
//! term t >= 1 is the paper's L_t = KL(q(x_t | x_{t+1}, x_0) || p(x_t | x_{t+1})).

use std::f64::consts::{LN_2, PI};

pub use crate::maths::bound::{normal_kl, prior_bpd, VbCoefs};

/// The paper code's approximation of the standard normal CDF (`approx_standard_normal_cdf`,
/// from PixelCNN++): 0.5 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
pub fn approx_standard_normal_cdf(x: f64) -> f64 {
    0.5 * (1.0 + ((2.0 / PI).sqrt() * (x + 0.044715 * x.powi(3))).tanh())
}

/// log p(x) of 8-bit data scaled to [-1, 1] under a Gaussian discretised to bins of width 2/255,
/// the edge bins open-ended (x < -0.999: all mass below x + 1/255; x > 0.999: all mass above
/// x - 1/255), probabilities floored at 1e-12 (`discretized_gaussian_log_likelihood`).
pub fn discretized_gaussian_log_likelihood(x: f64, mean: f64, log_scale: f64) -> f64 {
    let centered = x - mean;
    let inv_stdv = (-log_scale).exp();
    let cdf_plus = approx_standard_normal_cdf(inv_stdv * (centered + 1.0 / 255.0));
    let cdf_min = approx_standard_normal_cdf(inv_stdv * (centered - 1.0 / 255.0));
    if x < -0.999 {
        cdf_plus.max(1e-12).ln()
    } else if x > 0.999 {
        (1.0 - cdf_min).max(1e-12).ln()
    } else {
        (cdf_plus - cdf_min).max(1e-12).ln()
    }
}

/// One dimension of `_vb_terms_bpd` before the mean and the change to bits: (term in nats,
/// squared error of the clipped x_0 prediction).
pub fn vb_term(x0: f64, x_t: f64, eps: f64, c: &VbCoefs) -> (f64, f64) {
    let pred = (c.sqrt_recip_abar * x_t - c.sqrt_recipm1_abar * eps).clamp(-1.0, 1.0);
    let true_mean = c.coef1 * x0 + c.coef2 * x_t;
    let model_mean = c.coef1 * pred + c.coef2 * x_t;
    let term = if c.decoder {
        -discretized_gaussian_log_likelihood(x0, model_mean, 0.5 * c.model_logvar)
    } else {
        normal_kl(true_mean, c.true_logvar, model_mean, c.model_logvar)
    };
    (term, (pred - x0).powi(2))
}

/// `_vb_terms_bpd` and the x_0 MSE of `calc_bpd_loop` for a batch of images (`x0`, `x_t`, `eps`
/// are `[images, per_image]` flattened): per image, (term in bits/dim, MSE).
pub fn vb_terms_bpd(
    x0: &[f64],
    x_t: &[f64],
    eps: &[f64],
    per_image: usize,
    c: &VbCoefs,
) -> Vec<(f64, f64)> {
    assert!(x0.len() == x_t.len() && x0.len() == eps.len());
    assert!(per_image > 0 && x0.len().is_multiple_of(per_image));
    (0..x0.len() / per_image)
        .map(|b| {
            let (mut term, mut sq) = (0.0, 0.0);
            for i in b * per_image..(b + 1) * per_image {
                let (v, e) = vb_term(x0[i], x_t[i], eps[i], c);
                term += v;
                sq += e;
            }
            (term / per_image as f64 / LN_2, sq / per_image as f64)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kl_of_equal_gaussians_is_zero_and_known_case() {
        assert!(normal_kl(0.3, -1.2, 0.3, -1.2).abs() < 1e-15);
        // KL(N(1, 1) || N(0, 1)) = 1/2.
        assert!((normal_kl(1.0, 0.0, 0.0, 0.0) - 0.5).abs() < 1e-15);
    }

    #[test]
    fn cdf_approximation_is_close_to_the_normal_cdf() {
        assert_eq!(approx_standard_normal_cdf(0.0), 0.5);
        // Phi(1) = 0.841344746; the tanh form is within ~2e-4 of it.
        assert!((approx_standard_normal_cdf(1.0) - 0.841_344_746).abs() < 3e-4);
        assert!(
            (approx_standard_normal_cdf(-1.0) + approx_standard_normal_cdf(1.0) - 1.0).abs()
                < 1e-15
        );
    }

    #[test]
    fn bins_of_a_pixel_sum_to_one() {
        // Over all 256 levels the decoder's probabilities sum to 1 (edge bins are open).
        for (mean, log_scale) in [(0.1, -3.0), (-0.98, -4.5), (0.99, -2.0)] {
            let total: f64 = (0..256)
                .map(|k| {
                    discretized_gaussian_log_likelihood(k as f64 / 127.5 - 1.0, mean, log_scale)
                        .exp()
                })
                .sum();
            assert!((total - 1.0).abs() < 1e-9, "{mean} {log_scale}: {total}");
        }
    }
}
