//! Matmul family: every kernel variant against the float64 reference (through `selftest`), the
//! subgroup kernel on a device that enables subgroups, and finite-difference checks of the
//! reference backward passes.

mod common;

use ddpm::ops::matmul as mm;
use ddpm::reference::matmul as reference;
use ddpm::reference::random::Rng;

#[test]
fn kernels_match_reference() {
    let checks = ddpm::selftest::matmul::checks(&common::gpu());
    for c in &checks {
        eprintln!(
            "{:<50} {:<28} err {:.2e} (tol {:.0e})",
            c.op, c.shape, c.max_rel_err, c.tolerance
        );
    }
    common::assert_all_pass(checks);
}

// ------------------------------------------------------------------------------------------
// Finite differences of the float64 reference: L = sum(g * f(inputs)) for a random g; each
// input element is nudged by +-h and (L+ - L-) / 2h compared with the backward pass.

const H: f64 = 1e-6;

fn fd_check(
    name: &str,
    inputs: &mut [Vec<f64>],
    grads: &[Vec<f64>],
    loss: &dyn Fn(&[Vec<f64>]) -> f64,
) {
    let scale = grads
        .iter()
        .flatten()
        .fold(0.0f64, |m, g| m.max(g.abs()))
        .max(1e-12);
    let mut worst = 0.0f64;
    for t in 0..inputs.len() {
        for i in 0..inputs[t].len() {
            let x0 = inputs[t][i];
            inputs[t][i] = x0 + H;
            let lp = loss(inputs);
            inputs[t][i] = x0 - H;
            let lm = loss(inputs);
            inputs[t][i] = x0;
            let fd = (lp - lm) / (2.0 * H);
            worst = worst.max((fd - grads[t][i]).abs() / scale);
        }
    }
    // The losses are (multi)linear in each input, so central differences are exact up to
    // rounding: about 1e-16 * |L| / h relative.
    assert!(
        worst < 1e-6,
        "{name}: finite differences disagree with the backward pass (rel err {worst:.2e})"
    );
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn reference_linear_backward_matches_finite_differences() {
    let mut rng = Rng::new(11);
    let (rows, fan_in, fan_out) = (5, 4, 3);
    let g = rng.normal_vec(rows * fan_out);
    let mut inputs = vec![
        rng.normal_vec(rows * fan_in),
        rng.normal_vec(fan_out * fan_in),
        rng.normal_vec(fan_out),
    ];
    let (dx, dw, db) =
        reference::linear_backward(&g, &inputs[0], &inputs[1], rows, fan_in, fan_out);
    let loss = |v: &[Vec<f64>]| {
        dot(
            &g,
            &reference::linear(&v[0], &v[1], Some(&v[2]), rows, fan_in, fan_out),
        )
    };
    fd_check("linear", &mut inputs, &[dx, dw, db], &loss);
}

#[test]
fn reference_matmul_backward_matches_finite_differences() {
    let mut rng = Rng::new(12);
    let (m, k, n) = (3, 4, 5);
    for (batch_a, batch_b) in [(2, 2), (1, 3), (3, 1), (1, 1)] {
        for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
            let batch = batch_a.max(batch_b);
            let g = rng.normal_vec(batch * m * n);
            let mut inputs = vec![
                rng.normal_vec(batch_a * m * k),
                rng.normal_vec(batch_b * k * n),
            ];
            let (da, db) = reference::matmul_backward(
                &inputs[0], &inputs[1], &g, batch_a, batch_b, m, k, n, ta, tb,
            );
            let loss = |v: &[Vec<f64>]| {
                dot(
                    &g,
                    &reference::matmul(&v[0], &v[1], batch_a, batch_b, m, k, n, ta, tb),
                )
            };
            fd_check(
                &format!("matmul batch {batch_a}/{batch_b} ta={ta} tb={tb}"),
                &mut inputs,
                &[da, db],
                &loss,
            );
        }
    }
}

#[test]
fn reference_bias_backward_matches_finite_differences() {
    let mut rng = Rng::new(13);
    let (batch, m, k, n) = (2, 3, 2, 4);
    let a = rng.normal_vec(batch * m * k);
    let b = rng.normal_vec(k * n);
    for along in [reference::BiasAlong::N, reference::BiasAlong::M] {
        let len = if along == reference::BiasAlong::N {
            n
        } else {
            m
        };
        let g = rng.normal_vec(batch * m * n);
        let mut inputs = vec![rng.normal_vec(len)];
        let db = reference::bias_backward(&g, batch, m, n, along);
        let loss = |v: &[Vec<f64>]| {
            dot(
                &g,
                &reference::matmul_bias(
                    &a,
                    &b,
                    batch,
                    1,
                    m,
                    k,
                    n,
                    false,
                    false,
                    Some((&v[0], along)),
                ),
            )
        };
        fd_check(&format!("bias along {along:?}"), &mut inputs, &[db], &loss);
    }
}

