//! The diffusion kernels against the float64 reference (selftest checks), the agreement of the
//! two DDPM step forms, the noise being `ops::rng::normal`'s, determinism, and the reference
//! q_sample backward against finite differences.

mod common;

use ddpm::ops::diffusion::{self, DdimStep, DdpmStep};
use ddpm::ops::rng;
use ddpm::reference::diffusion as reference;
use ddpm::reference::random::Rng;
use ddpm::selftest::diffusion::paper_abar;
use ddpm::Tensor;

#[test]
fn diffusion_kernels_match_reference() {
    let checks = ddpm::selftest::diffusion::checks(&common::gpu());
    for c in &checks {
        println!(
            "{:<40} {:<22} err {:.2e} tol {:.1e}",
            c.op, c.shape, c.max_rel_err, c.tolerance
        );
    }
    common::assert_all_pass(checks);
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (*x as f64 - *y as f64).abs())
        .fold(0.0, f64::max)
}

/// With x0_hat inside [-1, 1] the clip form (posterior mean from x0_hat) and the paper form
/// (x_t - eps_coef eps) / sqrt(alpha_t) are the same function: check it on the GPU at several
/// timesteps, and in float64 on the reference.
#[test]
fn ddpm_step_forms_agree_when_nothing_is_clipped() {
    let gpu = common::gpu();
    let abar = paper_abar();
    let mut r = Rng::new(21);
    let shape = [3usize, 1, 7, 9];
    let n = 189;
    for t in [999usize, 600, 100, 1, 0] {
        let abar_prev = if t == 0 { 1.0 } else { abar[t - 1] };
        let sigma = if t == 0 {
            0.0
        } else {
            (1.0 - abar[t] / abar_prev).sqrt()
        };
        // x_t built from an x0 in [-0.9, 0.9] so that x0_hat = x0 is not clipped.
        let x0: Vec<f64> = (0..n).map(|_| r.range(-0.9, 0.9)).collect();
        let eps: Vec<f64> = r.normal_vec(n);
        let x_t: Vec<f64> = x0
            .iter()
            .zip(&eps)
            .map(|(a, e)| abar[t].sqrt() * a + (1.0 - abar[t]).sqrt() * e)
            .collect();
        let plain = DdpmStep::new(abar[t], abar_prev, sigma, false);
        let clipped = DdpmStep::new(abar[t], abar_prev, sigma, true);

        // float64: the two formulas agree to rounding.
        let z = ddpm::reference::rng::normal(n, 4, 5);
        let a = reference::ddpm_step(
            &x_t,
            &eps,
            &z,
            &reference::DdpmCoefs::new(abar[t], abar_prev, sigma, false),
        );
        let b = reference::ddpm_step(
            &x_t,
            &eps,
            &z,
            &reference::DdpmCoefs::new(abar[t], abar_prev, sigma, true),
        );
        let d64 = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max);
        assert!(d64 < 1e-10, "t={t}: f64 forms differ by {d64}");

        // GPU, same noise: the forms differ only by f32 rounding. The clip form computes x0_hat
        // = sqrt_recip_abar x_t - sqrt_recipm1_abar eps with terms up to ~160 |x_t| at t = 999
        // (error ~ 1e-5 there), then scales it by coef_x0 ~ 1e-4: 1e-5 absolute on outputs ~ 1
        // is a generous bound for both.
        let x_t32: Vec<f32> = x_t.iter().map(|&v| v as f32).collect();
        let eps32: Vec<f32> = eps.iter().map(|&v| v as f32).collect();
        let xt_gpu = Tensor::from_slice(&gpu, &shape, &x_t32);
        let eps_gpu = Tensor::from_slice(&gpu, &shape, &eps32);
        let ga = diffusion::ddpm_step(&xt_gpu, &eps_gpu, &plain, 4, 5).to_vec();
        let gb = diffusion::ddpm_step(&xt_gpu, &eps_gpu, &clipped, 4, 5).to_vec();
        let d = max_abs_diff(&ga, &gb);
        println!("t={t}: |paper form - clip form| = {d:.2e}");
        assert!(d < 1e-5, "t={t}: GPU forms differ by {d}");
    }
}

