//! Criterion benchmarks of the conv kernels: forward, input gradient, weight gradient (and the
//! three together) on the U-Net's shapes, reported as FLOP/s (2*B*Cout*Hout*Wout*Cin*kh*kw per
//! pass). On a CPU adapter (lavapipe) the batch is reduced, and the burn comparison shape
//! ([8, 64, 32, 32], 64 -> 64, 3x3: burn 0.22 took 69 ms forward, 252 ms forward + backward)
//! is included.
mod common;

use common::{bench_gpu, flops, group, reduced};
use criterion::{criterion_group, criterion_main, Criterion};
use ddpm::ops::conv::{self, ConvGeometry};
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

fn benches(c: &mut Criterion) {
    let gpu = common::gpu();
    conv::warm_up(&gpu);
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

criterion_group!(kernels, benches);
criterion_main!(kernels);