// ------------------------------------------------------------------------------------------
// The subgroup kernel (mm_cpu_sg) is compiled as its own module; the runtime only creates it on
// devices with the SUBGROUP feature. These tests cover it whatever the runtime requests.

#[test]
fn matmul_modules_validate_and_translate() {
    let source = ddpm::ops::matmul::CPU_SUBGROUP.wgsl();
    let module = naga::front::wgsl::parse_str(&source).expect("subgroup module parses");
    let info = naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::all(),
    )
    .validate(&module)
    .expect("subgroup module validates");
    for (ta, tb) in [(0.0, 0.0), (0.0, 1.0), (1.0, 0.0), (1.0, 1.0)] {
        let mut constants = naga::back::PipelineConstants::default();
        constants.insert("TA".to_string(), ta);
        constants.insert("TB".to_string(), tb);
        let (module, info) =
            naga::back::pipeline_constants::process_overrides(&module, &info, None, &constants)
                .expect("overrides");
        naga::back::spv::write_vec(&module, &info, &Default::default(), None).expect("SPIR-V");
        let msl = naga::back::msl::Options {
            lang_version: (2, 4),
            ..Default::default()
        };
        naga::back::msl::write_string(&module, &info, &msl, &Default::default()).expect("MSL");
        let hlsl = naga::back::hlsl::Options {
            shader_model: naga::back::hlsl::ShaderModel::V6_0,
            ..Default::default()
        };
        let mut text = String::new();
        naga::back::hlsl::Writer::new(&mut text, &hlsl, &Default::default())
            .write(&module, &info, None)
            .expect("HLSL");
    }
    // That the other matmul modules need no subgroup operations is checked for every module
    // in tests/shaders.rs.
}

/// A raw device with the SUBGROUP feature, if the first Vulkan/any adapter offers 8-wide ones.
fn subgroup_device() -> Option<(wgpu::Device, wgpu::Queue)> {
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
    let adapter = adapters.into_iter().find(|a| {
        let info = a.get_info();
        a.features().contains(wgpu::Features::SUBGROUP)
            && info.subgroup_min_size == 8
            && info.subgroup_max_size == 8
    })?;
    pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        label: None,
        required_features: wgpu::Features::SUBGROUP,
        required_limits: adapter.limits(),
        experimental_features: wgpu::ExperimentalFeatures::disabled(),
        memory_hints: wgpu::MemoryHints::Performance,
        trace: wgpu::Trace::Off,
    }))
    .ok()
}

fn upload(device: &wgpu::Device, data: &[f32]) -> wgpu::Buffer {
    use wgpu::util::DeviceExt;
    device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: None,
        contents: bytemuck::cast_slice(data),
        usage: wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_SRC
            | wgpu::BufferUsages::COPY_DST,
    })
}

fn download(device: &wgpu::Device, queue: &wgpu::Queue, buf: &wgpu::Buffer) -> Vec<f32> {
    let rb = device.create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size: buf.size(),
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut enc = device.create_command_encoder(&Default::default());
    enc.copy_buffer_to_buffer(buf, 0, &rb, 0, buf.size());
    queue.submit([enc.finish()]);
    rb.slice(..)
        .map_async(wgpu::MapMode::Read, |r| r.expect("map"));
    device.poll(wgpu::PollType::wait_indefinitely()).unwrap();
    let out = bytemuck::cast_slice(&rb.slice(..).get_mapped_range().unwrap()).to_vec();
    rb.unmap();
    out
}

/// Runs one product as planned by `ops::matmul::plan` on a raw device (which must have the
/// SUBGROUP feature when the plan is `mm_cpu_sg`). Returns the output.
fn run_plan(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    module: &wgpu::ShaderModule,
    plan: &ddpm::ops::matmul::Plan,
    buffers: [&[f32]; 4], // out (initial contents), a, b, bias
) -> Vec<f32> {
    let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: None,
        layout: None,
        module,
        entry_point: Some(plan.entry),
        compilation_options: wgpu::PipelineCompilationOptions {
            constants: &plan.constants,
            zero_initialize_workgroup_memory: false,
        },
        cache: None,
    });
    use wgpu::util::DeviceExt;
    let pbuf = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: None,
        contents: bytemuck::cast_slice(&plan.params),
        usage: wgpu::BufferUsages::UNIFORM,
    });
    let bufs: Vec<wgpu::Buffer> = buffers.iter().map(|d| upload(device, d)).collect();
    let entries: Vec<wgpu::BindGroupEntry> = std::iter::once(&pbuf)
        .chain(&bufs)
        .enumerate()
        .map(|(i, buf)| wgpu::BindGroupEntry {
            binding: i as u32,
            resource: buf.as_entire_binding(),
        })
        .collect();
    let bg = device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: None,
        layout: &pipeline.get_bind_group_layout(0),
        entries: &entries,
    });
    let mut enc = device.create_command_encoder(&Default::default());
    {
        let mut pass = enc.begin_compute_pass(&Default::default());
        pass.set_pipeline(&pipeline);
        pass.set_bind_group(0, &bg, &[]);
        let [x, y, z] = plan.workgroups;
        pass.dispatch_workgroups(x, y, z);
    }
    queue.submit([enc.finish()]);
    download(device, queue, &bufs[0])
}

