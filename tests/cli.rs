//! The product's error handling, through the real binary: every bad input gets a one-line
//! `error:` message and a non-zero exit, never a panic.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use image::GenericImageView as _;

fn ddpm(args: &[&str]) -> Output {
    // The Vulkan/EGL loaders complain on stderr without a runtime dir; give them one.
    let runtime = std::env::temp_dir().join("ddpm-cli-xdg");
    let _ = std::fs::create_dir_all(&runtime);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ddpm"));
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        cmd.env("XDG_RUNTIME_DIR", &runtime);
    }
    cmd.args(args).output().expect("run ddpm")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ddpm-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Asserts a clean failure whose message contains `needle`.
fn fails_with(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "expected failure, got success; stderr: {stderr}"
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("internal error"),
        "panic: {stderr}"
    );
    let error_lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error")).collect();
    assert_eq!(error_lines.len(), 1, "one error line expected: {stderr}");
    assert!(stderr.contains(needle), "expected '{needle}' in: {stderr}");
}

/// A micro model (8x8, 2 levels) so that CLI runs take seconds on lavapipe.
pub fn micro_config(dir: &Path) -> PathBuf {
    let path = dir.join("micro.json");
    let json = r#"{"_class_name": "UNet2DModel", "sample_size": 8, "in_channels": 1, "out_channels": 1,
        "down_block_types": ["AttnDownBlock2D", "DownBlock2D"], "up_block_types": ["UpBlock2D", "AttnUpBlock2D"],
        "block_out_channels": [16, 32], "layers_per_block": 1, "norm_num_groups": 4, "norm_eps": 1e-6,
        "attention_head_dim": null, "downsample_padding": 0, "flip_sin_to_cos": false, "freq_shift": 1}"#;
    std::fs::write(&path, json).unwrap();
    path
}

#[test]
fn missing_model_file() {
    fails_with(
        &ddpm(&["sample", "--model", "/nonexistent/model.safetensors"]),
        "not found",
    );
}

#[test]
fn truncated_and_corrupt_checkpoints() {
    let dir = scratch("corrupt");
    let good = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/unet-tiny/diffusion_pytorch_model.safetensors"
    ))
    .unwrap();
    let truncated = dir.join("truncated.safetensors");
    std::fs::write(&truncated, &good[..good.len() / 2]).unwrap();
    fails_with(
        &ddpm(&["sample", "--model", truncated.to_str().unwrap()]),
        "truncated or corrupt",
    );
    let garbage = dir.join("garbage.safetensors");
    std::fs::write(&garbage, b"this is not a safetensors file at all").unwrap();
    fails_with(
        &ddpm(&["sample", "--model", garbage.to_str().unwrap()]),
        "truncated or corrupt",
    );
}

#[test]
fn checkpoint_of_a_different_architecture() {
    let dir = scratch("arch");
    let golden = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/unet-tiny/diffusion_pytorch_model.safetensors"
    );
    std::fs::copy(golden, dir.join("diffusion_pytorch_model.safetensors")).unwrap();
    std::fs::copy(micro_config(&dir), dir.join("config.json")).unwrap();
    fails_with(
        &ddpm(&["sample", "--model", dir.to_str().unwrap(), "--n", "1"]),
        "different architecture",
    );
}

#[test]
fn unsupported_config_field() {
    let dir = scratch("config");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(micro_config(&dir)).unwrap()).unwrap();
    v["cross_attention_dim"] = 512.into();
    let path = dir.join("bad.json");
    std::fs::write(&path, v.to_string()).unwrap();
    fails_with(
        &ddpm(&["train", "--config", path.to_str().unwrap(), "--steps", "1"]),
        "cross_attention_dim",
    );
}

#[test]
fn empty_data_folder() {
    let dir = scratch("empty");
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let cfg = micro_config(&dir);
    fails_with(
        &ddpm(&[
            "train",
            "--config",
            cfg.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
            "--steps",
            "1",
        ]),
        "no PNG or JPEG images",
    );
}

