//! Checkpoints and model files, all safetensors with diffusers parameter names and PyTorch
//! layouts.
//!
//! A training checkpoint holds, as f32 tensors: the weights under their diffusers names
//! (`conv_in.weight`, ...), the EMA weights (`ema.<name>`), Adam's moments (`adam_m.<name>`,
//! `adam_v.<name>`); and in the metadata: the model config (`config`, diffusers JSON), the step,
//! and the training state (`train_state`, JSON: options, seeds, data order position). Files are
//! written atomically (a temporary file in the same folder, synced, then renamed), so a crash or
//! Ctrl-C during a save leaves the previous file intact.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context as _, Result};
use safetensors::{Dtype, SafeTensors};

use crate::model::{Layout, UNetConfig};

/// Named tensors: shape and f32 values.
pub type Named = HashMap<String, (Vec<usize>, Vec<f32>)>;

pub const FORMAT: &str = "ddpm-rs/1";

/// Reads a safetensors file, converting every numeric dtype to f32.
pub fn read_safetensors(path: &Path) -> Result<(Named, HashMap<String, String>)> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let corrupt = |e: safetensors::SafeTensorError| {
        crate::Error::File(format!(
            "{} is not a valid safetensors file (truncated or corrupt?): {e}",
            path.display()
        ))
    };
    let (_, meta) = SafeTensors::read_metadata(&bytes).map_err(corrupt)?;
    let st = SafeTensors::deserialize(&bytes).map_err(corrupt)?;
    let mut out = Named::new();
    for (name, view) in st.tensors() {
        let values = to_f32(view.dtype(), view.data()).ok_or_else(|| {
            crate::Error::File(format!(
                "{}: tensor '{name}' has unsupported dtype {:?}",
                path.display(),
                view.dtype()
            ))
        })?;
        out.insert(name, (view.shape().to_vec(), values));
    }
    Ok((out, meta.metadata().clone().unwrap_or_default()))
}

