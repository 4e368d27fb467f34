//! Criterion benchmarks of the matmul kernels: square products, the U-Net's shapes (attention
//! projections, the time-embedding MLP, a weight gradient), each variant the adapter runs, and a
//! summary against numpy's sgemm (OpenBLAS) on this machine.
//!
//! `mm_cpu_sg` needs a device with the SUBGROUP feature; when the runtime's device lacks it but
//! an adapter offers 8-wide subgroups, it is also timed on a raw device opened here ("raw sg").
//! FLOPs are counted as 2 * M * N * K (criterion's "elements/s" read as FLOP/s).
mod common;

use std::time::{Duration, Instant};

use common::{bench_gpu, flops, group, reduced};
use criterion::{criterion_group, criterion_main, Criterion};
use ddpm::ops::matmul::{self as mm, Variant};
use ddpm::{Gpu, Tensor};

struct Case {
    name: String,
    a: Vec<usize>,
    b: Vec<usize>,
    ta: bool,
    tb: bool,
}

impl Case {
    fn new(name: impl Into<String>, a: &[usize], b: &[usize], ta: bool, tb: bool) -> Case {
        Case {
            name: name.into(),
            a: a.to_vec(),
            b: b.to_vec(),
            ta,
            tb,
        }
    }
    fn sizes(&self) -> mm::Sizes {
        mm::sizes(&self.a, &self.b, self.ta, self.tb)
    }
    fn flop(&self) -> f64 {
        let s = self.sizes();
        2.0 * (s.batch * s.m * s.n * s.k) as f64
    }
}

fn cases(gpu: &Gpu) -> Vec<Case> {
    let small = reduced(gpu);
    let mut v = Vec::new();
    let squares: &[usize] = if small {
        &[256, 512, 1024]
    } else {
        &[256, 512, 1024, 2048]
    };
    for &n in squares {
        v.push(Case::new(
            format!("square {n}"),
            &[n, n],
            &[n, n],
            false,
            false,
        ));
    }
    // Attention q/k/v/out projections at 16x16 (256 tokens), 256 channels: x [B*256, 256] @ w^T.
    for &b in if small {
        &[2usize, 8][..]
    } else {
        &[8, 32, 128][..]
    } {
        let rows = b * 256;
        v.push(Case::new(
            format!("attn proj B={b} [{rows},256]x[256,256]^T"),
            &[rows, 256],
            &[256, 256],
            false,
            true,
        ));
    }
    // Its weight gradient dW = dy^T @ x over all tokens (ta), and input gradient dx = dy @ W.
    let b = if small { 8 } else { 128 };
    let rows = b * 256;
    v.push(Case::new(
        format!("attn proj dW B={b} [{rows},256]^T x [{rows},256]"),
        &[rows, 256],
        &[rows, 256],
        true,
        false,
    ));
    v.push(Case::new(
        format!("attn proj dx B={b} [{rows},256]x[256,256]"),
        &[rows, 256],
        &[256, 256],
        false,
        false,
    ));
    // Time-embedding MLP: [128, 128] @ [512, 128]^T.
    v.push(Case::new(
        "time MLP [128,128]x[512,128]^T",
        &[128, 128],
        &[512, 128],
        false,
        true,
    ));
    v
}

fn random(gpu: &Gpu, shape: &[usize], seed: u64) -> Tensor {
    let mut rng = ddpm::reference::random::Rng::new(seed);
    let n: usize = shape.iter().product();
    let data: Vec<f32> = (0..n).map(|_| rng.normal() as f32).collect();
    Tensor::from_slice(gpu, shape, &data)
}

// ---------------------------------------------------------------------------------------------
// mm_cpu_sg on a raw device with subgroups (for as long as the runtime's device has none).

struct Raw {
    device: wgpu::Device,
    queue: wgpu::Queue,
    module: wgpu::ShaderModule,
}

fn raw_subgroup_device() -> Option<Raw> {
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapter = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()))
        .into_iter()
        .find(|a| {
            let i = a.get_info();
            i.device_type == wgpu::DeviceType::Cpu
                && a.features().contains(wgpu::Features::SUBGROUP)
                && i.subgroup_min_size == 8
                && i.subgroup_max_size == 8
        })?;
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        label: None,
        required_features: wgpu::Features::SUBGROUP,
        required_limits: adapter.limits(),
        experimental_features: wgpu::ExperimentalFeatures::disabled(),
        memory_hints: wgpu::MemoryHints::Performance,
        trace: wgpu::Trace::Off,
    }))
    .ok()?;
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some("matmul_subgroup"),
        source: wgpu::ShaderSource::Wgsl(mm::CPU_SUBGROUP.wgsl().into()),
    });
    Some(Raw {
        device,
        queue,
        module,
    })
}

/// A prepared dispatch on the raw device; `run(n)` records n dispatches, submits and waits.
struct RawProduct<'a> {
    raw: &'a Raw,
    pipeline: wgpu::ComputePipeline,
    bind_group: wgpu::BindGroup,
    workgroups: [u32; 3],
}

