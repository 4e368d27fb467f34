//! The variance schedule, computed in float64 (abar_t reaches ~4e-5 at t = 999; products in f32
//! drift), and the per-timestep coefficients the GPU kernels take. Timesteps are 0-based.

use crate::maths::bound::VbCoefs;
use crate::ops::diffusion::{DdimStep, DdpmStep};
use crate::{Gpu, Tensor};

/// The reverse-process variance sigma_t^2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variance {
    /// sigma_t^2 = beta_t (the paper's choice for CIFAR-10).
    FixedLarge,
    /// sigma_t^2 = beta_tilde_t = (1 - abar_{t-1}) / (1 - abar_t) beta_t.
    FixedSmall,
}

#[derive(Clone, Debug)]
pub struct Schedule {
    pub betas: Vec<f64>,
    pub alphas: Vec<f64>,
    /// abar_t = prod_{s <= t} alpha_s.
    pub alphas_cumprod: Vec<f64>,
}

impl Schedule {
    /// Betas linear from `start` to `end` over `steps` timesteps (paper: 1e-4, 0.02, 1000).
    pub fn linear(steps: usize, start: f64, end: f64) -> Schedule {
        let betas: Vec<f64> = (0..steps)
            .map(|i| {
                if steps == 1 {
                    start
                } else {
                    start + (end - start) * i as f64 / (steps - 1) as f64
                }
            })
            .collect();
        let alphas: Vec<f64> = betas.iter().map(|b| 1.0 - b).collect();
        let mut alphas_cumprod = Vec::with_capacity(steps);
        let mut acc = 1.0;
        for a in &alphas {
            acc *= a;
            alphas_cumprod.push(acc);
        }
        Schedule {
            betas,
            alphas,
            alphas_cumprod,
        }
    }

    pub fn ddpm() -> Schedule {
        Schedule::linear(1000, 1e-4, 0.02)
    }

    pub fn steps(&self) -> usize {
        self.betas.len()
    }

    /// abar_{t-1}, with abar_{-1} = 1.
    pub fn abar_prev(&self, t: usize) -> f64 {
        if t == 0 {
            1.0
        } else {
            self.alphas_cumprod[t - 1]
        }
    }

    /// The tables `q_sample` reads: sqrt(abar_t) and sqrt(1 - abar_t), [T] each.
    pub fn q_sample_tables(&self, gpu: &Gpu) -> (Tensor, Tensor) {
        let t = self.steps();
        let a: Vec<f32> = self
            .alphas_cumprod
            .iter()
            .map(|a| a.sqrt() as f32)
            .collect();
        let b: Vec<f32> = self
            .alphas_cumprod
            .iter()
            .map(|a| (1.0 - a).sqrt() as f32)
            .collect();
        (
            Tensor::from_slice(gpu, &[t], &a),
            Tensor::from_slice(gpu, &[t], &b),
        )
    }

    /// Coefficients of the ancestral step x_t -> x_{t-1} (Algorithm 2; `clip` uses the
    /// posterior-mean form with x0 clamped to [-1, 1], as diffusers' clip_sample).
    pub fn ddpm_step(&self, t: usize, variance: Variance, clip: bool) -> DdpmStep {
        let abar = self.alphas_cumprod[t];
        let abar_prev = self.abar_prev(t);
        let beta = self.betas[t];
        let alpha = self.alphas[t];
        let var = match variance {
            Variance::FixedLarge => beta,
            Variance::FixedSmall => ((1.0 - abar_prev) / (1.0 - abar) * beta).max(1e-20),
        };
        DdpmStep {
            sqrt_recip_abar: (1.0 / abar).sqrt() as f32,
            sqrt_recipm1_abar: (1.0 / abar - 1.0).sqrt() as f32,
            coef_x0: (abar_prev.sqrt() * beta / (1.0 - abar)) as f32,
            coef_xt: (alpha.sqrt() * (1.0 - abar_prev) / (1.0 - abar)) as f32,
            eps_coef: (beta / (1.0 - abar).sqrt()) as f32,
            inv_sqrt_alpha: (1.0 / alpha.sqrt()) as f32,
            sigma: if t == 0 { 0.0 } else { var.sqrt() as f32 },
            clip,
        }
    }

    /// beta~_t = (1 - abar_{t-1}) / (1 - abar_t) beta_t, the posterior variance (0 at t = 0).
    pub fn posterior_variance(&self, t: usize) -> f64 {
        (1.0 - self.abar_prev(t)) / (1.0 - self.alphas_cumprod[t]) * self.betas[t]
    }

