//! The variational bound (`ddpm eval`): the fused kernel against the float64 reference (selftest
//! checks), the schedule's posterior against Bayes' rule, and an analytic case: the optimal
//! denoiser of a one-image data set (an oracle that predicts the exact noise) makes every KL
//! term of the fixed-small model vanish, so the bound is prior + decoder in closed form; with
//! fixed-large each KL term is the constant part of the KL of two Gaussians.

mod common;

use std::f64::consts::LN_2;

use ddpm::diffusion::bound::{bound_batch, scale_pixels};
use ddpm::diffusion::{Schedule, Variance};
use ddpm::reference::bound::approx_standard_normal_cdf;
use ddpm::Tensor;

/// The optimal denoiser of the one-image data set `x0`: eps = (x_t - sqrt(abar_t) x_0) /
/// sqrt(1 - abar_t), exact for the x_t the evaluation drew.
fn oracle_eps(gpu: &ddpm::Gpu, s: &Schedule, x0: &[f32], x_t: &Tensor, t: usize) -> Tensor {
    let abar = s.alphas_cumprod[t];
    let eps: Vec<f32> = x_t
        .to_vec()
        .iter()
        .zip(x0)
        .map(|(&x, &a)| ((x as f64 - abar.sqrt() * a as f64) / (1.0 - abar).sqrt()) as f32)
        .collect();
    Tensor::from_slice(gpu, x_t.shape(), &eps)
}

#[test]
fn bound_kernel_matches_reference() {
    let checks = ddpm::selftest::bound::checks(&common::gpu());
    for c in &checks {
        println!(
            "{:<40} {:<22} err {:.2e} tol {:.1e}",
            c.op, c.shape, c.max_rel_err, c.tolerance
        );
    }
    common::assert_all_pass(checks);
}

/// q(x_{t-1} | x_t, x_0) from Bayes' rule on the two Gaussians q(x_{t-1} | x_0) and
/// q(x_t | x_{t-1}) (precisions add, means are precision-weighted): the schedule's posterior
/// mean coefficients and log-variance, computed from the closed forms, must match. Timesteps
/// here are the paper's (1-based) t - 1 = our 0-based t.
#[test]
fn posterior_matches_bayes_rule() {
    let s = Schedule::ddpm();
    for t in [1usize, 2, 10, 250, 500, 998, 999] {
        let (abar_prev, beta) = (s.alphas_cumprod[t - 1], s.betas[t]);
        let alpha = 1.0 - beta;
        let precision = 1.0 / (1.0 - abar_prev) + alpha / beta;
        let var = 1.0 / precision;
        let c = s.vb_coefs(t, Variance::FixedSmall);
        let rel = |a: f64, b: f64| (a - b).abs() / b.abs();
        assert!(
            rel(c.coef1, var * abar_prev.sqrt() / (1.0 - abar_prev)) < 1e-12,
            "t={t}"
        );
        assert!(rel(c.coef2, var * alpha.sqrt() / beta) < 1e-12, "t={t}");
        assert!((c.true_logvar - var.ln()).abs() < 1e-12, "t={t}");
        assert_eq!(c.model_logvar, c.true_logvar);
        assert!(!c.decoder);
        let large = s.vb_coefs(t, Variance::FixedLarge);
        assert_eq!(large.model_logvar, beta.ln());
    }
    // t = 0: the posterior variance is 0; the paper's code uses beta~_1 for both the clipped
    // posterior log-variance and the model's (either variance choice), and the posterior mean
    // is x_0 itself.
    let c0 = s.vb_coefs(0, Variance::FixedLarge);
    let beta1_tilde = s.posterior_variance(1);
    assert!(c0.decoder);
    assert_eq!(c0.true_logvar, beta1_tilde.ln());
    assert_eq!(c0.model_logvar, beta1_tilde.ln());
    assert_eq!(
        s.vb_coefs(0, Variance::FixedSmall).model_logvar,
        beta1_tilde.ln()
    );
    assert!((c0.coef1 - 1.0).abs() < 1e-12 && c0.coef2 == 0.0);
}

