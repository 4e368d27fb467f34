//! `ddpm train`: options, their validation, and the hand-off to [`crate::train::run`].

use std::path::PathBuf;

use anyhow::{bail, Context as _, Result};
use clap::Args;

use super::DeviceArgs;
use crate::model::UNetConfig;
use crate::train::{Hyper, TrainOptions};

#[derive(Args)]
pub struct TrainArgs {
    /// Built-in model: mnist (default), cifar10 (the paper's 35.7M model) or tiny
    #[arg(long, conflicts_with = "config")]
    preset: Option<String>,
    /// A diffusers UNet2DModel config.json instead of a preset
    #[arg(long)]
    config: Option<PathBuf>,
    /// A folder of PNG/JPEG images (searched recursively) instead of the bundled digits
    #[arg(long)]
    data: Option<PathBuf>,
    #[arg(long, default_value_t = 128)]
    batch_size: usize,
    #[arg(long, default_value_t = 100_000)]
    steps: u64,
    /// Peak learning rate of Adam
    #[arg(long, default_value_t = 2e-4)]
    lr: f64,
    /// Steps of linear learning-rate warm-up
    #[arg(long, default_value_t = 5000)]
    warmup: u64,
    /// Clip gradients to this global norm (0: off)
    #[arg(long, default_value_t = 1.0)]
    grad_clip: f64,
    #[arg(long, default_value_t = 0.9999)]
    ema_decay: f64,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Random horizontal flips (default: on for 3-channel data, off for digits)
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    flip: Option<bool>,
    /// Dropout probability (default: the config's; 0.1 for cifar10)
    #[arg(long)]
    dropout: Option<f64>,
    /// Run folder: checkpoint, metrics, pictures
    #[arg(long, default_value = "runs/latest")]
    out: PathBuf,
    /// Steps between preview sample grids (0: only at the end)
    #[arg(long, default_value_t = 5000)]
    sample_every: u64,
    #[arg(long, default_value_t = 5000)]
    checkpoint_every: u64,
    /// Images per preview grid (default 16; 4 on a CPU adapter)
    #[arg(long)]
    sample_n: Option<usize>,
    /// DDIM steps per preview (default 50; 10 on a CPU adapter)
    #[arg(long)]
    sample_steps: Option<usize>,
    /// Continue a run from its checkpoint (data order, noise and optimiser state included)
    #[arg(long)]
    resume: Option<PathBuf>,
}

fn check(ok: bool, msg: &str) -> Result<()> {
    if ok {
        Ok(())
    } else {
        bail!("{msg}")
    }
}

impl TrainArgs {
    fn validate(&self) -> Result<()> {
        check(self.batch_size >= 1, "--batch-size must be at least 1")?;
        check(self.steps >= 1, "--steps must be at least 1")?;
        check(
            self.lr.is_finite() && self.lr > 0.0,
            "--lr must be a positive number",
        )?;
        check(
            self.grad_clip.is_finite() && self.grad_clip >= 0.0,
            "--grad-clip must be >= 0",
        )?;
        check(
            (0.0..1.0).contains(&self.ema_decay),
            "--ema-decay must be in [0, 1)",
        )?;
        check(
            self.checkpoint_every >= 1,
            "--checkpoint-every must be at least 1",
        )?;
        check(self.sample_n != Some(0), "--sample-n must be at least 1")?;
        check(
            self.sample_steps != Some(0),
            "--sample-steps must be at least 1",
        )?;
        if let Some(p) = self.dropout {
            check((0.0..1.0).contains(&p), "--dropout must be in [0, 1)")?;
        }
        Ok(())
    }

    fn model_config(&self) -> Result<UNetConfig> {
        let mut cfg = match (&self.config, &self.preset) {
            (Some(path), _) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                UNetConfig::from_json(&text).with_context(|| format!("{}", path.display()))?
            }
            (None, Some(name)) => UNetConfig::preset(name)?,
            (None, None) => UNetConfig::mnist(),
        };
        if let Some(p) = self.dropout {
            cfg.dropout = p;
        }
        Ok(cfg)
    }
}

pub fn run(device: &DeviceArgs, args: TrainArgs) -> Result<()> {
    args.validate()?;
    let config = args.model_config()?;
    let gpu = device.open()?;
    let cpu = gpu.is_cpu();
    let opts = TrainOptions {
        flip: args.flip.unwrap_or(config.in_channels == 3),
        config,
        data: args.data.clone(),
        hyper: Hyper {
            batch_size: args.batch_size,
            lr: args.lr,
            warmup: args.warmup,
            grad_clip: args.grad_clip,
            ema_decay: args.ema_decay,
            seed: args.seed,
        },
        steps: args.steps,
        out: args.out.clone(),
        sample_every: args.sample_every,
        checkpoint_every: args.checkpoint_every,
        sample_n: args.sample_n.unwrap_or(if cpu { 4 } else { 16 }),
        sample_steps: args.sample_steps.unwrap_or(if cpu { 10 } else { 50 }),
    };
    crate::train::run(&gpu, opts, args.resume.as_deref())
}
