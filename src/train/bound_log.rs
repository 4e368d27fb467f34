//! `train --eval-every N`: a stratified estimate of the variational bound of the EMA weights
//! (`diffusion::bound::estimate_bound`: prior and decoder exact, one KL term per stratum, 19
//! geometric strata, 20 forward passes) appended to `bound.csv` in the run folder. `ddpm eval`
//! gives the full 1000-term bound; this is a cheap trend line during training.

use std::io::Write as _;

use anyhow::{Context as _, Result};

use super::{TrainOptions, Trainer};
use crate::diffusion::bound::{estimate_bound, scale_pixels};
use crate::diffusion::{Schedule, Variance};
use crate::nn::Mode;
use crate::Tensor;

/// Images in the estimate: the first 64 held-out digits (for the bundled data), or the first
/// 64 images of a `--data` folder (which has no held-out split).
const IMAGES: usize = 64;
const STRATA: usize = 20;

/// Appends the estimate at `step` (in bits/dim, fixed-large variance) and returns it.
pub fn log(opts: &TrainOptions, trainer: &Trainer, step: u64) -> Result<f64> {
    let cfg = &opts.config;
    let data = match &opts.data {
        Some(dir) => crate::data::folder::load(dir, cfg.sample_size, cfg.in_channels)?,
        None => crate::data::mnist::load_held_out(cfg.sample_size, cfg.in_channels)?,
    };
    let n = data.count.min(IMAGES);
    let x0 = scale_pixels(&data.pixels[..n * data.image_len()]);
    let shape = [n, cfg.in_channels, cfg.sample_size, cfg.sample_size];
    let store = trainer.ema_store();
    let gpu = &trainer.gpu;
    let bpd = estimate_bound(
        gpu,
        &Schedule::ddpm(),
        &x0,
        shape,
        Variance::FixedLarge,
        STRATA,
        opts.hyper.seed,
        step,
        |x_t, t| {
            let t_tensor = Tensor::from_u32(gpu, &[n], &vec![t as u32; n]);
            trainer
                .model
                .forward(&store, x_t, &t_tensor, Mode::inference())
                .0
        },
    );
    let path = opts.out.join("bound.csv");
    let fresh = !path.exists();
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    if fresh {
        writeln!(f, "step,bound_bpd_estimate")?;
    }
    writeln!(f, "{step},{bpd:.6}")?;
    Ok(bpd)
}
