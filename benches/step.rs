//! One full training step of the U-Net (forward, loss, backward, clipping, Adam, EMA: one
//! submit), mnist preset (and cifar10 on a real GPU), with the GPU memory the step needs.

mod common;

use criterion::{criterion_group, criterion_main, Criterion};
use ddpm::model::UNetConfig;
use ddpm::perf::{forward_flops_per_image, Workload};

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
        // The same workload as `ddpm bench`, FLOPs counted by the kernels themselves.
        let per_image = forward_flops_per_image(&gpu, &cfg);
        let mut w = Workload::new(&gpu, &cfg, batch);
        gpu.reset_peak_memory();
        common::bench_gpu(
            &mut group,
            &format!("{name}/batch{batch}"),
            common::flops(3.0 * batch as f64 * per_image),
            &gpu,
            || w.train_step(),
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
