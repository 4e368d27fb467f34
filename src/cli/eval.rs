//! `ddpm eval`: the variational bound on the negative log-likelihood in bits/dim, all T terms
//! per image with a fresh x_t each (the paper code's `calc_bpd_loop`), and the rate-distortion
//! curve of the paper's section 4.3 from the same pass.
//!
//! Outputs in `--out`: `terms.csv` / `terms.png` (each term L_t and the x_0-prediction error,
//! means over the images), `rate_distortion.csv` / `rate_distortion.png`, `images.csv` (each
//! image's bound and its parts) and `summary.json`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context as _, Result};
use clap::Args;

use super::sample::{default_batch, VarianceArg, DEFAULT_MODEL};
use super::DeviceArgs;
use crate::checkpoint::{load_model, write_safetensors};
use crate::diffusion::bound::{bound_batch, scale_pixels};
use crate::diffusion::{Schedule, Variance};
use crate::model::unet::UNet;
use crate::model::{Layout, ParamStore};
use crate::nn::Mode;
use crate::report::curve::save_xy_plot;
use crate::Tensor;

/// `--dump` keeps the noise and eps prediction of every (term, image): capped so that a
/// forgotten `--timesteps` cannot fill the disk (64M floats = 256 MiB per array).
const DUMP_LIMIT: usize = 64 << 20;

#[derive(Args)]
pub struct EvalArgs {
    /// Our checkpoint (.safetensors) or a diffusers model folder [default: the shipped
    /// assets/mnist-cpu, trained by this engine on lavapipe]
    #[arg(long)]
    model: Option<PathBuf>,
    /// A folder of PNG/JPEG images, as for `train --data` [default: the held-out digits, the
    /// last 1,000 bundled ones, never trained on]
    #[arg(long)]
    data: Option<PathBuf>,
    /// Evaluate the first N images [default: all]
    #[arg(long)]
    n: Option<usize>,
    /// Model variance sigma_t^2: fixed-large (beta_t) or fixed-small (the posterior's beta~_t)
    #[arg(long, value_enum, default_value = "fixed-large")]
    variance: VarianceArg,
    /// Decides the noise of every x_t (with the batch size)
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Folder for the CSVs, plots and summary
    #[arg(long, default_value = "eval")]
    out: PathBuf,
    /// Images per forward pass [default: as many as fit, at most 256; 8 on a CPU adapter]
    #[arg(long)]
    batch_size: Option<usize>,
    /// Only these terms (comma-separated 0-based timesteps, 0 = the decoder), e.g. for
    /// checking terms against another implementation: no total bound is reported then
    #[arg(long, value_delimiter = ',')]
    timesteps: Option<Vec<usize>>,
    /// Also write x_0, the timesteps, the noise, the eps predictions and every per-image term
    /// to this safetensors file (read by tools/peer/bound_check.py)
    #[arg(long)]
    dump: Option<PathBuf>,
    /// Use the raw weights of a training checkpoint instead of its EMA weights
    #[arg(long)]
    no_ema: bool,
}

/// Mean and standard error of the mean (None for fewer than 2 values).
fn mean_se(v: &[f64]) -> (f64, Option<f64>) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    if v.len() < 2 {
        return (mean, None);
    }
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, Some((var / n).sqrt()))
}

/// Fixed-point for the usual magnitudes; small terms (L_t at large t, the prior) in exponent form.
fn num(v: f64) -> String {
    if v != 0.0 && v.abs() < 1e-3 {
        format!("{v:.3e}")
    } else {
        format!("{v:.4}")
    }
}

fn pm(v: &[f64]) -> String {
    match mean_se(v) {
        (m, Some(se)) => format!("{} ± {}", num(m), num(se)),
        (m, None) => num(m),
    }
}