impl<'a> RawProduct<'a> {
    fn new(raw: &'a Raw, case: &Case) -> Option<RawProduct<'a>> {
        use wgpu::util::DeviceExt;
        let sizes = case.sizes();
        let plan = mm::plan(
            Variant::CpuSubgroup,
            true,
            &sizes,
            case.ta,
            case.tb,
            None,
            false,
        );
        if plan.variant != Variant::CpuSubgroup {
            return None;
        }
        let d = &raw.device;
        let pipeline = d.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: None,
            layout: None,
            module: &raw.module,
            entry_point: Some(plan.entry),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants: &plan.constants,
                zero_initialize_workgroup_memory: false,
            },
            cache: None,
        });
        let storage = |n: usize| {
            let data: Vec<f32> = (0..n)
                .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
                .collect();
            d.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: None,
                contents: bytemuck::cast_slice(&data),
                usage: wgpu::BufferUsages::STORAGE,
            })
        };
        let numel = |s: &[usize]| s.iter().product::<usize>();
        let bufs = [
            storage(numel(&sizes.out_shape)),
            storage(numel(&case.a)),
            storage(numel(&case.b)),
            storage(4),
        ];
        let params = d.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: None,
            contents: bytemuck::cast_slice(&plan.params),
            usage: wgpu::BufferUsages::UNIFORM,
        });
        let entries: Vec<wgpu::BindGroupEntry> = std::iter::once(&params)
            .chain(&bufs)
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: b.as_entire_binding(),
            })
            .collect();
        let bind_group = d.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        });
        Some(RawProduct {
            raw,
            pipeline,
            bind_group,
            workgroups: plan.workgroups,
        })
    }

    fn run(&self, times: u64) {
        let mut enc = self.raw.device.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            pass.set_pipeline(&self.pipeline);
            pass.set_bind_group(0, &self.bind_group, &[]);
            for _ in 0..times {
                let [x, y, z] = self.workgroups;
                pass.dispatch_workgroups(x, y, z);
            }
        }
        self.raw.queue.submit([enc.finish()]);
        self.raw
            .device
            .poll(wgpu::PollType::wait_indefinitely())
            .expect("device lost");
    }
}

// ---------------------------------------------------------------------------------------------

fn benches(c: &mut Criterion) {
    let gpu = common::gpu();
    let best = mm::variant(&gpu);
    let raw = if mm::subgroup_kernel_available(&gpu) {
        None
    } else {
        raw_subgroup_device()
    };
    let cases = cases(&gpu);
    let mut g = group(c, "matmul", &gpu);
    for (i, case) in cases.iter().enumerate() {
        let a = random(&gpu, &case.a, 2 * i as u64);
        let b = random(&gpu, &case.b, 2 * i as u64 + 1);
        let out = Tensor::uninit(&gpu, &case.sizes().out_shape);
        // The adapter's variant on every case; on a CPU adapter the others at n = 512 too.
        let mut variants = vec![best];
        if case.name == "square 512" {
            variants.extend(Variant::ALL.into_iter().filter(|&v| v != best));
        }
        for v in variants {
            if v == Variant::CpuSubgroup && !mm::subgroup_kernel_available(&gpu) {
                continue;
            }
            let id = format!("{} {}", v.name(), case.name);
            bench_gpu(&mut g, &id, flops(case.flop()), &gpu, || {
                mm::matmul_into_with(v, &out, &a, &b, case.ta, case.tb, None, false)
            });
        }
        if let Some(raw) = &raw {
            if let Some(p) = RawProduct::new(raw, case) {
                p.run(1);
                g.throughput(flops(case.flop()));
                g.bench_function(format!("raw cpu_sg {}", case.name), |bch| {
                    bch.iter_custom(|iters| {
                        let t = Instant::now();
                        p.run(iters);
                        t.elapsed()
                    })
                });
            }
        }
    }
    g.finish();
    summary(&gpu, raw.as_ref());
}

