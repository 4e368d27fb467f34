//! One training step of DDPM (Algorithm 1) recorded into a single submit:
//!
//! ```text
//! t ~ U{0..T-1}, eps ~ N(0, I)                       (GPU Philox, streams from (seed, step))
//! x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps
//! loss = mean((eps - eps_theta(x_t, t))^2);  backward by hand
//! g <- g * min(1, clip / ||g||)   (inside the Adam kernel: the norm never leaves the GPU)
//! Adam with linear warm-up; EMA of the weights
//! ```

use crate::checkpoint::Checkpoint;
use crate::diffusion::Schedule;
use crate::gpu::profile::scope;
use crate::model::unet::UNet;
use crate::model::{Layout, ParamStore, UNetConfig};
use crate::nn::Mode;
use crate::ops::optim::{self, AdamConfig};
use crate::ops::{diffusion, reduce, rng};
use crate::{Gpu, Tensor};
use std::time::Instant;

use super::distributed::Group;

/// Hyper-parameters of the optimisation (saved in checkpoints).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Hyper {
    pub batch_size: usize,
    pub lr: f64,
    pub warmup: u64,
    pub grad_clip: f64,
    pub ema_decay: f64,
    pub seed: u64,
    /// After the warm-up, cosine decay of the learning rate to 0 at this step (0: constant).
    /// Checkpoints written before the option existed read as 0.
    #[serde(default)]
    pub decay_steps: u64,
}

impl Hyper {
    /// Linear warm-up from 0 to `lr` over `warmup` steps (step is 0-based), then `lr`, or with
    /// `decay_steps` the cosine `lr (1 + cos(pi (step - warmup) / (decay_steps - warmup))) / 2`.
    pub fn lr_at(&self, step: u64) -> f64 {
        let warm = if self.warmup == 0 {
            1.0
        } else {
            ((step + 1) as f64 / self.warmup as f64).min(1.0)
        };
        self.lr * warm * self.decay_factor(step)
    }

    fn decay_factor(&self, step: u64) -> f64 {
        if self.decay_steps <= self.warmup || step < self.warmup {
            return 1.0;
        }
        let progress = (step - self.warmup) as f64 / (self.decay_steps - self.warmup) as f64;
        0.5 * (1.0 + (std::f64::consts::PI * progress.min(1.0)).cos())
    }
    /// EMA decay with the usual warm-up min(decay, (1 + n) / (10 + n)), so a short run's EMA is
    /// not dominated by the random initial weights.
    pub fn ema_at(&self, step: u64) -> f64 {
        self.ema_decay.min((1 + step) as f64 / (10 + step) as f64)
    }
}

/// Steps between metric readbacks: loss and gradient norm are logged on the GPU and read in
/// blocks, so training does not wait for the GPU every step.
pub const METRIC_SLOTS: usize = 64;

/// The samples of the global batch this process trains on: all of them in a single process,
/// `first..first + count` on a rank of a data-parallel group.
#[derive(Clone, Copy, Debug)]
pub struct Shard {
    pub first: usize,
    pub count: usize,
}

/// Reasons to stop after a step; in a group, stopping is agreed with the gradient all-reduce so
/// that every rank leaves the loop after the same step.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Stop {
    pub interrupted: bool,
    pub out_of_time: bool,
}

/// Host time of the gradient exchange of the last data-parallel step, in seconds.
#[derive(Clone, Copy, Debug, Default)]
pub struct ExchangeTime {
    /// Waiting for the backward pass (the step's GPU work) to finish.
    pub backward_wait: f64,
    /// Reading the gradients back and writing their mean to the GPU.
    pub staging: f64,
    /// The all-reduce itself (MPI).
    pub reduce: f64,
}

