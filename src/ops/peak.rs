//! The arithmetic ceiling probe (`shaders/peak/fma.wgsl`): a kernel of nothing but
//! multiply-adds on registers, timed to give the FLOP/s that this adapter's shader compiler and
//! hardware allow a WGSL kernel at all. `ddpm bench` and `ddpm profile` print it and
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

/// The chain counts the probe has entry points for (independent vec4 chains per invocation).
pub const CHAINS: [u32; 5] = [1, 2, 3, 4, 8];

/// Multiply-adds per chain and loop iteration (the kernel's unrolled rounds).
const ROUNDS: f64 = 16.0;

fn entry(chains: u32) -> &'static str {
    match chains {
        1 => "peak_1",
        2 => "peak_2",
        3 => "peak_3",
        4 => "peak_4",
        8 => "peak_8",
        _ => panic!("the probe has no entry point for {chains} chains (see CHAINS)"),
    }
}

/// Runs the probe with `chains` vec4 chains on `x.numel()` invocations: `y[i]` is the sum over
/// the chains of their components after `iters` iterations of 16 updates `a <- a m + c`, chain
/// k's components starting at `x[i] + k + (0, 1/4, 1/2, 3/4)`.
pub fn fma_chains(x: &Tensor, chains: u32, iters: u32, m: f32, c: f32) -> Tensor {
    let n = x.numel();
    let y = Tensor::uninit(x.gpu(), &[n]);
    let p = Params {
        n: u32::try_from(n).expect("probe size fits in u32"),
        iters,
        m,
        c,
    };
    x.gpu()
        .launch(&SHADER, entry(chains), &[], &p, &[x, &y], grid_1d(n, 64));
    y
}

/// FLOPs of one [`fma_chains`] run (2 per multiply-add of a vec4 component).
pub fn flops(n: usize, chains: u32, iters: u32) -> f64 {
    2.0 * 4.0 * ROUNDS * chains as f64 * n as f64 * iters as f64
}

/// The probe's size on `gpu`: invocations, and loop iterations for `chains` chains. On a CPU
/// adapter 256 workgroups of 64 (plenty for a few cores), about 0.1 s per run on 2 cores; on
/// a GPU 2^20 invocations (thousands per SM).
pub fn size(gpu: &Gpu, chains: u32) -> (usize, u32) {
    if gpu.is_cpu() {
        (256 * 64, 4096 / chains)
    } else {
        (1 << 20, 40960 / chains)
    }
}

/// The best rate over [`CHAINS`] and the chain count that gave it.
#[derive(Clone, Copy, Debug)]
pub struct Ceiling {
    pub flops_per_s: f64,
    pub chains: u32,
}

/// The probe's FLOP/s on `gpu`: for each chain count the best of three timed runs after one
/// untimed (which compiles the pipeline); the best chain count wins.
pub fn measure(gpu: &Gpu) -> Ceiling {
    let mut best = Ceiling {
        flops_per_s: 0.0,
        chains: 0,
    };
    for chains in CHAINS {
        let (n, iters) = size(gpu, chains);
        let x = Tensor::from_slice(gpu, &[n], &vec![0.5; n]);
        let run = || {
            let _ = fma_chains(&x, chains, iters, 0.999, 0.001);
            gpu.sync();
        };
        run();
        let seconds = (0..3)
            .map(|_| {
                let start = Instant::now();
                run();
                start.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min);
        let rate = flops(n, chains, iters) / seconds;
        if rate > best.flops_per_s {
            best = Ceiling {
                flops_per_s: rate,
                chains,
            };
        }
    }
    best
}
