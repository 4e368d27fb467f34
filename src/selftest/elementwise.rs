//! Checks of the elementwise kernels (see the module doc of `selftest`): every op, forward and
//! backward, every [`Variant`], on shapes that are not multiples of the workgroup coverage
//! (odd ones exercise the scalar entry points, ones with S % 4 == 0 the vec4 ones).
//!
//! Tolerances: see `super::tolerance` (exact-input roundings, transcendental, embedding).

use crate::ops::elementwise::{Elementwise, Variant};
use crate::reference::elementwise as r;
use crate::reference::random::Rng;
use crate::{Gpu, Tensor};

use super::{compare, random_tensor, Check};

use super::tolerance::{FEW_ROUNDINGS as EXACT, TRANSCENDENTAL};

fn fmt(shape: &[usize]) -> String {
    format!("{shape:?}")
}

fn ncs(shape: &[usize]) -> (usize, usize, usize) {
    match shape {
        [n, c] => (*n, *c, 1),
        [n, c, s] => (*n, *c, *s),
        [n, c, h, w] => (*n, *c, h * w),
        _ => unreachable!(),
    }
}

pub fn checks(gpu: &Gpu) -> Vec<Check> {
    let mut out = Vec::new();
    let mut rng = Rng::new(0xE1E7);
    for v in Variant::ALL {
        let e = Elementwise::with(v);
        let tag = |op: &str| format!("elementwise {op} {v:?}");
        // Flat ops: odd sizes (scalar path) and multiples of 4 (vec4 path where enabled).
        for shape in [
            &[3usize, 5, 7, 9][..],
            &[2, 6, 4, 8],
            &[37, 61],
            &[4, 7, 5, 12],
        ] {
            let (x, xr) = random_tensor(gpu, &mut rng, shape);
            let (b, br) = random_tensor(gpu, &mut rng, shape);
            out.push(compare(
                tag("silu"),
                fmt(shape),
                &e.silu(&x).to_vec(),
                &r::silu(&xr),
                TRANSCENDENTAL,
            ));
            out.push(compare(
                tag("silu_backward"),
                fmt(shape),
                &e.silu_backward(&x, &b).to_vec(),
                &r::silu_backward(&xr, &br),
                TRANSCENDENTAL,
            ));
            out.push(compare(
                tag("add"),
                fmt(shape),
                &e.add(&x, &b).to_vec(),
                &r::add(&xr, &br),
                EXACT,
            ));
            out.push(compare(
                tag("scale"),
                fmt(shape),
                &e.scale(&x, -1.7).to_vec(),
                &r::scale(&xr, -1.7f32 as f64),
                EXACT,
            ));
            let acc = x.duplicate();
            e.add_assign(&acc, &b);
            out.push(compare(
                tag("add_assign"),
                fmt(shape),
                &acc.to_vec(),
                &r::add(&xr, &br),
                EXACT,
            ));
            let acc = x.duplicate();
            e.axpy(&acc, 0.37, &b);
            let mut want = xr.clone();
            r::axpy(&mut want, 0.37f32 as f64, &br);
            out.push(compare(
                tag("axpy"),
                fmt(shape),
                &acc.to_vec(),
                &want,
                EXACT,
            ));
            let filled = x.duplicate();
            e.fill(&filled, 2.5);
            out.push(compare(
                tag("fill"),
                fmt(shape),
                &filled.to_vec(),
                &vec![2.5; xr.len()],
                EXACT,
            ));
        }
        // In-place ops on views into a larger buffer (offsets as parameters live in one buffer).
        {
            let big = Tensor::zeros(gpu, &[3 * 64 + 45]);
            let (b, br) = random_tensor(gpu, &mut rng, &[45]);
            let y = big.view(128, &[45]);
            e.fill(&y, 1.25);
            e.axpy(&y, -2.0, &b);
            let mut want = vec![0.0; 3 * 64 + 45];
            for i in 0..45 {
                want[128 + i] = 1.25 - 2.0 * br[i];
            }
            out.push(compare(
                tag("fill+axpy on a view"),
                "[45] at 128 of [237]",
                &big.to_vec(),
                &want,
                EXACT,
            ));
        }
        // Per-channel broadcasts (v per channel or per sample and channel) and their in-place form.
        for shape in [
            &[3usize, 5, 7, 9][..],
            &[2, 6, 4, 8],
            &[37, 13],
            &[2, 3, 20],
        ] {
            let (n, c, s) = ncs(shape);
            let (x, xr) = random_tensor(gpu, &mut rng, shape);
            for per_sample in [false, true] {
                let vshape = if per_sample { vec![n, c] } else { vec![c] };
                let (vt, vr) = random_tensor(gpu, &mut rng, &vshape);
                let want = r::add_channel(&xr, n, c, s, &vr, per_sample);
                let name = if per_sample {
                    "add_channel [N,C]"
                } else {
                    "add_channel [C]"
                };
                out.push(compare(
                    tag(name),
                    fmt(shape),
                    &e.add_channel(&x, &vt).to_vec(),
                    &want,
                    EXACT,
                ));
                let acc = x.duplicate();
                e.add_channel_assign(&acc, &vt);
                let name = if per_sample {
                    "add_channel_assign [N,C]"
                } else {
                    "add_channel_assign [C]"
                };
                out.push(compare(tag(name), fmt(shape), &acc.to_vec(), &want, EXACT));
            }
        }
        // Concat and split (split is concat's backward).
        for (n, ca, cb, hw) in [
            (3usize, 5usize, 3usize, [7usize, 9usize]),
            (2, 4, 6, [4, 8]),
            (1, 1, 2, [3, 3]),
        ] {
            let (a, ar) = random_tensor(gpu, &mut rng, &[n, ca, hw[0], hw[1]]);
            let (b, br) = random_tensor(gpu, &mut rng, &[n, cb, hw[0], hw[1]]);
            let s = hw[0] * hw[1];
            let cat = e.concat_channels(&a, &b);
            let shape = format!("{:?}+{:?}", a.shape(), b.shape());
            assert_eq!(cat.shape(), &[n, ca + cb, hw[0], hw[1]]);
            out.push(compare(
                tag("concat_channels"),
                &shape,
                &cat.to_vec(),
                &r::concat_channels(&ar, &br, n, ca, cb, s),
                EXACT,
            ));
            let (x, xr) = random_tensor(gpu, &mut rng, &[n, ca + cb, hw[0], hw[1]]);
            let (sa, sb) = e.split_channels(&x, ca);
            let (wa, wb) = r::split_channels(&xr, n, ca, cb, s);
            out.push(compare(
                tag("split_channels (a)"),
                fmt(x.shape()),
                &sa.to_vec(),
                &wa,
                EXACT,
            ));
            out.push(compare(
                tag("split_channels (b)"),
                fmt(x.shape()),
                &sb.to_vec(),
                &wb,
                EXACT,
            ));
        }
        // Nearest upsampling and its backward (W odd, W even, W % 4 == 0).
        for shape in [[3usize, 5, 7, 9], [2, 3, 4, 6], [2, 3, 5, 8]] {
            let [n, c, h, w] = shape;
            let (x, xr) = random_tensor(gpu, &mut rng, &shape);
            let up = e.upsample_nearest2x(&x);
            out.push(compare(
                tag("upsample_nearest2x"),
                fmt(&shape),
                &up.to_vec(),
                &r::upsample_nearest2x(&xr, n * c, h, w),
                EXACT,
            ));
            let (dy, dyr) = random_tensor(gpu, &mut rng, &[n, c, 2 * h, 2 * w]);
            let dx = e.upsample_nearest2x_backward(&dy);
            out.push(compare(
                tag("upsample_nearest2x_backward"),
                fmt(dy.shape()),
                &dx.to_vec(),
                &r::upsample_nearest2x_backward(&dyr, n * c, h, w),
                EXACT,
            ));
        }
        out.extend(embedding_checks(gpu, &e, &tag("timestep_embedding")));
    }
    out
}

