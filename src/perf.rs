//! Steady-state speed of the whole model: `ddpm bench` (wall time per training and sampling
//! step) and `ddpm profile` (the GPU time of every dispatch of one step, grouped by layer and by
//! kernel family). Both use the real training step ([`Trainer::step`]) and the real sampling
//! step (the network in inference mode plus the fused DDPM update), so what they measure is
//! what `train` and `sample` run.

use std::time::Instant;

use crate::diffusion::schedule::Variance;
use crate::diffusion::Schedule;
use crate::gpu::profile::{group_by, scope, DispatchRecord, Group};
use crate::model::UNetConfig;
use crate::nn::Mode;
use crate::ops::{diffusion, rng};
use crate::train::{Hyper, Trainer};
use crate::{Gpu, Tensor};

/// A model ready to time: a trainer (paper initialisation) and a fixed batch of inputs.
pub struct Workload {
    pub trainer: Trainer,
    pub batch: usize,
    x0: Vec<f32>,
    step: u64,
    schedule: Schedule,
}

/// FLOPs of one forward pass per image, counted as `BENCHMARKS.md` does (convolutions, linear
/// layers and attention products; element-wise work is not counted).
pub fn forward_flops_per_image(gpu: &Gpu, config: &UNetConfig) -> f64 {
    let w = Workload::new(gpu, config, 1);
    gpu.profile_begin(false);
    w.record_sampling_step();
    let records = gpu.profile_end();
    records.iter().map(|r| r.flops).sum()
}

impl Workload {
    pub fn new(gpu: &Gpu, config: &UNetConfig, batch: usize) -> Workload {
        let hyper = Hyper {
            batch_size: batch,
            lr: 1e-4,
            warmup: 0,
            grad_clip: 1.0,
            ema_decay: 0.9999,
            seed: 0,
            decay_steps: 0,
        };
        let n = batch * config.in_channels * config.sample_size * config.sample_size;
        // Deterministic inputs in [-1, 1] (never zeros: see METHOD.md on timing zeros).
        let x0 = (0..n)
            .map(|i| ((i * 7919) % 2001) as f32 / 1000.0 - 1.0)
            .collect();
        Workload {
            trainer: Trainer::new(gpu, config, hyper, None),
            batch,
            x0,
            step: 0,
            schedule: Schedule::ddpm(),
        }
    }

    fn gpu(&self) -> &Gpu {
        &self.trainer.gpu
    }

    /// Records and submits one training step.
    pub fn train_step(&mut self) {
        self.trainer.step(self.step, &self.x0);
        self.step += 1;
    }

    /// Records one sampling step: eps_theta(x_t, t) in inference mode and the fused update.
    pub fn record_sampling_step(&self) -> Tensor {
        let cfg = &self.trainer.model.config;
        let gpu = self.gpu();
        let shape = [
            self.batch,
            cfg.in_channels,
            cfg.sample_size,
            cfg.sample_size,
        ];
        let x = rng::normal(gpu, &shape, 1, 2);
        let t = 500;
        let t_tensor = Tensor::from_u32(gpu, &[self.batch], &vec![t as u32; self.batch]);
        let eps = {
            let _s = scope("fwd");
            self.trainer
                .model
                .forward(&self.trainer.store, &x, &t_tensor, Mode::inference())
                .0
        };
        let _s = scope("update");
        let step = self.schedule.ddpm_step(t, Variance::FixedLarge, true);
        diffusion::ddpm_step(&x, &eps, &step, 1, 3)
    }

    /// Wall seconds of `repeats` training steps, each synchronised, after `warmup` untimed ones.
    pub fn time_train_steps(&mut self, warmup: usize, repeats: usize) -> Vec<f64> {
        let gpu = self.gpu().clone();
        time_synchronised(&gpu, warmup, repeats, || self.train_step())
    }

    /// Wall seconds of `repeats` sampling steps, as [`Workload::time_train_steps`].
    pub fn time_sampling_steps(&self, warmup: usize, repeats: usize) -> Vec<f64> {
        time_synchronised(self.gpu(), warmup, repeats, || {
            self.record_sampling_step();
        })
    }

    /// Every dispatch of one training step, timed (call after a warm-up step).
    pub fn profile_train_step(&mut self, timestamps: bool) -> Vec<DispatchRecord> {
        self.gpu().profile_begin(timestamps);
        self.train_step();
        self.gpu().profile_end()
    }

    /// Every dispatch of one sampling step, timed.
    pub fn profile_sampling_step(&self, timestamps: bool) -> Vec<DispatchRecord> {
        self.gpu().profile_begin(timestamps);
        self.record_sampling_step();
        self.gpu().profile_end()
    }
}

