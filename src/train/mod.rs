//! The training job: data, the step loop with progress, metrics, pictures and checkpoints.

pub mod bound_log;
pub mod distributed;
pub mod trainer;
pub mod validation;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context as _, Result};

use crate::checkpoint::Checkpoint;
use crate::data::{self, loader::Loader, Dataset};
use crate::diffusion::sampler::{self, Method, SampleOptions};
use crate::diffusion::Schedule;
use crate::model::UNetConfig;
use crate::report::{grid, plot};
use crate::Gpu;
use distributed::Group;
pub use trainer::{layout_of, Hyper, Shard, Stop, Trainer, METRIC_SLOTS};

/// Everything `ddpm train` takes (see the CLI for defaults).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct TrainOptions {
    pub config: UNetConfig,
    pub data: Option<PathBuf>,
    pub hyper: Hyper,
    pub steps: u64,
    /// Stop cleanly (checkpoint, samples) after this much training time in this process.
    #[serde(default, skip_serializing)]
    pub max_time: Option<std::time::Duration>,
    pub flip: bool,
    pub out: PathBuf,
    pub sample_every: u64,
    pub checkpoint_every: u64,
    /// Also keep each scheduled checkpoint as `checkpoints/step_NNNNNNN.safetensors` (the
    /// rolling `checkpoint.safetensors` is always written).
    #[serde(default)]
    pub keep_checkpoints: bool,
    /// Images in each preview grid and DDIM steps used to make them.
    pub sample_n: usize,
    pub sample_steps: usize,
    /// Steps between bound estimates in bound.csv (`bound_log`), 0: never.
    #[serde(default)]
    pub eval_every: u64,
    /// The model whose weights the run started from (`--init`), for the record; None: the
    /// paper's random initialisation.
    #[serde(default)]
    pub init: Option<PathBuf>,
}

/// Where a run's training state comes from.
pub enum Start<'a> {
    /// The paper's random initialisation (seeded by `Hyper::seed`).
    Fresh,
    /// A trained model's weights, with a fresh optimiser and EMA (fine-tuning).
    Init(Box<crate::checkpoint::ModelWeights>),
    /// A checkpoint of an earlier run, continued exactly.
    Resume(&'a Path),
}

fn load_data(opts: &TrainOptions) -> Result<Dataset> {
    let cfg = &opts.config;
    match &opts.data {
        Some(dir) => data::folder::load(dir, cfg.sample_size, cfg.in_channels),
        None => data::mnist::load(cfg.sample_size, cfg.in_channels),
    }
}

struct Run<'g> {
    group: &'g Group,
    opts: TrainOptions,
    trainer: Trainer,
    metrics_path: PathBuf,
    checkpoint_path: PathBuf,
    losses: Vec<(u64, f64)>,
    last_good: Option<u64>,
    started: Instant,
    wall_offset: f64,
}

