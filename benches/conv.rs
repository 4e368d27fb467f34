//! Criterion benchmarks of the conv kernels: forward, input gradient, weight gradient (and the
//! three together) on the U-Net's shapes, reported as FLOP/s (2*B*Cout*Hout*Wout*Cin*kh*kw per
//! pass). On a CPU adapter (lavapipe) the batch is reduced, and the burn comparison shape
//! ([8, 64, 32, 32], 64 -> 64, 3x3: burn 0.22 took 69 ms forward, 252 ms forward + backward)
//! is included.
mod common;

use common::{bench_gpu, flops, group, reduced};
use criterion::{criterion_group, criterion_main, Criterion};
use ddpm::ops::conv::{self, ConvGeometry, ConvVariant};
use ddpm::reference::random::Rng;
use ddpm::Tensor;

struct Shape {
    name: &'static str,
    b: usize,
    cin: usize,
    cout: usize,
    hw: usize,
    k: usize,
    g: ConvGeometry,
}

fn shapes(small: bool) -> Vec<Shape> {
    let s = |name, b, cin, cout, hw, k, g| Shape {
        name,
        b,
        cin,
        cout,
        hw,
        k,
        g,
    };
    let s1 = ConvGeometry::same3x3();
    let down = ConvGeometry::downsample_asymmetric();
    let pw = ConvGeometry::pointwise();
    let mut v = Vec::new();
    if small {
        v.push(s("burn-cmp 64->64 32x32", 8, 64, 64, 32, 3, s1));
        let b = 2;
        v.push(s("128->128 32x32", b, 128, 128, 32, 3, s1));
        v.push(s("256->256 16x16", b, 256, 256, 16, 3, s1));
        v.push(s("down 128 32->16", b, 128, 128, 32, 3, down));
        v.push(s("1x1 512->256 16x16", b, 512, 256, 16, 1, pw));
        v.push(s("256->256 8x8", 8, 256, 256, 8, 3, s1));
    } else {
        for b in [8, 32, 128] {
            v.push(s("128->128 32x32", b, 128, 128, 32, 3, s1));
            v.push(s("256->256 16x16", b, 256, 256, 16, 3, s1));
            v.push(s("256->256 8x8", b, 256, 256, 8, 3, s1));
            v.push(s("down 128 32->16", b, 128, 128, 32, 3, down));
            v.push(s("down 256 16->8", b, 256, 256, 16, 3, down));
            v.push(s("1x1 512->256 16x16", b, 512, 256, 16, 1, pw));
        }
    }
    v
}

fn random(gpu: &ddpm::Gpu, rng: &mut Rng, shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    let data: Vec<f32> = (0..n).map(|_| rng.normal() as f32).collect();
    Tensor::from_slice(gpu, shape, &data)
}

/// The conv layers of the `mnist-small` preset (batch 64): (name, cin, cout, hw, k, geometry).
fn mnist_small_shapes() -> Vec<Shape> {
    let s = |name, cin, cout, hw, k, g| Shape {
        name,
        b: 64,
        cin,
        cout,
        hw,
        k,
        g,
    };
    let s1 = ConvGeometry::same3x3();
    let down = ConvGeometry::downsample_asymmetric();
    let pw = ConvGeometry::pointwise();
    vec![
        s("64->64 28x28", 64, 64, 28, 3, s1),
        s("96->32 28x28", 96, 32, 28, 3, s1),
        s("32->32 28x28", 32, 32, 28, 3, s1),
        s("128->64 14x14", 128, 64, 14, 3, s1),
        s("64->64 14x14", 64, 64, 14, 3, s1),
        s("128->64 7x7", 128, 64, 7, 3, s1),
        s("64->64 7x7", 64, 64, 7, 3, s1),
        s("down 32 28->14", 32, 32, 28, 3, down),
        s("down 64 14->7", 64, 64, 14, 3, down),
        s("1x1 96->32 28x28", 96, 32, 28, 1, pw),
        s("1x1 128->64 14x14", 128, 64, 14, 1, pw),
        s("1x1 128->64 7x7", 128, 64, 7, 1, pw),
    ]
}