pub struct Trainer {
    pub gpu: Gpu,
    pub model: UNet,
    pub store: ParamStore,
    pub ema: Tensor,
    adam_m: Tensor,
    adam_v: Tensor,
    sqrt_abar: Tensor,
    sqrt_one_minus_abar: Tensor,
    schedule: Schedule,
    pub hyper: Hyper,
    /// This process's samples of the global batch `hyper.batch_size`.
    pub shard: Shard,
    /// Timing of the last data-parallel step's gradient exchange.
    pub exchange: std::cell::Cell<ExchangeTime>,
    /// [METRIC_SLOTS * 2]: (loss, sum of squared gradients) per step slot.
    metrics: Tensor,
}

pub fn layout_of(config: &UNetConfig) -> Layout {
    Layout::new(&UNet::new(config).registry)
}

/// The training state of a run that starts at `weights`: EMA equal to them, Adam's moments zero.
fn fresh_state(weights: Vec<f32>) -> [Vec<f32>; 4] {
    let zeros = vec![0.0; weights.len()];
    [weights.clone(), weights, zeros.clone(), zeros]
}

impl Trainer {
    /// A fresh model (paper initialisation), or the state of `resume`.
    pub fn new(
        gpu: &Gpu,
        config: &UNetConfig,
        hyper: Hyper,
        resume: Option<&Checkpoint>,
    ) -> Trainer {
        let model = UNet::new(config);
        let layout = Layout::new(&model.registry);
        let state = match resume {
            Some(ck) => [&ck.weights, &ck.ema, &ck.adam_m, &ck.adam_v].map(|v| v.clone()),
            None => fresh_state(layout.initial_values(hyper.seed)),
        };
        Self::with_state(gpu, model, layout, hyper, state)
    }

    /// A model that starts from `weights` (flat, in `layout_of(config)`; e.g. a trained model to
    /// fine-tune), with a fresh optimiser and an EMA that starts at the same weights.
    pub fn from_weights(gpu: &Gpu, config: &UNetConfig, hyper: Hyper, weights: &[f32]) -> Trainer {
        let model = UNet::new(config);
        let layout = Layout::new(&model.registry);
        assert_eq!(weights.len(), layout.total, "weights of another network");
        Self::with_state(gpu, model, layout, hyper, fresh_state(weights.to_vec()))
    }

    /// `state`: weights, EMA, Adam's first and second moments.
    fn with_state(
        gpu: &Gpu,
        model: UNet,
        layout: Layout,
        hyper: Hyper,
        state: [Vec<f32>; 4],
    ) -> Trainer {
        let total = layout.total;
        let [weights, ema, m, v] = state;
        let store = ParamStore::new(gpu, layout, &weights);
        let schedule = Schedule::ddpm();
        let (sqrt_abar, sqrt_one_minus_abar) = schedule.q_sample_tables(gpu);
        Trainer {
            gpu: gpu.clone(),
            model,
            store,
            ema: Tensor::from_slice(gpu, &[total], &ema),
            adam_m: Tensor::from_slice(gpu, &[total], &m),
            adam_v: Tensor::from_slice(gpu, &[total], &v),
            sqrt_abar,
            sqrt_one_minus_abar,
            schedule,
            shard: Shard {
                first: 0,
                count: hyper.batch_size,
            },
            exchange: Default::default(),
            hyper,
            metrics: Tensor::zeros(gpu, &[METRIC_SLOTS * 2]),
        }
    }

    /// Records and submits step `step` (0-based) on the batch `x0` ([B, C, H, W] in [-1, 1]).
    /// Its loss and gradient norm land in metric slot `step % METRIC_SLOTS`.
    pub fn step(&self, step: u64, x0: &[f32]) {
        self.record_step(step, x0);
        self.gpu.flush();
    }

    /// Records the step without submitting it (see [`Trainer::step`]).
    pub fn record_step(&self, step: u64, x0: &[f32]) {
        let loss = self.record_gradients(step, x0);
        self.record_update(step, &loss);
    }