impl Run<'_> {
    fn train_state(&self) -> serde_json::Value {
        serde_json::json!({ "options": self.opts, "wall_time_s": self.wall() })
    }
    fn wall(&self) -> f64 {
        self.wall_offset + self.started.elapsed().as_secs_f64()
    }

    /// Rank 0 saves the training state (the same on every rank), then every rank waits for it,
    /// so that no rank runs ahead of the last checkpoint.
    fn save_checkpoint(&mut self, step: u64) -> Result<()> {
        if self.group.is_root() {
            self.write_checkpoint(step)?;
        }
        self.group.barrier();
        Ok(())
    }

    /// Saves the training state, unless any of it is non-finite: a finite loss at step N does
    /// not prove that update N left finite weights, and the last good checkpoint must stay.
    fn write_checkpoint(&mut self, step: u64) -> Result<()> {
        let ck = self.trainer.checkpoint(step, self.train_state());
        let finite = |v: &[f32]| v.iter().all(|x| x.is_finite());
        if !(finite(&ck.weights) && finite(&ck.ema) && finite(&ck.adam_m) && finite(&ck.adam_v)) {
            crate::fail!(
                Diverged,
                "the weights became non-finite by step {step}; training stopped; {}",
                self.kept()
            );
        }
        ck.save(&self.checkpoint_path, &self.trainer.store.layout)?;
        self.last_good = Some(step);
        if self.opts.keep_checkpoints {
            let dir = self.opts.out.join("checkpoints");
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            let kept = dir.join(format!("step_{step:07}.safetensors"));
            std::fs::copy(&self.checkpoint_path, &kept)
                .with_context(|| format!("cannot write {}", kept.display()))?;
        }
        Ok(())
    }

    fn save_pictures(&self, step: u64) -> Result<PathBuf> {
        let cfg = &self.opts.config;
        let store = self.trainer.ema_store();
        let opts = SampleOptions {
            method: Method::Ddim {
                steps: self.opts.sample_steps,
                eta: 0.0,
            },
            clip: true,
            seed: 0x5A3D,
        };
        let n = self.opts.sample_n;
        let x = sampler::sample_batch(
            &self.trainer.model,
            &store,
            &Schedule::ddpm(),
            n,
            0,
            &opts,
            |_, _| {},
        );
        let img = grid::grid_image(&x.to_vec(), n, cfg.in_channels, cfg.sample_size);
        let path = self
            .opts
            .out
            .join("samples")
            .join(format!("step_{step:07}.png"));
        grid::save_png(&img, &path)?;
        grid::save_png(&img, &self.opts.out.join("samples.png"))?;
        plot::save_loss_plot(&self.losses, &self.opts.out.join("loss.png"))?;
        Ok(path)
    }

    /// What a stopped run leaves: the last checkpoint written, if any.
    fn kept(&self) -> String {
        match self.last_good {
            Some(s) => format!(
                "the last good checkpoint ({}, step {s}) is kept",
                self.checkpoint_path.display()
            ),
            None => "no checkpoint had been written yet".into(),
        }
    }

    /// Reads the metrics of steps `from..to`, appends them to the log; errors on a
    /// non-finite loss (the caller keeps the last good checkpoint).
    fn log_metrics(&mut self, from: u64, to: u64) -> Result<f64> {
        let rows = self.trainer.read_metrics(from, to);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&self.metrics_path)?;
        let wall = self.wall();
        let mut last = f64::NAN;
        for (step, loss, norm) in rows {
            if !loss.is_finite() || !norm.is_finite() {
                crate::fail!(
                    Diverged,
                    "the loss became non-finite at step {}; training stopped; {}",
                    step + 1,
                    self.kept()
                );
            }
            writeln!(
                f,
                "{},{loss:.6},{norm:.6},{:.6e},{wall:.2}",
                step + 1,
                self.trainer.hyper.lr_at(step)
            )?;
            self.losses.push((step + 1, loss));
            last = loss;
        }
        Ok(last)
    }
}

fn progress_bar(start: u64, total: u64) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(total);
    bar.set_position(start);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} step {pos}/{len} [{bar:30}] loss {msg}  {per_sec}  ETA {eta}",
        )
        .unwrap()
        .progress_chars("=> "),
    );
    bar.reset_eta();
    bar
}

/// Errors (instead of failing inside a kernel) when the batch's largest activation exceeds
/// what the adapter can bind as one storage buffer.
pub fn check_fits(gpu: &Gpu, config: &UNetConfig, batch: usize) -> Result<()> {
    let per_image = crate::model::unet::UNet::new(config).largest_activation_per_image() as u64 * 4;
    let limit = gpu.limits().max_storage_buffer_binding_size;
    if per_image * batch as u64 > limit {
        crate::fail!(
                Limit,
            "batch size {batch} needs a {} MiB activation, but this adapter binds at most {} MiB per buffer: use a batch size of at most {}",
            (per_image * batch as u64) >> 20,
            limit >> 20,
            (limit / per_image).max(1)
        );
    }
    Ok(())
}

