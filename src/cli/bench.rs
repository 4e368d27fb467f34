//! `ddpm bench`: steady-state throughput of a training step and a sampling step on the chosen
//! adapter (wall time with the GPU synchronised after each step, after warm-up).

use anyhow::Result;
use clap::Args;

use super::{DeviceArgs, ModelArgs};
use crate::perf::{forward_flops_per_image, spread, Workload};

#[derive(Args)]
pub struct BenchArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Images per step
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
    /// Timed steps of each kind (after warm-up)
    #[arg(long, default_value_t = 5)]
    repeats: usize,
    /// Untimed steps first (kernel compilation happens in the first)
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    /// Print one JSON object instead of text
    #[arg(long)]
    json: bool,
}

pub fn run(device: &DeviceArgs, a: BenchArgs) -> Result<()> {
    anyhow::ensure!(a.batch_size >= 1, "--batch-size must be at least 1");
    anyhow::ensure!(a.repeats >= 1, "--repeats must be at least 1");
    let choice = a.model.resolve("mnist")?;
    let (name, config) = (choice.label, choice.config);
    let gpu = device.open()?;
    crate::train::check_fits(&gpu, &config, a.batch_size)?;
    let fwd_flops = forward_flops_per_image(&gpu, &config);
    let mut w = Workload::new(&gpu, &config, a.batch_size);
    if !a.json {
        eprintln!(
            "{name}, batch {} on '{}': warming up, then {} timed steps of each kind...",
            a.batch_size,
            gpu.info().name,
            a.repeats
        );
    }
    gpu.reset_peak_memory();
    let train = w.time_train_steps(a.warmup, a.repeats);
    let peak = gpu.memory_stats().peak_bytes_in_use;
    let sample = w.time_sampling_steps(a.warmup.min(1), a.repeats);
    let (tm, tmin, tmax) = spread(&train);
    let (sm, smin, smax) = spread(&sample);
    // What a kernel of nothing but multiply-adds reaches here: no step can beat its FLOPs at it.
    let ceiling = crate::ops::peak::measure(&gpu).flops_per_s;
    let b = a.batch_size as f64;
    // A training step does ~3x the forward FLOPs (forward, input and weight gradients).
    let train_flop = 3.0 * fwd_flops * b;
    let train_gflops = train_flop / tm * 1e-9;
    let sample_gflops = fwd_flops * b / sm * 1e-9;
    if a.json {
        let v = serde_json::json!({
            "model": name,
            "batch": a.batch_size,
            "adapter": gpu.info().name,
            "backend": format!("{:?}", gpu.info().backend),
            "driver": gpu.info().driver,
            "driver_info": gpu.info().driver_info,
            "parameters": w.trainer.model.parameter_count(),
            "forward_gflop_per_image": fwd_flops * 1e-9,
            "train_step_ms": {"median": tm * 1e3, "min": tmin * 1e3, "max": tmax * 1e3},
            "train_img_per_s": b / tm,
            "train_gflop_per_s": train_gflops,
            "train_step_gflop": train_flop * 1e-9,
            "ceiling_gflop_per_s": ceiling * 1e-9,
            "sample_step_ms": {"median": sm * 1e3, "min": smin * 1e3, "max": smax * 1e3},
            "sample_img_per_s": b / sm,
            "sample_gflop_per_s": sample_gflops,
            "peak_memory_mib": peak as f64 / (1u64 << 20) as f64,
            "repeats": a.repeats,
            "tuning": {
                "mode": gpu.tuner().mode().name(),
                "measured": gpu.tuner().stats().1,
                "reused": gpu.tuner().stats().0,
                "seconds": gpu.tuner().stats().2,
            },
        });
        println!("{v}");
        return Ok(());
    }
    println!(
        "{name} ({} parameters, {:.2} GFLOP forward per image), batch {}, '{}' ({:?})",
        w.trainer.model.parameter_count(),
        fwd_flops * 1e-9,
        a.batch_size,
        gpu.info().name,
        gpu.info().backend
    );
    println!(
        "  training step: {:.2} ms median ({:.2}-{:.2}), {:.1} img/s, {:.1} GFLOP/s",
        tm * 1e3,
        tmin * 1e3,
        tmax * 1e3,
        b / tm,
        train_gflops
    );
    println!(
        "  sampling step: {:.2} ms median ({:.2}-{:.2}), {:.1} img/s, {:.1} GFLOP/s",
        sm * 1e3,
        smin * 1e3,
        smax * 1e3,
        b / sm,
        sample_gflops
    );
    println!(
        "  arithmetic ceiling: {:.1} GFLOP/s (multiply-adds on registers only, `ops::peak`): \
         no training step of these FLOPs can take less than {:.0} ms here",
        ceiling * 1e-9,
        train_flop / ceiling * 1e3
    );
    println!(
        "  peak memory of live tensors during training: {:.1} MiB",
        peak as f64 / (1u64 << 20) as f64
    );
    let (reused, tuned, seconds) = gpu.tuner().stats();
    println!(
        "  kernel tuning {}: {tuned} shapes measured ({seconds:.1} s), {reused} choices reused \
         from the cache",
        gpu.tuner().mode().name()
    );
    Ok(())
}