    /// One step of a data-parallel group on this rank's slice `x0` of the global batch: the
    /// gradients and the loss are averaged over the ranks between backward and the optimiser,
    /// and so are the stop requests. Returns the stop reasons agreed by every rank.
    pub fn step_in(&self, group: &Group, step: u64, x0: &[f32], stop: Stop) -> Stop {
        if group.size() == 1 {
            self.step(step, x0);
            return stop;
        }
        let loss = self.record_gradients(step, x0);
        let waited = Instant::now();
        self.gpu.sync();
        let staged = Instant::now();
        let grads = self.store.grads.as_ref().expect("training store");
        let mut host = grads.to_vec();
        let n = host.len();
        host.extend(loss.to_vec());
        host.extend([stop.interrupted, stop.out_of_time].map(|s| s as u8 as f32));
        let reduced = Instant::now();
        group.all_reduce_mean(&mut host);
        let written = Instant::now();
        grads.write(&host[..n]);
        let loss = Tensor::from_slice(&self.gpu, &[1], &host[n..n + 1]);
        self.record_update(step, &loss);
        self.gpu.flush();
        self.exchange.set(ExchangeTime {
            backward_wait: (staged - waited).as_secs_f64(),
            staging: (reduced - staged + written.elapsed()).as_secs_f64(),
            reduce: (written - reduced).as_secs_f64(),
        });
        Stop {
            interrupted: host[n + 1] > 0.0,
            out_of_time: host[n + 2] > 0.0,
        }
    }

    /// The timesteps [B] and noise [B, C, H, W] of this process's samples: drawn for the whole
    /// global batch (streams by global sample index, a few kilobytes) and cut to the shard, so
    /// every rank count trains on the same draws.
    fn draw_noise(&self, step: u64) -> (Tensor, Tensor) {
        let cfg = &self.model.config;
        let (b, seed) = (self.hyper.batch_size, self.hyper.seed);
        let sample = [cfg.in_channels, cfg.sample_size, cfg.sample_size];
        let shape = [b, sample[0], sample[1], sample[2]];
        let steps = self.schedule.steps() as u32;
        let t = rng::randint(&self.gpu, b, steps, seed, crate::streams::timesteps(step));
        let eps = rng::normal(&self.gpu, &shape, seed, crate::streams::noise(step));
        let Shard { first, count } = self.shard;
        if count == b {
            return (t, eps);
        }
        let per_sample: usize = sample.iter().product();
        let local = [count, sample[0], sample[1], sample[2]];
        (
            t.copy_of_range(first, &[count]),
            eps.copy_of_range(first * per_sample, &local),
        )
    }

    /// Records forward, loss and backward of this process's samples; returns the loss [1].
    fn record_gradients(&self, step: u64, x0: &[f32]) -> Tensor {
        let cfg = &self.model.config;
        let shape = [
            self.shard.count,
            cfg.in_channels,
            cfg.sample_size,
            cfg.sample_size,
        ];
        let seed = self.hyper.seed;
        let prep = scope("noise");
        let x0 = Tensor::from_slice(&self.gpu, &shape, x0);
        let (t, eps) = self.draw_noise(step);
        let x_t = diffusion::q_sample(&x0, &eps, &t, &self.sqrt_abar, &self.sqrt_one_minus_abar);

        self.store.zero_grads();
        drop(prep);
        let mode = Mode {
            training: true,
            seed,
            step,
            first_sample: self.shard.first,
        };
        let (pred, tape) = {
            let _s = scope("fwd");
            self.model.forward(&self.store, &x_t, &t, mode)
        };
        let (loss, d_pred) = {
            let _s = scope("loss");
            let loss = reduce::mse_loss(&pred, &eps);
            (loss, reduce::mse_loss_backward(&pred, &eps))
        };
        drop(pred);
        {
            let _s = scope("bwd");
            self.model.backward_params(&self.store, tape, &d_pred);
        }
        loss
    }

