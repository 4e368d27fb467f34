//! Checks of the bound kernel (`ops::bound::vb_terms`) against the float64 reference of the
//! paper's `_vb_terms_bpd`: the decoder (t = 0: images with only the lower edge bin, only the
//! upper one, only interior bins, and mixed) and the KL terms at early, middle and late
//! timesteps, both model variances, both workgroup sizes, on image sizes that are not multiples
//! of the workgroup. Predictions range from nearly exact to far off, so the clip, the
//! distribution tails and the 1e-12 floor are all exercised. With poison mode on, the rows of
//! the output the dispatch must not write are checked to still hold the poison.

use crate::diffusion::{Schedule, Variance};
use crate::ops::bound::{self as ops, VbStep};
use crate::reference::bound::{vb_terms_bpd, VbCoefs};
use crate::reference::random::Rng;
use crate::{Gpu, Tensor};

use super::{compare, Check};

/// Random 8-bit images on the [-1, 1] grid; `kind` 0: all -1, 1: all +1, 2: interior levels
/// only, else a digit-like mix (mostly background, some full ink, the rest anywhere).
fn image(rng: &mut Rng, len: usize, kind: usize) -> Vec<f64> {
    (0..len)
        .map(|_| {
            let level = match kind {
                0 => 0,
                1 => 255,
                2 => 1 + rng.below(254),
                _ => match rng.below(10) {
                    0..=5 => 0,
                    6 => 255,
                    _ => rng.below(256),
                },
            };
            level as f64 / 127.5 - 1.0
        })
        .collect()
}

fn round(v: f64) -> f64 {
    v as f32 as f64
}

pub fn checks(gpu: &Gpu) -> Vec<Check> {
    let mut out = Vec::new();
    let schedule = Schedule::ddpm();
    let mut rng = Rng::new(11);
    const TOL: f64 = super::tolerance::BOUND;
    for wg in ops::WORKGROUPS {
        for shape in [[4usize, 1, 7, 9], [5, 3, 5, 7], [3, 1, 28, 28]] {
            let images = shape[0];
            let d: usize = shape[1..].iter().product();
            for t in [0usize, 1, 17, 500, 999] {
                for variance in [Variance::FixedLarge, Variance::FixedSmall] {
                    let coefs = schedule.vb_coefs(t, variance);
                    let step = VbStep::from_coefs(&coefs);
                    // The reference gets the f32 values the kernel receives.
                    let ref_coefs = VbCoefs {
                        sqrt_recip_abar: step.sqrt_recip_abar as f64,
                        sqrt_recipm1_abar: step.sqrt_recipm1_abar as f64,
                        coef1: step.coef1 as f64,
                        coef2: step.coef2 as f64,
                        ..coefs
                    };
                    let abar = schedule.alphas_cumprod[t];
                    let mut x0 = Vec::new();
                    let mut x_t = Vec::new();
                    let mut eps = Vec::new();
                    for b in 0..images {
                        let img = image(&mut rng, d, b);
                        for &x in &img {
                            let noise = rng.normal();
                            // Predictions off by 0.3%, 10% or 100% of the noise's scale.
                            let off = [0.003, 0.1, 1.0][rng.below(3) as usize];
                            x0.push(round(x));
                            x_t.push(round(abar.sqrt() * x + (1.0 - abar).sqrt() * noise));
                            eps.push(round(noise + off * rng.normal()));
                        }
                    }
                    let f32s = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
                    let x0_g = Tensor::from_slice(gpu, &shape, &f32s(&x0));
                    let xt_g = Tensor::from_slice(gpu, &shape, &f32s(&x_t));
                    let eps_g = Tensor::from_slice(gpu, &shape, &f32s(&eps));
                    let rows = 3;
                    let res = Tensor::uninit(gpu, &[rows, images, 2]);
                    ops::vb_terms_with(wg, &x0_g, &xt_g, &eps_g, &step, &res, 1);
                    let got = res.to_vec();
                    let row = &got[2 * images..4 * images];
                    let want = vb_terms_bpd(&x0, &x_t, &eps, d, &ref_coefs);
                    let name = |what: &str| {
                        format!(
                            "vb_terms {what} {wg} {}",
                            match variance {
                                Variance::FixedLarge => "large",
                                Variance::FixedSmall => "small",
                            }
                        )
                    };
                    let what = if t == 0 { "decoder" } else { "kl" };
                    let terms: Vec<f32> = row.iter().step_by(2).copied().collect();
                    let mse: Vec<f32> = row.iter().skip(1).step_by(2).copied().collect();
                    let want_terms: Vec<f64> = want.iter().map(|p| p.0).collect();
                    let want_mse: Vec<f64> = want.iter().map(|p| p.1).collect();
                    let label = format!("{shape:?} t={t}");
                    out.push(compare(name(what), &label, &terms, &want_terms, TOL));
                    out.push(compare(name("mse"), &label, &mse, &want_mse, TOL));
                    if gpu.poison() {
                        let untouched = got[..2 * images]
                            .iter()
                            .chain(&got[4 * images..])
                            .all(|v| v.is_nan());
                        out.push(Check {
                            op: name("other rows untouched"),
                            shape: label,
                            max_rel_err: if untouched { 0.0 } else { f64::INFINITY },
                            tolerance: 0.0,
                        });
                    }
                }
            }
        }
    }
    out
}