    /// The constants of bound term `t` (0-based; 0 is the decoder) as the paper's code has them
    /// (`GaussianDiffusion2`): the posterior log-variance "clipped", log beta~_1 at t = 0 where
    /// beta~_0 = 0; the model's log-variance log beta_t (fixed-large, with log beta~_1 at t = 0)
    /// or the clipped log beta~_t (fixed-small). Needs at least 2 timesteps.
    pub fn vb_coefs(&self, t: usize, variance: Variance) -> VbCoefs {
        let abar = self.alphas_cumprod[t];
        let abar_prev = self.abar_prev(t);
        let clipped_logvar = self.posterior_variance(t.max(1)).ln();
        VbCoefs {
            sqrt_recip_abar: (1.0 / abar).sqrt(),
            sqrt_recipm1_abar: (1.0 / abar - 1.0).sqrt(),
            coef1: self.betas[t] * abar_prev.sqrt() / (1.0 - abar),
            coef2: (1.0 - abar_prev) * self.alphas[t].sqrt() / (1.0 - abar),
            true_logvar: clipped_logvar,
            model_logvar: match variance {
                Variance::FixedLarge if t > 0 => self.betas[t].ln(),
                _ => clipped_logvar,
            },
            decoder: t == 0,
        }
    }

    /// Coefficients of a DDIM step from `t` to `t_prev` (`None`: to x_0). `eta` = 0 is the
    /// deterministic sampler, 1 matches DDPM's variance.
    pub fn ddim_step(&self, t: usize, t_prev: Option<usize>, eta: f64, clip: bool) -> DdimStep {
        let abar = self.alphas_cumprod[t];
        let abar_prev = t_prev.map_or(1.0, |p| self.alphas_cumprod[p]);
        let sigma = eta * ((1.0 - abar_prev) / (1.0 - abar) * (1.0 - abar / abar_prev)).sqrt();
        DdimStep {
            sqrt_abar: abar.sqrt() as f32,
            sqrt_one_minus_abar: (1.0 - abar).sqrt() as f32,
            sqrt_abar_prev: abar_prev.sqrt() as f32,
            dir_coef: (1.0 - abar_prev - sigma * sigma).max(0.0).sqrt() as f32,
            sigma: sigma as f32,
            clip,
        }
    }

    /// `n` evenly spaced timesteps for fast sampling, descending, ending at 0 ("leading"
    /// spacing as diffusers: t = k * (T / n)).
    pub fn spaced_timesteps(&self, n: usize) -> Vec<usize> {
        let n = n.clamp(1, self.steps());
        let stride = self.steps() / n;
        (0..n).rev().map(|k| k * stride).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_schedule_end_points() {
        let s = Schedule::ddpm();
        assert_eq!(s.steps(), 1000);
        assert!((s.betas[0] - 1e-4).abs() < 1e-15 && (s.betas[999] - 0.02).abs() < 1e-15);
        // unet-spec.md: abar_999 ~ 4.036e-5.
        assert!(
            (s.alphas_cumprod[999] - 4.036e-5).abs() < 1e-7,
            "{}",
            s.alphas_cumprod[999]
        );
    }

    #[test]
    fn spaced_timesteps_descend_to_zero() {
        let s = Schedule::ddpm();
        assert_eq!(s.spaced_timesteps(4), vec![750, 500, 250, 0]);
        assert_eq!(s.spaced_timesteps(1000).len(), 1000);
    }

    #[test]
    fn ddpm_step_forms_agree_without_clipping() {
        // (x - eps_coef eps)/sqrt(alpha) == coef_x0 * x0_hat + coef_xt * x for x0_hat from eps.
        let s = Schedule::ddpm();
        for t in [1usize, 10, 500, 999] {
            let p = s.ddpm_step(t, Variance::FixedLarge, false);
            let (x, eps) = (0.3f64, -1.2f64);
            let paper = (x - p.eps_coef as f64 * eps) * p.inv_sqrt_alpha as f64;
            let x0 = p.sqrt_recip_abar as f64 * x - p.sqrt_recipm1_abar as f64 * eps;
            let posterior = p.coef_x0 as f64 * x0 + p.coef_xt as f64 * x;
            assert!(
                (paper - posterior).abs() < 1e-4 * paper.abs().max(1.0),
                "t={t}: {paper} vs {posterior}"
            );
        }
    }
}
