//! The denoising loss on a fixed validation set: the same L_simple that training minimises, on
//! fixed (x_0, t, eps) draws, so that two evaluations differ only by the weights. Used by the
//! learning test (a short run must bring it below a threshold) and for comparing runs.

use crate::diffusion::Schedule;
use crate::model::unet::UNet;
use crate::model::ParamStore;
use crate::nn::Mode;
use crate::ops::{diffusion, reduce, rng};
use crate::{Gpu, Tensor};

/// Fixed validation draws: images, timesteps spread evenly over [0, T), and noise.
pub struct ValidationSet {
    x0: Tensor,
    t: Tensor,
    eps: Tensor,
}

impl ValidationSet {
    /// `pixels`: `n` images [C, H, W] in [-1, 1], concatenated. Timestep i is
    /// `(2 i + 1) T / (2 n)` (stratified, so the loss weights all noise levels alike); the noise
    /// comes from `seed` on a stream training never uses.
    pub fn new(gpu: &Gpu, pixels: &[f32], shape: [usize; 4], seed: u64) -> ValidationSet {
        let n = shape[0];
        let steps = Schedule::ddpm().steps();
        let t: Vec<u32> = (0..n)
            .map(|i| ((2 * i + 1) * steps / (2 * n)) as u32)
            .collect();
        ValidationSet {
            x0: Tensor::from_slice(gpu, &shape, pixels),
            t: Tensor::from_u32(gpu, &[n], &t),
            eps: rng::normal(gpu, &shape, seed, u64::MAX - 1),
        }
    }

    /// mean((eps - eps_theta(x_t, t))^2) with the weights of `store`, in inference mode.
    pub fn loss(&self, model: &UNet, store: &ParamStore) -> f64 {
        let schedule = Schedule::ddpm();
        let (sqrt_abar, sqrt_one_minus_abar) = schedule.q_sample_tables(self.x0.gpu());
        let x_t = diffusion::q_sample(
            &self.x0,
            &self.eps,
            &self.t,
            &sqrt_abar,
            &sqrt_one_minus_abar,
        );
        let (pred, _) = model.forward(store, &x_t, &self.t, Mode::inference());
        reduce::mse_loss(&pred, &self.eps).to_vec()[0] as f64
    }
}
