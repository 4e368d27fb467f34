//! Samplers: DDPM ancestral sampling (Algorithm 2, every timestep, the fused update kernel)
//! and DDIM (a strided subset of timesteps; eta = 0 is deterministic).

use super::schedule::{Schedule, Variance};
use crate::model::{unet::UNet, ParamStore};
use crate::nn::Mode;
use crate::ops::{diffusion, rng};
use crate::Tensor;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Method {
    /// All T steps of the ancestral sampler.
    Ddpm { variance: Variance },
    /// `steps` DDIM steps with noise scale `eta`.
    Ddim { steps: usize, eta: f64 },
}

#[derive(Clone, Copy, Debug)]
pub struct SampleOptions {
    pub method: Method,
    /// Clamp the predicted x_0 to [-1, 1] at every step (diffusers' clip_sample).
    pub clip: bool,
    pub seed: u64,
}

use crate::streams::sampling as stream;

/// Generates one batch of `n` images, [n, C, H, W], values in about [-1, 1].
/// `on_step(done, total)` is called after each denoising step is recorded.
pub fn sample_batch(
    model: &UNet,
    ps: &ParamStore,
    schedule: &Schedule,
    n: usize,
    batch_index: u64,
    opts: &SampleOptions,
    mut on_step: impl FnMut(usize, usize),
) -> Tensor {
    let gpu = ps.values.gpu();
    let cfg = &model.config;
    let shape = [n, cfg.in_channels, cfg.sample_size, cfg.sample_size];
    let mut x = rng::normal(gpu, &shape, opts.seed, stream(batch_index, None));
    let timesteps: Vec<usize> = match opts.method {
        Method::Ddpm { .. } => (0..schedule.steps()).rev().collect(),
        Method::Ddim { steps, .. } => schedule.spaced_timesteps(steps),
    };
    let total = timesteps.len();
    for (i, &t) in timesteps.iter().enumerate() {
        let t_tensor = Tensor::from_u32(gpu, &[n], &vec![t as u32; n]);
        let (eps, _) = model.forward(ps, &x, &t_tensor, Mode::inference());
        let s = stream(batch_index, Some(t));
        x = match opts.method {
            Method::Ddpm { variance } => diffusion::ddpm_step(
                &x,
                &eps,
                &schedule.ddpm_step(t, variance, opts.clip),
                opts.seed,
                s,
            ),
            Method::Ddim { eta, .. } => {
                let prev = timesteps.get(i + 1).copied();
                diffusion::ddim_step(
                    &x,
                    &eps,
                    &schedule.ddim_step(t, prev, eta, opts.clip),
                    opts.seed,
                    s,
                )
            }
        };
        // One submit per step keeps the GPU busy while the next step is recorded; waiting every
        // few steps bounds the queue and keeps the progress bar honest.
        gpu.flush();
        if i % 8 == 7 {
            gpu.sync();
        }
        on_step(i + 1, total);
    }
    x
}
