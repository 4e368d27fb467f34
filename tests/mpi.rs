//! Data-parallel training through the real binary under `mpirun` (Open MPI): 2 ranks train the
//! same model as 1 process with the same global batch, a 2-rank checkpoint resumes with 1 rank,
//! a killed rank ends the job promptly, and a batch the ranks cannot split is one clear error.
//! Built only with `--features mpi` (CI installs Open MPI for it).
#![cfg(feature = "mpi")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use ddpm::checkpoint::Checkpoint;
use ddpm::train::layout_of;

/// One MPI job at a time: CI has 2 cores, one per rank.
static ONE_JOB: Mutex<()> = Mutex::new(());

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ddpm-mpi-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A micro model (8x8, 2 levels) with dropout, so that the sliced dropout masks are checked too.
fn micro_config(dir: &Path) -> PathBuf {
    let path = dir.join("micro.json");
    let json = r#"{"_class_name": "UNet2DModel", "sample_size": 8, "in_channels": 1, "out_channels": 1,
        "down_block_types": ["AttnDownBlock2D", "DownBlock2D"], "up_block_types": ["UpBlock2D", "AttnUpBlock2D"],
        "block_out_channels": [16, 32], "layers_per_block": 1, "norm_num_groups": 4, "norm_eps": 1e-6,
        "attention_head_dim": null, "downsample_padding": 0, "flip_sin_to_cos": false, "freq_shift": 1,
        "dropout": 0.1}"#;
    std::fs::write(&path, json).unwrap();
    path
}

/// `ddpm` alone (ranks = 0) or under `mpirun -np ranks`.
fn ddpm(ranks: usize, args: &[&str]) -> Command {
    let bin = env!("CARGO_BIN_EXE_ddpm");
    let mut cmd = if ranks == 0 {
        Command::new(bin)
    } else {
        let mut c = Command::new("mpirun");
        let np = ranks.to_string();
        // Root in CI containers; one rank per core at most, without binding (CI shares cores).
        c.args([
            "--allow-run-as-root",
            "--oversubscribe",
            "--bind-to",
            "none",
        ]);
        c.args(["-np", &np, bin]);
        c
    };
    let runtime = std::env::temp_dir().join("ddpm-mpi-xdg");
    let _ = std::fs::create_dir_all(&runtime);
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        cmd.env("XDG_RUNTIME_DIR", &runtime);
    }
    cmd.args(args);
    cmd
}

fn run(ranks: usize, args: &[&str]) -> Output {
    let _one = ONE_JOB.lock().unwrap_or_else(|e| e.into_inner());
    ddpm(ranks, args).output().expect("run ddpm")
}

fn succeeded(out: &Output) {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `train` of the micro model into `out`: batch 4, no warm-up, a checkpoint every 2 steps.
fn train_args(cfg: &Path, out: &Path, steps: u64) -> Vec<String> {
    let mut args: Vec<String> = [
        "train",
        "--config",
        cfg.to_str().unwrap(),
        "--batch-size",
        "4",
        "--lr",
        "1e-3",
        "--warmup",
        "0",
        "--checkpoint-every",
        "2",
        "--keep-checkpoints",
        "--sample-every",
        "0",
        "--sample-n",
        "2",
        "--sample-steps",
        "2",
        "--out",
        out.to_str().unwrap(),
    ]
    .map(String::from)
    .to_vec();
    args.extend(["--steps".to_string(), steps.to_string()]);
    args
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// The runs the equivalence and resume tests compare, made once: a single process for 4
/// steps (keeping its step-2 checkpoint), 2 ranks for 2 steps, and that run resumed by 1 process
/// to step 4.
struct Runs {
    single: PathBuf,
    two_ranks: PathBuf,
    resumed: PathBuf,
}

fn runs() -> &'static Runs {
    static RUNS: OnceLock<Runs> = OnceLock::new();
    RUNS.get_or_init(|| {
        let dir = scratch("equivalence");
        let cfg = micro_config(&dir);
        let single = dir.join("single");
        succeeded(&run(0, &strs(&train_args(&cfg, &single, 4))));
        let two_ranks = dir.join("two-ranks");
        let out = run(2, &strs(&train_args(&cfg, &two_ranks, 2)));
        succeeded(&out);
        let stderr = String::from_utf8_lossy(&out.stderr);
        // Rank 0 alone reports: one start line, one summary.
        let lines = |start: &str| stderr.lines().filter(|l| l.starts_with(start)).count();
        assert_eq!(lines("training "), 1, "{stderr}");
        assert_eq!(lines("done: "), 1, "{stderr}");
        let resumed = dir.join("resumed");
        let ck = two_ranks.join("checkpoint.safetensors");
        let mut args = vec!["train", "--steps", "4", "--sample-every", "0"];
        args.extend([
            "--sample-n",
            "2",
            "--sample-steps",
            "2",
            "--checkpoint-every",
            "2",
        ]);
        args.extend([
            "--resume",
            ck.to_str().unwrap(),
            "--out",
            resumed.to_str().unwrap(),
        ]);
        succeeded(&run(0, &args));
        Runs {
            single,
            two_ranks,
            resumed,
        }
    })
}

fn load(path: &Path) -> Checkpoint {
    Checkpoint::load(path, layout_of).expect("a loadable checkpoint")
}

fn distance(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (*x as f64 - *y as f64).powi(2))
        .sum::<f64>()
        .sqrt()
}