/// Loads `resume` and merges its options with the command line's; returns the options, the
/// checkpoint and the wall time it had trained.
fn resume_from(opts: TrainOptions, path: &Path) -> Result<(TrainOptions, Checkpoint, f64)> {
    let ck = Checkpoint::load(path, layout_of)?;
    let saved: TrainOptions = serde_json::from_value(ck.train_state["options"].clone())
        .with_context(|| format!("{}: training options in the metadata", path.display()))?;
    // Everything that decides the data order, noise and updates comes from the checkpoint; the
    // length of the run and where outputs go come from the command line.
    let mut opts = TrainOptions {
        steps: opts.steps,
        max_time: opts.max_time,
        out: opts.out,
        eval_every: opts.eval_every,
        sample_every: opts.sample_every,
        checkpoint_every: opts.checkpoint_every,
        keep_checkpoints: opts.keep_checkpoints,
        ..saved
    };
    if ck.step >= opts.steps {
        crate::fail!(
            File,
            "the checkpoint is already at step {} of {}; pass a larger --steps to continue",
            ck.step,
            opts.steps
        );
    }
    // A cosine decay stretches (or shrinks) to the new length of the run.
    if opts.hyper.decay_steps != 0 {
        opts.hyper.decay_steps = opts.steps;
    }
    let wall = ck.train_state["wall_time_s"].as_f64().unwrap_or(0.0);
    Ok((opts, ck, wall))
}

/// Starts metrics.csv, or keeps its rows up to `start` (a crash may have logged steps after the
/// checkpoint); returns the losses kept.
fn prepare_metrics(path: &Path, start: u64) -> Result<Vec<(u64, f64)>> {
    let mut losses = Vec::new();
    if start == 0 || !path.exists() {
        std::fs::write(path, "step,loss,grad_norm,lr,wall_time_s\n")?;
        return Ok(losses);
    }
    let text = std::fs::read_to_string(path)?;
    let mut kept = String::from("step,loss,grad_norm,lr,wall_time_s\n");
    for line in text.lines().skip(1) {
        let mut cols = line.split(',');
        let (Some(s), Some(l)) = (
            cols.next().and_then(|s| s.parse::<u64>().ok()),
            cols.next().and_then(|l| l.parse::<f64>().ok()),
        ) else {
            continue;
        };
        if s <= start {
            kept.push_str(line);
            kept.push('\n');
            losses.push((s, l));
        }
    }
    crate::checkpoint::write_atomic(path, kept.as_bytes())?;
    Ok(losses)
}

/// Before the first step of a group: every rank must run the same options from the same step
/// with the same training state; then all take rank 0's state bit for bit.
fn agree_on_start(group: &Group, opts: &TrainOptions, start: u64, trainer: &Trainer) -> Result<()> {
    if group.size() == 1 {
        return Ok(());
    }
    // Where outputs go does not change the training (only rank 0 writes them).
    let compared = TrainOptions {
        out: PathBuf::new(),
        ..opts.clone()
    };
    let text = serde_json::to_string(&compared)?;
    let options = distributed::digest(text.bytes().map(u64::from).chain([start]));
    distributed::check_same(
        group,
        options,
        "options (model, data, seed, optimisation, steps) or start step",
    )?;
    let mut state: Vec<Vec<f32>> = trainer.state().iter().map(|t| t.to_vec()).collect();
    let weights = distributed::digest(state.iter().map(|v| distributed::digest_f32(v)));
    distributed::check_same(group, weights, "initial weights or optimiser state")?;
    for (tensor, values) in trainer.state().into_iter().zip(&mut state) {
        group.broadcast(values);
        tensor.write(values);
    }
    Ok(())
}

/// Says where and what this run trains (rank 0).
fn announce(gpu: &Gpu, group: &Group, opts: &TrainOptions, trainer: &Trainer, source: &str) {
    let ranks = match group.size() {
        1 => String::new(),
        n => format!(" on {n} ranks ({} samples each)", trainer.shard.count),
    };
    eprintln!(
        "training {} parameters on {} ({} adapter '{}'), batch {}{ranks}, {} steps -> {}",
        trainer.model.parameter_count(),
        source,
        format!("{:?}", gpu.info().backend).to_lowercase(),
        gpu.info().name,
        opts.hyper.batch_size,
        opts.steps,
        opts.out.display()
    );
    if gpu.is_cpu() {
        eprintln!(
            "note: running on a CPU adapter (software Vulkan): the first step compiles the \
             kernels (up to a minute); the progress bar's ETA is measured from the steps since"
        );
    }
}

