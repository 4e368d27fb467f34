//! `ddpm predict`: one forward pass on inputs from a safetensors file, so our engine can be
//! compared with any other implementation of the same model.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;

use super::DeviceArgs;
use crate::checkpoint::{load_model, read_safetensors, write_safetensors};
use crate::model::unet::UNet;
use crate::model::{Layout, ParamStore};
use crate::nn::Mode;
use crate::Tensor;

#[derive(Args)]
pub struct PredictArgs {
    /// Our checkpoint or a diffusers model folder
    #[arg(long)]
    model: PathBuf,
    /// safetensors with `input.x` [B, C, H, W] and `input.t` [B] (0-based timesteps)
    #[arg(long)]
    input: PathBuf,
    /// Where to write `output.eps`
    #[arg(long)]
    out: PathBuf,
    /// Use the raw weights of a training checkpoint instead of its EMA weights
    #[arg(long)]
    no_ema: bool,
}

pub fn run(device: &DeviceArgs, a: PredictArgs) -> Result<()> {
    let loaded = load_model(&a.model, !a.no_ema, crate::train::layout_of)?;
    let (inputs, _) = read_safetensors(&a.input)?;
    let (Some((xs, x)), Some((ts, t))) = (inputs.get("input.x"), inputs.get("input.t")) else {
        bail!(
            "{} must hold tensors 'input.x' and 'input.t'",
            a.input.display()
        );
    };
    let cfg = &loaded.config;
    if xs.len() != 4
        || xs[1] != cfg.in_channels
        || xs[2] != cfg.sample_size
        || xs[3] != cfg.sample_size
    {
        bail!(
            "input.x has shape {xs:?}; the model expects [B, {}, {}, {}]",
            cfg.in_channels,
            cfg.sample_size,
            cfg.sample_size
        );
    }
    let b = xs[0];
    let t: Vec<u32> = match ts.as_slice() {
        [n] if *n == b => t.iter().map(|&v| v as u32).collect(),
        [] | [1] => vec![t[0] as u32; b],
        _ => bail!("input.t has shape {ts:?}; expected [{b}] or a scalar"),
    };
    if t.iter().any(|&v| v >= 1000) {
        bail!("input.t must hold 0-based timesteps below 1000");
    }
    let gpu = device.open()?;
    let model = UNet::new(cfg);
    let layout = Layout::new(&model.registry);
    let store = ParamStore::for_inference(
        layout.clone(),
        Tensor::from_slice(&gpu, &[layout.total], &loaded.weights),
    );
    let x = Tensor::from_slice(&gpu, xs, x);
    let t = Tensor::from_u32(&gpu, &[b], &t);
    let (eps, _) = model.forward(&store, &x, &t, Mode::inference());
    let eps = eps.to_vec();
    write_safetensors(
        &a.out,
        &[("output.eps".to_string(), xs.clone(), &eps)],
        HashMap::new(),
    )?;
    eprintln!("wrote output.eps {xs:?} to {}", a.out.display());
    Ok(())
}
