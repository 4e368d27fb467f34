//! `ddpm info`: every adapter, with what matters for this program.

use anyhow::{bail, Result};

use crate::gpu::{list_adapters, GpuOptions};

pub fn run(options: &GpuOptions) -> Result<()> {
    let adapters = list_adapters(options)?;
    if adapters.is_empty() {
        bail!("no GPU adapter found: install a GPU driver, or Mesa's software Vulkan driver lavapipe (Debian/Ubuntu: apt-get install mesa-vulkan-drivers)");
    }
    for (i, a) in adapters.iter().enumerate() {
        let info = &a.info;
        let l = &a.limits;
        println!("adapter {i}: {}", info.name);
        println!("  backend      {:?}", info.backend);
        println!("  device type  {:?}", info.device_type);
        println!("  driver       {} {}", info.driver, info.driver_info);
        println!("  vendor/device {:#06x}/{:#06x}", info.vendor, info.device);
        println!(
            "  max buffer   {} MiB, storage binding {} MiB",
            l.max_buffer_size >> 20,
            l.max_storage_buffer_binding_size >> 20
        );
        println!(
            "  workgroups   {} invocations, {} KiB shared memory, {} per dimension, {} storage buffers per stage",
            l.max_compute_invocations_per_workgroup,
            l.max_compute_workgroup_storage_size >> 10,
            l.max_compute_workgroups_per_dimension,
            l.max_storage_buffers_per_shader_stage
        );
        let f = a.features;
        let has = |x: wgpu::Features| if f.contains(x) { "yes" } else { "no" };
        println!(
            "  features     timestamps {}, f16 {}, subgroups {}",
            has(wgpu::Features::TIMESTAMP_QUERY),
            has(wgpu::Features::SHADER_F16),
            has(wgpu::Features::SUBGROUP)
        );
    }
    match crate::Gpu::new(options) {
        Ok(gpu) => {
            print_capabilities(&gpu);
            print_tuning(&gpu);
        }
        Err(e) => println!("the other commands would open no adapter: {e}"),
    }
    Ok(())
}

/// The capability table of the adapter the other commands would open, and the kernel variant
/// each family chooses from it (for the U-Net's common shapes; matmul, attention and group
/// norm may refine it per shape where measured choice is on).
fn print_capabilities(gpu: &crate::Gpu) {
    use crate::ops;
    println!(
        "capabilities of '{}' (the adapter commands open):",
        gpu.info().name
    );
    for (name, value) in gpu.caps().rows() {
        println!("  {name:<14} {value}");
    }
    let same = ops::conv::ConvGeometry::same3x3();
    let variants = [
        (
            "conv 3x3",
            format!("{:?}", ops::conv::variant(gpu, 3, 3, same)),
        ),
        ("matmul", ops::matmul::variant(gpu).name().to_string()),
        (
            "attention",
            format!(
                "{:?}; backward at 14x14 (digits, batch 64): {:?}",
                ops::attention::variant(gpu, 64, 1),
                ops::attention::backward_variant(gpu, &[64, 196, 48], 1)
            ),
        ),
        ("group norm", format!("{:?}", ops::norm::variant(gpu))),
        (
            "elementwise",
            format!("{:?}", ops::elementwise::variant(gpu)),
        ),
        ("reductions", format!("{:?}", ops::reduce::variant(gpu))),
        ("random", format!("{:?}", ops::rng::variant(gpu))),
        (
            "sampler step",
            format!("{:?}", ops::diffusion::variant(gpu)),
        ),
        ("optimiser", format!("{:?}", ops::optim::variant(gpu))),
    ];
    println!("kernel variants:");
    for (family, variant) in variants {
        println!("  {family:<14} {variant}");
    }
}

/// The measured kernel choices the chosen adapter will use (see `crate::gpu::tuning`).
fn print_tuning(gpu: &crate::Gpu) {
    let t = gpu.tuner();
    let choices = t.cached_choices();
    println!(
        "kernel tuning on '{}': {} ({} measured choices cached in {})",
        gpu.info().name,
        t.mode().name(),
        choices.len(),
        t.file()
            .map_or("memory only".into(), |f| f.display().to_string())
    );
    for (shape, variant) in &choices {
        println!("  {shape:<48} {variant}");
    }
}