    /// Records clipping, Adam and EMA on the (averaged) gradients and logs `loss` and the
    /// gradient norm in the step's metric slot.
    fn record_update(&self, step: u64, loss: &Tensor) {
        let _s = scope("optimizer");
        let grads = self.store.grads.as_ref().expect("training store");
        let sumsq = reduce::sum_squares(grads);
        let adam = AdamConfig {
            lr: self.hyper.lr_at(step) as f32,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            max_grad_norm: self.hyper.grad_clip as f32,
        };
        optim::adam_step(
            &self.store.values,
            grads,
            &self.adam_m,
            &self.adam_v,
            &sumsq,
            &adam,
            step + 1,
        );
        optim::ema_update(
            &self.ema,
            &self.store.values,
            self.hyper.ema_at(step) as f32,
        );
        let slot = (step as usize % METRIC_SLOTS) * 2;
        loss.copy_into_at(&self.metrics, slot);
        sumsq.copy_into_at(&self.metrics, slot + 1);
    }

    /// The whole training state (weights, EMA, Adam's moments), as GPU tensors: what the ranks
    /// of a group compare and take from rank 0 at start.
    pub fn state(&self) -> [&Tensor; 4] {
        [&self.store.values, &self.ema, &self.adam_m, &self.adam_v]
    }

    /// Reads (loss, gradient norm) of steps `from..to` (at most METRIC_SLOTS steps back).
    pub fn read_metrics(&self, from: u64, to: u64) -> Vec<(u64, f64, f64)> {
        assert!(to - from <= METRIC_SLOTS as u64);
        let all = self.metrics.to_vec();
        (from..to)
            .map(|s| {
                let slot = (s as usize % METRIC_SLOTS) * 2;
                (s, all[slot] as f64, (all[slot + 1] as f64).sqrt())
            })
            .collect()
    }

    /// Everything needed to resume, read back from the GPU.
    pub fn checkpoint(&self, step: u64, train_state: serde_json::Value) -> Checkpoint {
        Checkpoint {
            config: self.model.config.clone(),
            step,
            weights: self.store.values.to_vec(),
            ema: self.ema.to_vec(),
            adam_m: self.adam_m.to_vec(),
            adam_v: self.adam_v.to_vec(),
            train_state,
        }
    }

    /// A store over the EMA weights (shares the buffer; no copy) for sampling previews.
    pub fn ema_store(&self) -> ParamStore {
        ParamStore::for_inference(self.store.layout.clone(), self.ema.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::Hyper;

    fn hyper(warmup: u64, decay_steps: u64) -> Hyper {
        Hyper {
            batch_size: 8,
            lr: 1e-3,
            warmup,
            grad_clip: 1.0,
            ema_decay: 0.999,
            seed: 0,
            decay_steps,
        }
    }

    #[test]
    fn learning_rate_warms_up_then_stays_or_follows_the_cosine() {
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-15;
        let constant = hyper(100, 0);
        assert!(close(constant.lr_at(0), 1e-5));
        assert!(close(constant.lr_at(49), 5e-4));
        assert!(close(constant.lr_at(99), 1e-3));
        assert!(close(constant.lr_at(5000), 1e-3));
        let cosine = hyper(100, 2100);
        assert!(close(cosine.lr_at(49), 5e-4), "the warm-up is unchanged");
        assert!(close(cosine.lr_at(100), 1e-3));
        assert!(
            close(cosine.lr_at(1100), 5e-4),
            "half-way down at mid-decay"
        );
        assert!(close(cosine.lr_at(600), 1e-3 * (2.0 + 2f64.sqrt()) / 4.0));
        assert!(cosine.lr_at(2099) > 0.0 && cosine.lr_at(2099) < 1e-8);
        assert_eq!(cosine.lr_at(2100), 0.0, "past the horizon");
        let rates: Vec<f64> = (100..2100).map(|s| cosine.lr_at(s)).collect();
        assert!(rates.windows(2).all(|w| w[1] < w[0]), "strictly decreasing");
    }

    #[test]
    fn checkpoints_from_before_the_decay_option_read_as_constant() {
        let old = r#"{"batch_size":64,"lr":0.001,"warmup":100,"grad_clip":1.0,
                      "ema_decay":0.999,"seed":7}"#;
        let h: Hyper = serde_json::from_str(old).unwrap();
        assert_eq!(h.decay_steps, 0);
        assert_eq!(h.lr_at(3000), 1e-3);
    }
}