/// The noise inside ddpm_step is exactly `rng::normal` of the same (seed, stream): with
/// x_t = eps = 0 and sigma = 1, x_prev = z.
#[test]
fn ddpm_noise_is_rng_normal() {
    let gpu = common::gpu();
    let shape = [2, 3, 5, 7];
    let zeros = Tensor::zeros(&gpu, &shape);
    let zeros2 = Tensor::zeros(&gpu, &shape);
    let step = DdpmStep {
        sqrt_recip_abar: 1.0,
        sqrt_recipm1_abar: 0.0,
        coef_x0: 0.0,
        coef_xt: 0.0,
        eps_coef: 0.0,
        inv_sqrt_alpha: 1.0,
        sigma: 1.0,
        clip: false,
    };
    for v in rng::Variant::ALL {
        let x = diffusion::ddpm_step_with(v, &zeros, &zeros2, &step, 31, 32).to_u32_vec();
        let z = rng::normal(&gpu, &shape, 31, 32).to_u32_vec();
        assert_eq!(x, z, "{v:?}");
        let ddim = DdimStep {
            sqrt_abar: 1.0,
            sqrt_one_minus_abar: 0.0,
            sqrt_abar_prev: 0.0,
            dir_coef: 0.0,
            sigma: 1.0,
            clip: false,
        };
        let y = diffusion::ddim_step_with(v, &zeros, &zeros2, &ddim, 31, 32).to_u32_vec();
        assert_eq!(y, z, "{v:?}");
    }
}

#[test]
fn steps_are_deterministic_and_streams_differ() {
    let gpu = common::gpu();
    let abar = paper_abar();
    let shape = [3, 1, 7, 9];
    let x = rng::normal(&gpu, &shape, 1, 1);
    let e = rng::normal(&gpu, &shape, 1, 2);
    let step = DdpmStep::new(
        abar[500],
        abar[499],
        (1.0 - abar[500] / abar[499]).sqrt(),
        true,
    );
    let a = diffusion::ddpm_step(&x, &e, &step, 10, 500).to_u32_vec();
    let b = diffusion::ddpm_step(&x, &e, &step, 10, 500).to_u32_vec();
    let c = diffusion::ddpm_step(&x, &e, &step, 10, 501).to_u32_vec();
    assert_eq!(a, b);
    assert_ne!(a, c);
    // sigma = 0 (t = 0): no noise, so the stream does not matter.
    let last = DdpmStep::new(abar[0], 1.0, 0.0, true);
    let d = diffusion::ddpm_step(&x, &e, &last, 10, 1).to_u32_vec();
    let f = diffusion::ddpm_step(&x, &e, &last, 10, 2).to_u32_vec();
    assert_eq!(d, f);
}

/// q_sample is linear in x0 and eps; its reference backward against central differences.
#[test]
fn reference_q_sample_backward_matches_finite_differences() {
    let mut r = Rng::new(2);
    let abar = paper_abar();
    let sa: Vec<f64> = abar.iter().map(|a| a.sqrt()).collect();
    let s1m: Vec<f64> = abar.iter().map(|a| (1.0 - a).sqrt()).collect();
    let t = [3u32, 999, 400];
    let n = 3 * 35;
    let x0 = r.normal_vec(n);
    let eps = r.normal_vec(n);
    let w = r.normal_vec(n);
    let loss = |x0: &[f64], eps: &[f64]| -> f64 {
        reference::q_sample(x0, eps, &t, &sa, &s1m)
            .iter()
            .zip(&w)
            .map(|(a, b)| a * b)
            .sum()
    };
    let (dx0, deps) = reference::q_sample_backward(&w, &t, &sa, &s1m);
    let h = 1e-6;
    for i in 0..n {
        let (mut p, mut m) = (x0.clone(), x0.clone());
        p[i] += h;
        m[i] -= h;
        let fd = (loss(&p, &eps) - loss(&m, &eps)) / (2.0 * h);
        assert!((fd - dx0[i]).abs() < 1e-8, "dx0[{i}]: {fd} vs {}", dx0[i]);
        let (mut p, mut m) = (eps.clone(), eps.clone());
        p[i] += h;
        m[i] -= h;
        let fd = (loss(&x0, &p) - loss(&x0, &m)) / (2.0 * h);
        assert!(
            (fd - deps[i]).abs() < 1e-8,
            "deps[{i}]: {fd} vs {}",
            deps[i]
        );
    }
}
