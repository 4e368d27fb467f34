//! Pipeline cache: each (shader, entry point, override constants) is compiled once per process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A WGSL kernel module: its top-level source, embedded at compile time (see the `shader!`
/// macro), whose `#include` directives are resolved when its pipelines are first built.
#[derive(Clone, Copy, Debug)]
pub struct Shader {
    pub name: &'static str,
    pub source: &'static str,
}

impl Shader {
    /// The module's WGSL with its `#include`s resolved (see [`super::wgsl`]); panics on a
    /// composition error, a mistake in `shaders/` that the tests catch.
    pub fn wgsl(&self) -> String {
        super::wgsl::compose(self.name, self.source).unwrap_or_else(|e| panic!("{e}"))
    }
}

/// A compiled compute pipeline and the layout of its bind group 0.
pub(crate) struct Pipeline {
    pub pipeline: wgpu::ComputePipeline,
    pub layout: wgpu::BindGroupLayout,
}

#[derive(Default)]
pub(crate) struct PipelineCache {
    modules: Mutex<HashMap<&'static str, wgpu::ShaderModule>>,
    pipelines: Mutex<HashMap<String, Arc<Pipeline>>>,
}

fn key(shader: &Shader, entry: &str, constants: &[(&str, f64)]) -> String {
    let mut k = format!("{}:{}", shader.name, entry);
    for (name, value) in constants {
        k.push_str(&format!(":{name}={value}"));
    }
    k
}

/// Whether wgpu's run-time checks are compiled into our kernels: `DDPM_SHADER_CHECKS=1` turns
/// them on (a debugging aid). By default they are off, see [`create_module`].
pub fn shader_checks() -> bool {
    std::env::var("DDPM_SHADER_CHECKS").is_ok_and(|v| v == "1")
}

/// Whether each pipeline's compile time is printed to stderr (`DDPM_LOG_COMPILES=1`): a
/// diagnostic for drivers that compile some kernel pathologically slowly. (On lavapipe the
/// time includes the machine-code generation, which it does when the pipeline is created.)
fn log_compiles() -> bool {
    std::env::var("DDPM_LOG_COMPILES").is_ok_and(|v| v == "1")
}

/// Compiles a WGSL module. wgpu's default inserts run-time checks into every shader: a clamp
/// on each buffer index, a counter in each loop (so that no loop can run forever) and guards
/// around integer division. They cost a large share of the run time on CPU adapters, where
/// each check runs per SIMD lane, and on GPUs. Our kernels do their own bounds logic and every
/// one of them is checked against the float64 reference with poisoned outputs (tests and
/// `ddpm selftest`), so they are compiled without wgpu's checks unless `DDPM_SHADER_CHECKS=1`.
fn create_module(device: &wgpu::Device, shader: &Shader) -> wgpu::ShaderModule {
    // A composition error is a mistake in `shaders/`, which the tests compose and validate.
    let source = shader.wgsl();
    let desc = wgpu::ShaderModuleDescriptor {
        label: Some(shader.name),
        source: wgpu::ShaderSource::Wgsl(source.into()),
    };
    if shader_checks() {
        return device.create_shader_module(desc);
    }
    // SAFETY: the WGSL is validated by naga as usual; skipping the run-time checks is sound
    // as long as our kernels index inside their bindings and their loops terminate, which the
    // reference tests exercise for every kernel on sizes that are not multiples of any tile.
    unsafe { device.create_shader_module_trusted(desc, wgpu::ShaderRuntimeChecks::unchecked()) }
}

impl PipelineCache {
    pub fn get(
        &self,
        device: &wgpu::Device,
        shader: &Shader,
        entry: &str,
        constants: &[(&str, f64)],
    ) -> Arc<Pipeline> {
        let k = key(shader, entry, constants);
        if let Some(p) = self.pipelines.lock().unwrap().get(&k) {
            return p.clone();
        }
        // Compile outside the map lock's critical path for other keys would be nicer, but
        // pipelines are few and compiled once; a simple lock keeps the cache obviously correct.
        let started = std::time::Instant::now();
        let module = {
            let mut modules = self.modules.lock().unwrap();
            modules
                .entry(shader.name)
                .or_insert_with(|| create_module(device, shader))
                .clone()
        };
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(&k),
            layout: None,
            module: &module,
            entry_point: Some(entry),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants,
                // Kernels initialise the workgroup memory they read; skipping the zero fill
                // saves a pass over shared memory per workgroup.
                zero_initialize_workgroup_memory: false,
            },
            cache: None,
        });
        let layout = pipeline.get_bind_group_layout(0);
        if log_compiles() {
            eprintln!(
                "compiled {k} in {:.0} ms",
                started.elapsed().as_secs_f64() * 1e3
            );
        }
        let p = Arc::new(Pipeline { pipeline, layout });
        self.pipelines.lock().unwrap().insert(k, p.clone());
        p
    }
}
