//! Checks of the norm kernels (see the module doc of `selftest`): group norm forward (output and
//! statistics) and backward (dx, accumulated dgamma and dbeta), with and without the fused
//! SiLU, for every kernel variant, against the float64 reference.

use crate::ops::conv::PaddedLayout;
use crate::ops::norm::{group_norm_backward_with, group_norm_padded, group_norm_with, Variant};
use crate::reference::norm as reference;
use crate::reference::random::Rng;
use crate::{Gpu, Tensor};

use super::tolerance::{GROUP_NORM, GROUP_NORM_BACKWARD};
use super::{compare, to_f32, Check};

/// One test case: shape, groups, eps, and the mean offset added to the normal inputs.
struct Case {
    shape: &'static [usize],
    groups: usize,
    eps: f64,
    offset: f64,
}

const CASES: [Case; 7] = [
    // cpg 3, S = 35: odd sizes everywhere.
    Case {
        shape: &[3, 12, 5, 7],
        groups: 4,
        eps: 1e-5,
        offset: 3.0,
    },
    // The U-Net's 32 groups, 2 channels per group, S = 81.
    Case {
        shape: &[2, 64, 9, 9],
        groups: 32,
        eps: 1e-6,
        offset: 0.0,
    },
    // [N, C] input (S = 1), 4 channels per group. (With 2 elements per group xhat = +-1 and dx
    // is 0 up to eps terms: a relative comparison of it is meaningless.)
    Case {
        shape: &[2, 12],
        groups: 3,
        eps: 1e-5,
        offset: 3.0,
    },
    // Groups larger than a 256-wide workgroup (K = 12 * 37 = 444), 3-D input.
    Case {
        shape: &[2, 24, 37],
        groups: 2,
        eps: 1e-6,
        offset: 50.0,
    },
    // S % 4 == 0 (the vec4 kernels): cpg 3 at 4x5, and the U-Net's 2 channels per group at 8x8.
    Case {
        shape: &[3, 12, 4, 5],
        groups: 4,
        eps: 1e-5,
        offset: 3.0,
    },
    Case {
        shape: &[2, 64, 8, 8],
        groups: 32,
        eps: 1e-6,
        offset: 0.0,
    },
    // A large mean: E[x^2] - E[x]^2 in f32 would lose ~1e-3 of the variance here.
    Case {
        shape: &[1, 8, 6, 12],
        groups: 2,
        eps: 1e-5,
        offset: 100.0,
    },
];

fn shape_name(
    shape: &[usize],
    groups: usize,
    eps: f64,
    offset: f64,
    silu: bool,
    variant: Variant,
) -> String {
    format!("{shape:?} G={groups} eps={eps:e} mean+{offset} silu={silu} {variant:?}")
}

fn upload(gpu: &Gpu, shape: &[usize], v: &[f64]) -> Tensor {
    Tensor::from_slice(gpu, shape, &to_f32(v))
}

/// Random f32-representable values: normal * scale + offset.
fn random(rng: &mut Rng, n: usize, scale: f64, offset: f64) -> Vec<f64> {
    (0..n)
        .map(|_| (rng.normal() * scale + offset) as f32 as f64)
        .collect()
}

