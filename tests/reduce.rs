//! Reduction kernels against the float64 reference (every variant), a 36M-element sum of
//! squares (beyond lavapipe's 128 MiB binding: the chunked path), and finite-difference checks
//! of the reference backward passes.

mod common;

use ddpm::ops::reduce::{Reduce, Variant};
use ddpm::reference::random::Rng;
use ddpm::reference::reduce as r;
use ddpm::Tensor;

#[test]
fn kernels_match_reference() {
    common::assert_all_pass(ddpm::selftest::reduce::checks(&common::gpu()));
}

#[test]
fn mse_backward_is_the_gradient_of_mse() {
    let mut rng = Rng::new(5);
    let p = rng.normal_vec(40);
    let t = rng.normal_vec(40);
    let an = r::mse_loss_backward(&p, &t);
    let h = 1e-6;
    let mut x = p.clone();
    for i in 0..x.len() {
        x[i] = p[i] + h;
        let up = r::mse_loss(&x, &t);
        x[i] = p[i] - h;
        let down = r::mse_loss(&x, &t);
        x[i] = p[i];
        let fd = (up - down) / (2.0 * h);
        // The loss is quadratic: central differences are exact up to rounding (~1e-16 / h).
        assert!(
            (fd - an[i]).abs() < 1e-8,
            "element {i}: fd {fd} vs {}",
            an[i]
        );
    }
}

#[test]
fn reduction_of_36m_elements_is_accurate() {
    // 36M parameters: the global gradient norm for clipping. The data is generated cheaply
    // (a hash), and the reference accumulated in f64 on the fly.
    let gpu = common::gpu();
    let n = 36_000_017usize;
    let data: Vec<f32> = (0..n as u64)
        .map(|i| {
            let h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
            (h as f32 / (1u64 << 24) as f32) - 0.4
        })
        .collect();
    let want_sq: f64 = data.iter().map(|&v| (v as f64) * (v as f64)).sum();
    let want_sum: f64 = data.iter().map(|&v| v as f64).sum();
    let x = Tensor::from_slice(&gpu, &[n], &data);
    drop(data);
    // Both paths: the tree (GPU) and the barrier-free serial (CPU) one.
    for v in [Variant::GPU, Variant::CPU] {
        let red = Reduce::with(v);
        let sq = red.sum_squares(&x).to_vec()[0] as f64;
        let sum = red.sum(&x).to_vec()[0] as f64;
        let e_sq = (sq - want_sq).abs() / want_sq;
        let e_sum = (sum - want_sum).abs() / want_sum.abs();
        println!("{v:?}: sum_squares rel err {e_sq:.2e}, sum rel err {e_sum:.2e}");
        assert!(
            e_sq < 1e-6,
            "sum_squares of 36M elements: relative error {e_sq:.2e}"
        );
        assert!(
            e_sum < 1e-5,
            "sum of 36M elements: relative error {e_sum:.2e}"
        );
    }
}
