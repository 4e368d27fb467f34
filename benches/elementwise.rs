//! Criterion benchmarks of the elementwise and reduce families, in bytes/s of memory traffic
//! (bytes read + written; criterion prints it as GiB/s), on the CIFAR-10 model's activation
//! shapes: [B, 128, 32, 32] (B = 128 on a GPU, 4 on lavapipe), and the global sum of squares
//! over a 36M-parameter gradient. `add` and `sum_squares` are also timed with every variant,
//! so the per-adapter choice in `ops::elementwise::variant` / `ops::reduce::variant` can be
//! checked on any machine.
//!
//! `cargo bench --bench elementwise`
mod common;

use criterion::{criterion_group, criterion_main, Criterion};
use ddpm::ops::elementwise::{self as ew, Elementwise};
use ddpm::ops::reduce::{self as red, Reduce};
use ddpm::Tensor;

/// Parameters of the DDPM CIFAR-10 U-Net.
const CIFAR_PARAMS: usize = 35_746_307;

fn filled(gpu: &ddpm::Gpu, shape: &[usize], seed: u32) -> Tensor {
    let n: usize = shape.iter().product();
    let data: Vec<f32> = (0..n as u32)
        .map(|i| ((i.wrapping_mul(2_654_435_761) ^ seed) >> 8) as f32 / (1 << 24) as f32 - 0.5)
        .collect();
    Tensor::from_slice(gpu, shape, &data)
}

fn benches(c: &mut Criterion) {
    let gpu = common::gpu();
    let batch = if common::reduced(&gpu) { 4 } else { 128 };
    let mut g = common::group(c, "elementwise", &gpu);

    let shape = [batch, 128, 32, 32];
    let n: usize = shape.iter().product();
    let f = n as f64 * 4.0; // bytes of one such tensor
    let a = filled(&gpu, &shape, 1);
    let b = filled(&gpu, &shape, 2);
    let v = filled(&gpu, &[128], 3);
    let vs = filled(&gpu, &[batch, 128], 4);
    let half = filled(&gpu, &[batch, 128, 16, 16], 5);
    let s = format!("{shape:?}");

    common::bench_gpu(
        &mut g,
        &format!("silu {s}"),
        common::bytes(2.0 * f),
        &gpu,
        || {
            let _ = ew::silu(&a);
        },
    );
    common::bench_gpu(
        &mut g,
        &format!("silu_backward {s}"),
        common::bytes(3.0 * f),
        &gpu,
        || {
            let _ = ew::silu_backward(&a, &b);
        },
    );
    common::bench_gpu(
        &mut g,
        &format!("add {s}"),
        common::bytes(3.0 * f),
        &gpu,
        || {
            let _ = ew::add(&a, &b);
        },
    );
    common::bench_gpu(
        &mut g,
        &format!("add_channel [C] {s}"),
        common::bytes(2.0 * f),
        &gpu,
        || {
            let _ = ew::add_channel(&a, &v);
        },
    );
    common::bench_gpu(
        &mut g,
        &format!("add_channel_assign [N,C] {s}"),
        common::bytes(2.0 * f),
        &gpu,
        || {
            ew::add_channel_assign(&a, &vs);
        },
    );
    common::bench_gpu(
        &mut g,
        &format!("concat_channels {s}+{s}"),
        common::bytes(4.0 * f),
        &gpu,
        || {
            let _ = ew::concat_channels(&a, &b);
        },
    );
    // Upsampling [B, 128, 16, 16] -> [B, 128, 32, 32]: reads a quarter, writes one tensor.
    common::bench_gpu(
        &mut g,
        &format!("upsample_nearest2x -> {s}"),
        common::bytes(1.25 * f),
        &gpu,
        || {
            let _ = ew::upsample_nearest2x(&half);
        },
    );
    common::bench_gpu(
        &mut g,
        &format!("upsample_nearest2x_backward {s} ->"),
        common::bytes(1.25 * f),
        &gpu,
        || {
            let _ = ew::upsample_nearest2x_backward(&a);
        },
    );
    common::bench_gpu(
        &mut g,
        &format!("sum_to_channels {s}"),
        common::bytes(f),
        &gpu,
        || {
            let out = Tensor::uninit(&gpu, &[128]);
            red::sum_to_channels(&a, &out, false);
        },
    );
    common::bench_gpu(
        &mut g,
        &format!("mse_loss {s}"),
        common::bytes(2.0 * f),
        &gpu,
        || {
            let _ = red::mse_loss(&a, &b);
        },
    );
    common::bench_gpu(
        &mut g,
        &format!("mse_loss_backward {s}"),
        common::bytes(3.0 * f),
        &gpu,
        || {
            let _ = red::mse_loss_backward(&a, &b);
        },
    );
    for variant in ew::Variant::ALL {
        let e = Elementwise::with(variant);
        let id = format!(
            "add {s} wg={}x{} vec4={}",
            variant.workgroup, variant.per_invocation, variant.vec4
        );
        common::bench_gpu(&mut g, &id, common::bytes(3.0 * f), &gpu, || {
            let _ = e.add(&a, &b);
        });
    }
    drop((a, b, half));

    // The squared global gradient norm over all parameters (beyond lavapipe's 128 MiB binding).
    let grads = filled(&gpu, &[CIFAR_PARAMS], 6);
    let bytes = common::bytes(4.0 * CIFAR_PARAMS as f64);
    for variant in red::Variant::ALL {
        let r = Reduce::with(variant);
        let id = format!(
            "sum_squares [{CIFAR_PARAMS}] tree={} wg={}x{} serial={} vec4={}",
            variant.tree,
            variant.workgroup,
            variant.per_invocation,
            variant.serial_len,
            variant.vec4
        );
        common::bench_gpu(&mut g, &id, bytes.clone(), &gpu, || {
            let _ = r.sum_squares(&grads);
        });
    }
    g.finish();
}

criterion_group!(kernels, benches);
criterion_main!(kernels);