pub fn checks(gpu: &Gpu) -> Vec<Check> {
    let mut out = Vec::new();
    let mut rng = Rng::new(0x6e6f726d);
    for case in &CASES {
        let shape = case.shape;
        let (n, c) = (shape[0], shape[1]);
        let s: usize = shape[2..].iter().product();
        let numel = n * c * s;
        for silu in [false, true] {
            let x = random(&mut rng, numel, 1.0, case.offset);
            let gamma = random(&mut rng, c, 0.5, 1.0);
            let beta = random(&mut rng, c, 0.5, 0.0);
            let dy = random(&mut rng, numel, 1.0, 0.0);
            let dgamma0 = random(&mut rng, c, 1.0, 0.0);
            let dbeta0 = random(&mut rng, c, 1.0, 0.0);
            let (y_ref, mean_ref, rstd_ref) =
                reference::group_norm(&x, &gamma, &beta, n, c, s, case.groups, case.eps, silu);
            let (dx_ref, dg_ref, db_ref) = reference::group_norm_backward(
                &dy,
                &x,
                &gamma,
                &beta,
                &mean_ref,
                &rstd_ref,
                n,
                c,
                s,
                case.groups,
                silu,
            );
            let dgamma_ref: Vec<f64> = dgamma0.iter().zip(&dg_ref).map(|(a, b)| a + b).collect();
            let dbeta_ref: Vec<f64> = dbeta0.iter().zip(&db_ref).map(|(a, b)| a + b).collect();

            let xt = upload(gpu, shape, &x);
            let gt = upload(gpu, &[c], &gamma);
            let bt = upload(gpu, &[c], &beta);
            let dyt = upload(gpu, shape, &dy);
            for variant in Variant::ALL {
                let name = shape_name(shape, case.groups, case.eps, case.offset, silu, variant);
                let (y, stats) =
                    group_norm_with(variant, &xt, &gt, &bt, case.groups, case.eps as f32, silu);
                let dgt = upload(gpu, &[c], &dgamma0);
                let dbt = upload(gpu, &[c], &dbeta0);
                let dx = group_norm_backward_with(
                    variant,
                    &dyt,
                    &xt,
                    &gt,
                    &bt,
                    &stats,
                    case.groups,
                    silu,
                    &dgt,
                    &dbt,
                );
                out.push(compare(
                    "group_norm",
                    &name,
                    &y.to_vec(),
                    &y_ref,
                    GROUP_NORM,
                ));
                out.push(compare(
                    "group_norm mean",
                    &name,
                    &stats.mean.to_vec(),
                    &mean_ref,
                    GROUP_NORM,
                ));
                out.push(compare(
                    "group_norm rstd",
                    &name,
                    &stats.rstd.to_vec(),
                    &rstd_ref,
                    GROUP_NORM,
                ));
                out.push(compare(
                    "group_norm_backward dx",
                    &name,
                    &dx.to_vec(),
                    &dx_ref,
                    GROUP_NORM_BACKWARD,
                ));
                out.push(compare(
                    "group_norm_backward dgamma",
                    &name,
                    &dgt.to_vec(),
                    &dgamma_ref,
                    GROUP_NORM_BACKWARD,
                ));
                out.push(compare(
                    "group_norm_backward dbeta",
                    &name,
                    &dbt.to_vec(),
                    &dbeta_ref,
                    GROUP_NORM_BACKWARD,
                ));
            }
            if shape.len() == 4 {
                out.extend(padded_checks(case, silu, &xt, &gt, &bt, &y_ref, &mean_ref));
            }
        }
    }
    // dgamma and dbeta as views of one gradient buffer (as a model's parameter gradients are).
    out.push(shared_grad_buffer(gpu, &mut rng));
    out
}

