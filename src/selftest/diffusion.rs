//! Checks of the diffusion kernels (see the module doc of `selftest`): q_sample and the DDPM and
//! DDIM steps, every branch (clip on/off, noise on/off), every variant, on coefficients of the
//! real linear schedule (T = 1000) at early, middle and late timesteps.

use crate::ops::diffusion::{self as ops, DdimStep, DdpmStep};
use crate::ops::rng::Variant;
use crate::reference::diffusion as reference;
use crate::reference::random::Rng;
use crate::reference::rng::normal as ref_normal;
use crate::{Gpu, Tensor};

use super::{compare, random_tensor, Check};

/// The DDPM paper's schedule: T = 1000, betas linear from 1e-4 to 0.02, in f64.
pub fn paper_abar() -> Vec<f64> {
    reference::linear_abar(1000, 1e-4, 0.02)
}

pub fn checks(gpu: &Gpu) -> Vec<Check> {
    let mut out = Vec::new();
    let abar = paper_abar();
    let big_t = abar.len();
    let mut rng = Rng::new(7);
    let seed = 0xdead_beef_0000_0001u64;

    const TOL: f64 = super::tolerance::SAMPLER_STEP;

    for v in Variant::ALL {
        let tag = |op: &str| format!("{op} {}x{}", v.workgroup, v.per_invocation);

        // q_sample: tables rounded to f32 as the caller would upload them.
        let sa: Vec<f32> = abar.iter().map(|a| a.sqrt() as f32).collect();
        let s1m: Vec<f32> = abar.iter().map(|a| (1.0 - a).sqrt() as f32).collect();
        let sa_t = Tensor::from_slice(gpu, &[big_t], &sa);
        let s1m_t = Tensor::from_slice(gpu, &[big_t], &s1m);
        let sa64: Vec<f64> = sa.iter().map(|&x| x as f64).collect();
        let s1m64: Vec<f64> = s1m.iter().map(|&x| x as f64).collect();
        for (shape, ts) in [
            (vec![3usize, 1, 7, 9], vec![0u32, 999, 500]),
            (vec![5, 3, 5, 7], vec![1, 17, 998, 250, 0]),
        ] {
            let (x0, x064) = random_tensor(gpu, &mut rng, &shape);
            let (eps, eps64) = random_tensor(gpu, &mut rng, &shape);
            let t = Tensor::from_u32(gpu, &[shape[0]], &ts);
            let got = ops::q_sample_with(v, &x0, &eps, &t, &sa_t, &s1m_t).to_vec();
            let want = reference::q_sample(&x064, &eps64, &ts, &sa64, &s1m64);
            out.push(compare(
                tag("q_sample"),
                format!("{shape:?} t={ts:?}"),
                &got,
                &want,
                super::tolerance::FEW_ROUNDINGS,
            ));
        }

        // DDPM steps: fixed-large variance (sigma = sqrt(beta_t)), 0 at t = 0; one fixed-small.
        let shape = [3usize, 1, 7, 9];
        let n: usize = shape.iter().product();
        // (timestep, fixed-small variance)
        let cases = [
            (999usize, false),
            (500, false),
            (1, false),
            (0, false),
            (300, true),
        ];
        for (t, small) in cases {
            for clip in [false, true] {
                let abar_prev = if t == 0 { 1.0 } else { abar[t - 1] };
                let beta = 1.0 - abar[t] / abar_prev;
                let var = if small {
                    (1.0 - abar_prev) / (1.0 - abar[t]) * beta
                } else {
                    beta
                };
                let sigma = if t == 0 { 0.0 } else { var.sqrt() };
                let step = DdpmStep::new(abar[t], abar_prev, sigma, clip);
                // x_t with the marginal's scale; eps ~ N(0,1).
                let (x_t, x_t64) = random_tensor(gpu, &mut rng, &shape);
                let (eps, eps64) = random_tensor(gpu, &mut rng, &shape);
                let stream = 1000 + t as u64;
                let got = ops::ddpm_step_with(v, &x_t, &eps, &step, seed, stream).to_vec();
                let z = ref_normal(n, seed, stream);
                let want = reference::ddpm_step(&x_t64, &eps64, &z, &step.to_coefs());
                let name = format!(
                    "ddpm_step clip={clip}{}",
                    if small { " small-var" } else { "" }
                );
                out.push(compare(
                    tag(&name),
                    format!("{shape:?} t={t}"),
                    &got,
                    &want,
                    TOL,
                ));
            }
        }

        // DDIM steps: 50-step spacing (t -> t - 20), eta 0 (no noise) and 1, both clip modes,
        // including the last step to abar_prev = 1.
        let shape = [2usize, 3, 5, 7];
        let n: usize = shape.iter().product();
        for (t, prev) in [(999usize, Some(979usize)), (499, Some(479)), (19, None)] {
            for eta in [0.0, 1.0] {
                for clip in [false, true] {
                    let abar_prev = prev.map_or(1.0, |p| abar[p]);
                    let step = DdimStep::new(abar[t], abar_prev, eta, clip);
                    let (x_t, x_t64) = random_tensor(gpu, &mut rng, &shape);
                    let (eps, eps64) = random_tensor(gpu, &mut rng, &shape);
                    let stream = 5000 + t as u64;
                    let got = ops::ddim_step_with(v, &x_t, &eps, &step, seed, stream).to_vec();
                    let z = ref_normal(n, seed, stream);
                    let want = reference::ddim_step(&x_t64, &eps64, &z, &step.to_coefs());
                    let name = format!("ddim_step eta={eta} clip={clip}");
                    out.push(compare(
                        tag(&name),
                        format!("{shape:?} t={t}"),
                        &got,
                        &want,
                        TOL,
                    ));
                }
            }
        }
    }
    out
}