/// Every option of every command says what it does in `--help`.
#[test]
fn every_option_has_help_text() {
    let commands = [
        "info", "selftest", "train", "sample", "eval", "predict", "export", "memory", "bench",
        "profile",
    ];
    let mut bare = Vec::new();
    for command in commands {
        let o = ddpm(&[command, "-h"]);
        assert!(o.status.success(), "{command} -h");
        let text = String::from_utf8_lossy(&o.stdout).to_string();
        let lines: Vec<&str> = text.lines().collect();
        let indent = |l: &str| l.len() - l.trim_start().len();
        for (i, line) in lines.iter().enumerate() {
            let t = line.trim_start();
            if !t.starts_with('-') {
                continue;
            }
            // clap prints the help on the option's line or, indented deeper, on the next one.
            let same_line = t.split_once("  ").is_some_and(|(_, rest)| {
                let rest = rest.trim();
                !rest.is_empty() && !rest.starts_with('[') // not just "[default: ..]"
            });
            let next_line = lines
                .get(i + 1)
                .is_some_and(|n| indent(n) > indent(line) && !n.trim_start().starts_with('-'));
            if !(same_line || next_line) {
                bare.push(format!("ddpm {command}: {t}"));
            }
        }
    }
    assert!(
        bare.is_empty(),
        "options without help:\n{}",
        bare.join("\n")
    );
}

#[test]
fn invalid_option_values() {
    fails_with(&ddpm(&["train", "--batch-size", "0"]), "--batch-size");
    fails_with(&ddpm(&["train", "--lr=-0.001"]), "--lr");
    fails_with(&ddpm(&["train", "--ema-decay", "1.5"]), "--ema-decay");
    fails_with(&ddpm(&["train", "--preset", "imagenet"]), "unknown preset");
    fails_with(&ddpm(&["sample", "--n", "0"]), "--n");
    fails_with(&ddpm(&["train", "--max-time", "soon"]), "not a duration");
    fails_with(
        &ddpm(&[
            "train",
            "--resume",
            "x.safetensors",
            "--preset",
            "cifar10",
            "--lr",
            "1",
        ]),
        "--preset, --lr cannot",
    );
    fails_with(
        &ddpm(&["sample", "--sampling-steps", "5000"]),
        "more than the 1000",
    );
    fails_with(
        &ddpm(&["train", "--preset", "tiny", "--config", "c.json"]),
        "cannot be used with",
    );
    fails_with(
        &ddpm(&["train", "--flip", "--no-flip"]),
        "cannot be used with",
    );
    fails_with(
        &ddpm(&["sample", "--sampler", "ddpm", "--sampling-steps", "10"]),
        "belong to --sampler ddim",
    );
    fails_with(
        &ddpm(&["sample", "--sampler", "ddpm", "--eta", "0.5"]),
        "belong to --sampler ddim",
    );
    fails_with(
        &ddpm(&[
            "sample",
            "--sampling-steps",
            "10",
            "--variance",
            "fixed-small",
        ]),
        "belongs to --sampler ddpm",
    );
}