/// Best of 5 single runs of our fastest path and of numpy (OpenBLAS) sgemm, with the ratio.
/// The machine may be shared: besides the wall-clock times it prints the CPU time per run
/// (all threads) and the rate that CPU time would give with every core to ourselves,
/// `flop / (cpu / cores)` ("idle est."), a fairer comparison under contention.
fn summary(gpu: &Gpu, raw: Option<&Raw>) {
    let sizes: &[usize] = if reduced(gpu) {
        &[1024, 2048]
    } else {
        &[1024, 2048, 4096]
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    println!("\n| n | ours: variant | ours ms | ours GFLOP/s | ours idle est. | numpy ms | numpy GFLOP/s | numpy idle est. | ours / numpy (wall) | ours / numpy (idle est.) |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for &n in sizes {
        let case = Case::new(format!("square {n}"), &[n, n], &[n, n], false, false);
        let flop = case.flop();
        let (name, (ours, ours_cpu)) = if let Some(p) = raw.and_then(|r| RawProduct::new(r, &case))
        {
            p.run(1);
            ("cpu_sg (raw device)", best_of(5, || p.run(1)))
        } else {
            let a = random(gpu, &[n, n], 1);
            let b = random(gpu, &[n, n], 2);
            let out = Tensor::uninit(gpu, &[n, n]);
            let v = mm::variant(gpu);
            let run = || {
                mm::matmul_into_with(v, &out, &a, &b, false, false, None, false);
                gpu.sync();
            };
            run();
            (v.name(), best_of(5, run))
        };
        let gf = |s: f64| flop / s / 1e9;
        let idle = |cpu: f64| {
            if reduced(gpu) {
                format!("{:.1}", gf(cpu / cores))
            } else {
                "-".into()
            }
        };
        let ours_cols = format!("{:.1} | {:.1} | {}", ours * 1e3, gf(ours), idle(ours_cpu));
        match numpy_seconds(n) {
            Some((np, np_cpu)) => println!(
                "| {n} | {name} | {ours_cols} | {:.1} | {:.1} | {:.1} | {:.2} | {:.2} |",
                np * 1e3,
                gf(np),
                gf(np_cpu / cores),
                np / ours,
                (np_cpu / cores) / (ours_cpu / cores)
            ),
            None => println!("| {n} | {name} | {ours_cols} | - | - | - | - | - |"),
        }
    }
}

/// (best wall time, mean CPU time of this process per run) over `times` runs.
fn best_of(times: usize, mut f: impl FnMut()) -> (f64, f64) {
    let cpu0 = cpu_seconds();
    let best = (0..times)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::MAX, f64::min);
    (best, (cpu_seconds() - cpu0) / times as f64)
}

/// User + system CPU time of this process, all threads (Linux; 0 elsewhere).
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    let Some(close) = stat.rfind(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
    let ticks: f64 = fields.get(11).and_then(|f| f.parse().ok()).unwrap_or(0.0)
        + fields
            .get(12)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0);
    ticks / 100.0 // USER_HZ
}

/// numpy's float32 matmul (OpenBLAS sgemm): (best wall time of 5, mean CPU time per run), if
/// python3 with numpy is installed.
fn numpy_seconds(n: usize) -> Option<(f64, f64)> {
    let script = format!(
        "import numpy as np, time\n\
         a = np.random.rand({n}, {n}).astype(np.float32); b = np.random.rand({n}, {n}).astype(np.float32)\n\
         a @ b\n\
         best = 1e9; c0 = time.process_time()\n\
         for _ in range(5):\n    t = time.perf_counter(); a @ b; best = min(best, time.perf_counter() - t)\n\
         print(best, (time.process_time() - c0) / 5)\n"
    );
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let mut it = text.split_whitespace().map(|v| v.parse::<f64>());
    Some((it.next()?.ok()?, it.next()?.ok()?))
}

/// The built-in rule's variant against the measured choice (`ddpm::gpu::tuning`) on every case,
/// in one run: the tuned device measures each shape once (into a scratch cache), then both are
/// timed alike. The tuned choice should equal or beat the rule's.
fn tuned_vs_rule(c: &mut Criterion) {
    let gpu = common::gpu();
    let dir = std::env::temp_dir().join(format!("ddpm-bench-tuning-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let tuned = Gpu::new(&ddpm::gpu::GpuOptions {
        tune: Some(ddpm::gpu::TuneMode::On),
        cache_dir: Some(dir.clone()),
        ..Default::default()
    })
    .expect("a wgpu adapter");
    let mut g = group(c, "matmul tuned vs rule", &gpu);
    for (i, case) in cases(&gpu).iter().enumerate() {
        let sizes = case.sizes();
        let rule = mm::choose(&gpu, &sizes);
        let a = random(&gpu, &case.a, 2 * i as u64);
        let b = random(&gpu, &case.b, 2 * i as u64 + 1);
        let out = Tensor::uninit(&gpu, &sizes.out_shape);
        bench_gpu(
            &mut g,
            &format!("rule {} {}", rule.name(), case.name),
            flops(case.flop()),
            &gpu,
            || mm::matmul_into_with(rule, &out, &a, &b, case.ta, case.tb, None, false),
        );
        let (ta, tb) = (
            random(&tuned, &case.a, 2 * i as u64),
            random(&tuned, &case.b, 2 * i as u64 + 1),
        );
        let tout = Tensor::uninit(&tuned, &sizes.out_shape);
        mm::matmul_into(&tout, &ta, &tb, case.ta, case.tb, false);
        tuned.sync();
        let choice = tuned.tuner().cached_choices().into_iter().find(|(k, _)| {
            k.starts_with(&format!(
                "matmul b{} m{} k{} n{} ",
                sizes.batch, sizes.m, sizes.k, sizes.n
            ))
        });
        let name = choice.map_or("rule".to_string(), |(_, v)| v);
        bench_gpu(
            &mut g,
            &format!("tuned {name} {}", case.name),
            flops(case.flop()),
            &tuned,
            || mm::matmul_into(&tout, &ta, &tb, case.ta, case.tb, false),
        );
    }
    g.finish();
    let (_, measured, seconds) = tuned.tuner().stats();
    println!("tuning cost: {measured} shapes measured in {seconds:.1} s");
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group! {
    name = kernels;
    config = Criterion::default().warm_up_time(Duration::from_millis(500));
    targets = benches, tuned_vs_rule
}
criterion_main!(kernels);
