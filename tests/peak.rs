//! The arithmetic ceiling probe (`ops::peak`) computes what it claims: each chain iterated
//! `a <- a m + c` from its start value, checked against the same recurrence in float64 on a
//! size that is not a multiple of the workgroup (64), the output poisoned first. Tolerance
//! 1e-5 relative: a few dozen float32 multiply-adds of values near 1 round to ~1e-6 each step,
//! and with m < 1 the errors shrink as they propagate.

mod common;

use ddpm::ops::peak::{flops, fma_chains, measure, CHAINS};
use ddpm::reference::random::Rng;
use ddpm::Tensor;

fn reference(x: f64, chains: u32, iters: u32, m: f64, c: f64) -> f64 {
    let mut sum = 0.0;
    for k in 0..chains {
        for j in 0..4 {
            let mut a = x + k as f64 + 0.25 * j as f64;
            for _ in 0..16 * iters {
                a = a * m + c;
            }
            sum += a;
        }
    }
    sum
}

#[test]
fn probe_matches_the_recurrence() {
    let gpu = common::gpu();
    let mut rng = Rng::new(11);
    let n = 1_000;
    let xs: Vec<f32> = (0..n).map(|_| rng.normal() as f32).collect();
    let x = Tensor::from_slice(&gpu, &[n], &xs);
    for chains in CHAINS {
        let (m, c) = (0.93f32, 0.11f32);
        let iters = 1 + chains % 3;
        let y = fma_chains(&x, chains, iters, m, c).to_vec();
        for (i, (&got, &xi)) in y.iter().zip(&xs).enumerate() {
            let want = reference(xi as f64, chains, iters, m as f64, c as f64);
            let err = (got as f64 - want).abs() / want.abs().max(1.0);
            assert!(
                err < 1e-5,
                "{chains} chains, element {i}: {got} vs {want} (relative error {err:e})"
            );
        }
    }
    assert_eq!(flops(10, 3, 2), 2.0 * 4.0 * 16.0 * 3.0 * 10.0 * 2.0);
}

#[test]
fn probe_measures_a_positive_rate() {
    let gpu = common::gpu();
    let ceiling = measure(&gpu);
    assert!(
        ceiling.flops_per_s.is_finite() && ceiling.flops_per_s > 0.0,
        "{ceiling:?}"
    );
    assert!(CHAINS.contains(&ceiling.chains), "{ceiling:?}");
}
