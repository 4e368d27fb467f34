//! The variational bound on the negative log-likelihood (paper eq. 5), term by term as the
//! paper's code computes it (`calc_bpd_loop` of `diffusion_utils_2.py`): for every timestep t
//! a fresh x_t ~ q(x_t | x_0), the network's eps prediction, and one fused kernel
//! ([`crate::ops::bound`]) that gives each image's term in bits/dim and its x_0-prediction MSE;
//! the prior term KL(q(x_T | x_0) || N(0, I)) is closed-form (float64 on the CPU).
//!
//! Timesteps are 0-based: term 0 is the decoder, term t >= 1 the KL whose model input is x_t
//! (the paper's L_t). The noise of term t of batch `b` is `ops::rng::normal` of
//! `(seed, streams::bound(b, t))`, so a run is reproducible for a given seed and batch size.

use super::schedule::{Schedule, Variance};
use crate::maths::bound::prior_bpd;
use crate::ops::{bound, diffusion, rng};
use crate::Tensor;

/// One batch's bound terms. Flat arrays are `[timesteps.len(), images]` in the order of the
/// timesteps passed in.
pub struct BatchBound {
    pub images: usize,
    /// Term in bits/dim.
    pub terms: Vec<f64>,
    /// Mean over the dimensions of (x0_hat - x_0)^2, x0_hat clipped to [-1, 1].
    pub mse: Vec<f64>,
    /// KL(q(x_T | x_0) || N(0, I)) in bits/dim, per image.
    pub prior: Vec<f64>,
    /// With `keep`: per timestep, the noise drawn for x_t and the network's eps, `[images, ...]`.
    pub noise: Vec<Vec<f32>>,
    pub eps: Vec<Vec<f32>>,
}

/// Evaluates the terms at `timesteps` (all T of them for the bound) for images `x0` (values in
/// [-1, 1], `shape` = [B, C, H, W]). `eps_fn(x_t, t)` is the network (any eps predictor: tests
/// pass an oracle); `on_step(done)` is called after each timestep is recorded.
#[allow(clippy::too_many_arguments)]
pub fn bound_batch(
    gpu: &crate::Gpu,
    schedule: &Schedule,
    x0: &[f32],
    shape: [usize; 4],
    variance: Variance,
    timesteps: &[usize],
    seed: u64,
    batch_index: u64,
    keep: bool,
    mut eps_fn: impl FnMut(&Tensor, usize) -> Tensor,
    mut on_step: impl FnMut(usize),
) -> BatchBound {
    let images = shape[0];
    let per_image = shape[1] * shape[2] * shape[3];
    assert_eq!(
        x0.len(),
        images * per_image,
        "bound_batch: x0 and shape differ"
    );
    let big_t = schedule.steps();
    let x0_gpu = Tensor::from_slice(gpu, &shape, x0);
    let (sqrt_abar, sqrt_one_minus_abar) = schedule.q_sample_tables(gpu);
    let out = Tensor::uninit(gpu, &[timesteps.len(), images, 2]);
    let (mut noise_kept, mut eps_kept) = (Vec::new(), Vec::new());
    for (row, &t) in timesteps.iter().enumerate() {
        assert!(t < big_t, "bound_batch: timestep {t} >= T = {big_t}");
        let noise = rng::normal(gpu, &shape, seed, crate::streams::bound(batch_index, t));
        let t_tensor = Tensor::from_u32(gpu, &[images], &vec![t as u32; images]);
        let x_t = diffusion::q_sample(&x0_gpu, &noise, &t_tensor, &sqrt_abar, &sqrt_one_minus_abar);
        let eps = eps_fn(&x_t, t);
        let step = bound::VbStep::from_coefs(&schedule.vb_coefs(t, variance));
        bound::vb_terms(&x0_gpu, &x_t, &eps, &step, &out, row);
        if keep {
            noise_kept.push(noise.to_vec());
            eps_kept.push(eps.to_vec());
        }
        // As in sampling: one submit per timestep, a wait every few to bound the queue and keep
        // the progress bar honest.
        gpu.flush();
        if row % 8 == 7 {
            gpu.sync();
        }
        on_step(row + 1);
    }
    let pairs = out.to_vec();
    let abar_last = schedule.alphas_cumprod[big_t - 1];
    let prior = x0
        .chunks(per_image)
        .map(|img| {
            let x: Vec<f64> = img.iter().map(|&v| v as f64).collect();
            prior_bpd(&x, abar_last)
        })
        .collect();
    BatchBound {
        images,
        terms: pairs.iter().step_by(2).map(|&v| v as f64).collect(),
        mse: pairs.iter().skip(1).step_by(2).map(|&v| v as f64).collect(),
        prior,
        noise: noise_kept,
        eps: eps_kept,
    }
}

