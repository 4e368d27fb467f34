//! Checks of the reduction kernels (see the module doc of `selftest`): every op, every
//! [`Variant`], on sizes that are not multiples of the chunk (1,000,003 elements for the global
//! sums, so they take two or three levels), with accumulation on and off.
//!
//! Inputs are normal samples plus 0.3, so sums do not cancel to near zero (the error metric is
//! relative to the result). Tolerances: see `super::tolerance` (signed and positive sums; the
//! MSE gradient is one rounding).

use crate::ops::reduce::{Reduce, Variant};
use crate::reference::random::Rng;
use crate::reference::reduce as r;
use crate::{Gpu, Tensor};

use super::tolerance::{FEW_ROUNDINGS, POSITIVE_SUM, SIGNED_SUM};
use super::{compare, Check};

fn data(gpu: &Gpu, rng: &mut Rng, shape: &[usize]) -> (Tensor, Vec<f64>) {
    let n: usize = shape.iter().product();
    let v32: Vec<f32> = (0..n).map(|_| (rng.normal() + 0.3) as f32).collect();
    let v64 = v32.iter().map(|&v| v as f64).collect();
    (Tensor::from_slice(gpu, shape, &v32), v64)
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
    let mut rng = Rng::new(0x5EDC);
    // Shared inputs for the global sums (uploaded once).
    let small = data(gpu, &mut rng, &[3, 5, 7, 9]);
    let large = data(gpu, &mut rng, &[1_000_003]);
    let large_t = data(gpu, &mut rng, &[1_000_003]);
    let small_t = data(gpu, &mut rng, &[3, 5, 7, 9]);
    for v in Variant::ALL {
        let red = Reduce::with(v);
        let tag = |op: &str| format!("reduce {op} {v:?}");
        for ((x, xr), (t, tr)) in [(&small, &small_t), (&large, &large_t)] {
            let shape = format!("{:?}", x.shape());
            out.push(compare(
                tag("sum"),
                &shape,
                &red.sum(x).to_vec(),
                &[r::sum(xr)],
                SIGNED_SUM,
            ));
            out.push(compare(
                tag("mean"),
                &shape,
                &red.mean(x).to_vec(),
                &[r::mean(xr)],
                SIGNED_SUM,
            ));
            out.push(compare(
                tag("sum_squares"),
                &shape,
                &red.sum_squares(x).to_vec(),
                &[r::sum_squares(xr)],
                POSITIVE_SUM,
            ));
            out.push(compare(
                tag("mse_loss"),
                &shape,
                &red.mse_loss(x, t).to_vec(),
                &[r::mse_loss(xr, tr)],
                POSITIVE_SUM,
            ));
        }
        for shape in [
            &[3usize, 5, 7, 9][..],
            &[2, 6, 4, 8],
            &[37, 13],
            &[70, 3, 11],
            &[1, 5, 63],
            &[2, 3, 4099],
        ] {
            let (n, c, s) = ncs(shape);
            let (x, xr) = data(gpu, &mut rng, shape);
            let want = r::sum_to_channels(&xr, n, c, s);
            let dst = Tensor::uninit(gpu, &[c]);
            red.sum_to_channels(&x, &dst, false);
            out.push(compare(
                tag("sum_to_channels"),
                format!("{shape:?}"),
                &dst.to_vec(),
                &want,
                SIGNED_SUM,
            ));
            // Accumulating into a view of a larger buffer (bias gradients live in one buffer).
            let (base, base_r) = data(gpu, &mut rng, &[64 + c]);
            red.sum_to_channels(&x, &base.view(64, &[c]), true);
            let mut want_acc = base_r.clone();
            for i in 0..c {
                want_acc[64 + i] += want[i];
            }
            out.push(compare(
                tag("sum_to_channels (accumulate, view)"),
                format!("{shape:?}"),
                &base.to_vec(),
                &want_acc,
                SIGNED_SUM,
            ));
            out.push(compare(
                tag("sum_spatial"),
                format!("{shape:?}"),
                &red.sum_spatial(&x).to_vec(),
                &r::sum_spatial(&xr, n, c, s),
                SIGNED_SUM,
            ));
        }
        for ((x, xr), (t, tr)) in [(&small, &small_t), (&large, &large_t)] {
            let g = red.mse_loss_backward(x, t);
            out.push(compare(
                tag("mse_loss_backward"),
                format!("{:?}", x.shape()),
                &g.to_vec(),
                &r::mse_loss_backward(xr, tr),
                FEW_ROUNDINGS,
            ));
        }
        let (x4, x4r) = data(gpu, &mut rng, &[2, 6, 4, 8]);
        let (t4, t4r) = data(gpu, &mut rng, &[2, 6, 4, 8]);
        out.push(compare(
            tag("mse_loss_backward"),
            "[2, 6, 4, 8]",
            &red.mse_loss_backward(&x4, &t4).to_vec(),
            &r::mse_loss_backward(&x4r, &t4r),
            FEW_ROUNDINGS,
        ));
    }
    out
}
