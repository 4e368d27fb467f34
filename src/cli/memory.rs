//! `ddpm memory`: the GPU memory one training step needs, measured by recording a step (every
//! buffer it takes from the pool) without running it. Answers "will it fit?" before training.

use anyhow::Result;
use clap::Args;

use super::DeviceArgs;
use crate::model::UNetConfig;
use crate::train::{Hyper, Trainer};

#[derive(Args)]
pub struct MemoryArgs {
    /// mnist, mnist-small, mnist-cpu, cifar10 or tiny
    #[arg(long, default_value = "mnist")]
    preset: String,
    /// Images per training step
    #[arg(long, default_value_t = 128)]
    batch_size: usize,
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1u64 << 20) as f64
}

pub fn run(device: &DeviceArgs, a: MemoryArgs) -> Result<()> {
    anyhow::ensure!(a.batch_size >= 1, "--batch-size must be at least 1");
    let config = UNetConfig::preset(&a.preset)?;
    let gpu = device.open()?;
    crate::train::check_fits(&gpu, &config, a.batch_size)?;
    let hyper = Hyper {
        batch_size: a.batch_size,
        lr: 1e-4,
        warmup: 0,
        grad_clip: 1.0,
        ema_decay: 0.9999,
        seed: 0,
        decay_steps: 0,
    };
    let trainer = Trainer::new(&gpu, &config, hyper, None);
    gpu.sync();
    let state = gpu.memory_stats().bytes_in_use;
    gpu.reset_peak_memory();
    let n = a.batch_size * config.in_channels * config.sample_size * config.sample_size;
    trainer.record_step(0, &vec![0.0; n]);
    gpu.discard_pending();
    let peak = gpu.memory_stats().peak_bytes_in_use;
    let params = trainer.store.layout.total as u64 * 4;
    println!(
        "{} preset, batch {}: {} parameters",
        a.preset,
        a.batch_size,
        trainer.model.parameter_count()
    );
    println!(
        "  model state (weights, gradients, Adam m and v, EMA): {:.1} MiB ({:.1} MiB per copy)",
        mib(state),
        mib(params)
    );
    println!(
        "  activations and temporaries at the peak of a step: {:.1} MiB",
        mib(peak - state)
    );
    println!(
        "  peak of a training step: {:.1} MiB (tensor sizes rounded to the pool's size classes)",
        mib(peak)
    );
    Ok(())
}
