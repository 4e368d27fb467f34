//! The arithmetic ceiling probe (`shaders/peak/fma.wgsl`): a kernel of nothing but
//! multiply-adds on registers, timed to give the FLOP/s that this adapter's shader compiler and
//! hardware allow a WGSL kernel at all. `ddpm profile` prints it above its tables and
//! `cargo bench --bench peak` reports it, so that the kernels' rates can be read as a fraction
//! of the reachable, not of a datasheet's peak.

use std::time::Instant;

use crate::gpu::{grid_1d, Shader};
use crate::{Gpu, Tensor};

const SHADER: Shader = crate::shader!("peak/fma");

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    iters: u32,
    m: f32,
    c: f32,
}

/// Chain updates per loop iteration: the two entry points of the probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rounds {
    /// One multiply-add per chain and iteration, as a kernel that stores its accumulators
    /// every loop iteration.
    One,
    /// Sixteen per chain and iteration: the loop's own cost nearly vanishes.
    Sixteen,
}

impl Rounds {
    fn count(self) -> u32 {
        match self {
            Rounds::One => 1,
            Rounds::Sixteen => 16,
        }
    }

    fn entry(self) -> &'static str {
        match self {
            Rounds::One => "peak_1",
            Rounds::Sixteen => "peak_16",
        }
    }
}

/// Runs the probe on `x.numel()` invocations: `y[i]` is the sum over the 8 vec4 chains of
/// their components after `iters` iterations of `rounds` updates `a <- a m + c`, chain k's
/// components starting at `x[i] + k + (0, 1/4, 1/2, 3/4)`.
pub fn fma_chains(x: &Tensor, rounds: Rounds, iters: u32, m: f32, c: f32) -> Tensor {
    let n = x.numel();
    let y = Tensor::uninit(x.gpu(), &[n]);
    let p = Params {
        n: u32::try_from(n).expect("probe size fits in u32"),
        iters,
        m,
        c,
    };
    x.gpu()
        .launch(&SHADER, rounds.entry(), &[], &p, &[x, &y], grid_1d(n, 64));
    y
}

/// FLOPs of one [`fma_chains`] run (2 per multiply-add; 8 chains of 4 components).
pub fn flops(n: usize, rounds: Rounds, iters: u32) -> f64 {
    2.0 * 32.0 * n as f64 * rounds.count() as f64 * iters as f64
}

/// The probe's FLOP/s on `gpu`: the best of three timed runs after one untimed (which
/// compiles the pipeline). On a CPU adapter 256 workgroups of 64 (plenty for a few cores),
/// sized to take about 0.1-0.3 s on 2 cores; on a GPU 2^20 invocations (thousands per SM).
pub fn measure(gpu: &Gpu, rounds: Rounds) -> f64 {
    let (n, updates) = if gpu.is_cpu() {
        (256 * 64, 2_000)
    } else {
        (1 << 20, 20_000)
    };
    let iters = updates / rounds.count();
    let x = Tensor::from_slice(gpu, &[n], &vec![0.5; n]);
    let run = || {
        let _ = fma_chains(&x, rounds, iters, 0.999, 0.001);
        gpu.sync();
    };
    run();
    let best = (0..3)
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min);
    flops(n, rounds, iters) / best
}
