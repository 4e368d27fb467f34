//! `ddpm export`: a training checkpoint's weights as a diffusers model folder.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use crate::checkpoint::{export_diffusers, load_model};
use crate::train::layout_of;

#[derive(Args)]
pub struct ExportArgs {
    /// A training checkpoint (.safetensors; `--checkpoint` is accepted too)
    #[arg(long, alias = "checkpoint")]
    model: PathBuf,
    /// The folder to write (config.json + diffusion_pytorch_model.safetensors)
    #[arg(long)]
    out: PathBuf,
    /// Export the raw weights instead of the EMA weights
    #[arg(long)]
    no_ema: bool,
}

pub fn run(a: ExportArgs) -> Result<()> {
    let m = load_model(&a.model, !a.no_ema, layout_of)?;
    export_diffusers(&a.out, &m.config, &layout_of(&m.config), &m.weights)?;
    eprintln!("exported the {} to {}", m.description, a.out.display());
    Ok(())
}
