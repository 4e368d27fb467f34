//! `ddpm sample`: Algorithm 2 (all 1000 steps) or DDIM, batched, with a progress bar.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::{Args, ValueEnum};

use super::DeviceArgs;
use crate::checkpoint::load_model;
use crate::diffusion::sampler::{sample_batch, Method, SampleOptions};
use crate::diffusion::{Schedule, Variance};
use crate::model::unet::UNet;
use crate::model::{Layout, ParamStore};
use crate::report::grid;
use crate::{Gpu, Tensor};

#[derive(Clone, Copy, ValueEnum)]
enum VarianceArg {
    FixedLarge,
    FixedSmall,
}

#[derive(Args)]
pub struct SampleArgs {
    /// Our checkpoint (.safetensors) or a diffusers model folder
    #[arg(long, default_value = "assets/mnist-ema.safetensors")]
    model: PathBuf,
    /// Number of images
    #[arg(long, default_value_t = 64)]
    n: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// The grid PNG
    #[arg(long, default_value = "samples.png")]
    out: PathBuf,
    /// Also write each image as its own PNG into this folder
    #[arg(long)]
    each: Option<PathBuf>,
    /// DDIM with this many steps (default: the full 1000-step DDPM sampler)
    #[arg(long)]
    sampling_steps: Option<usize>,
    /// DDIM noise: 0 is deterministic, 1 is DDPM-like
    #[arg(long, default_value_t = 0.0)]
    eta: f64,
    /// Reverse-process variance of the DDPM sampler
    #[arg(long, value_enum, default_value = "fixed-large")]
    variance: VarianceArg,
    /// Clip the predicted x_0 to [-1, 1] at each step (as diffusers' clip_sample)
    #[arg(long, num_args = 0..=1, default_value = "true", default_missing_value = "true")]
    clip: bool,
    /// Use the raw weights of a training checkpoint instead of its EMA weights
    #[arg(long)]
    no_ema: bool,
    /// Images per batch (default: as many as fit the adapter, at most 256; 8 on a CPU adapter)
    #[arg(long)]
    batch_size: Option<usize>,
}

/// The largest batch whose biggest activation fits one storage binding, capped.
fn default_batch(gpu: &Gpu, model: &UNet) -> usize {
    if gpu.is_cpu() {
        return 8;
    }
    let per_image = model.largest_activation_per_image() as u64 * 4;
    let fit = gpu.limits().max_storage_buffer_binding_size / per_image.max(1);
    fit.clamp(1, 256) as usize
}

pub fn run(device: &DeviceArgs, a: SampleArgs) -> Result<()> {
    if a.n == 0 {
        bail!("--n must be at least 1");
    }
    if a.sampling_steps == Some(0) || a.batch_size == Some(0) {
        bail!("--sampling-steps and --batch-size must be at least 1");
    }
    if !(0.0..=1.0).contains(&a.eta) {
        bail!("--eta must be in [0, 1]");
    }
    let loaded = load_model(&a.model, !a.no_ema, crate::train::layout_of)?;
    let gpu = device.open()?;
    let model = UNet::new(&loaded.config);
    let layout = Layout::new(&model.registry);
    let store = ParamStore::for_inference(
        layout.clone(),
        Tensor::from_slice(&gpu, &[layout.total], &loaded.weights),
    );
    let method = match a.sampling_steps {
        Some(steps) => Method::Ddim { steps, eta: a.eta },
        None => Method::Ddpm {
            variance: match a.variance {
                VarianceArg::FixedLarge => Variance::FixedLarge,
                VarianceArg::FixedSmall => Variance::FixedSmall,
            },
        },
    };
    let opts = SampleOptions {
        method,
        clip: a.clip,
        seed: a.seed,
    };
    let batch = a
        .batch_size
        .unwrap_or_else(|| default_batch(&gpu, &model))
        .min(a.n);
    crate::train::check_fits(&gpu, &loaded.config, batch)?;
    let schedule = Schedule::ddpm();
    let steps_per_batch = match method {
        Method::Ddpm { .. } => schedule.steps(),
        Method::Ddim { steps, .. } => steps.min(schedule.steps()),
    };
    let batches = a.n.div_ceil(batch);
    eprintln!(
        "sampling {} images from {} ({}) on '{}': {} batch(es) of up to {batch}, {steps_per_batch} steps each",
        a.n,
        a.model.display(),
        loaded.description,
        gpu.info().name,
        batches
    );
    let bar = indicatif::ProgressBar::new((batches * steps_per_batch) as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} denoising [{bar:30}] {pos}/{len} steps  {per_sec}  ETA {eta}",
        )
        .unwrap()
        .progress_chars("=> "),
    );
    let cfg = &loaded.config;
    let mut images = Vec::with_capacity(a.n * cfg.in_channels * cfg.sample_size * cfg.sample_size);
    for b in 0..batches {
        let n = batch.min(a.n - b * batch);
        let done_before = (b * steps_per_batch) as u64;
        let x = sample_batch(&model, &store, &schedule, n, b as u64, &opts, |done, _| {
            bar.set_position(done_before + done as u64)
        });
        images.extend(x.to_vec());
    }
    bar.finish_and_clear();
    grid::save_png(
        &grid::grid_image(&images, a.n, cfg.in_channels, cfg.sample_size),
        &a.out,
    )?;
    if let Some(dir) = &a.each {
        grid::save_each(&images, a.n, cfg.in_channels, cfg.sample_size, dir)?;
    }
    eprintln!(
        "wrote {}{}",
        a.out.display(),
        a.each
            .as_ref()
            .map(|d| format!(" and {} images in {}", a.n, d.display()))
            .unwrap_or_default()
    );
    Ok(())
}