/// Ctrl-C (and, with MPI, the SIGTERM that mpirun sends every rank on Ctrl-C) sets the flag;
/// the run saves and stops after the current step. A second one exits at once; the checkpoint
/// on disk is intact (atomic writes).
fn interrupt_flag() -> Arc<AtomicBool> {
    let interrupted = Arc::new(AtomicBool::new(false));
    let flag = interrupted.clone();
    let _ = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    });
    interrupted
}

/// Runs `ddpm train` in a single process or as one rank of `group`, from `begin`.
pub fn run(gpu: &Gpu, opts: TrainOptions, begin: Start, group: &Group) -> Result<()> {
    let (opts, resumed, wall_offset) = match begin {
        Start::Resume(path) => {
            let (opts, ck, wall) = resume_from(opts, path)?;
            if group.is_root() {
                eprintln!("resuming from {} at step {}", path.display(), ck.step);
            }
            (opts, Some(ck), wall)
        }
        _ => (opts, None, 0.0),
    };
    let start = resumed.as_ref().map_or(0, |ck| ck.step);
    let (first, count) = group.shard(opts.hyper.batch_size)?;
    let data = Arc::new(load_data(&opts)?);
    let mut trainer = match &begin {
        Start::Init(model) => {
            if group.is_root() {
                eprintln!("starting from the {}", model.description);
            }
            Trainer::from_weights(gpu, &opts.config, opts.hyper.clone(), &model.weights)
        }
        _ => Trainer::new(gpu, &opts.config, opts.hyper.clone(), resumed.as_ref()),
    };
    drop(resumed);
    trainer.shard = Shard { first, count };
    agree_on_start(group, &opts, start, &trainer)?;
    let metrics_path = opts.out.join("metrics.csv");
    let mut losses = Vec::new();
    if group.is_root() {
        std::fs::create_dir_all(&opts.out)
            .with_context(|| format!("cannot create {}", opts.out.display()))?;
        announce(gpu, group, &opts, &trainer, &data.source);
        crate::checkpoint::write_atomic(
            &opts.out.join("config.json"),
            opts.config.to_json().as_bytes(),
        )?;
        losses = prepare_metrics(&metrics_path, start)?;
    }
    let mut run = Run {
        group,
        checkpoint_path: opts.out.join("checkpoint.safetensors"),
        opts,
        trainer,
        metrics_path,
        losses,
        last_good: (start > 0).then_some(start),
        started: Instant::now(),
        wall_offset,
    };
    let loader = Loader::spawn(
        data,
        start,
        run.opts.steps,
        run.opts.hyper.batch_size,
        run.opts.hyper.seed,
        run.opts.flip,
    );
    run.train(gpu, &loader, start)
}

