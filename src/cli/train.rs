//! `ddpm train`: options, their validation, and the hand-off to [`crate::train::run`].

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::{Args, ValueEnum};

use super::{DeviceArgs, ModelArgs};
use crate::checkpoint::load_model;
use crate::model::UNetConfig;
use crate::train::distributed::Group;
use crate::train::{Hyper, Start, TrainOptions};

#[derive(Args)]
pub struct TrainArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// A folder of PNG/JPEG images (searched recursively) instead of the bundled digits
    #[arg(long)]
    data: Option<PathBuf>,
    /// Images per step [default: 128; 64 for mnist-small and mnist-cpu]
    #[arg(long)]
    batch_size: Option<usize>,
    /// Total steps, also the target when resuming [default: 100000; 3500 for mnist-small; 2000
    /// for mnist-cpu]
    #[arg(long)]
    steps: Option<u64>,
    /// Stop cleanly after this much training time (e.g. 90s, 45m, 2h): checkpoint, samples
    #[arg(long, value_parser = parse_duration)]
    max_time: Option<std::time::Duration>,
    /// Peak learning rate of Adam [default: 2e-4; 1e-3 for mnist-small and mnist-cpu]
    #[arg(long)]
    lr: Option<f64>,
    /// Steps of linear learning-rate warm-up [default: 5000; 100 for mnist-small and mnist-cpu]
    #[arg(long)]
    warmup: Option<u64>,
    /// Learning rate after the warm-up: constant, or cosine (decays to 0 at the last of --steps;
    /// a run stopped early by --max-time ends part-way down) [default: constant]
    #[arg(long, value_enum)]
    lr_decay: Option<LrDecay>,
    /// Clip gradients to this global norm (0: off)
    #[arg(long, default_value_t = 1.0)]
    grad_clip: f64,
    /// Decay of the exponential moving average of the weights [default: 0.9999; 0.999 for
    /// mnist-small and mnist-cpu]
    #[arg(long)]
    ema_decay: Option<f64>,
    /// Decides the initial weights, the data order and all noise: runs are reproducible
    /// [default: 0]
    #[arg(long)]
    seed: Option<u64>,
    /// Random horizontal flips [default: on for 3-channel data, off for digits]
    #[arg(long, conflicts_with = "no_flip")]
    flip: bool,
    /// No random horizontal flips, also for 3-channel data
    #[arg(long)]
    no_flip: bool,
    /// Dropout probability (default: the config's; 0.1 for cifar10)
    #[arg(long)]
    dropout: Option<f64>,
    /// Run folder: checkpoint, metrics, pictures
    #[arg(long, default_value = "runs/latest")]
    out: PathBuf,
    /// Steps between preview sample grids, 0: only at the end [default: 5000; 500 for
    /// mnist-small and mnist-cpu]
    #[arg(long)]
    sample_every: Option<u64>,
    /// Steps between checkpoints [default: 5000; 250 for mnist-small; 50 for mnist-cpu]
    #[arg(long)]
    checkpoint_every: Option<u64>,
    /// Also keep every scheduled checkpoint as <out>/checkpoints/step_NNNNNNN.safetensors
    #[arg(long)]
    keep_checkpoints: bool,
    /// Images per preview grid (default 64; 16 on a CPU adapter)
    #[arg(long)]
    sample_n: Option<usize>,
    /// DDIM steps per preview (default 50; 25 on a CPU adapter)
    #[arg(long)]
    sample_steps: Option<usize>,
    /// Steps between estimates of the variational bound of the EMA weights (bits/dim, 64
    /// held-out images, 20 forward passes) in bound.csv; 0: never [default: 0]
    #[arg(long, default_value_t = 0)]
    eval_every: u64,
    /// Continue a run from its checkpoint (data order, noise and optimiser state included)
    #[arg(long)]
    resume: Option<PathBuf>,
    /// Start from a trained model's weights (a diffusers folder, or a checkpoint's EMA weights)
    /// and train its network further, with a fresh optimiser: fine-tuning, or more training
    /// of a shipped model. Defaults are those of the preset with the same network, if any
    #[arg(long, conflicts_with_all = ["resume", "preset", "config"])]
    init: Option<PathBuf>,
}

/// The learning-rate schedule after the warm-up.
#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum LrDecay {
    /// The peak rate until the end
    Constant,
    /// Half a cosine from the peak rate down to 0 at the last step
    Cosine,
}

