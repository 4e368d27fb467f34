//! Criterion benchmarks of the convolution kernels: forward, input gradient and weight
//! gradient, GFLOP/s counted as 2*B*Cout*Hout*Wout*Cin*kh*kw per pass.

mod common;

use criterion::{criterion_group, criterion_main, Criterion};
use ddpm::ops::conv::{self, ConvGeometry};
use ddpm::Tensor;

fn benches(c: &mut Criterion) {
    let gpu = common::gpu();
    // (batch, cin, cout, side, geometry, name); the first is burn's comparison shape.
    let mut shapes = vec![(8, 64, 64, 32, ConvGeometry::same3x3(), "3x3")];
    if !common::reduced(&gpu) {
        shapes.extend([
            (128, 128, 128, 32, ConvGeometry::same3x3(), "3x3"),
            (128, 256, 256, 16, ConvGeometry::same3x3(), "3x3"),
            (128, 256, 256, 8, ConvGeometry::same3x3(), "3x3"),
            (
                128,
                256,
                256,
                16,
                ConvGeometry::downsample_asymmetric(),
                "3x3 s2",
            ),
        ]);
    }
    let mut group = common::group(c, "conv2d", &gpu);
    for (b, cin, cout, side, g, name) in shapes {
        let x = Tensor::from_slice(
            &gpu,
            &[b, cin, side, side],
            &vec![0.5; b * cin * side * side],
        );
        let w = Tensor::from_slice(&gpu, &[cout, cin, 3, 3], &vec![0.01; cout * cin * 9]);
        let (ho, wo) = g.output_hw(side, side, 3, 3);
        let dy = Tensor::from_slice(&gpu, &[b, cout, ho, wo], &vec![0.1; b * cout * ho * wo]);
        let dw = Tensor::zeros(&gpu, &[cout, cin, 3, 3]);
        let flop = 2.0 * (b * cout * ho * wo * cin * 9) as f64;
        let id = format!("{name} [{b},{cin},{side},{side}]->{cout}");
        common::bench_gpu(
            &mut group,
            &format!("forward {id}"),
            common::flops(flop),
            &gpu,
            || {
                conv::conv2d(&x, &w, None, g);
            },
        );
        common::bench_gpu(
            &mut group,
            &format!("backward_input {id}"),
            common::flops(flop),
            &gpu,
            || {
                conv::conv2d_backward_input(&dy, &w, g, (side, side));
            },
        );
        common::bench_gpu(
            &mut group,
            &format!("backward_weight {id}"),
            common::flops(flop),
            &gpu,
            || {
                conv::conv2d_backward_weight(&dy, &x, &dw, g);
            },
        );
    }
}

criterion_group!(kernels, benches);
criterion_main!(kernels);