/// The data-parallel run differs from the single process only by float summation order (the
/// batch mean of the loss and the weight gradients is summed per rank, then across ranks), a
/// relative 1e-7 in the gradients. Adam divides by |g|, so an element whose gradient is itself
/// at the rounding level could move by up to 2 lr either way; the bound is therefore on the
/// whole vector: the distance between the runs is < 1e-3 of what the 2 steps from step 2 to 4
/// moved the weights. Measured on lavapipe: 2.8e-6 at step 2, 1.5e-5 after resuming to step 4;
/// with every rank taking the dropout masks of samples 0.. (a wrong shard) it is 0.18.
const TOLERANCE: f64 = 1e-3;

fn assert_same_state(got: &Checkpoint, want: &Checkpoint, scale: f64, what: &str) {
    assert_eq!(got.step, want.step, "{what}: step");
    for (name, g, w) in [
        ("weights", &got.weights, &want.weights),
        ("ema", &got.ema, &want.ema),
        ("adam_m", &got.adam_m, &want.adam_m),
    ] {
        let d = distance(g, w);
        eprintln!("{what}: {name} differ by {d:.3e} (scale {scale:.3e})");
        assert!(
            d <= TOLERANCE * scale,
            "{what}: {name} differ by {d:.3e}, more than {TOLERANCE} x {scale:.3e}"
        );
    }
}

/// (step, loss, grad_norm) rows of a run's metrics.csv.
fn metrics(dir: &Path) -> Vec<(u64, f64, f64)> {
    let text = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    text.lines()
        .skip(1)
        .map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            (
                c[0].parse().unwrap(),
                c[1].parse().unwrap(),
                c[2].parse().unwrap(),
            )
        })
        .collect()
}

fn assert_same_metrics(got: &[(u64, f64, f64)], want: &[(u64, f64, f64)]) {
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g.0, w.0);
        // The loss is the mean over the global batch and the norm that of the mean gradient:
        // equal up to summation order.
        assert!((g.1 - w.1).abs() <= 1e-4 * w.1, "loss {g:?} vs {w:?}");
        assert!((g.2 - w.2).abs() <= 1e-3 * w.2, "grad norm {g:?} vs {w:?}");
    }
}

#[test]
fn two_ranks_train_the_same_model_as_one_process() {
    let r = runs();
    let single2 = load(&r.single.join("checkpoints/step_0000002.safetensors"));
    let single4 = load(&r.single.join("checkpoint.safetensors"));
    let two = load(&r.two_ranks.join("checkpoint.safetensors"));
    let scale = distance(&single4.weights, &single2.weights);
    assert!(scale > 0.0, "training did not move the weights");
    assert_same_state(&two, &single2, scale, "2 ranks vs 1 process at step 2");
    assert_same_metrics(&metrics(&r.two_ranks), &metrics(&r.single)[..2]);
    // Rank 0 alone wrote the run folder (nothing else writes into it).
    assert!(r.two_ranks.join("samples.png").exists());
}

#[test]
fn a_two_rank_checkpoint_resumes_with_one_rank() {
    let r = runs();
    let single2 = load(&r.single.join("checkpoints/step_0000002.safetensors"));
    let single4 = load(&r.single.join("checkpoint.safetensors"));
    let resumed = load(&r.resumed.join("checkpoint.safetensors"));
    let scale = distance(&single4.weights, &single2.weights);
    assert_same_state(
        &resumed,
        &single4,
        scale,
        "2 ranks then 1 vs 1 process at step 4",
    );
    let rows = metrics(&r.resumed);
    assert_eq!(rows.iter().map(|r| r.0).collect::<Vec<_>>(), [3, 4]);
    assert_same_metrics(&rows, &metrics(&r.single)[2..]);
}

