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
pub(super) enum VarianceArg {
    FixedLarge,
    FixedSmall,
}

impl VarianceArg {
    pub(super) fn variance(self) -> Variance {
        match self {
            VarianceArg::FixedLarge => Variance::FixedLarge,
            VarianceArg::FixedSmall => Variance::FixedSmall,
        }
    }
}

#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum SamplerArg {
    /// Algorithm 2 of the paper: all 1000 steps
    Ddpm,
    /// DDIM on a subset of the timesteps (--sampling-steps, --eta)
    Ddim,
}

/// The model `ddpm sample` uses without --model: the digit model this engine trained on two CPU
/// cores with lavapipe (the `mnist-cpu` preset's default recipe, then seven more stages from its
/// EMA weights: docs/runs/lavapipe-mnist-cpu-more, docs/runs/lavapipe-mnist-cpu-stage3 .. 8),
/// shipped in assets/.
pub(super) const DEFAULT_MODEL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/mnist-cpu");

#[derive(Args)]
pub struct SampleArgs {
    /// Our checkpoint (.safetensors) or a diffusers model folder [default: the shipped
    /// assets/mnist-cpu, trained by this engine on lavapipe]
    #[arg(long)]
    model: Option<PathBuf>,
    /// Number of images
    #[arg(long, default_value_t = 64)]
    n: usize,
    /// Decides the initial noise and the noise of every step: the same seed gives the same
    /// images
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// The grid PNG
    #[arg(long, default_value = "samples.png")]
    out: PathBuf,
    /// Also write each image as its own PNG into this folder
    #[arg(long)]
    each: Option<PathBuf>,
    /// ddpm (all 1000 steps) or ddim [default: ddpm on a GPU; ddim on a CPU adapter, where
    /// 1000 steps take long]
    #[arg(long, value_enum)]
    sampler: Option<SamplerArg>,
    /// Steps of the DDIM sampler, 1-1000 (implies --sampler ddim) [default: 50]
    #[arg(long)]
    sampling_steps: Option<usize>,
    /// DDIM noise: 0 is deterministic, 1 is DDPM-like [default: 0]
    #[arg(long)]
    eta: Option<f64>,
    /// Reverse-process variance of the DDPM sampler [default: fixed-large]
    #[arg(long, value_enum)]
    variance: Option<VarianceArg>,
    /// Do not clip the predicted x_0 to [-1, 1] at each step (clipping, diffusers'
    /// clip_sample, is the default)
    #[arg(long)]
    no_clip: bool,
    /// Use the raw weights of a training checkpoint instead of its EMA weights
    #[arg(long)]
    no_ema: bool,
    /// Images per batch (default: as many as fit the adapter, at most 256; 8 on a CPU adapter)
    #[arg(long)]
    batch_size: Option<usize>,
}

/// The largest batch whose biggest activation fits one storage binding, capped.
pub(super) fn default_batch(gpu: &Gpu, model: &UNet) -> usize {
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
    if a.eta.is_some_and(|eta| !(0.0..=1.0).contains(&eta)) {
        bail!("--eta must be in [0, 1]");
    }
    let schedule = Schedule::ddpm();
    if let Some(steps) = a.sampling_steps.filter(|&s| s > schedule.steps()) {
        bail!(
            "--sampling-steps {steps} is more than the {} steps of the schedule",
            schedule.steps()
        );
    }
    let implies_ddim = a.sampling_steps.is_some() || a.eta.is_some();
    let explicit = a.sampler.or(implies_ddim.then_some(SamplerArg::Ddim));
    if explicit == Some(SamplerArg::Ddpm) && (a.sampling_steps.is_some() || a.eta.is_some()) {
        bail!("--sampling-steps and --eta belong to --sampler ddim; the DDPM sampler runs all 1000 steps");
    }
    if explicit == Some(SamplerArg::Ddim) && a.variance.is_some() {
        bail!("--variance belongs to --sampler ddpm (DDIM's variance is set by --eta)");
    }
    let model_path = a
        .model
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_MODEL));
    let loaded = load_model(&model_path, !a.no_ema, crate::train::layout_of)?;
    let gpu = device.open()?;
    let sampler = explicit.unwrap_or_else(|| {
        if !(gpu.is_cpu() && a.variance.is_none()) {
            return SamplerArg::Ddpm;
        }
        eprintln!(
            "note: CPU adapter: sampling with DDIM, 50 steps (`--sampler ddpm` runs the \
             paper's 1000-step sampler, 20x longer)"
        );
        SamplerArg::Ddim
    });
    let model = UNet::new(&loaded.config);
    let layout = Layout::new(&model.registry);
    let store = ParamStore::for_inference(
        layout.clone(),
        Tensor::from_slice(&gpu, &[layout.total], &loaded.weights),
    );
    let method = match sampler {
        SamplerArg::Ddim => Method::Ddim {
            steps: a.sampling_steps.unwrap_or(50),
            eta: a.eta.unwrap_or(0.0),
        },
        SamplerArg::Ddpm => Method::Ddpm {
            variance: a.variance.unwrap_or(VarianceArg::FixedLarge).variance(),
        },
    };
    let opts = SampleOptions {
        method,
        clip: !a.no_clip,
        seed: a.seed,
    };
    let batch = a
        .batch_size
        .unwrap_or_else(|| default_batch(&gpu, &model))
        .min(a.n);
    crate::train::check_fits(&gpu, &loaded.config, batch)?;
    let steps_per_batch = match method {
        Method::Ddpm { .. } => schedule.steps(),
        Method::Ddim { steps, .. } => steps.min(schedule.steps()),
    };
    let batches = a.n.div_ceil(batch);
    eprintln!(
        "sampling {} images from {} ({}) on '{}': {} batch(es) of up to {batch}, {steps_per_batch} steps each",
        a.n,
        model_path.display(),
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