/// `CONV_PROFILE=1 cargo bench --bench conv`: instead of criterion, GPU time per kernel entry
/// for each pass of each mnist-small conv shape (minimum over CONV_PROFILE_REPS runs, default 3).
fn profile_shapes(gpu: &ddpm::Gpu) {
    let reps: usize = std::env::var("CONV_PROFILE_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let filter = std::env::var("CONV_PROFILE_FILTER").unwrap_or_default();
    let mut rng = Rng::new(5);
    let mut total = 0.0;
    for s in mnist_small_shapes() {
        if !s.name.contains(filter.as_str()) {
            continue;
        }
        let (ho, wo) = s.g.output_hw(s.hw, s.hw, s.k, s.k);
        let x = random(gpu, &mut rng, &[s.b, s.cin, s.hw, s.hw]);
        let w = random(gpu, &mut rng, &[s.cout, s.cin, s.k, s.k]);
        let bias = random(gpu, &mut rng, &[s.cout]);
        let dy = random(gpu, &mut rng, &[s.b, s.cout, ho, wo]);
        let dw = Tensor::zeros(gpu, &[s.cout, s.cin, s.k, s.k]);
        let pass = 2.0 * (s.b * s.cout * ho * wo * s.cin * s.k * s.k) as f64;
        let (g_, hw) = (s.g, (s.hw, s.hw));
        let auto = conv::variant(gpu, s.k, s.k, s.g);
        // CONV_PROFILE_COMPARE=1: also the Direct variant, interleaved rep by rep with the
        // adapter's choice so that both see the same machine load.
        let mut variants = vec![auto];
        if std::env::var_os("CONV_PROFILE_COMPARE").is_some() && auto != ConvVariant::Direct {
            variants.push(ConvVariant::Direct);
        }
        let passes: [(&str, &dyn Fn(ConvVariant)); 3] = [
            ("fwd", &|v| {
                drop(conv::conv2d_with(v, &x, &w, Some(&bias), g_))
            }),
            ("bwd-input", &|v| {
                drop(conv::conv2d_backward_input_with(v, &dy, &w, g_, hw))
            }),
            ("bwd-weight", &|v| {
                conv::conv2d_backward_weight_with(v, &dy, &x, &dw, g_)
            }),
        ];
        for (what, f) in passes {
            let mut best: Vec<Option<Vec<(String, f64)>>> = vec![None; variants.len()];
            for &v in &variants {
                f(v);
            }
            gpu.sync();
            for _ in 0..reps {
                for (i, &v) in variants.iter().enumerate() {
                    gpu.profile_begin(true);
                    f(v);
                    let recs = gpu.profile_end();
                    let r: Vec<(String, f64)> =
                        recs.iter().map(|r| (r.entry.clone(), r.seconds)).collect();
                    let sum = |v: &[(String, f64)]| v.iter().map(|e| e.1).sum::<f64>();
                    if best[i].as_ref().is_none_or(|b| sum(&r) < sum(b)) {
                        best[i] = Some(r);
                    }
                }
            }
            for (i, v) in variants.iter().enumerate() {
                let best = best[i].take().unwrap();
                let sum: f64 = best.iter().map(|e| e.1).sum();
                if i == 0 {
                    total += sum;
                }
                let parts: Vec<String> = best
                    .iter()
                    .map(|(e, t)| format!("{e} {:.1}", t * 1e3))
                    .collect();
                println!(
                    "{:<18} {:<10} {:<14} {:7.1} ms {:5.1} GFLOP/s  [{}]",
                    s.name,
                    what,
                    format!("{v:?}"),
                    sum * 1e3,
                    pass / sum * 1e-9,
                    parts.join(", ")
                );
            }
        }
    }
    println!("total {:.1} ms", total * 1e3);
}

/// The forward 3x3 and 1x1 convolutions of the digit presets (`mnist-cpu`: 24/48 channels,
/// `mnist-small`: 32/64), as (cin, cout, hw, k).
fn digit_forward_shapes() -> Vec<(usize, usize, usize, usize)> {
    vec![
        (24, 24, 28, 3),
        (72, 24, 28, 3),
        (48, 48, 28, 3),
        (48, 48, 14, 3),
        (96, 48, 14, 3),
        (48, 48, 7, 3),
        (96, 48, 7, 3),
        (72, 24, 28, 1),
        (32, 32, 28, 3),
        (64, 64, 28, 3),
        (96, 32, 28, 3),
        (64, 64, 14, 3),
        (128, 64, 14, 3),
        (128, 64, 7, 3),
    ]
}

/// `CONV_BLOCKS=1 cargo bench --bench conv`: instead of criterion, the direct forward kernels
/// with 16-channel blocks against the block `conv::direct_block` picks, interleaved call by call
/// (so both see the same machine load) on the digit presets' shapes at batch `CONV_BLOCKS_BATCH`
/// (default 32): the median of 7 wall-clock times of 3 synchronised calls each (pad, weight
/// packing and kernel), and their ratio.
fn block_comparison(gpu: &ddpm::Gpu) {
    let rule = conv::variant(gpu, 3, 3, ConvGeometry::same3x3());
    if rule == ConvVariant::Gemm {
        println!("this adapter runs the Gemm kernels: no channel blocks to compare");
        return;
    }
    let b: usize = std::env::var("CONV_BLOCKS_BATCH")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32);
    let mut rng = Rng::new(7);
    let (mut total16, mut total) = (0.0, 0.0);
    for (cin, cout, hw, k) in digit_forward_shapes() {
        let g = if k == 3 {
            ConvGeometry::same3x3()
        } else {
            ConvGeometry::pointwise()
        };
        let x = random(gpu, &mut rng, &[b, cin, hw, hw]);
        let w = random(gpu, &mut rng, &[cout, cin, k, k]);
        let bias = random(gpu, &mut rng, &[cout]);
        let block = conv::direct_block(cout);
        let run = |blk: usize| {
            gpu.sync();
            let t = std::time::Instant::now();
            for _ in 0..3 {
                drop(conv::conv2d_direct_block(rule, blk, &x, &w, Some(&bias), g));
            }
            gpu.sync();
            t.elapsed().as_secs_f64() / 3.0
        };
        run(16);
        run(block);
        let (mut t16, mut tb) = (Vec::new(), Vec::new());
        for _ in 0..7 {
            t16.push(run(16));
            tb.push(run(block));
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let (m16, mb) = (median(&mut t16), median(&mut tb));
        total16 += m16;
        total += mb;
        println!(
            "B{b} {cin:>3}->{cout:<3} {hw:>2}x{hw:<2} {k}x{k}  block 16: {:7.2} ms  block {block}: {:7.2} ms  ratio {:.2}",
            m16 * 1e3,
            mb * 1e3,
            m16 / mb
        );
    }
    println!(
        "all shapes: block 16 {:.1} ms, chosen blocks {:.1} ms, ratio {:.2}",
        total16 * 1e3,
        total * 1e3,
        total16 / total
    );
}

fn benches(c: &mut Criterion) {
    let gpu = common::gpu();
    conv::warm_up(&gpu);
    if std::env::var_os("CONV_PROFILE").is_some() {
        profile_shapes(&gpu);
        return;
    }
    if std::env::var_os("CONV_BLOCKS").is_some() {
        block_comparison(&gpu);
        return;
    }
    let small = reduced(&gpu);
    let mut g = group(c, "conv2d", &gpu);
    let mut rng = Rng::new(5);
    for s in shapes(small) {
        let (ho, wo) = s.g.output_hw(s.hw, s.hw, s.k, s.k);
        let x = random(&gpu, &mut rng, &[s.b, s.cin, s.hw, s.hw]);
        let w = random(&gpu, &mut rng, &[s.cout, s.cin, s.k, s.k]);
        let bias = random(&gpu, &mut rng, &[s.cout]);
        let dy = random(&gpu, &mut rng, &[s.b, s.cout, ho, wo]);
        let dw = Tensor::zeros(&gpu, &[s.cout, s.cin, s.k, s.k]);
        let pass = 2.0 * (s.b * s.cout * ho * wo * s.cin * s.k * s.k) as f64;
        let id = |what: &str| format!("{what} B{} {}", s.b, s.name);
        let (g_, hw) = (s.g, (s.hw, s.hw));
        bench_gpu(&mut g, &id("fwd"), flops(pass), &gpu, || {
            let _ = conv::conv2d(&x, &w, Some(&bias), g_);
        });
        bench_gpu(&mut g, &id("bwd-input"), flops(pass), &gpu, || {
            let _ = conv::conv2d_backward_input(&dy, &w, g_, hw);
        });
        bench_gpu(&mut g, &id("bwd-weight"), flops(pass), &gpu, || {
            conv::conv2d_backward_weight(&dy, &x, &dw, g_);
        });
        if s.name.starts_with("burn") || !small {
            bench_gpu(&mut g, &id("fwd+bwd"), flops(3.0 * pass), &gpu, || {
                let _ = conv::conv2d(&x, &w, Some(&bias), g_);
                let _ = conv::conv2d_backward_input(&dy, &w, g_, hw);
                conv::conv2d_backward_weight(&dy, &x, &dw, g_);
                conv::conv2d_backward_bias(&dy, &bias);
            });
        }
    }
    g.finish();
}

/// The built-in rule's variant against the measured choice (`ddpm::gpu::tuning`) for each pass
/// of each shape, in one run: the tuned device measures each once (into a scratch cache), then
/// both are timed alike. The tuned choice should equal or beat the rule's. (On GPUs the only
/// candidate is the rule's Gemm, so both rows time the same kernel.)
fn tuned_vs_rule(c: &mut Criterion) {
    if std::env::var_os("CONV_PROFILE").is_some() || std::env::var_os("CONV_BLOCKS").is_some() {
        return;
    }
    let gpu = common::gpu();
    let dir = std::env::temp_dir().join(format!("ddpm-bench-conv-tuning-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let tuned = ddpm::Gpu::new(&ddpm::gpu::GpuOptions {
        tune: Some(ddpm::gpu::TuneMode::On),
        cache_dir: Some(dir.clone()),
        ..Default::default()
    })
    .expect("a wgpu adapter");
    let mut g = group(c, "conv2d tuned vs rule", &gpu);
    let mut seeds = Rng::new(6);
    for s in shapes(reduced(&gpu)) {
        let (ho, wo) = s.g.output_hw(s.hw, s.hw, s.k, s.k);
        let pass = 2.0 * (s.b * s.cout * ho * wo * s.cin * s.k * s.k) as f64;
        let rule = conv::variant(&gpu, s.k, s.k, s.g);
        let (g_, hw) = (s.g, (s.hw, s.hw));
        let seed = seeds.next_u64();
        for (device, label) in [(&gpu, "rule"), (&tuned, "tuned")] {
            let mut rng = Rng::new(seed);
            let x = random(device, &mut rng, &[s.b, s.cin, s.hw, s.hw]);
            let w = random(device, &mut rng, &[s.cout, s.cin, s.k, s.k]);
            let dy = random(device, &mut rng, &[s.b, s.cout, ho, wo]);
            let dw = Tensor::zeros(device, &[s.cout, s.cin, s.k, s.k]);
            let is_rule = label == "rule";
            let id = |what: &str| format!("{label} {what} B{} {}", s.b, s.name);
            bench_gpu(&mut g, &id("fwd"), flops(pass), device, || {
                let _ = if is_rule {
                    conv::conv2d_with(rule, &x, &w, None, g_)
                } else {
                    conv::conv2d(&x, &w, None, g_)
                };
            });
            bench_gpu(&mut g, &id("bwd-input"), flops(pass), device, || {
                let _ = if is_rule {
                    conv::conv2d_backward_input_with(rule, &dy, &w, g_, hw)
                } else {
                    conv::conv2d_backward_input(&dy, &w, g_, hw)
                };
            });
            bench_gpu(&mut g, &id("bwd-weight"), flops(pass), device, || {
                if is_rule {
                    conv::conv2d_backward_weight_with(rule, &dy, &x, &dw, g_)
                } else {
                    conv::conv2d_backward_weight(&dy, &x, &dw, g_)
                }
            });
        }
    }
    g.finish();
    println!(
        "rule: {:?}",
        conv::variant(&gpu, 3, 3, ConvGeometry::same3x3())
    );
    for (shape, choice) in tuned.tuner().cached_choices() {
        println!("tuned: {shape} -> {choice}");
    }
    let (_, measured, seconds) = tuned.tuner().stats();
    println!("tuning cost: {measured} shape-passes measured in {seconds:.1} s");
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(kernels, benches, tuned_vs_rule);
criterion_main!(kernels);
