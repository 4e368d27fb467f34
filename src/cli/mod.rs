//! The `ddpm` command line: argument parsing (clap) and one module per command.

mod export;
mod info;
mod memory;
mod predict;
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
}

impl DeviceArgs {
    fn options(&self) -> GpuOptions {
        GpuOptions {
            backend: self.backend.clone(),
            adapter: self.adapter.clone(),
        }
    }
    pub fn open(&self) -> Result<Gpu> {
        Gpu::new(&self.options())
    }
}

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
    /// Run the network once on inputs from a safetensors file (input.x, input.t -> output.eps)
    Predict(predict::PredictArgs),
    /// Write a checkpoint's (EMA) weights as a diffusers model folder
    Export(export::ExportArgs),
    /// The GPU memory a training step needs (recorded, not run)
    Memory(memory::MemoryArgs),
}

/// Parses the arguments and runs the command; errors come back as one line for `main`.
pub fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Info => info::run(&cli.device.options()),
        Command::Selftest => selftest::run(&cli.device),
        Command::Train(a) => train::run(&cli.device, a),
        Command::Sample(a) => sample::run(&cli.device, a),
        Command::Predict(a) => predict::run(&cli.device, a),
        Command::Export(a) => export::run(a),
        Command::Memory(a) => memory::run(&cli.device, a),
    }
}
