//! The `ddpm` command line: argument parsing (clap) and one module per command.

mod bench;
mod eval;
mod export;
mod info;
mod memory;
mod predict;
mod profile;
mod sample;
mod selftest;
mod train;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

use crate::gpu::{Gpu, GpuOptions};

#[derive(Parser)]
#[command(
    name = "ddpm",
    version,
    about = "Denoising diffusion (DDPM) training and sampling on any GPU, from scratch on wgpu"
)]
struct Cli {
    #[command(flatten)]
    device: DeviceArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
pub struct DeviceArgs {
    /// Graphics backend: vulkan, metal, dx12 or gl (default: WGPU_BACKEND, else all)
    #[arg(long, global = true)]
    backend: Option<String>,
    /// Use the adapter whose name contains this text (default: WGPU_ADAPTER_NAME, else the
    /// highest-performance one)
    #[arg(long, global = true)]
    adapter: Option<String>,
    /// Measured kernel choice: on (time each kernel family's variants on the first use of a
    /// shape, cache the fastest), cache (cached choices only), retune, off (built-in rules)
    /// [default: DDPM_TUNE, else on for GPUs, off for CPU adapters]
    #[arg(long, global = true)]
    tune: Option<String>,
}

impl DeviceArgs {
    fn options(&self) -> Result<GpuOptions> {
        Ok(GpuOptions {
            backend: self.backend.clone(),
            adapter: self.adapter.clone(),
            tune: self
                .tune
                .as_deref()
                .map(crate::gpu::TuneMode::parse)
                .transpose()?,
            cache_dir: None,
        })
    }
    pub fn open(&self) -> Result<Gpu> {
        let gpu = Gpu::new(&self.options()?)?;
        if gpu.caps().slow_first_compile() {
            eprintln!("{SLOW_FIRST_COMPILE}");
        }
        Ok(gpu)
    }
    /// The adapter of a data-parallel rank: the `local_rank`-th of this machine's GPUs.
    pub fn open_nth(&self, local_rank: usize) -> Result<Gpu> {
        Gpu::new_nth(&self.options()?, local_rank)
    }
}

/// Said when the adapter is one whose first compile of the kernels takes minutes.
const SLOW_FIRST_COMPILE: &str = "note: Mesa 25's lavapipe compiles our kernels slowly: the first \
    run of a command spends about a quarter of an hour compiling before its first step (Mesa keeps them in \
    its disk cache, ~/.cache/mesa_shader_cache, so later runs start in seconds); Mesa 22.3 \
    compiles them in about a minute";

#[derive(Subcommand)]
enum Command {
    /// List the graphics adapters (name, backend, type, driver, limits, features)
    Info,
    /// Check every kernel on the chosen adapter against the float64 reference
    Selftest,
    /// Train a model (default: the mnist preset on the bundled digits)
    Train(train::TrainArgs),
    /// Generate images from a checkpoint or a diffusers model folder
    Sample(sample::SampleArgs),
    /// The variational bound in bits/dim (all T terms, as the paper's code) and its
    /// rate-distortion curve, on the held-out digits or a folder of images
    Eval(eval::EvalArgs),
    /// Run the network once on inputs from a safetensors file (input.x, input.t -> output.eps)
    Predict(predict::PredictArgs),
    /// Write a checkpoint's (EMA) weights as a diffusers model folder
    Export(export::ExportArgs),
    /// The GPU memory a training step needs (recorded, not run)
    Memory(memory::MemoryArgs),
    /// Steady-state speed of a training step and a sampling step (ms, img/s, GFLOP/s)
    Bench(bench::BenchArgs),
    /// The GPU time of every kernel of one training and one sampling step, by layer and family
    Profile(profile::ProfileArgs),
}

/// Which network: a built-in preset or a diffusers config.json.
#[derive(Args, Clone)]
pub struct ModelArgs {
    /// Built-in model: mnist (6.5M parameters, the default on a GPU), mnist-small (1.1M),
    /// mnist-cpu (0.63M, the default of `train` on a CPU adapter), cifar10 (the paper's 35.7M
    /// model) or tiny
    #[arg(long, conflicts_with = "config")]
    preset: Option<String>,
    /// A diffusers UNet2DModel config.json instead of a preset
    #[arg(long)]
    config: Option<std::path::PathBuf>,
}

/// The network a command runs, and where it came from.
pub struct ModelChoice {
    /// The preset's name; None for a config file.
    pub preset: Option<String>,
    /// For reports: `mnist preset` or the config file's path.
    pub label: String,
    pub config: crate::model::UNetConfig,
}

impl ModelArgs {
    /// True if neither --preset nor --config was given.
    pub fn is_default(&self) -> bool {
        self.preset.is_none() && self.config.is_none()
    }

    /// The chosen network; `default_preset` when neither --preset nor --config is given.
    pub fn resolve(&self, default_preset: &str) -> Result<ModelChoice> {
        use anyhow::Context as _;
        if let Some(path) = &self.config {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let config = crate::model::UNetConfig::from_json(&text)
                .with_context(|| path.display().to_string())?;
            return Ok(ModelChoice {
                preset: None,
                label: path.display().to_string(),
                config,
            });
        }
        let name = self.preset.as_deref().unwrap_or(default_preset);
        Ok(ModelChoice {
            preset: Some(name.to_string()),
            label: format!("{name} preset"),
            config: crate::model::UNetConfig::preset(name)?,
        })
    }
}

/// Mesa's Vulkan and EGL drivers print "error: XDG_RUNTIME_DIR is invalid or not set" when the
/// variable is missing (headless machines, containers, CI), which reads as a failure of ours.
/// Give this process a private runtime directory in that case, as a login session would.
fn ensure_runtime_dir() {
    if std::env::var_os("XDG_RUNTIME_DIR").is_some() {
        return;
    }
    let user = std::env::var("USER").unwrap_or_else(|_| "user".into());
    let dir = std::env::temp_dir().join(format!("ddpm-runtime-{user}"));
    if std::fs::create_dir_all(&dir).is_ok() {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
        }
        std::env::set_var("XDG_RUNTIME_DIR", &dir);
    }
}

/// Only `train` runs data-parallel; N copies of another command would race on the same outputs.
fn single_process_only() -> Result<()> {
    use crate::train::distributed::{launched_rank, launched_size};
    if let Some(n) = launched_size().filter(|n| *n > 1) {
        if launched_rank() != 0 {
            std::process::exit(1);
        }
        crate::fail!(
            Config,
            "started by an MPI launcher with {n} processes: only `ddpm train` runs on several \
             ranks; run this command as a single process"
        );
    }
    Ok(())
}

/// Parses the arguments and runs the command; errors come back as one line for `main`.
pub fn main() -> Result<()> {
    let cli = Cli::parse();
    ensure_runtime_dir();
    if !matches!(cli.command, Command::Train(_)) {
        single_process_only()?;
    }
    match cli.command {
        Command::Info => info::run(&cli.device.options()?),
        Command::Selftest => selftest::run(&cli.device),
        Command::Train(a) => train::run(&cli.device, a),
        Command::Sample(a) => sample::run(&cli.device, a),
        Command::Eval(a) => eval::run(&cli.device, a),
        Command::Predict(a) => predict::run(&cli.device, a),
        Command::Export(a) => export::run(a),
        Command::Memory(a) => memory::run(&cli.device, a),
        Command::Bench(a) => bench::run(&cli.device, a),
        Command::Profile(a) => profile::run(&cli.device, a),
    }
}
