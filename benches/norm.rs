//! Criterion benchmarks of the group norm kernels (32 groups, fused SiLU), forward and backward,
//! on the CIFAR-10 U-Net's shapes, reported as bytes/s: forward reads x and writes y
//! (2 * 4 * numel bytes), backward reads dy and x and writes dx (3 * 4 * numel bytes); the
//! parameters, statistics and partial sums are negligible next to them.
//!
//! Group `norm/<shape>` uses the adapter's variant; group `norm variants` times every variant on
//! two shapes, which is how `ops::norm::variant` was chosen.
mod common;

use common::{bench_gpu, bytes, group, reduced};
use criterion::{criterion_group, criterion_main, Criterion};
use ddpm::ops::norm::{group_norm_backward_with, group_norm_with, variant, Variant};
use ddpm::reference::random::Rng;
use ddpm::{Gpu, Tensor};

const GROUPS: usize = 32;

fn random(gpu: &Gpu, rng: &mut Rng, shape: &[usize], offset: f64) -> Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| (rng.normal() + offset) as f32).collect();
    Tensor::from_slice(gpu, shape, &v)
}

/// Benches forward and backward of one shape with one variant.
fn bench_shape(
    g: &mut criterion::BenchmarkGroup<criterion::measurement::WallTime>,
    gpu: &Gpu,
    v: Variant,
    shape: &[usize],
    tag: &str,
) {
    let mut rng = Rng::new(7);
    let c = shape[1];
    let numel: usize = shape.iter().product();
    let x = random(gpu, &mut rng, shape, 0.5);
    let dy = random(gpu, &mut rng, shape, 0.0);
    let gamma = random(gpu, &mut rng, &[c], 1.0);
    let beta = random(gpu, &mut rng, &[c], 0.0);
    let dgamma = Tensor::zeros(gpu, &[c]);
    let dbeta = Tensor::zeros(gpu, &[c]);
    let (_, stats) = group_norm_with(v, &x, &gamma, &beta, GROUPS, 1e-5, true);
    let name = format!("{shape:?}{tag}");
    bench_gpu(
        g,
        &format!("forward {name}"),
        bytes(2.0 * 4.0 * numel as f64),
        gpu,
        || {
            let _ = group_norm_with(v, &x, &gamma, &beta, GROUPS, 1e-5, true);
        },
    );
    bench_gpu(
        g,
        &format!("backward {name}"),
        bytes(3.0 * 4.0 * numel as f64),
        gpu,
        || {
            let _ = group_norm_backward_with(
                v, &dy, &x, &gamma, &beta, &stats, GROUPS, true, &dgamma, &dbeta,
            );
        },
    );
}

fn benches(c: &mut Criterion) {
    let gpu = common::gpu();
    let small = reduced(&gpu);
    let chosen = variant(&gpu);
    {
        let mut g = group(c, "norm", &gpu);
        // The burn comparison shape (burn: 2.5 ms forward on lavapipe).
        bench_shape(&mut g, &gpu, chosen, &[8, 128, 16, 16], "");
        let batches: &[usize] = if small { &[1, 8] } else { &[1, 32, 128] };
        for &b in batches {
            for (ch, hw) in [(128, 32), (256, 16), (256, 8)] {
                bench_shape(&mut g, &gpu, chosen, &[b, ch, hw, hw], "");
            }
        }
        g.finish();
    }
    {
        let mut g = group(c, "norm variants", &gpu);
        let variants = [
            Variant::Serial { lanes: 8 },
            Variant::Serial { lanes: 32 },
            Variant::Workgroup { size: 8 },
            Variant::Workgroup { size: 256 },
        ];
        let shapes: [&[usize]; 2] = if small {
            [&[8, 128, 16, 16], &[2, 256, 8, 8]]
        } else {
            [&[128, 128, 32, 32], &[1, 256, 8, 8]]
        };
        for shape in shapes {
            for v in variants {
                bench_shape(&mut g, &gpu, v, shape, &format!(" {v:?}"));
            }
        }
        g.finish();
    }
}

criterion_group!(kernels, benches);
criterion_main!(kernels);