/// The timesteps to evaluate, descending (the order of the paper's loop), checked.
fn timesteps(arg: &Option<Vec<usize>>, big_t: usize) -> Result<Vec<usize>> {
    let Some(list) = arg else {
        return Ok((0..big_t).rev().collect());
    };
    if list.is_empty() {
        bail!("--timesteps needs at least one timestep");
    }
    if let Some(&t) = list.iter().find(|&&t| t >= big_t) {
        bail!("--timesteps: {t} is not a timestep (0-based, below {big_t})");
    }
    let mut ts = list.clone();
    ts.sort_unstable_by(|a, b| b.cmp(a));
    ts.dedup();
    if ts.len() != list.len() {
        bail!("--timesteps lists a timestep twice");
    }
    Ok(ts)
}

pub fn run(device: &DeviceArgs, a: EvalArgs) -> Result<()> {
    if a.n == Some(0) {
        bail!("--n must be at least 1");
    }
    if a.batch_size == Some(0) {
        bail!("--batch-size must be at least 1");
    }
    let schedule = Schedule::ddpm();
    let big_t = schedule.steps();
    let ts = timesteps(&a.timesteps, big_t)?;
    let full = ts.len() == big_t;
    let variance = a.variance.variance();
    let model_path = a
        .model
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_MODEL));
    let loaded = load_model(&model_path, !a.no_ema, crate::train::layout_of)?;
    let cfg = loaded.config.clone();
    let data = match &a.data {
        Some(dir) => crate::data::folder::load(dir, cfg.sample_size, cfg.in_channels)?,
        None => crate::data::mnist::load_held_out(cfg.sample_size, cfg.in_channels)?,
    };
    let n = a.n.unwrap_or(data.count);
    if n > data.count {
        bail!(
            "--n {n} is more than the {} images of {}",
            data.count,
            data.source
        );
    }
    let per_image = data.image_len();
    if a.dump.is_some() && ts.len() * n * per_image > DUMP_LIMIT {
        bail!(
            "--dump would keep {} noise values ({} terms x {n} images x {per_image}); pass \
             --timesteps or a smaller --n",
            ts.len() * n * per_image,
            ts.len()
        );
    }
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create {}", a.out.display()))?;

    let gpu = device.open()?;
    let model = UNet::new(&cfg);
    let layout = Layout::new(&model.registry);
    let store = ParamStore::for_inference(
        layout.clone(),
        Tensor::from_slice(&gpu, &[layout.total], &loaded.weights),
    );
    let batch = a
        .batch_size
        .unwrap_or_else(|| default_batch(&gpu, &model))
        .min(n);
    crate::train::check_fits(&gpu, &cfg, batch)?;
    let batches = n.div_ceil(batch);
    let variance_name = match variance {
        Variance::FixedLarge => "fixed-large",
        Variance::FixedSmall => "fixed-small",
    };
    eprintln!(
        "bound of {n} images of {} under {} ({}), {variance_name} variance, on '{}': {} \
         term(s) per image, {batches} batch(es) of up to {batch}",
        data.source,
        model_path.display(),
        loaded.description,
        gpu.info().name,
        ts.len()
    );
    if gpu.is_cpu() && batches * ts.len() > 2000 {
        // Lavapipe runs the shipped model at ~2 s per forward pass of 64 images: the bound of
        // all 1,000 held-out digits would take most of a day there.
        eprintln!(
            "note: CPU adapter (software Vulkan): {} forward passes; the full held-out set is \
             meant for a GPU (`--n 64 --batch-size 64` takes about 40 minutes on lavapipe)",
            batches * ts.len()
        );
    }
    let bar = indicatif::ProgressBar::new((batches * ts.len()) as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} bound [{bar:30}] {pos}/{len} forward passes  {per_sec}  ETA {eta}",
        )
        .unwrap()
        .progress_chars("=> "),
    );

    let started = Instant::now();
    let pixels = scale_pixels(&data.pixels[..n * per_image]);
    let k = ts.len();
    // [term][image], in the order of `ts`.
    let mut terms = vec![Vec::with_capacity(n); k];
    let mut mse = vec![Vec::with_capacity(n); k];
    let mut prior = Vec::with_capacity(n);
    let (mut noise_dump, mut eps_dump) = (vec![Vec::new(); k], vec![Vec::new(); k]);
    for b in 0..batches {
        let m = batch.min(n - b * batch);
        let x0 = &pixels[b * batch * per_image..(b * batch + m) * per_image];
        let shape = [m, cfg.in_channels, cfg.sample_size, cfg.sample_size];
        let done_before = (b * k) as u64;
        let r = bound_batch(
            &gpu,
            &schedule,
            x0,
            shape,
            variance,
            &ts,
            a.seed,
            b as u64,
            a.dump.is_some(),
            |x_t, t| {
                let t_tensor = Tensor::from_u32(&gpu, &[m], &vec![t as u32; m]);
                model.forward(&store, x_t, &t_tensor, Mode::inference()).0
            },
            |done| bar.set_position(done_before + done as u64),
        );
        for j in 0..k {
            terms[j].extend_from_slice(&r.terms[j * m..(j + 1) * m]);
            mse[j].extend_from_slice(&r.mse[j * m..(j + 1) * m]);
        }
        prior.extend(r.prior);
        for (j, (noise, eps)) in r.noise.into_iter().zip(r.eps).enumerate() {
            noise_dump[j].extend(noise);
            eps_dump[j].extend(eps);
        }
    }
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    if let Some(bad) = terms
        .iter()
        .flatten()
        .chain(mse.iter().flatten())
        .find(|v| !v.is_finite())
    {
        bail!("a bound term is {bad}: the model's predictions are not finite");
    }

    // Per term: means over the images, in ascending t for the files.
    let mut rows: Vec<usize> = (0..k).collect();
    rows.reverse();
    let mut csv = String::from("t,L_t_bpd,L_t_se,mse,rmse_255\n");
    for &j in &rows {
        let (m, se) = mean_se(&terms[j]);
        let mse_mean = mse[j].iter().sum::<f64>() / n as f64;
        writeln!(
            csv,
            "{},{m:.9e},{},{mse_mean:.9e},{:.6}",
            ts[j],
            se.map_or(String::new(), |s| format!("{s:.9e}")),
            mse_mean.sqrt() * 127.5
        )?;
    }
    write(&a.out.join("terms.csv"), &csv)?;
    let points: Vec<(f64, f64)> = rows
        .iter()
        .map(|&j| (ts[j] as f64, terms[j].iter().sum::<f64>() / n as f64))
        .collect();
    save_xy_plot(
        &points,
        "t",
        "l_t bits/dim (log)",
        true,
        &a.out.join("terms.png"),
    )?;

    let (pm_prior, _) = mean_se(&prior);
    println!(
        "{n} image(s) of {}, {variance_name} variance, seed {}, {:.1} s",
        data.source, a.seed, seconds
    );
    println!("  prior    L_T       {} bits/dim", pm(&prior));
    if !full {
        for &j in &rows {
            println!("  term     L_{:<8} {} bits/dim", ts[j], pm(&terms[j]));
        }
        println!(
            "  ({} of the {big_t} terms: no bound, and no rate-distortion curve; wrote {})",
            k,
            a.out.join("terms.csv").display()
        );
    } else {
        // ts is T-1..0, so term j is timestep T-1-j; the decoder is the last.
        let decoder = &terms[k - 1];
        let kl: Vec<f64> = (0..n)
            .map(|i| terms[..k - 1].iter().map(|t| t[i]).sum())
            .collect();
        let total: Vec<f64> = (0..n).map(|i| prior[i] + decoder[i] + kl[i]).collect();
        println!("  decoder  L_0       {} bits/dim", pm(decoder));
        println!("  KL sum   L_1..L_{} {} bits/dim", big_t - 1, pm(&kl));
        println!(
            "  total             {} bits/dim (mean ± standard error)",
            pm(&total)
        );

        let mut img_csv = String::from("image,total_bpd,prior_bpd,decoder_bpd,kl_bpd\n");
        for i in 0..n {
            writeln!(
                img_csv,
                "{i},{:.9e},{:.9e},{:.9e},{:.9e}",
                total[i], prior[i], decoder[i], kl[i]
            )?;
        }
        write(&a.out.join("images.csv"), &img_csv)?;

        // Rate-distortion (paper sec. 4.3): along the reverse process, having received x_{t+1}
        // (the network's input at 0-based timestep t) costs the prior and every term above t;
        // the distortion is the RMSE of the x_0 predicted from it on the [0, 255] scale. The
        // last point is x_0 itself: the whole bound, no distortion.
        let mean = |v: &[f64]| v.iter().sum::<f64>() / n as f64;
        let mut rd = String::from("t,rate_bpd,distortion_rmse_255\n");
        let mut rd_points = Vec::with_capacity(k + 1);
        let mut rate = pm_prior;
        for j in 0..k {
            let distortion = mean(&mse[j]).sqrt() * 127.5;
            writeln!(rd, "{},{rate:.9e},{distortion:.6}", ts[j])?;
            rd_points.push((rate, distortion));
            rate += mean(&terms[j]);
        }
        writeln!(rd, "-1,{rate:.9e},0")?;
        rd_points.push((rate, 0.0));
        write(&a.out.join("rate_distortion.csv"), &rd)?;
        save_xy_plot(
            &rd_points,
            "rate bits/dim",
            "distortion rmse (0-255)",
            false,
            &a.out.join("rate_distortion.png"),
        )?;

        let (m, se) = mean_se(&total);
        let summary = serde_json::json!({
            "model": model_path.display().to_string(),
            "data": data.source,
            "images": n,
            "variance": variance_name,
            "seed": a.seed,
            "batch_size": batch,
            "timesteps": big_t,
            "bits_per_dim": m,
            "bits_per_dim_se": se,
            "prior_bpd": pm_prior,
            "decoder_bpd": mean(decoder),
            "kl_bpd": mean(&kl),
            "seconds": seconds,
            "adapter": gpu.info().name,
        });
        write(
            &a.out.join("summary.json"),
            &serde_json::to_string_pretty(&summary)?,
        )?;
        eprintln!(
            "wrote terms.csv, terms.png, rate_distortion.csv, rate_distortion.png, images.csv \
             and summary.json in {}",
            a.out.display()
        );
    }

    if let Some(path) = &a.dump {
        let chw = [cfg.in_channels, cfg.sample_size, cfg.sample_size];
        let flat = |v: &[Vec<f64>]| -> Vec<f32> { v.iter().flatten().map(|&x| x as f32).collect() };
        let (ts_f, terms_f, mse_f) = (
            ts.iter().map(|&t| t as f32).collect::<Vec<f32>>(),
            flat(&terms),
            flat(&mse),
        );
        let prior_f: Vec<f32> = prior.iter().map(|&x| x as f32).collect();
        let noise_f: Vec<f32> = noise_dump.concat();
        let eps_f: Vec<f32> = eps_dump.concat();
        let big = |lead: &[usize]| [lead, &chw[..]].concat();
        let meta = HashMap::from([
            ("variance".to_string(), variance_name.to_string()),
            ("seed".to_string(), a.seed.to_string()),
            ("batch_size".to_string(), batch.to_string()),
            ("model".to_string(), model_path.display().to_string()),
        ]);
        write_safetensors(
            path,
            &[
                ("x0".into(), big(&[n]), &pixels[..n * per_image]),
                ("timesteps".into(), vec![k], &ts_f),
                ("noise".into(), big(&[k, n]), &noise_f),
                ("eps".into(), big(&[k, n]), &eps_f),
                ("terms_bpd".into(), vec![k, n], &terms_f),
                ("mse".into(), vec![k, n], &mse_f),
                ("prior_bpd".into(), vec![n], &prior_f),
            ],
            meta,
        )?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}