#[test]
fn a_batch_the_ranks_cannot_split_is_one_error() {
    let dir = scratch("indivisible");
    let cfg = micro_config(&dir);
    let mut args = train_args(&cfg, &dir.join("run"), 2);
    args[4] = "3".into();
    let out = run(2, &strs(&args));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(errors[0].contains("divisible by the 2 ranks"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// The pid of the process whose environment holds all of `vars` (rank 1 of our job).
fn find_process(vars: &[&str]) -> Option<u32> {
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(env) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        let env: Vec<&[u8]> = env.split(|b| *b == 0).collect();
        if vars.iter().all(|v| env.contains(&v.as_bytes())) {
            return Some(pid);
        }
    }
    None
}

/// A 2-rank training job of the micro model that has saved its first checkpoint, with the pid
/// of its rank 1, for the fault tests. `checkpoint_every` and `env` adjust the job.
struct RunningJob {
    job: std::process::Child,
    checkpoint: PathBuf,
    rank1: u32,
}

fn start_job(name: &str, checkpoint_every: &str, env: &[(&str, &str)]) -> RunningJob {
    let dir = scratch(name);
    let cfg = micro_config(&dir);
    let out = dir.join("run");
    let mut args = train_args(&cfg, &out, 100_000);
    args[10] = checkpoint_every.into();
    // Marks this job's processes, to find rank 1 among them.
    let id = std::process::id().to_string();
    let tag = format!("DDPM_MPI_TEST={id}");
    let mut cmd = ddpm(2, &strs(&args));
    cmd.env("DDPM_MPI_TEST", &id);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut job = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until training runs (a checkpoint exists), at most 5 minutes.
    let started = Instant::now();
    let checkpoint = out.join("checkpoint.safetensors");
    while !checkpoint.exists() {
        assert!(started.elapsed() < Duration::from_secs(300), "no step done");
        assert!(job.try_wait().unwrap().is_none(), "the job ended early");
        std::thread::sleep(Duration::from_millis(200));
    }
    let rank1 = find_process(&[&tag, "OMPI_COMM_WORLD_RANK=1"]).expect("rank 1's process");
    RunningJob {
        job,
        checkpoint,
        rank1,
    }
}

fn signal(pid: u32, sig: &str) {
    Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap();
}

#[test]
fn killing_one_rank_ends_the_job_within_seconds() {
    let _one = ONE_JOB.lock().unwrap_or_else(|e| e.into_inner());
    // A checkpoint every step: the kill lands between or during saves.
    let RunningJob {
        mut job,
        checkpoint: ck,
        rank1,
    } = start_job("kill", "1", &[]);
    let killed = Instant::now();
    signal(rank1, "-9");
    while job.try_wait().unwrap().is_none() {
        assert!(
            killed.elapsed() < Duration::from_secs(20),
            "rank 0 still runs 20 s after rank 1 was killed"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let ended = killed.elapsed();
    let output = job.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("the job ended {ended:?} after the kill");
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("rank 1"),
        "the failed rank is named: {stderr}"
    );
    let kept = load(&ck);
    assert!(kept.step >= 1, "{}", kept.step);
}

#[test]
fn a_stuck_rank_ends_the_job_after_the_collective_timeout() {
    let _one = ONE_JOB.lock().unwrap_or_else(|e| e.into_inner());
    // 20 s: above the skew of the two ranks' kernel compilation in the first step on 2 shared
    // cores, so only the stop below can trigger the watchdog.
    let RunningJob {
        mut job,
        checkpoint: ck,
        rank1,
    } = start_job("stuck", "2", &[("DDPM_COLLECTIVE_TIMEOUT", "20")]);
    // A stopped process is a rank that hangs without failing: rank 0 waits for it in the next
    // all-reduce until its watchdog ends the job.
    let stopped = Instant::now();
    signal(rank1, "-STOP");
    while job.try_wait().unwrap().is_none() {
        if stopped.elapsed() > Duration::from_secs(90) {
            signal(rank1, "-9");
            let _ = job.kill();
            panic!("the job still runs 90 s after rank 1 stopped");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let ended = stopped.elapsed();
    let output = job.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("the job ended {ended:?} after rank 1 stopped");
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("waited") && stderr.contains("DDPM_COLLECTIVE_TIMEOUT=20"),
        "the watchdog says why: {stderr}"
    );
    assert!(load(&ck).step >= 1);
}
