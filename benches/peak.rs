//! The arithmetic ceiling of WGSL kernels on this adapter (`ops::peak`): multiply-adds on
//! registers only, for each number of independent vec4 chains per invocation, reported as
//! FLOP/s (criterion's elements/s). The other kernel families' rates read as a fraction of the
//! best of these, not of a datasheet's peak.
mod common;

use common::{bench_gpu, flops, group};
use criterion::{criterion_group, criterion_main, Criterion};
use ddpm::ops::peak::{self, fma_chains, CHAINS};
use ddpm::Tensor;

fn bench(c: &mut Criterion) {
    let gpu = common::gpu();
    let mut g = group(c, "peak", &gpu);
    for chains in CHAINS {
        let (n, iters) = peak::size(&gpu, chains);
        let x = Tensor::from_slice(&gpu, &[n], &vec![0.5; n]);
        let work = peak::flops(n, chains, iters);
        bench_gpu(
            &mut g,
            &format!("{chains} vec4 chains"),
            flops(work),
            &gpu,
            || {
                let _ = fma_chains(&x, chains, iters, 0.999, 0.001);
            },
        );
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
