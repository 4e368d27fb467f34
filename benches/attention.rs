//! Criterion benchmarks of the attention kernels, forward and backward, one head.
//!
//! FLOPs: forward 4 * B * heads * L^2 * d (q k^T and p v); backward counted as 2.5x the forward
//! (the usual convention: two matmuls per forward matmul plus the recomputed scores), although
//! the kernels do 3.5x (they recompute q k^T in both backward passes and dout v^T once).
//! Criterion prints "elements/s": read it as FLOP/s.
//!
//! GPU: [B, 256 tokens (16x16), 256 ch] for B = 1..128 and [B, 1024 tokens (32x32), 128 ch].
//! lavapipe (`reduced`): burn's shape [8, 256, 128] (burn: 13.6 ms forward), a few smaller
//! shapes, the scalar fallback variant on burn's shape for comparison, and the digit presets'
//! 14x14 attention [64, 196, 48] with the default variants (the dense backward) and with the
//! subgroup flash kernels both ways.

mod common;

use criterion::{criterion_group, criterion_main, Criterion};
use ddpm::ops::attention::{self as att, Variant};
use ddpm::reference::random::Rng;
use ddpm::Tensor;

fn random(gpu: &ddpm::Gpu, rng: &mut Rng, shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    let data: Vec<f32> = (0..n).map(|_| rng.normal() as f32).collect();
    Tensor::from_slice(gpu, shape, &data)
}

fn benches(c: &mut Criterion) {
    let gpu = common::gpu();
    let reduced = common::reduced(&gpu);
    let mut group = common::group(c, "attention", &gpu);
    let mut rng = Rng::new(5);
    // (batch, tokens, channels, forced variant)
    let mut shapes: Vec<(usize, usize, usize, Option<Variant>)> = Vec::new();
    if reduced {
        shapes.push((8, 256, 128, None));
        shapes.push((1, 256, 256, None));
        shapes.push((16, 64, 128, None));
        shapes.push((1, 1024, 128, None));
        // The scalar fallback on burn's shape, for comparison (when it is not already the default).
        if att::variant(&gpu, 128, 1) != Variant::Rows {
            shapes.push((8, 256, 128, Some(Variant::Rows)));
        }
        shapes.push((64, 196, 48, None));
        if att::supported(Variant::RowsSubgroup, &gpu, &[64, 196, 48], 1) {
            shapes.push((64, 196, 48, Some(Variant::RowsSubgroup)));
        }
    } else {
        for b in [1, 4, 16, 64, 128] {
            shapes.push((b, 256, 256, None));
        }
        for b in [1, 8, 32, 128] {
            shapes.push((b, 1024, 128, None));
        }
        shapes.push((8, 256, 128, None));
    }
    let heads = 1;
    for (b, l, ch, forced) in shapes {
        let shape = [b, l, ch];
        let variant = forced.unwrap_or_else(|| att::variant(&gpu, ch, heads));
        let bwd_variant = forced.unwrap_or_else(|| att::backward_variant(&gpu, &shape, heads));
        let (q, k, v, dout) = (
            random(&gpu, &mut rng, &shape),
            random(&gpu, &mut rng, &shape),
            random(&gpu, &mut rng, &shape),
            random(&gpu, &mut rng, &shape),
        );
        let (o, lse) = att::attention_with(variant, &q, &k, &v, heads);
        let fwd_flops = 4.0 * (b * heads * l * l * (ch / heads)) as f64;
        // A forced variant that is also the default forward one has its forward timed already.
        let forward_timed = forced.is_some() && forced == Some(att::variant(&gpu, ch, heads));
        if !forward_timed {
            common::bench_gpu(
                &mut group,
                &format!("fwd/{}/{b}x{l}x{ch}", variant.name()),
                common::flops(fwd_flops),
                &gpu,
                || {
                    let _ = att::attention_with(variant, &q, &k, &v, heads);
                },
            );
        }
        common::bench_gpu(
            &mut group,
            &format!("bwd/{}/{b}x{l}x{ch}", bwd_variant.name()),
            common::flops(2.5 * fwd_flops),
            &gpu,
            || {
                let _ =
                    att::attention_backward_with(bwd_variant, &q, &k, &v, &o, &lse, &dout, heads);
            },
        );
    }
    group.finish();
}

criterion_group!(kernels, benches);
criterion_main!(kernels);