fn max_rel_err(got: &[f32], want: &[f64]) -> f64 {
    ddpm::selftest::max_rel_err(got, want)
}

#[test]
fn subgroup_kernel_matches_reference() {
    let found = subgroup_device();
    if !common::runs_here(
        found.is_some(),
        "mm_cpu_sg (an adapter with 8-wide subgroups)",
    ) {
        return;
    }
    let (device, queue) = found.unwrap();
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some("matmul_subgroup"),
        source: wgpu::ShaderSource::Wgsl(ddpm::ops::matmul::CPU_SUBGROUP.wgsl().into()),
    });
    let mut rng = Rng::new(21);
    let f32v = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
    let mut normal =
        |n: usize| -> Vec<f64> { rng.normal_vec(n).iter().map(|&x| x as f32 as f64).collect() };
    // (batch_a, batch_b, m, k, n, ta, tb, flags): flags bit 0 accumulate, 1 bias N, 2 bias M.
    let cases = [
        (1, 1, 44, 36, 76, false, false, 0u32),
        (1, 1, 44, 36, 76, false, true, 0),
        (1, 1, 44, 36, 76, true, false, 0),
        (1, 1, 44, 36, 76, true, true, 0),
        (1, 1, 40, 37, 68, true, false, 0),
        (1, 1, 132, 68, 136, false, true, 0),
        (3, 3, 20, 12, 36, true, true, 0),
        (1, 3, 21, 16, 40, false, true, 0),
        (3, 1, 24, 13, 36, true, false, 1),
        (1, 1, 44, 36, 76, false, false, 1 | 2),
        (1, 1, 44, 36, 76, true, true, 4),
        (2, 1, 44, 36, 76, false, true, 1 | 4),
    ];
    for (batch_a, batch_b, m, k, n, ta, tb, flags) in cases {
        let batch = usize::max(batch_a, batch_b);
        let a = normal(batch_a * m * k);
        let b = normal(batch_b * k * n);
        let bias = normal(if flags & 4 != 0 { m } else { n });
        let out0 = if flags & 1 != 0 {
            normal(batch * m * n)
        } else {
            vec![f64::NAN; batch * m * n]
        };
        let along = if flags & 2 != 0 {
            Some((&bias[..], reference::BiasAlong::N))
        } else if flags & 4 != 0 {
            Some((&bias[..], reference::BiasAlong::M))
        } else {
            None
        };
        let mut want = reference::matmul_bias(&a, &b, batch_a, batch_b, m, k, n, ta, tb, along);
        if flags & 1 != 0 {
            for (w, o) in want.iter_mut().zip(&out0) {
                *w += o;
            }
        }
        let a_shape: Vec<usize> = match (batch_a > 1, ta) {
            (true, false) => vec![batch_a, m, k],
            (true, true) => vec![batch_a, k, m],
            (false, false) => vec![m, k],
            (false, true) => vec![k, m],
        };
        let b_shape: Vec<usize> = match (batch_b > 1, tb) {
            (true, false) => vec![batch_b, k, n],
            (true, true) => vec![batch_b, n, k],
            (false, false) => vec![k, n],
            (false, true) => vec![n, k],
        };
        let sizes = mm::sizes(&a_shape, &b_shape, ta, tb);
        let bias_along = if flags & 2 != 0 {
            Some(mm::BiasAlong::N)
        } else if flags & 4 != 0 {
            Some(mm::BiasAlong::M)
        } else {
            None
        };
        let plan = mm::plan(
            mm::Variant::CpuSubgroup,
            true,
            &sizes,
            ta,
            tb,
            bias_along,
            flags & 1 != 0,
        );
        assert_eq!(
            plan.variant,
            mm::Variant::CpuSubgroup,
            "case must take the subgroup kernel"
        );
        let got = run_plan(
            &device,
            &queue,
            &module,
            &plan,
            [&f32v(&out0), &f32v(&a), &f32v(&b), &f32v(&bias)],
        );
        let err = max_rel_err(&got, &want);
        // Tolerance as in selftest::matmul (f32 rounding over K <= 68 terms is ~1e-7).
        assert!(err < 1e-5, "mm_cpu_sg batch {batch_a}/{batch_b} {m}x{k}x{n} ta={ta} tb={tb} flags={flags}: err {err:.2e}");
    }
}