/// `group_norm_padded` (the norm writing a direct convolution's zero-padded input) against the
/// reference output placed in the same layout, zeros around it: the layout of a 3x3 conv's
/// input (top and left 1, rows padded to 4 * even + 4) and an asymmetric one.
#[allow(clippy::too_many_arguments)]
fn padded_checks(
    case: &Case,
    silu: bool,
    xt: &Tensor,
    gt: &Tensor,
    bt: &Tensor,
    y_ref: &[f64],
    mean_ref: &[f64],
) -> Vec<Check> {
    let [n, c, h, w] = [case.shape[0], case.shape[1], case.shape[2], case.shape[3]];
    let conv_wp = 4 * w.div_ceil(4).next_multiple_of(2) + 4;
    let layouts = [
        PaddedLayout {
            hp: h + 2,
            wp: conv_wp,
            top: 1,
            left: 1,
        },
        PaddedLayout {
            hp: h + 3,
            wp: w + 5,
            top: 0,
            left: 3,
        },
        // Rows of a multiple of 4 at left 1: aligned vec4 stores (`forward_serial4_pad1`).
        PaddedLayout {
            hp: h + 4,
            wp: 4 * w.div_ceil(4) + 8,
            top: 2,
            left: 1,
        },
    ];
    let mut out = Vec::new();
    for layout in layouts {
        let mut want = vec![0.0; n * c * layout.hp * layout.wp];
        for q in 0..n * c {
            for y in 0..h {
                for x in 0..w {
                    let at = (q * layout.hp + y + layout.top) * layout.wp + x + layout.left;
                    want[at] = y_ref[(q * h + y) * w + x];
                }
            }
        }
        let (yp, stats) = group_norm_padded(xt, gt, bt, case.groups, case.eps as f32, silu, layout);
        let name = format!(
            "{:?} G={} silu={silu} into {}x{} at ({}, {})",
            case.shape, case.groups, layout.hp, layout.wp, layout.top, layout.left
        );
        out.push(compare(
            "group_norm padded",
            &name,
            &yp.to_vec(),
            &want,
            GROUP_NORM,
        ));
        out.push(compare(
            "group_norm padded mean",
            &name,
            &stats.mean.to_vec(),
            mean_ref,
            GROUP_NORM,
        ));
    }
    out
}

/// Forward and backward with gamma/beta in one buffer and dgamma/dbeta in another, as a model's
/// parameters and gradients are: both gradients must accumulate correctly.
fn shared_grad_buffer(gpu: &Gpu, rng: &mut Rng) -> Check {
    let (n, c, s, groups) = (2, 10, 13, 5);
    let x = random(rng, n * c * s, 1.0, 1.0);
    let gamma = random(rng, c, 0.5, 1.0);
    let beta = random(rng, c, 0.5, 0.0);
    let dy = random(rng, n * c * s, 1.0, 0.0);
    let (_, mean, rstd) = reference::group_norm(&x, &gamma, &beta, n, c, s, groups, 1e-5, true);
    let (_, dg, db) =
        reference::group_norm_backward(&dy, &x, &gamma, &beta, &mean, &rstd, n, c, s, groups, true);
    // Layout of the shared buffer: dgamma at 0, dbeta at 64 (the 256-byte view alignment).
    let align = (gpu.limits().min_storage_buffer_offset_alignment as usize / 4).max(1);
    let off = c.div_ceil(align) * align;
    let mut init = vec![0.0; off + c];
    for (i, v) in init.iter_mut().enumerate() {
        *v = (i as f64 * 0.37).sin();
    }
    let grads = upload(gpu, &[off + c], &init);
    let (dgt, dbt) = (grads.view(0, &[c]), grads.view(off, &[c]));
    let xt = upload(gpu, &[n, c, s], &x);
    // gamma and beta as views of one parameter buffer too (both bound read-only).
    let mut packed = vec![0.0; off + c];
    packed[..c].copy_from_slice(&gamma);
    packed[off..].copy_from_slice(&beta);
    let params = upload(gpu, &[off + c], &packed);
    let (gt, bt) = (params.view(0, &[c]), params.view(off, &[c]));
    let (_, stats) = crate::ops::norm::group_norm(&xt, &gt, &bt, groups, 1e-5, true);
    let dyt = upload(gpu, &[n, c, s], &dy);
    let _ = crate::ops::norm::group_norm_backward(
        &dyt, &xt, &gt, &bt, &stats, groups, true, &dgt, &dbt,
    );
    let mut expect = init.clone();
    for i in 0..c {
        expect[i] += dg[i];
        expect[off + i] += db[i];
    }
    compare(
        "group_norm_backward shared dgamma/dbeta buffer",
        format!("[{n}, {c}, {s}] G={groups}"),
        &grads.to_vec(),
        &expect,
        GROUP_NORM_BACKWARD,
    )
}