impl Run<'_> {
    /// The step loop from `start`, then the final checkpoint and pictures.
    fn train(&mut self, gpu: &Gpu, loader: &Loader, start: u64) -> Result<()> {
        let root = self.group.is_root();
        let opts = self.opts.clone();
        let interrupted = interrupt_flag();
        let bar = if root {
            progress_bar(start, opts.steps)
        } else {
            indicatif::ProgressBar::hidden()
        };
        let log_every = if gpu.is_cpu() {
            1
        } else {
            16.min(METRIC_SLOTS as u64)
        };
        let per_sample = self.trainer.shard.count;
        let first = self.trainer.shard.first;
        let mut logged = start;
        let mut step = start;
        let mut stop = Stop::default();
        while step < opts.steps && stop == Stop::default() {
            let batch = loader.next(step);
            let floats = batch.len() / opts.hyper.batch_size;
            let mine = &batch[first * floats..(first + per_sample) * floats];
            let wanted = Stop {
                interrupted: interrupted.load(Ordering::SeqCst),
                out_of_time: opts.max_time.is_some_and(|t| self.started.elapsed() >= t),
            };
            if self.group.size() == 1 && wanted != Stop::default() {
                stop = wanted;
                break;
            }
            stop = self.trainer.step_in(self.group, step, mine, wanted);
            step += 1;
            self.after_step(step, &mut logged, log_every, &bar)?;
        }
        if root && logged < step {
            self.log_metrics(logged, step)?;
        }
        bar.finish_and_clear();
        self.save_checkpoint(step)?;
        self.finish(start, step, stop)
    }

    /// Metrics, checkpoints, previews and bound estimates due after step `step` (1-based).
    fn after_step(
        &mut self,
        step: u64,
        logged: &mut u64,
        log_every: u64,
        bar: &indicatif::ProgressBar,
    ) -> Result<()> {
        let opts = &self.opts;
        let root = self.group.is_root();
        let (ck_every, sample_every, eval_every) =
            (opts.checkpoint_every, opts.sample_every, opts.eval_every);
        let boundary = step == opts.steps
            || step.is_multiple_of(ck_every)
            || (sample_every > 0 && step.is_multiple_of(sample_every));
        if root && (step - *logged >= log_every || boundary) {
            let loss = self.log_metrics(*logged, step)?;
            *logged = step;
            bar.set_message(format!("{loss:.4}"));
        }
        bar.set_position(step);
        if step.is_multiple_of(ck_every) && step < self.opts.steps {
            self.save_checkpoint(step)?;
        }
        if root && sample_every > 0 && step.is_multiple_of(sample_every) && step < self.opts.steps {
            bar.suspend(|| eprintln!("sampling a preview grid at step {step}"));
            self.save_pictures(step)?;
        }
        if root && eval_every > 0 && step.is_multiple_of(eval_every) {
            let bpd = bound_log::log(&self.opts, &self.trainer, step)?;
            bar.suspend(|| eprintln!("step {step}: bound estimate {bpd:.4} bits/dim"));
        }
        Ok(())
    }

    /// The end of a run: pictures and a summary (rank 0).
    fn finish(&mut self, start: u64, step: u64, stop: Stop) -> Result<()> {
        if !self.group.is_root() {
            return Ok(());
        }
        let out = self.opts.out.clone();
        if stop.interrupted {
            plot::save_loss_plot(&self.losses, &out.join("loss.png"))?;
            eprintln!(
                "interrupted at step {step}: checkpoint saved to {}; continue with --resume {}",
                self.checkpoint_path.display(),
                self.checkpoint_path.display()
            );
            return Ok(());
        }
        let grid_path = self.save_pictures(step)?;
        let secs = self.started.elapsed().as_secs_f64();
        if stop.out_of_time {
            eprintln!(
                "stopped at the --max-time budget after step {step} of {}; continue with --resume {}",
                self.opts.steps,
                self.checkpoint_path.display()
            );
        }
        self.report_exchange();
        eprintln!(
            "done: {} steps in {:.0} s ({:.2} steps/s); checkpoint {}, samples {}, loss plot {}, metrics {}",
            step - start,
            secs,
            (step - start) as f64 / secs,
            self.checkpoint_path.display(),
            grid_path.display(),
            out.join("loss.png").display(),
            self.metrics_path.display()
        );
        Ok(())
    }

    /// In a group: what the gradient exchange cost (BENCHMARKS.md, "Data-parallel training").
    fn report_exchange(&self) {
        let (reduce, n) = self.group.reduce_time();
        if n == 0 {
            return;
        }
        let last = self.trainer.exchange.get();
        let mib = self.trainer.store.layout.total as f64 * 4.0 / (1 << 20) as f64;
        eprintln!(
            "gradient all-reduce over {} ranks: {mib:.2} MiB per step, {:.2} ms mean over {n} \
             steps; last step: staging (readback + upload) {:.2} ms, waiting for backward {:.1} ms",
            self.group.size(),
            reduce * 1e3,
            last.staging * 1e3,
            last.backward_wait * 1e3
        );
    }
}
