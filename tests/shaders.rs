//! Every WGSL kernel module under `shaders/`, composed from its parts, parses, validates, and translates to SPIR-V (Vulkan),
//! MSL (Metal) and HLSL (DX12) with naga. Needs no device: this is how Metal and DX12
//! portability is checked on every CI run, on a machine that has neither.

use ddpm::gpu::wgsl;

fn translate(name: &str) -> Result<(), String> {
    let source = wgsl::compose_file(name).map_err(|e| e.to_string())?;
    let module = naga::front::wgsl::parse_str(&source).map_err(|e| e.emit_to_string(&source))?;
    // Subgroup operations are allowed only in the modules named for them: those are compiled
    // only on adapters that report the SUBGROUP feature (the back ends below target versions
    // that have them); every other module must load on any device.
    let caps = if name.contains("subgroup") {
        naga::valid::Capabilities::SUBGROUP
    } else {
        naga::valid::Capabilities::empty()
    };
    let info = naga::valid::Validator::new(naga::valid::ValidationFlags::all(), caps)
        .subgroup_stages(naga::valid::ShaderStages::COMPUTE)
        .subgroup_operations(naga::valid::SubgroupOperationSet::all())
        .validate(&module)
        .map_err(|e| e.emit_to_string(&source))?;
    // Entry points are translated one at a time (as a pipeline compiles them): kernels of one
    // file may reuse a binding number with a different access mode in different entry points.
    for ep in &module.entry_points {
        let stage = ep.stage;
        let name = ep.name.clone();
        let (module, info) = naga::back::pipeline_constants::process_overrides(
            &module,
            &info,
            Some((stage, &name)),
            &Default::default(),
        )
        .map_err(|e| format!("{name}: overrides: {e}"))?;

        let spv_pipeline = naga::back::spv::PipelineOptions {
            shader_stage: stage,
            entry_point: name.clone(),
        };
        naga::back::spv::write_vec(&module, &info, &Default::default(), Some(&spv_pipeline))
            .map_err(|e| format!("{name}: SPIR-V: {e}"))?;

        let msl_options = naga::back::msl::Options {
            lang_version: (2, 4),
            ..Default::default()
        };
        let msl_pipeline = naga::back::msl::PipelineOptions {
            entry_point: Some((stage, name.clone())),
            ..Default::default()
        };
        naga::back::msl::write_string(&module, &info, &msl_options, &msl_pipeline)
            .map_err(|e| format!("{name}: MSL: {e}"))?;

        let hlsl_options = naga::back::hlsl::Options {
            shader_model: naga::back::hlsl::ShaderModel::V6_0,
            ..Default::default()
        };
        let hlsl_pipeline = naga::back::hlsl::PipelineOptions {
            entry_point: Some((stage, name.clone())),
        };
        let mut hlsl = String::new();
        naga::back::hlsl::Writer::new(&mut hlsl, &hlsl_options, &hlsl_pipeline)
            .write(&module, &info, None)
            .map_err(|e| format!("{name}: HLSL: {e}"))?;
    }
    Ok(())
}

#[test]
fn every_shader_validates_and_translates_to_spirv_msl_hlsl() {
    let modules: Vec<&str> = wgsl::modules().collect();
    assert!(
        modules.len() > 10,
        "only {} kernel modules found",
        modules.len()
    );
    let failures: Vec<String> = modules
        .iter()
        .filter_map(|name| translate(name).err().map(|e| format!("{name}: {e}")))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn a_broken_shader_is_rejected() {
    // Guards the test above against passing vacuously: a type error must be reported.
    let bad = "@compute @workgroup_size(1) fn main() { let x: f32 = 1u; }";
    let module = naga::front::wgsl::parse_str(bad);
    assert!(module.is_err());
}

/// Kernel files stay small enough to read: a family is split into files by variant, with its
/// shared code in `parts/` (see `shaders/README.md`).
#[test]
fn no_shader_file_is_over_400_lines() {
    let mut long = Vec::new();
    let mut stack = vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "wgsl") {
                let lines = std::fs::read_to_string(&path).unwrap().lines().count();
                if lines > 400 {
                    long.push(format!("{}: {lines} lines", path.display()));
                }
            }
        }
    }
    assert!(long.is_empty(), "{}", long.join("\n"));
}