/// `90s`, `45m`, `2h`, `1h30m` or plain seconds.
fn parse_duration(text: &str) -> std::result::Result<std::time::Duration, String> {
    let bad = || format!("'{text}' is not a duration (examples: 90s, 45m, 2h, 1h30m)");
    let mut seconds = 0.0;
    let mut number = String::new();
    for c in text.trim().chars() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1.0,
            'm' => 60.0,
            'h' => 3600.0,
            _ => return Err(bad()),
        };
        seconds += number.parse::<f64>().map_err(|_| bad())? * unit;
        number.clear();
    }
    if !number.is_empty() {
        seconds += number.parse::<f64>().map_err(|_| bad())?;
    }
    if !(seconds.is_finite() && seconds > 0.0) {
        return Err(bad());
    }
    Ok(std::time::Duration::from_secs_f64(seconds))
}

/// The optimisation defaults of a preset: the paper's for its models; for the small digit
/// models, the recipe of the CPU-preset study (tools/cpu-preset-study) and of the shipped
/// `assets/mnist-small` (3,548 steps on an H200; docs/runs/mnist-small-h200). mnist-cpu's length
/// is where the study measured recognisable digits (FD 28 at 2,000 steps); its checkpoints come
/// every few minutes on a CPU.
struct Defaults {
    batch_size: usize,
    steps: u64,
    lr: f64,
    warmup: u64,
    ema_decay: f64,
    sample_every: u64,
    checkpoint_every: u64,
}

fn defaults(preset: &str) -> Defaults {
    match preset {
        "mnist-cpu" => Defaults {
            steps: 2000,
            checkpoint_every: 50,
            ..defaults("mnist-small")
        },
        "mnist-small" => Defaults {
            batch_size: 64,
            steps: 3500,
            lr: 1e-3,
            warmup: 100,
            ema_decay: 0.999,
            sample_every: 500,
            checkpoint_every: 250,
        },
        _ => Defaults {
            batch_size: 128,
            steps: 100_000,
            lr: 2e-4,
            warmup: 5000,
            ema_decay: 0.9999,
            sample_every: 5000,
            checkpoint_every: 5000,
        },
    }
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
        check(
            self.batch_size != Some(0),
            "--batch-size must be at least 1",
        )?;
        check(self.steps != Some(0), "--steps must be at least 1")?;
        check(
            self.lr.is_none_or(|lr| lr.is_finite() && lr > 0.0),
            "--lr must be a positive number",
        )?;
        check(
            self.grad_clip.is_finite() && self.grad_clip >= 0.0,
            "--grad-clip must be >= 0",
        )?;
        check(
            self.ema_decay.is_none_or(|d| (0.0..1.0).contains(&d)),
            "--ema-decay must be in [0, 1)",
        )?;
        check(
            self.checkpoint_every != Some(0),
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
        if self.resume.is_some() {
            // A resumed run continues the checkpoint's model, data and optimisation exactly;
            // options that would change them are an error rather than silently ignored.
            let fixed = [
                ("--preset", self.model.preset.is_some()),
                ("--config", self.model.config.is_some()),
                ("--data", self.data.is_some()),
                ("--batch-size", self.batch_size.is_some()),
                ("--lr", self.lr.is_some()),
                ("--warmup", self.warmup.is_some()),
                ("--lr-decay", self.lr_decay.is_some()),
                ("--ema-decay", self.ema_decay.is_some()),
                ("--dropout", self.dropout.is_some()),
                ("--flip", self.flip),
                ("--no-flip", self.no_flip),
                ("--seed", self.seed.is_some()),
            ];
            let given: Vec<&str> = fixed.iter().filter(|f| f.1).map(|f| f.0).collect();
            check(
                given.is_empty(),
                &format!(
                    "--resume continues the checkpoint's own model, data and settings; {} cannot \
                     change them (only --steps, --max-time, --out, --sample-every, \
                     --checkpoint-every and --keep-checkpoints apply)",
                    given.join(", ")
                ),
            )?;
        }
        Ok(())
    }
}

/// Says what `ddpm train` without a model chose on a CPU adapter, why, and for how long.
fn cpu_default_notice(steps: u64, batch_size: usize) {
    // The measured step time is for batch 64; time scales about linearly with the batch.
    let seconds = steps as f64 * CPU_SECONDS_PER_STEP * batch_size as f64 / 64.0;
    let time = if seconds >= 3600.0 {
        format!("{:.1} hours", seconds / 3600.0)
    } else {
        format!("{:.0} minutes", (seconds / 60.0).ceil())
    };
    eprintln!(
        "note: this adapter is a CPU (software Vulkan), so `ddpm train` without --preset trains \
         the CPU-sized mnist-cpu preset (627,433 parameters, 28x28 digits), the best sample \
         quality per CPU-minute of five measured candidates (tools/cpu-preset-study): \
         {steps} steps of {batch_size} digits, about {time} on 2 cores \
         ({CPU_SECONDS_PER_STEP} s per step of 64 measured); digits become recognisable from \
         about 1,500 steps. Stop earlier with --max-time (e.g. 45m) and continue later with \
         --resume. The paper-scale model is `ddpm train --preset mnist`, on a GPU."
    );
}

