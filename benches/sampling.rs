//! Criterion benchmarks of the sampling family: GPU random numbers, the fused DDPM step and the
//! optimiser (Adam(W) + EMA over all parameters of the CIFAR-10 model), in GB/s of memory
//! traffic (bytes read + written). Every variant is timed, so the per-adapter choice in
//! `ops::rng::variant` / `ops::optim::variant` can be checked on any machine.
//!
//! `cargo bench --bench sampling`
mod common;

use criterion::{criterion_group, criterion_main, Criterion};
use ddpm::ops::diffusion::{self, DdpmStep};
use ddpm::ops::optim::{self, AdamConfig};
use ddpm::ops::rng;
use ddpm::Tensor;

/// Parameters of the DDPM CIFAR-10 U-Net (unet-spec.md).
const CIFAR_PARAMS: usize = 35_746_307;

fn benches(c: &mut Criterion) {
    let gpu = common::gpu();
    let reduced = common::reduced(&gpu);
    let mut g = common::group(c, "sampling", &gpu);

    // normal(): 4M values, 4 bytes written each.
    let n = 4 << 20;
    for v in rng::Variant::ALL {
        let id = format!("normal n={n} wg={}x{}", v.workgroup, v.per_invocation);
        common::bench_gpu(&mut g, &id, common::bytes(4.0 * n as f64), &gpu, || {
            let _ = rng::normal_with(v, &gpu, &[n], 1, 2);
        });
    }

    // One DDPM sampling step on a batch of 128 CIFAR images with noise (t = 500, clip on):
    // reads x_t and eps, writes x_prev.
    let shape = [128usize, 3, 32, 32];
    let numel: usize = shape.iter().product();
    let x = rng::normal(&gpu, &shape, 3, 4);
    let e = rng::normal(&gpu, &shape, 3, 5);
    let abar = ddpm::selftest::diffusion::paper_abar();
    let step = DdpmStep::new(
        abar[500],
        abar[499],
        (1.0 - abar[500] / abar[499]).sqrt(),
        true,
    );
    for v in rng::Variant::ALL {
        let id = format!(
            "ddpm_step {shape:?} wg={}x{}",
            v.workgroup, v.per_invocation
        );
        common::bench_gpu(
            &mut g,
            &id,
            common::bytes(12.0 * numel as f64),
            &gpu,
            || {
                let _ = diffusion::ddpm_step_with(v, &x, &e, &step, 7, 500);
            },
        );
    }

    // Adam(W) with clipping over all parameters (reads p, g, m, v; writes p, m, v: 28 B per
    // parameter), and the EMA (reads ema, p; writes ema: 12 B). Reduced on CPU adapters.
    let np = if reduced { 4 << 20 } else { CIFAR_PARAMS };
    let params = Tensor::zeros(&gpu, &[np]);
    let grads = Tensor::zeros(&gpu, &[np]);
    let m = Tensor::zeros(&gpu, &[np]);
    let v = Tensor::zeros(&gpu, &[np]);
    let ema = Tensor::zeros(&gpu, &[np]);
    let sumsq = Tensor::from_slice(&gpu, &[1], &[1.0]);
    let cfg = AdamConfig::default();
    for var in optim::Variant::ALL {
        let tag = format!(
            "n={np} wg={}x{}{}",
            var.workgroup,
            var.per_invocation,
            if var.vec4 { " vec4" } else { "" }
        );
        common::bench_gpu(
            &mut g,
            &format!("adam {tag}"),
            common::bytes(28.0 * np as f64),
            &gpu,
            || {
                optim::adam_step_with(var, &params, &grads, &m, &v, &sumsq, &cfg, 10);
            },
        );
        common::bench_gpu(
            &mut g,
            &format!("ema {tag}"),
            common::bytes(12.0 * np as f64),
            &gpu,
            || {
                optim::ema_update_with(var, &ema, &params, 0.9999);
            },
        );
        common::bench_gpu(
            &mut g,
            &format!("adam+ema {tag}"),
            common::bytes(40.0 * np as f64),
            &gpu,
            || {
                optim::adam_step_with(var, &params, &grads, &m, &v, &sumsq, &cfg, 10);
                optim::ema_update_with(var, &ema, &params, 0.9999);
            },
        );
    }
    g.finish();
}

criterion_group!(kernels, benches);
criterion_main!(kernels);