/// Pixels (8-bit) to the model's [-1, 1] scale, as the paper: x / 127.5 - 1.
pub fn scale_pixels(pixels: &[u8]) -> Vec<f32> {
    pixels
        .iter()
        .map(|&p| (p as f64 / 127.5 - 1.0) as f32)
        .collect()
}

/// Strata of the KL terms t = 1..T-1 for [`estimate_bound`]: `[b_k, b_{k+1})` with boundaries
/// spaced geometrically from 1 to T (deduplicated), because L_t falls by orders of magnitude
/// over the first tens of timesteps and then slowly: equal slices would put L_1 (~0.2 bits/dim)
/// and L_50 (~1e-3) in one stratum and the estimate would be dominated by that one draw.
pub fn strata(big_t: usize, count: usize) -> Vec<(usize, usize)> {
    let mut bounds: Vec<usize> = (0..=count)
        .map(|k| {
            ((big_t as f64).ln() * k as f64 / count as f64)
                .exp()
                .round() as usize
        })
        .map(|b| b.clamp(1, big_t))
        .collect();
    bounds.dedup();
    bounds.windows(2).map(|w| (w[0], w[1])).collect()
}

/// The timesteps of one stratified draw and their weights: the decoder (t = 0) with weight 1,
/// and one timestep drawn uniformly from each stratum with weight = the stratum's size, so that
/// `sum_t weight_t L_t` is an unbiased estimate of `sum_{t=0}^{T-1} L_t`.
pub fn stratified_draw(
    big_t: usize,
    count: usize,
    rng: &mut crate::maths::random::Rng,
) -> Vec<(usize, f64)> {
    let mut out = vec![(0usize, 1.0)];
    for (lo, hi) in strata(big_t, count) {
        out.push((lo + rng.below((hi - lo) as u64) as usize, (hi - lo) as f64));
    }
    out
}

/// A cheap unbiased estimate of the mean bound (bits/dim) of `x0`: the prior and the decoder
/// exactly, the KL terms by one draw per stratum ([`stratified_draw`]): about `strata + 1`
/// forward passes instead of T. `draw` (e.g. the training step) picks the timesteps and the
/// noise, deterministically with `seed`.
#[allow(clippy::too_many_arguments)]
pub fn estimate_bound(
    gpu: &crate::Gpu,
    schedule: &Schedule,
    x0: &[f32],
    shape: [usize; 4],
    variance: Variance,
    strata_count: usize,
    seed: u64,
    draw: u64,
    eps_fn: impl FnMut(&Tensor, usize) -> Tensor,
) -> f64 {
    let mut rng =
        crate::maths::random::Rng::new(seed ^ draw.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xB0_0D);
    let picks = stratified_draw(schedule.steps(), strata_count, &mut rng);
    let ts: Vec<usize> = picks.iter().map(|p| p.0).collect();
    let r = bound_batch(
        gpu,
        schedule,
        x0,
        shape,
        variance,
        &ts,
        seed,
        draw,
        false,
        eps_fn,
        |_| {},
    );
    let n = r.images;
    let mut total: f64 = r.prior.iter().sum();
    for (j, &(_, weight)) in picks.iter().enumerate() {
        total += weight * r.terms[j * n..(j + 1) * n].iter().sum::<f64>();
    }
    total / n as f64
}