fn to_f32(dtype: Dtype, data: &[u8]) -> Option<Vec<f32>> {
    let chunks = |n: usize| data.chunks_exact(n);
    Some(match dtype {
        Dtype::F32 => chunks(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect(),
        Dtype::F64 => chunks(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()) as f32)
            .collect(),
        Dtype::F16 => chunks(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        Dtype::BF16 => chunks(2)
            .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        Dtype::I64 => chunks(8)
            .map(|c| i64::from_le_bytes(c.try_into().unwrap()) as f32)
            .collect(),
        Dtype::I32 => chunks(4)
            .map(|c| i32::from_le_bytes(c.try_into().unwrap()) as f32)
            .collect(),
        _ => return None,
    })
}

/// Writes f32 tensors to `path` atomically.
pub fn write_safetensors(
    path: &Path,
    tensors: &[(String, Vec<usize>, &[f32])],
    metadata: HashMap<String, String>,
) -> Result<()> {
    let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
        .iter()
        .map(|(name, shape, data)| {
            let view = safetensors::tensor::TensorView::new(
                Dtype::F32,
                shape.clone(),
                bytemuck::cast_slice(data),
            )
            .expect("shape matches data");
            (name.clone(), view)
        })
        .collect();
    let bytes = safetensors::serialize(views, Some(metadata))
        .map_err(|e| crate::Error::File(format!("serialising {}: {e}", path.display())))?;
    write_atomic(path, &bytes)
}

pub use crate::files::write_atomic;

/// Maps the 2022 attention names (`query`, `key`, `value`, `proj_attn`) to the current ones.
pub fn modern_name(name: &str) -> String {
    let parts: Vec<&str> = name.split('.').collect();
    let mut out = Vec::with_capacity(parts.len() + 1);
    for (i, p) in parts.iter().enumerate() {
        let in_attention = i >= 1 && parts[..i].contains(&"attentions");
        match (*p, in_attention) {
            ("query", true) => out.push("to_q"),
            ("key", true) => out.push("to_k"),
            ("value", true) => out.push("to_v"),
            ("proj_attn", true) => {
                out.push("to_out");
                out.push("0");
            }
            (p, _) => out.push(p),
        }
    }
    out.join(".")
}

/// The full state of a training run.
pub struct Checkpoint {
    pub config: UNetConfig,
    pub step: u64,
    /// Flat parameter vectors in the model's [`Layout`].
    pub weights: Vec<f32>,
    pub ema: Vec<f32>,
    pub adam_m: Vec<f32>,
    pub adam_v: Vec<f32>,
    /// Options, seeds and data position, as JSON (see `train`).
    pub train_state: serde_json::Value,
}

impl Checkpoint {
    pub fn save(&self, path: &Path, layout: &Layout) -> Result<()> {
        let mut tensors = Vec::new();
        for (prefix, flat) in [
            ("", &self.weights),
            ("ema.", &self.ema),
            ("adam_m.", &self.adam_m),
            ("adam_v.", &self.adam_v),
        ] {
            for (name, shape, data) in layout.unflatten(flat) {
                tensors.push((format!("{prefix}{name}"), shape.to_vec(), data));
            }
        }
        let metadata = HashMap::from([
            ("format".to_string(), FORMAT.to_string()),
            ("config".to_string(), self.config.to_json()),
            ("step".to_string(), self.step.to_string()),
            ("train_state".to_string(), self.train_state.to_string()),
        ]);
        write_safetensors(path, &tensors, metadata)
    }

    /// Loads a training checkpoint written by [`Checkpoint::save`].
    pub fn load(path: &Path, layout_for: impl Fn(&UNetConfig) -> Layout) -> Result<Checkpoint> {
        let (mut named, meta) = read_safetensors(path)?;
        if meta.get("format").map(String::as_str) != Some(FORMAT) {
            crate::fail!(
                File,
                "{} is not a training checkpoint of this program (no '{FORMAT}' format tag)",
                path.display()
            );
        }
        let config = config_from_metadata(path, &meta)?;
        let layout = layout_for(&config);
        let step = meta
            .get("step")
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| {
                crate::Error::File(format!("{}: bad 'step' metadata", path.display()))
            })?;
        let train_state = meta
            .get("train_state")
            .and_then(|s| serde_json::from_str(s).ok())
            .ok_or_else(|| {
                crate::Error::File(format!("{}: bad 'train_state' metadata", path.display()))
            })?;
        let mut take = |prefix: &str| -> Result<Vec<f32>> {
            let part: Named = layout
                .specs
                .iter()
                .filter_map(|s| {
                    named
                        .remove(&format!("{prefix}{}", s.name))
                        .map(|t| (s.name.clone(), t))
                })
                .collect();
            layout
                .flatten(&part)
                .with_context(|| format!("{}: {prefix}weights", path.display()))
        };
        let weights = take("")?;
        let ema = take("ema.")?;
        let adam_m = take("adam_m.")?;
        let adam_v = take("adam_v.")?;
        Ok(Checkpoint {
            config,
            step,
            weights,
            ema,
            adam_m,
            adam_v,
            train_state,
        })
    }
}

fn config_from_metadata(path: &Path, meta: &HashMap<String, String>) -> Result<UNetConfig> {
    let text = meta.get("config").ok_or_else(|| {
        crate::Error::File(format!(
            "{}: no model config in the metadata",
            path.display()
        ))
    })?;
    UNetConfig::from_json(text)
        .with_context(|| format!("{}: config in the metadata", path.display()))
}

/// A model to run: its config and one set of weights (flat, in `layout_for(config)`).
pub struct ModelWeights {
    pub config: UNetConfig,
    pub weights: Vec<f32>,
    /// Where the weights came from, for messages ("EMA weights of step 5000", ...).
    pub description: String,
}

