//! Pipeline cache: each (shader, entry point, override constants) is compiled once per process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A WGSL source file from `shaders/`, embedded at compile time (see the `shader!` macro).
#[derive(Clone, Copy, Debug)]
pub struct Shader {
    pub name: &'static str,
    pub source: &'static str,
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
        let module = {
            let mut modules = self.modules.lock().unwrap();
            modules
                .entry(shader.name)
                .or_insert_with(|| {
                    device.create_shader_module(wgpu::ShaderModuleDescriptor {
                        label: Some(shader.name),
                        source: wgpu::ShaderSource::Wgsl(shader.source.into()),
                    })
                })
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
        let p = Arc::new(Pipeline { pipeline, layout });
        self.pipelines.lock().unwrap().insert(k, p.clone());
        p
    }
}