/// Runs `step` `warmup` times untimed, then `repeats` times, each waited for; wall seconds each.
fn time_synchronised(gpu: &Gpu, warmup: usize, repeats: usize, mut step: impl FnMut()) -> Vec<f64> {
    for _ in 0..warmup {
        step();
    }
    gpu.sync();
    (0..repeats)
        .map(|_| {
            let t = Instant::now();
            step();
            gpu.sync();
            t.elapsed().as_secs_f64()
        })
        .collect()
}

/// Median, minimum and maximum of `xs` (not empty).
pub fn spread(xs: &[f64]) -> (f64, f64, f64) {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let median = if v.len() % 2 == 1 {
        v[v.len() / 2]
    } else {
        (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
    };
    (median, v[0], v[v.len() - 1])
}

fn rate(g: &Group) -> String {
    if g.seconds <= 0.0 {
        return "-".into();
    }
    if g.flops > 0.0 {
        format!("{:.1} GFLOP/s", g.flops / g.seconds * 1e-9)
    } else {
        format!("{:.2} GB/s", g.bytes / g.seconds * 1e-9)
    }
}

fn table(title: &str, groups: &[Group], total: f64, limit: usize) -> String {
    let mut s = format!(
        "\n{title}\n{:<44} {:>6} {:>10} {:>6}  {:<16}\n",
        "", "calls", "ms", "share", "rate"
    );
    for g in groups.iter().take(limit) {
        s += &format!(
            "{:<44} {:>6} {:>10.3} {:>5.1}%  {:<16}\n",
            g.key,
            g.dispatches,
            g.seconds * 1e3,
            100.0 * g.seconds / total,
            rate(g)
        );
    }
    if groups.len() > limit {
        let rest: f64 = groups[limit..].iter().map(|g| g.seconds).sum();
        s += &format!(
            "{:<44} {:>6} {:>10.3} {:>5.1}%\n",
            format!("({} more)", groups.len() - limit),
            groups[limit..].iter().map(|g| g.dispatches).sum::<usize>(),
            rest * 1e3,
            100.0 * rest / total
        );
    }
    s
}

/// The layer part of a scope: `fwd/down1.resnet` -> `down1.resnet` (direction dropped).
fn layer_of(scope: &str) -> String {
    scope
        .split_once('/')
        .map(|(_, l)| l.to_string())
        .unwrap_or_else(|| scope.to_string())
}

/// The profile of one step as text: totals, then by phase, layer, family and kernel.
pub fn report(records: &[DispatchRecord], wall_seconds: f64) -> String {
    let total: f64 = records.iter().map(|r| r.seconds).sum();
    let flops: f64 = records.iter().map(|r| r.flops).sum();
    let mut s = format!(
        "{} dispatches, {:.3} ms of dispatch time ({:.1} GFLOP counted, {:.1} GFLOP/s); the unprofiled step took {:.3} ms of wall time\n",
        records.len(),
        total * 1e3,
        flops * 1e-9,
        flops / total.max(1e-12) * 1e-9,
        wall_seconds * 1e3
    );
    let phase = group_by(records, |r| {
        r.scope.split('/').next().unwrap_or("").to_string()
    });
    s += &table("by phase", &phase, total, 20);
    let layer = group_by(records, |r| layer_of(&r.scope));
    s += &table(
        "by layer (forward and backward together)",
        &layer,
        total,
        25,
    );
    let family = group_by(records, |r| r.family.to_string());
    s += &table("by kernel family", &family, total, 20);
    let kernel = group_by(records, |r| format!("{}::{}", r.family, r.entry));
    s += &table("by kernel", &kernel, total, 25);
    s
}

/// The kernels of the layers whose name contains `layer`, by scope (phase and layer) and
/// kernel, with their share of the whole step.
pub fn layer_report(records: &[DispatchRecord], layer: &str) -> String {
    let total: f64 = records.iter().map(|r| r.seconds).sum();
    let chosen: Vec<DispatchRecord> = records
        .iter()
        .filter(|r| layer_of(&r.scope).contains(layer))
        .cloned()
        .collect();
    if chosen.is_empty() {
        return format!("\nno layer's name contains '{layer}'\n");
    }
    let groups = group_by(&chosen, |r| {
        format!("{} {}::{}", r.scope, r.family, r.entry)
    });
    table(
        &format!("kernels of the layers matching '{layer}' (share of the whole step)"),
        &groups,
        total,
        usize::MAX,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_of_odd_and_even() {
        assert_eq!(spread(&[3.0, 1.0, 2.0]), (2.0, 1.0, 3.0));
        assert_eq!(spread(&[4.0, 1.0, 2.0, 3.0]), (2.5, 1.0, 4.0));
    }

    #[test]
    fn layer_drops_the_phase() {
        assert_eq!(layer_of("fwd/down1.resnet"), "down1.resnet");
        assert_eq!(layer_of("optimizer"), "optimizer");
    }
}
