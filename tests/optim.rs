//! The optimiser kernels against the float64 reference (selftest checks) and a few properties.

mod common;

use ddpm::ops::optim::{self, AdamConfig};
use ddpm::Tensor;

#[test]
fn optim_kernels_match_reference() {
    let checks = ddpm::selftest::optim::checks(&common::gpu());
    for c in &checks {
        println!(
            "{:<52} {:<10} err {:.2e} tol {:.1e}",
            c.op, c.shape, c.max_rel_err, c.tolerance
        );
    }
    common::assert_all_pass(checks);
}

/// Global-norm clipping uses the norm of ALL gradients, given as grad_sumsq: scaling that sum
/// by 4 (twice the norm) halves the clipped gradient, so the first moment halves too.
#[test]
fn clipping_scales_by_the_global_norm() {
    let gpu = common::gpu();
    let n = 1000;
    let g: Vec<f32> = (0..n)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0)
        .collect();
    let ss: f32 = g.iter().map(|x| x * x).sum();
    let cfg = AdamConfig {
        max_grad_norm: 0.5,
        ..Default::default()
    };
    let run = |sumsq: f32| {
        let p = Tensor::zeros(&gpu, &[n]);
        let m = Tensor::zeros(&gpu, &[n]);
        let v = Tensor::zeros(&gpu, &[n]);
        let grads = Tensor::from_slice(&gpu, &[n], &g);
        let s = Tensor::from_slice(&gpu, &[1], &[sumsq]);
        optim::adam_step(&p, &grads, &m, &v, &s, &cfg, 1);
        m.to_vec()
    };
    let m1 = run(ss);
    let m2 = run(4.0 * ss);
    for (i, (a, b)) in m1.iter().zip(&m2).enumerate() {
        assert!(
            (a - 2.0 * b).abs() <= 1e-6 * a.abs().max(1e-12),
            "{i}: {a} vs 2 * {b}"
        );
        // m = (1 - beta1) * c * g with c = 0.5 / sqrt(ss).
        let want = 0.1 * 0.5 / (ss as f64).sqrt() * g[i] as f64;
        assert!(
            (*a as f64 - want).abs() <= 1e-6 * want.abs().max(1e-9),
            "{i}: {a} vs {want}"
        );
    }
}

/// The EMA converges to constant parameters, and an Adam step with zero gradient and no
/// weight decay leaves parameters unchanged.
#[test]
fn ema_and_adam_fixed_points() {
    let gpu = common::gpu();
    let n = 777;
    let target: Vec<f32> = (0..n).map(|i| i as f32 / n as f32 - 0.5).collect();
    let params = Tensor::from_slice(&gpu, &[n], &target);
    let ema = Tensor::zeros(&gpu, &[n]);
    for _ in 0..200 {
        optim::ema_update(&ema, &params, 0.9);
    }
    let e = ema.to_vec();
    // 0.9^200 = 7e-10 of the initial gap remains.
    assert!(e.iter().zip(&target).all(|(a, b)| (a - b).abs() < 1e-6));

    let zeros = Tensor::zeros(&gpu, &[n]);
    let m = Tensor::zeros(&gpu, &[n]);
    let v = Tensor::zeros(&gpu, &[n]);
    let s = Tensor::zeros(&gpu, &[1]);
    optim::adam_step(&params, &zeros, &m, &v, &s, &AdamConfig::default(), 1);
    assert_eq!(params.to_vec(), target);
}
