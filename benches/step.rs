//! One full training step of the U-Net (forward, loss, backward, clipping, Adam, EMA: one
//! submit), mnist preset (and cifar10 on a real GPU), with the GPU memory the step needs.

mod common;

use criterion::{criterion_group, criterion_main, Criterion};
use ddpm::model::UNetConfig;
use ddpm::reference::random::Rng;
use ddpm::train::{Hyper, Trainer};

fn step_bench(c: &mut Criterion) {
    let gpu = common::gpu();
    let cases: Vec<(&str, UNetConfig, usize)> = if common::reduced(&gpu) {
        // The mnist preset takes minutes per step on a CPU adapter: criterion's ten samples
        // would take an hour. The tiny preset keeps the bench runnable there.
        vec![("tiny", UNetConfig::tiny(1), 8)]
    } else {
        vec![
            ("mnist", UNetConfig::mnist(), 128),
            ("cifar10", UNetConfig::cifar10(), 128),
        ]
    };
    let mut group = common::group(c, "train_step", &gpu);
    for (name, cfg, batch) in cases {
        let hyper = Hyper {
            batch_size: batch,
            lr: 1e-4,
            warmup: 0,
            grad_clip: 1.0,
            ema_decay: 0.9999,
            seed: 0,
        };
        let trainer = Trainer::new(&gpu, &cfg, hyper, None);
        let n = batch * cfg.in_channels * cfg.sample_size * cfg.sample_size;
        let mut rng = Rng::new(1);
        let x0: Vec<f32> = (0..n).map(|_| rng.range(-1.0, 1.0) as f32).collect();
        let mut step = 0;
        gpu.reset_peak_memory();
        let per_image = match name {
            "cifar10" => 11.7e9,
            "mnist" => 3.0e9,
            _ => 0.16e9, // tiny: 16x16, channels (32, 64)
        };
        let images = 3.0 * batch as f64 * per_image;
        common::bench_gpu(
            &mut group,
            &format!("{name}/batch{batch}"),
            common::flops(images),
            &gpu,
            || {
                trainer.step(step, &x0);
                step += 1;
            },
        );
        let m = gpu.memory_stats();
        eprintln!(
            "{name} batch {batch}: peak GPU memory of tensors {:.1} MiB (pool holds {:.1} MiB in all)",
            m.peak_bytes_in_use as f64 / (1 << 20) as f64,
            m.bytes_allocated as f64 / (1 << 20) as f64
        );
    }
}

criterion_group!(benches, step_bench);
criterion_main!(benches);