/// Wall time of one mnist-cpu training step at batch 64 on lavapipe, 2 cores (Intel Xeon):
/// `ddpm bench` gave 1.75-2.11 s in five runs on 2026-12-02 with the wider channel blocks of
/// the direct convolution kernels (`scripts/cpu-vs-torch.sh`, docs/runs/conv-blocks); the same
/// host gave 2.85 s on 2026-12-01 before them, in a slower phase (BENCHMARKS.md).
const CPU_SECONDS_PER_STEP: f64 = 2.1;

/// Runs `ddpm train` alone, or as one rank of the data-parallel job that mpirun or srun started.
pub fn run(device: &DeviceArgs, args: TrainArgs) -> Result<()> {
    args.validate()?;
    let group = Group::join()?;
    // An option every rank rejects alike is said once, by rank 0.
    if let Some(batch) = args.batch_size {
        if let Err(e) = group.shard(batch) {
            return Err(group.fail_alike(e));
        }
    }
    match train(device, args, &group) {
        Ok(()) => Ok(()),
        Err(e) => Err(group.fail(e)),
    }
}

fn train(device: &DeviceArgs, args: TrainArgs, group: &Group) -> Result<()> {
    let gpu = device.open_nth(group.local_rank())?;
    let cpu = gpu.is_cpu();
    let default_preset = if cpu { "mnist-cpu" } else { "mnist" };
    let init = args
        .init
        .as_deref()
        .map(|path| load_model(path, true, crate::train::layout_of))
        .transpose()?;
    let (preset, mut config) = match &init {
        Some(model) => (preset_of(&model.config), model.config.clone()),
        None => {
            let choice = args.model.resolve(default_preset)?;
            (choice.preset, choice.config)
        }
    };
    let d = defaults(preset.as_deref().unwrap_or("config"));
    let chose_for_cpu = cpu && args.model.is_default() && init.is_none();
    if let Some(p) = args.dropout {
        config.dropout = p;
    }
    let steps = args.steps.unwrap_or(d.steps);
    if chose_for_cpu && args.resume.is_none() && group.is_root() {
        cpu_default_notice(steps, args.batch_size.unwrap_or(d.batch_size));
    }
    let opts = TrainOptions {
        flip: args.flip || (!args.no_flip && config.in_channels == 3),
        config,
        data: args.data.clone(),
        hyper: Hyper {
            batch_size: args.batch_size.unwrap_or(d.batch_size),
            lr: args.lr.unwrap_or(d.lr),
            warmup: args.warmup.unwrap_or(d.warmup),
            grad_clip: args.grad_clip,
            ema_decay: args.ema_decay.unwrap_or(d.ema_decay),
            seed: args.seed.unwrap_or(0),
            decay_steps: match args.lr_decay.unwrap_or(LrDecay::Constant) {
                LrDecay::Constant => 0,
                LrDecay::Cosine => steps,
            },
        },
        steps,
        max_time: args.max_time,
        out: args.out.clone(),
        sample_every: args.sample_every.unwrap_or(d.sample_every),
        checkpoint_every: args.checkpoint_every.unwrap_or(d.checkpoint_every),
        keep_checkpoints: args.keep_checkpoints,
        sample_n: args.sample_n.unwrap_or(if cpu { 16 } else { 64 }),
        sample_steps: args.sample_steps.unwrap_or(if cpu { 25 } else { 50 }),
        eval_every: args.eval_every,
        init: args.init.clone(),
    };
    let begin = match (init, &args.resume) {
        (Some(model), _) => Start::Init(Box::new(model)),
        (None, Some(path)) => Start::Resume(path),
        (None, None) => Start::Fresh,
    };
    crate::train::run(&gpu, opts, begin, group)
}

/// The built-in preset whose network `config` is, if any (its training defaults apply to a run
/// that starts from such a model).
fn preset_of(config: &UNetConfig) -> Option<String> {
    UNetConfig::PRESETS
        .into_iter()
        .find(|name| UNetConfig::preset(name).is_ok_and(|p| &p == config))
        .map(String::from)
}
