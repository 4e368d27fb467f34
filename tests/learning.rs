//! The learning test: a short, fixed-seed run of the `tiny` preset on the bundled digits must
//! bring the denoising loss of its EMA weights on held-out digits (fixed t and noise, see
//! `ddpm::train::validation`) below a threshold. It catches what unit tests miss: a wrong loss
//! scale, schedule, warm-up, EMA or data scaling still runs, but learns worse.
//!
//! Threshold: see `THRESHOLD` below for the measured values it was set from.

mod common;

use ddpm::data::mnist;
use ddpm::model::UNetConfig;
use ddpm::train::validation::ValidationSet;
use ddpm::train::{Hyper, Trainer};

const STEPS: u64 = 150;
const BATCH: usize = 16;

/// Validation images: the first 64 held-out digits at 16x16, scaled to [-1, 1] as in training.
fn validation(gpu: &ddpm::Gpu) -> ValidationSet {
    let held_out = mnist::load_held_out(16, 1).unwrap();
    let n = 64;
    let pixels: Vec<f32> = held_out.pixels[..n * held_out.image_len()]
        .iter()
        .map(|&p| p as f32 / 127.5 - 1.0)
        .collect();
    ValidationSet::new(gpu, &pixels, [n, 1, 16, 16], 7)
}

#[test]
fn a_short_run_learns_to_denoise_held_out_digits() {
    let gpu = common::gpu();
    let data = mnist::load(16, 1).unwrap();
    let hyper = Hyper {
        batch_size: BATCH,
        lr: 1e-3,
        warmup: 20,
        grad_clip: 1.0,
        ema_decay: 0.99,
        seed: 0,
        decay_steps: 0,
    };
    let trainer = Trainer::new(&gpu, &UNetConfig::tiny(1), hyper, None);
    let val = validation(&gpu);
    let before = val.loss(&trainer.model, &trainer.ema_store());
    for step in 0..STEPS {
        trainer.step(step, &data.batch(step, BATCH, 0, false));
    }
    let after_ema = val.loss(&trainer.model, &trainer.ema_store());
    let after_raw = val.loss(&trainer.model, &trainer.store);
    eprintln!(
        "validation loss: initial {before:.4}, after {STEPS} steps: EMA {after_ema:.4}, raw {after_raw:.4}"
    );
    // The paper's initialisation zeroes the last convolution, so the untrained model predicts
    // eps = 0 and scores E[eps^2] = 1.
    assert!((before - 1.0).abs() < 0.05, "initial loss {before}");
    assert!(
        after_ema < THRESHOLD,
        "EMA validation loss {after_ema:.4} after {STEPS} steps is above {THRESHOLD}"
    );
}

/// Measured (lavapipe, this test with --nocapture): initial 1.0006; after 150 steps EMA 0.0520,
/// raw weights 0.0596. For scale: the PyTorch + diffusers run of the same preset (400
/// steps, lr 1e-3) reached an EMA validation loss of 0.046-0.047. The threshold sits 25% above
/// our measurement: float summation order moves the result by far less than that, while a
/// broken piece of training (an EMA without warm-up still holds 22% of the random initial
/// weights after 150 steps at decay 0.99; data in [0, 1] instead of [-1, 1]; a loss or
/// learning-rate scale off by a large factor) leaves the loss well above it.
const THRESHOLD: f64 = 0.065;