#[test]
fn oracle_model_bound_is_prior_plus_decoder_in_closed_form() {
    let gpu = common::gpu();
    let s = Schedule::ddpm();
    let big_t = s.steps();
    // One 9x7 image (63 dimensions, not a multiple of any workgroup) with both edge levels and
    // interior ones.
    let shape = [1usize, 1, 9, 7];
    let pixels: Vec<u8> = (0..63u32)
        .map(|i| match i % 5 {
            0 | 1 => 0,
            2 => 255,
            _ => (i * 37 % 254 + 1) as u8,
        })
        .collect();
    let x0 = scale_pixels(&pixels);
    let (edge, interior) = (
        pixels.iter().filter(|&&p| p == 0 || p == 255).count() as f64,
        pixels.iter().filter(|&&p| p != 0 && p != 255).count() as f64,
    );
    let d = x0.len() as f64;
    let ts: Vec<usize> = (0..big_t).rev().collect();

    // Closed forms. Prior: KL(N(sqrt(abar_T) x, 1 - abar_T) || N(0, 1)) per dimension.
    let abar_t = s.alphas_cumprod[big_t - 1];
    let prior: f64 = x0
        .iter()
        .map(|&x| 0.5 * (-1.0 - (1.0 - abar_t).ln() + (1.0 - abar_t) + abar_t * (x as f64).powi(2)))
        .sum::<f64>()
        / d
        / LN_2;
    // Decoder with the exact mean x_0 and sigma^2 = beta~_1: an edge bin holds F(z), an interior
    // bin F(z) - F(-z) = 2 F(z) - 1, z = (1/255) / sigma, F the paper's tanh approximation.
    let z = 1.0 / 255.0 / s.posterior_variance(1).sqrt();
    let f = approx_standard_normal_cdf(z);
    let decoder = -(edge * f.ln() + interior * (2.0 * f - 1.0).ln()) / d / LN_2;

    for variance in [Variance::FixedSmall, Variance::FixedLarge] {
        // The optimal denoiser of a one-image data set: eps = (x_t - sqrt(abar_t) x_0) /
        // sqrt(1 - abar_t), from the x_t the evaluation drew.
        let oracle = |x_t: &Tensor, t: usize| oracle_eps(&gpu, &s, &x0, x_t, t);
        let r = bound_batch(
            &gpu,
            &s,
            &x0,
            shape,
            variance,
            &ts,
            5,
            0,
            false,
            oracle,
            |_| {},
        );
        assert_eq!(r.terms.len(), big_t);
        // ts is T-1..0: the decoder is last.
        let got_decoder = r.terms[big_t - 1];
        let kl: f64 = r.terms[..big_t - 1].iter().sum();
        // Fixed-large: KL(N(m, beta~_t) || N(m, beta_t)) = 0.5 (-1 + log(beta/beta~) + beta~/beta).
        let want_kl: f64 = match variance {
            Variance::FixedSmall => 0.0,
            Variance::FixedLarge => (1..big_t)
                .map(|t| {
                    let ratio = s.posterior_variance(t) / s.betas[t];
                    0.5 * (-1.0 - ratio.ln() + ratio) / LN_2
                })
                .sum(),
        };
        println!(
            "{variance:?}: prior {:.6e} (closed form {prior:.6e}), decoder {got_decoder:.6} \
             ({decoder:.6}), KL sum {kl:.6e} ({want_kl:.6e})",
            r.prior[0]
        );
        assert!((r.prior[0] - prior).abs() <= 1e-9 * prior, "prior");
        assert!(
            (got_decoder - decoder).abs() <= 1e-4 * decoder,
            "decoder {got_decoder} vs {decoder}"
        );
        // Each KL is exactly its constant (0 for fixed-small) up to f32 rounding of x_t and the
        // oracle's eps (a few 1e-8 bits/dim in all).
        assert!(
            (kl - want_kl).abs() <= 1e-6 + 1e-5 * want_kl,
            "KL sum {kl} vs {want_kl}"
        );
        let total = r.prior[0] + got_decoder + kl;
        assert!((total - (prior + decoder + want_kl)).abs() <= 1e-4 * total);
        // The oracle's x_0 prediction is exact at every t.
        assert!(r.mse.iter().all(|&m| m < 1e-8), "x_0 MSE of the oracle");
    }
}

/// The strata cover 1..T-1 exactly once, and the stratified draw is unbiased: averaged over many
/// draws, its weighted sum of a known sequence matches the plain sum.
#[test]
fn stratified_estimate_is_unbiased() {
    use ddpm::diffusion::bound::{strata, stratified_draw};
    use ddpm::reference::random::Rng;
    let big_t = 1000;
    for count in [1usize, 5, 20, 40] {
        let s = strata(big_t, count);
        assert_eq!(s.first().unwrap().0, 1);
        assert_eq!(s.last().unwrap().1, big_t);
        assert!(s.windows(2).all(|w| w[0].1 == w[1].0 && w[0].0 < w[0].1));
    }
    // A term profile like the bound's: steep near t = 1, flat later.
    let f = |t: usize| 1.0 / (1.0 + t as f64).powf(1.5) + 1e-4;
    let exact: f64 = (0..big_t).map(f).sum();
    let mut rng = Rng::new(3);
    let draws = 4000;
    let mean = (0..draws)
        .map(|_| {
            stratified_draw(big_t, 20, &mut rng)
                .iter()
                .map(|&(t, w)| w * f(t))
                .sum::<f64>()
        })
        .sum::<f64>()
        / draws as f64;
    assert!((mean - exact).abs() < 2e-3 * exact, "{mean} vs {exact}");
}

/// With the oracle of a one-image data set and fixed-small variance every KL term is 0, so the
/// estimate is exact: prior + decoder.
#[test]
fn oracle_estimate_is_exact() {
    use ddpm::diffusion::bound::estimate_bound;
    let gpu = common::gpu();
    let s = Schedule::ddpm();
    let pixels: Vec<u8> = (0..49u32).map(|i| (i * 53 % 256) as u8).collect();
    let x0 = scale_pixels(&pixels);
    let shape = [1usize, 1, 7, 7];
    let oracle = |x_t: &Tensor, t: usize| oracle_eps(&gpu, &s, &x0, x_t, t);
    let est = estimate_bound(&gpu, &s, &x0, shape, Variance::FixedSmall, 20, 1, 7, oracle);
    let full = bound_batch(
        &gpu,
        &s,
        &x0,
        shape,
        Variance::FixedSmall,
        &[0],
        1,
        0,
        false,
        oracle,
        |_| {},
    );
    let exact = full.prior[0] + full.terms[0];
    assert!((est - exact).abs() < 1e-5 * exact, "{est} vs {exact}");
}