/// The timestep embedding for t = {0, 1, 128, 500, 999}: dim 128 (shift 1, sin first) and
/// dim 7 (odd: a zero last column; flip; shift 1 and 0).
///
/// Tolerances: [`super::tolerance::EMBEDDING`] against PyTorch's f32 arithmetic,
/// [`super::tolerance::EMBEDDING_EXACT`] against exact maths.
fn embedding_checks(gpu: &Gpu, e: &Elementwise, name: &str) -> Vec<Check> {
    let t = [0u32, 1, 128, 500, 999];
    let tt = Tensor::from_u32(gpu, &[t.len()], &t);
    let mut out = Vec::new();
    for (dim, flip, shift) in [
        (128usize, false, 1.0f32),
        (7, true, 1.0),
        (7, false, 0.0),
        (33, true, 0.5),
    ] {
        let got = e.timestep_embedding(&tt, dim, flip, shift).to_vec();
        let shape = format!("t=[0,1,128,500,999] dim={dim} flip={flip} shift={shift}");
        let f32_arg =
            r::timestep_embedding(&t, dim, flip, shift as f64, r::EmbeddingArgument::Float32);
        out.push(compare(
            format!("{name} (f32 argument)"),
            &shape,
            &got,
            &f32_arg,
            super::tolerance::EMBEDDING,
        ));
        let exact = r::timestep_embedding(&t, dim, flip, shift as f64, r::EmbeddingArgument::Exact);
        out.push(compare(
            format!("{name} (exact argument)"),
            &shape,
            &got,
            &exact,
            super::tolerance::EMBEDDING_EXACT,
        ));
    }
    out
}
