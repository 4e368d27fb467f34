//! Shared benchmark set-up: one device, and timing that measures GPU time, not enqueue time.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput};
use ddpm::Gpu;

pub fn gpu() -> Gpu {
    Gpu::new(&Default::default()).expect("a wgpu adapter")
}

/// True on a CPU adapter (lavapipe): benches use reduced shapes there.
pub fn reduced(gpu: &Gpu) -> bool {
    gpu.is_cpu()
}

/// A criterion group with settings suited to GPU kernels (few samples on slow adapters).
pub fn group<'a>(c: &'a mut Criterion, name: &str, gpu: &Gpu) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(format!("{name} [{}]", gpu.info().name));
    if gpu.is_cpu() {
        g.sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(3));
    }
    g
}

/// Times `iters` recordings of `record` followed by one submit and a wait, so the measured
/// time is the GPU's (recording is cheap next to execution; the wait covers all of it).
/// `record` is called once untimed first so pipeline compilation is not measured.
pub fn bench_gpu(
    group: &mut BenchmarkGroup<WallTime>,
    id: &str,
    throughput: Throughput,
    gpu: &Gpu,
    mut record: impl FnMut(),
) {
    record();
    gpu.sync();
    group.throughput(throughput);
    group.bench_function(id, |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                record();
            }
            gpu.sync();
            start.elapsed()
        })
    });
}

/// FLOP count as criterion "elements" (criterion prints elements/s; read it as FLOP/s).
pub fn flops(n: f64) -> Throughput {
    Throughput::Elements(n as u64)
}
pub fn bytes(n: f64) -> Throughput {
    Throughput::Bytes(n as u64)
}
