//! Criterion benchmarks of the elementwise kernels (filled in with the kernels).
mod common;

use criterion::{criterion_group, criterion_main, Criterion};

fn benches(_c: &mut Criterion) {}

criterion_group!(kernels, benches);
criterion_main!(kernels);
