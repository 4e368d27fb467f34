//! The arithmetic ceiling of WGSL kernels on this adapter (`ops::peak`): multiply-adds on
//! registers only, reported as FLOP/s (criterion's elements/s). The other kernel families'
//! rates read as a fraction of this, not of a datasheet's peak. `peak_1` stores each of its
//! accumulators once per loop iteration, as the convolution and matmul kernels do.
mod common;

use common::{bench_gpu, flops, group};
use criterion::{criterion_group, criterion_main, Criterion};
use ddpm::ops::peak::{self, fma_chains, Rounds};
use ddpm::Tensor;

fn bench(c: &mut Criterion) {
    let gpu = common::gpu();
    let mut g = group(c, "peak", &gpu);
    let n = if gpu.is_cpu() { 256 * 64 } else { 1 << 20 };
    let x = Tensor::from_slice(&gpu, &[n], &vec![0.5; n]);
    for (rounds, iters) in [(Rounds::One, 2_000), (Rounds::Sixteen, 125)] {
        let work = peak::flops(n, rounds, iters);
        bench_gpu(&mut g, &format!("{rounds:?}"), flops(work), &gpu, || {
            let _ = fma_chains(&x, rounds, iters, 0.999, 0.001);
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