/// Loads a model from a diffusers folder (`config.json` + `diffusion_pytorch_model.safetensors`,
/// legacy attention names accepted), a bare diffusers safetensors file with a `config.json`
/// beside it, or one of our training checkpoints (EMA weights unless `ema` is false).
pub fn load_model(
    path: &Path,
    ema: bool,
    layout_for: impl Fn(&UNetConfig) -> Layout,
) -> Result<ModelWeights> {
    if !path.exists() {
        crate::fail!(File, "model not found: {}", path.display());
    }
    if path.is_dir() {
        let config_path = path.join("config.json");
        let text = std::fs::read_to_string(&config_path)
            .with_context(|| format!("cannot read {}", config_path.display()))?;
        let config =
            UNetConfig::from_json(&text).with_context(|| format!("{}", config_path.display()))?;
        let weights_path = path.join("diffusion_pytorch_model.safetensors");
        return load_diffusers(&weights_path, config, &layout_for);
    }
    let bytes_head =
        std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let (_, meta) = SafeTensors::read_metadata(&bytes_head).map_err(|e| {
        crate::Error::File(format!(
            "{} is not a valid safetensors file (truncated or corrupt?): {e}",
            path.display()
        ))
    })?;
    drop(bytes_head);
    let meta = meta.metadata().clone().unwrap_or_default();
    if meta.get("format").map(String::as_str) == Some(FORMAT) {
        let ck = Checkpoint::load(path, &layout_for)?;
        let (weights, kind) = if ema {
            (ck.ema, "EMA weights")
        } else {
            (ck.weights, "weights")
        };
        return Ok(ModelWeights {
            config: ck.config,
            weights,
            description: format!("{kind} of step {}", ck.step),
        });
    }
    let config = match meta.get("config") {
        Some(_) => config_from_metadata(path, &meta)?,
        None => {
            let beside = path.with_file_name("config.json");
            let text = std::fs::read_to_string(&beside).with_context(|| {
                format!(
                    "{} has no config in its metadata and there is no config.json beside it",
                    path.display()
                )
            })?;
            UNetConfig::from_json(&text)?
        }
    };
    load_diffusers(path, config, &layout_for)
}

fn load_diffusers(
    path: &Path,
    config: UNetConfig,
    layout_for: &impl Fn(&UNetConfig) -> Layout,
) -> Result<ModelWeights> {
    let (named, _) = read_safetensors(path)?;
    let named: Named = named
        .into_iter()
        .map(|(k, v)| (modern_name(&k), v))
        .collect();
    let layout = layout_for(&config);
    let weights = layout
        .flatten(&named)
        .with_context(|| format!("{}", path.display()))?;
    Ok(ModelWeights {
        config,
        weights,
        description: format!("weights of {}", path.display()),
    })
}

/// Writes the weights as a diffusers model folder (`config.json` + safetensors).
pub fn export_diffusers(
    dir: &Path,
    config: &UNetConfig,
    layout: &Layout,
    weights: &[f32],
) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tensors: Vec<_> = layout
        .unflatten(weights)
        .map(|(n, s, d)| (n.to_string(), s.to_vec(), d))
        .collect();
    let meta = HashMap::from([("format".to_string(), "pt".to_string())]);
    write_safetensors(
        &dir.join("diffusion_pytorch_model.safetensors"),
        &tensors,
        meta,
    )?;
    write_atomic(&dir.join("config.json"), config.to_json().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::modern_name;

    #[test]
    fn legacy_attention_names_are_renamed() {
        assert_eq!(
            modern_name("mid_block.attentions.0.query.weight"),
            "mid_block.attentions.0.to_q.weight"
        );
        assert_eq!(
            modern_name("up_blocks.2.attentions.1.proj_attn.bias"),
            "up_blocks.2.attentions.1.to_out.0.bias"
        );
        assert_eq!(
            modern_name("down_blocks.1.resnets.0.conv1.weight"),
            "down_blocks.1.resnets.0.conv1.weight"
        );
    }
}