/// `ddpm sample` with no --model samples the shipped model (here 2 images, 3 DDIM steps), and
/// writes a grid of the model's image size.
#[test]
fn sample_without_a_model_uses_the_shipped_one() {
    let dir = scratch("shipped");
    let grid = dir.join("grid.png");
    let o = ddpm(&[
        "sample",
        "--n",
        "2",
        "--sampling-steps",
        "3",
        "--out",
        grid.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let img = image::open(&grid).unwrap();
    assert!(
        img.width() >= 2 * 28 && img.height() >= 28,
        "{:?}",
        img.dimensions()
    );
}

/// The DDPM sampler (Algorithm 2, all 1000 steps; the default of `ddpm sample` on a GPU) runs
/// end to end through the command, on the small test model: every step, the fused update and
/// its noise, the grid and the per-image files. A random-weight model gives no digits, so the
/// check is that it finishes and writes images that are not blank.
#[test]
fn ddpm_sampler_runs_all_1000_steps_end_to_end() {
    let dir = scratch("ddpm-sampler");
    let grid = dir.join("grid.png");
    let each = dir.join("each");
    let model = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/unet-tiny");
    let o = ddpm(&[
        "sample",
        "--model",
        model,
        "--sampler",
        "ddpm",
        "--n",
        "2",
        "--out",
        grid.to_str().unwrap(),
        "--each",
        each.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let img = image::open(&grid).unwrap().to_rgb8();
    assert!(img.width() >= 2 * 16 && img.height() >= 16);
    let files = std::fs::read_dir(&each).unwrap().count();
    assert_eq!(files, 2, "one PNG per image");
    let first = image::open(
        each.join(
            std::fs::read_dir(&each)
                .unwrap()
                .next()
                .unwrap()
                .unwrap()
                .file_name(),
        ),
    )
    .unwrap()
    .to_rgb8();
    let (lo, hi) = first
        .pixels()
        .flat_map(|p| p.0)
        .fold((255u8, 0u8), |(lo, hi), v| (lo.min(v), hi.max(v)));
    assert!(hi > lo, "a blank image ({lo}..{hi})");
}

/// `ddpm bench` and `ddpm profile` run the real steps and print their tables.
#[test]
fn bench_and_profile_print_their_figures() {
    let dir = scratch("perf");
    let cfg = micro_config(&dir);
    let cfg = cfg.to_str().unwrap();
    let o = ddpm(&[
        "bench",
        "--config",
        cfg,
        "--batch-size",
        "2",
        "--repeats",
        "1",
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON object");
    assert!(v["train_step_ms"]["median"].as_f64().unwrap() > 0.0, "{v}");
    for key in ["ceiling_gflop_per_s", "train_step_gflop"] {
        assert!(v[key].as_f64().is_some_and(|x| x > 0.0), "{key}: {v}");
    }
    let o = ddpm(&["profile", "--config", cfg, "--batch-size", "2"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    for needle in [
        "arithmetic ceiling",
        "one training step",
        "by kernel family",
        "conv2d",
        "optimizer",
    ] {
        assert!(text.contains(needle), "'{needle}' missing from:\n{text}");
    }
}

#[test]
fn unreadable_images_are_skipped_with_one_warning_and_training_goes_on() {
    let dir = scratch("images");
    let data = dir.join("data").join("nested");
    std::fs::create_dir_all(&data).unwrap();
    for i in 0..3 {
        let img = image::RgbImage::from_fn(12, 10, |x, y| {
            image::Rgb([(x * 20) as u8, (y * 25) as u8, (i * 80) as u8])
        });
        img.save(data.join(format!("ok{i}.png"))).unwrap();
    }
    std::fs::write(data.join("broken.png"), b"not a png").unwrap();
    std::fs::write(data.join("broken.jpg"), b"not a jpeg").unwrap();
    let cfg = micro_config(&dir);
    let out = dir.join("run");
    let o = ddpm(&[
        "train",
        "--config",
        cfg.to_str().unwrap(),
        "--data",
        dir.join("data").to_str().unwrap(),
        "--steps",
        "2",
        "--batch-size",
        "2",
        "--out",
        out.to_str().unwrap(),
        "--sample-n",
        "1",
        "--sample-steps",
        "2",
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert_eq!(
        stderr.matches("warning: skipped 2 unreadable").count(),
        1,
        "{stderr}"
    );
    for f in [
        "checkpoint.safetensors",
        "metrics.csv",
        "loss.png",
        "samples.png",
    ] {
        assert!(out.join(f).exists(), "{f} missing");
    }
}

/// Trains the micro model into `out` with learning rate `lr` (no warm-up, no clipping, a
/// checkpoint every step): the set-up of the non-finite guards' tests.
fn blow_up(dir: &Path, out: &Path, lr: &str, steps: u32) -> Output {
    let cfg = micro_config(dir);
    let steps = steps.to_string();
    ddpm(&[
        "train",
        "--config",
        cfg.to_str().unwrap(),
        "--steps",
        &steps,
        "--batch-size",
        "2",
        "--lr",
        lr,
        "--warmup",
        "0",
        "--grad-clip",
        "0",
        "--checkpoint-every",
        "1",
        "--sample-every",
        "0",
        "--out",
        out.to_str().unwrap(),
    ])
}

#[test]
fn non_finite_weights_are_never_checkpointed() {
    let dir = scratch("inf-weights");
    let out = dir.join("run");
    // 1e39 overflows f32 on the device: the first update makes the weights non-finite while the
    // first loss (from the initial weights) is finite, so only the weight check can catch it.
    let o = blow_up(&dir, &out, "1e39", 5);
    fails_with(&o, "weights became non-finite by step 1");
    assert!(!out.join("checkpoint.safetensors").exists());
}

#[test]
fn non_finite_loss_stops_and_keeps_the_last_good_checkpoint() {
    let dir = scratch("nan");
    let out = dir.join("run");
    // A learning rate of 1e30 (no warm-up, no clipping) blows the weights up within a step or two.
    let o = blow_up(&dir, &out, "1e30", 30);
    fails_with(&o, "non-finite");
    let stderr = String::from_utf8_lossy(&o.stderr);
    // Step 1 starts from finite weights, so its checkpoint is written and must be the one kept.
    assert!(stderr.contains("last good checkpoint"), "{stderr}");
    {
        // Every value it holds (weights, EMA, Adam moments) is finite, and it still loads.
        let (tensors, _) =
            ddpm::checkpoint::read_safetensors(&out.join("checkpoint.safetensors")).unwrap();
        for (name, (_, values)) in &tensors {
            assert!(values.iter().all(|v| v.is_finite()), "{name} is not finite");
        }
        let export = dir.join("export");
        let e = ddpm(&[
            "export",
            "--model",
            out.join("checkpoint.safetensors").to_str().unwrap(),
            "--out",
            export.to_str().unwrap(),
        ]);
        assert!(e.status.success(), "{}", String::from_utf8_lossy(&e.stderr));
    }
}

/// `ddpm eval`'s bad inputs.
#[test]
fn eval_invalid_inputs() {
    fails_with(
        &ddpm(&["eval", "--variance", "fixed-medium"]),
        "invalid value",
    );
    fails_with(&ddpm(&["eval", "--n", "0"]), "--n");
    fails_with(&ddpm(&["eval", "--n", "5000"]), "more than the 1000 images");
    fails_with(&ddpm(&["eval", "--timesteps", "0,1000"]), "not a timestep");
    fails_with(&ddpm(&["eval", "--timesteps", "5,5"]), "twice");
    fails_with(
        &ddpm(&["eval", "--model", "/nonexistent/model"]),
        "not found",
    );
    let dir = scratch("eval-empty");
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    fails_with(
        &ddpm(&["eval", "--data", data.to_str().unwrap(), "--n", "1"]),
        "no PNG or JPEG images",
    );
    // Keeping the noise of all 1000 terms of the 1000 held-out digits is refused up front.
    fails_with(
        &ddpm(&[
            "eval",
            "--dump",
            dir.join("d.safetensors").to_str().unwrap(),
        ]),
        "--timesteps",
    );
}

/// A full 1000-term bound of two images from a folder with a micro model (trained for a step;
/// ~30 s of lavapipe for the 1000 forward passes): the files,
/// their consistency (total = prior + decoder + KL sum; the rate grows along the reverse
/// process to the total, where the distortion is 0), and a partial run with a dump.
#[test]
fn eval_writes_bound_and_rate_distortion() {
    let dir = scratch("eval");
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    for (i, shade) in [(0u32, 40u8), (1, 200)] {
        let img = image::RgbImage::from_fn(16, 16, |x, y| {
            let v = if (x + y + i) % 3 == 0 { 255 } else { shade };
            image::Rgb([v, 0, v / 2])
        });
        img.save(data.join(format!("{i}.png"))).unwrap();
    }
    let cfg = micro_config(&dir);
    let run = dir.join("run");
    let o = ddpm(&[
        "train",
        "--config",
        cfg.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--steps",
        "1",
        "--batch-size",
        "2",
        "--out",
        run.to_str().unwrap(),
        "--sample-n",
        "1",
        "--sample-steps",
        "1",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let checkpoint = run.join("checkpoint.safetensors");
    let model = checkpoint.to_str().unwrap();
    let out = dir.join("out");
    let o = ddpm(&[
        "eval",
        "--model",
        model,
        "--data",
        data.to_str().unwrap(),
        "--variance",
        "fixed-small",
        "--out",
        out.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        stdout.contains("total") && stdout.contains("bits/dim"),
        "{stdout}"
    );
    let read = |name: &str| std::fs::read_to_string(out.join(name)).unwrap();
    let terms = read("terms.csv");
    assert_eq!(terms.lines().count(), 1001, "header + 1000 terms");
    assert!(terms.lines().nth(1).unwrap().starts_with("0,"));
    let summary: serde_json::Value = serde_json::from_str(&read("summary.json")).unwrap();
    let f = |k: &str| summary[k].as_f64().unwrap();
    let total = f("bits_per_dim");
    assert!(total.is_finite() && total > 0.0);
    assert!((f("prior_bpd") + f("decoder_bpd") + f("kl_bpd") - total).abs() < 1e-9 * total);
    let rd: Vec<Vec<f64>> = read("rate_distortion.csv")
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
        .collect();
    assert_eq!(rd.len(), 1001);
    assert_eq!(rd[0][0], 999.0);
    assert!(
        rd.windows(2).all(|w| w[1][1] >= w[0][1]),
        "rate never decreases"
    );
    let last = rd.last().unwrap();
    assert!((last[1] - total).abs() < 1e-9 * total && last[2] == 0.0);
    for png in ["terms.png", "rate_distortion.png"] {
        let img = image::open(out.join(png)).unwrap();
        assert!(img.width() > 100 && img.height() > 100);
    }
    assert_eq!(read("images.csv").lines().count(), 3);

    // A few terms with a dump: the dump holds what the check script needs.
    let dump = dir.join("dump.safetensors");
    let o = ddpm(&[
        "eval",
        "--model",
        model,
        "--data",
        data.to_str().unwrap(),
        "--timesteps",
        "999,0,3",
        "--out",
        dir.join("partial").to_str().unwrap(),
        "--dump",
        dump.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let bytes = std::fs::read(&dump).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(st.tensor("noise").unwrap().shape(), &[3, 2, 1, 8, 8]);
    assert_eq!(st.tensor("terms_bpd").unwrap().shape(), &[3, 2]);
    let ts: Vec<f32> = st
        .tensor("timesteps")
        .unwrap()
        .data()
        .chunks(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    assert_eq!(ts, [999.0, 3.0, 0.0]);
}

/// `train --eval-every`: a bound estimate of the EMA weights per interval in bound.csv.
#[test]
fn train_eval_every_logs_bound_estimates() {
    let dir = scratch("train-bound");
    let cfg = micro_config(&dir);
    let out = dir.join("run");
    let o = ddpm(&[
        "train",
        "--config",
        cfg.to_str().unwrap(),
        "--steps",
        "2",
        "--batch-size",
        "2",
        "--eval-every",
        "1",
        "--out",
        out.to_str().unwrap(),
        "--sample-n",
        "1",
        "--sample-steps",
        "1",
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert_eq!(stderr.matches("bound estimate").count(), 2, "{stderr}");
    let csv = std::fs::read_to_string(out.join("bound.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows[0], "step,bound_bpd_estimate");
    assert_eq!(rows.len(), 3, "{csv}");
    for (i, row) in rows[1..].iter().enumerate() {
        let (step, bpd) = row.split_once(',').unwrap();
        assert_eq!(step, (i + 1).to_string());
        let bpd: f64 = bpd.parse().unwrap();
        assert!(bpd.is_finite() && bpd > 0.0, "{row}");
    }
}

/// `train --init MODEL`: the run starts from the model's EMA weights (fresh optimiser, EMA
/// starting there too), trains the model's own network, records where it started, and refuses
/// options that would pick another network or starting point.
#[test]
fn train_init_starts_from_a_trained_model() {
    use ddpm::checkpoint::Checkpoint;
    let dir = scratch("train-init");
    let cfg = micro_config(&dir);
    let (first, second) = (dir.join("first"), dir.join("second"));
    let short = |extra: &[&str]| {
        let mut args = vec![
            "train",
            "--steps",
            "1",
            "--batch-size",
            "2",
            "--warmup",
            "0",
        ];
        args.extend_from_slice(&["--sample-n", "1", "--sample-steps", "1"]);
        args.extend_from_slice(extra);
        ddpm(&args)
    };
    let o = short(&[
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        first.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let first_ck = first.join("checkpoint.safetensors");
    // A learning rate of 1e-30 leaves every weight where it started (|update| <= ~1e-30).
    let o = short(&[
        "--init",
        first_ck.to_str().unwrap(),
        "--lr",
        "1e-30",
        "--out",
        second.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(
        stderr.contains("starting from the EMA weights of step 1"),
        "{stderr}"
    );
    let before = Checkpoint::load(&first_ck, ddpm::train::layout_of).unwrap();
    let after = Checkpoint::load(
        &second.join("checkpoint.safetensors"),
        ddpm::train::layout_of,
    )
    .unwrap();
    // The first run's EMA differs from its weights (decay 0.1 at step 1 mixes in the initial
    // ones), so the check below tells the start from the EMA apart from one from the weights.
    assert_ne!(before.weights, before.ema);
    assert_eq!(after.config, before.config);
    for (i, (b, a)) in before.ema.iter().zip(&after.weights).enumerate() {
        assert!((a - b).abs() <= 1e-20, "value {i}: {b} -> {a}");
    }
    assert_eq!(after.step, 1, "a run from --init counts its own steps");
    assert!(
        after.train_state["options"]["init"]
            .as_str()
            .is_some_and(|p| p.ends_with("first/checkpoint.safetensors")),
        "the start is not recorded: {}",
        after.train_state
    );
    fails_with(
        &short(&["--init", first_ck.to_str().unwrap(), "--preset", "tiny"]),
        "cannot be used with",
    );
    fails_with(&short(&["--init", "/nonexistent/model"]), "not found");
}

/// `ddpm` as rank `rank` of a job of `size` that an MPI launcher (Open MPI's mpirun) started.
#[cfg(not(feature = "mpi"))]
fn as_launched(rank: &str, size: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ddpm"))
        .env("OMPI_COMM_WORLD_SIZE", size)
        .env("OMPI_COMM_WORLD_RANK", rank)
        .args(args)
        .output()
        .expect("run ddpm")
}

#[cfg(not(feature = "mpi"))]
#[test]
fn a_launch_by_mpirun_without_the_mpi_feature_says_how_to_build_it() {
    let train = [
        "train",
        "--preset",
        "tiny",
        "--steps",
        "1",
        "--out",
        "/nonexistent",
    ];
    fails_with(&as_launched("0", "2", &train), "built without MPI");
    fails_with(&as_launched("0", "2", &train), "--features mpi");
    // The other ranks fail without repeating the line.
    let other = as_launched("1", "2", &train);
    assert!(!other.status.success());
    assert!(
        other.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&other.stderr)
    );
    // Only training runs on several ranks.
    let sample = ["sample", "--n", "1", "--out", "/nonexistent/x.png"];
    fails_with(
        &as_launched("0", "2", &sample),
        "only `ddpm train` runs on several ranks",
    );
}

/// `ddpm info | head -1`: output into a pipe whose reader has gone ends the program quietly
/// (exit 0, nothing on stderr), not with a panic message.
#[test]
fn a_closed_stdout_ends_quietly() {
    let runtime = std::env::temp_dir().join("ddpm-cli-xdg");
    let _ = std::fs::create_dir_all(&runtime);
    let mut child = Command::new(env!("CARGO_BIN_EXE_ddpm"))
        .env("XDG_RUNTIME_DIR", &runtime)
        .env_remove("RUST_BACKTRACE")
        .arg("info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run ddpm");
    // Close the read end before `info` has found its adapter, so its first line meets EPIPE.
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait for ddpm");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "exit {:?}, stderr: {stderr}",
        out.status
    );
    assert!(
        !stderr.contains("panic") && !stderr.contains("internal error"),
        "stderr: {stderr}"
    );
}
