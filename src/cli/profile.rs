//! `ddpm profile`: the GPU time of every dispatch of one steady-state training step and one
//! sampling step, grouped by phase, layer, kernel family and kernel (see [`crate::perf`]).

use anyhow::Result;
use clap::Args;

use super::{DeviceArgs, ModelArgs};
use crate::perf::{layer_report, report, spread, Workload};

#[derive(Args)]
pub struct ProfileArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Images per step
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
    /// Time each dispatch with the host clock (submit and wait per dispatch) even where GPU
    /// timestamp queries exist
    #[arg(long)]
    host_clock: bool,
    /// Also list the kernels of the layers whose name contains this text (e.g. `up1.attn`),
    /// forward and backward apart
    #[arg(long)]
    layer: Option<String>,
}

pub fn run(device: &DeviceArgs, a: ProfileArgs) -> Result<()> {
    anyhow::ensure!(a.batch_size >= 1, "--batch-size must be at least 1");
    let choice = a.model.resolve("mnist")?;
    let (name, config) = (choice.label, choice.config);
    let gpu = device.open()?;
    crate::train::check_fits(&gpu, &config, a.batch_size)?;
    let clock = gpu.profile_clock_name(!a.host_clock);
    println!(
        "{name}, batch {} on '{}' ({:?}); clock: {clock}",
        a.batch_size,
        gpu.info().name,
        gpu.info().backend
    );
    let ceiling = crate::ops::peak::measure(&gpu);
    println!(
        "arithmetic ceiling: {:.1} GFLOP/s (multiply-adds on registers only, {} vec4 chains; \
         `ops::peak`)",
        ceiling.flops_per_s * 1e-9,
        ceiling.chains
    );
    let mut w = Workload::new(&gpu, &config, a.batch_size);
    eprintln!("warming up (the first steps compile the kernels)...");
    let (wall, _, _) = spread(&w.time_train_steps(2, 1));
    let records = w.profile_train_step(!a.host_clock);
    println!("\n== one training step ==");
    print!("{}", report(&records, wall));
    print_layer(&records, a.layer.as_deref());
    let (wall, _, _) = spread(&w.time_sampling_steps(1, 1));
    let records = w.profile_sampling_step(!a.host_clock);
    println!("\n== one sampling step (network + DDPM update) ==");
    print!("{}", report(&records, wall));
    print_layer(&records, a.layer.as_deref());
    Ok(())
}

fn print_layer(records: &[crate::gpu::profile::DispatchRecord], layer: Option<&str>) {
    if let Some(layer) = layer {
        print!("{}", layer_report(records, layer));
    }
}
