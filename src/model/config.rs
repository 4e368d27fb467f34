//! The network's configuration: the subset of diffusers' `UNet2DModel` `config.json` that the
//! DDPM model uses (see `docs/unet-spec.md`), and the built-in presets.

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DownBlock {
    DownBlock2D,
    AttnDownBlock2D,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum UpBlock {
    UpBlock2D,
    AttnUpBlock2D,
}

/// A diffusers-style UNet2DModel configuration. Field names and meanings follow diffusers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UNetConfig {
    #[serde(rename = "_class_name", default = "class_name")]
    pub class_name: String,
    pub sample_size: usize,
    pub in_channels: usize,
    pub out_channels: usize,
    #[serde(default)]
    pub center_input_sample: bool,
    #[serde(default)]
    pub flip_sin_to_cos: bool,
    #[serde(default = "one", serialize_with = "as_integer")]
    pub freq_shift: f64,
    pub down_block_types: Vec<DownBlock>,
    pub up_block_types: Vec<UpBlock>,
    pub block_out_channels: Vec<usize>,
    #[serde(default = "two")]
    pub layers_per_block: usize,
    #[serde(default = "one", serialize_with = "as_integer")]
    pub downsample_padding: f64,
    #[serde(default)]
    pub dropout: f64,
    /// None: one head per attention block with head_dim = channels.
    #[serde(default)]
    pub attention_head_dim: Option<usize>,
    #[serde(default = "thirty_two")]
    pub norm_num_groups: usize,
    #[serde(default = "norm_eps")]
    pub norm_eps: f64,
    #[serde(default = "yes")]
    pub add_attention: bool,
    /// None: 4 * block_out_channels[0].
    #[serde(default)]
    pub time_embedding_dim: Option<usize>,
}

/// diffusers declares `freq_shift` and `downsample_padding` as integers, and its forward pass
/// fails on a float padding: write integral values as JSON integers.
fn as_integer<S: serde::Serializer>(v: &f64, s: S) -> std::result::Result<S::Ok, S::Error> {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        s.serialize_i64(*v as i64)
    } else {
        s.serialize_f64(*v)
    }
}

fn class_name() -> String {
    "UNet2DModel".into()
}
fn one() -> f64 {
    1.0
}
fn two() -> usize {
    2
}
fn thirty_two() -> usize {
    32
}
fn norm_eps() -> f64 {
    1e-5
}
fn yes() -> bool {
    true
}

/// Keys we read into [`UNetConfig`].
const KNOWN: &[&str] = &[
    "_class_name",
    "sample_size",
    "in_channels",
    "out_channels",
    "center_input_sample",
    "flip_sin_to_cos",
    "freq_shift",
    "down_block_types",
    "up_block_types",
    "block_out_channels",
    "layers_per_block",
    "downsample_padding",
    "dropout",
    "attention_head_dim",
    "norm_num_groups",
    "norm_eps",
    "add_attention",
    "time_embedding_dim",
];

/// Keys accepted only with the value the DDPM model uses (the diffusers default).
fn fixed_value_ok(key: &str, value: &serde_json::Value) -> Option<bool> {
    use serde_json::Value::*;
    let ok = match key {
        "time_embedding_type" => value == "positional",
        "act_fn" => value == "silu" || value == "swish",
        "resnet_time_scale_shift" => value == "default",
        "mid_block_scale_factor" => value.as_f64() == Some(1.0),
        "class_embed_type" | "num_class_embeds" | "attn_norm_num_groups" => *value == Null,
        "downsample_type" | "upsample_type" => value == "conv",
        "mid_block_type" => value == "UNetMidBlock2D",
        _ => return None,
    };
    Some(ok)
}

impl UNetConfig {
    /// Parses a diffusers `config.json`. Unknown fields and unsupported values are errors that
    /// name the field; metadata keys starting with `_` (other than `_class_name`) are ignored.
    pub fn from_json(text: &str) -> Result<UNetConfig> {
        let value: serde_json::Value =
            serde_json::from_str(text).context("config is not valid JSON")?;
        let serde_json::Value::Object(map) = &value else {
            crate::fail!(Config, "config must be a JSON object");
        };
        let mut kept = serde_json::Map::new();
        for (key, v) in map {
            if KNOWN.contains(&key.as_str()) {
                kept.insert(key.clone(), v.clone());
            } else if let Some(ok) = fixed_value_ok(key, v) {
                if !ok {
                    crate::fail!(Config, "unsupported config value: {key} = {v} (this engine supports the DDPM UNet2DModel subset)");
                }
            } else if !key.starts_with('_') {
                crate::fail!(Config, "unsupported config field '{key}'");
            }
        }
        let cfg: UNetConfig = serde_json::from_value(serde_json::Value::Object(kept))
            .map_err(|e| crate::Error::Config(format!("invalid config: {e}")))?;
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn to_json(&self) -> String {
        let mut v = serde_json::to_value(self).expect("config serialises");
        let m = v.as_object_mut().unwrap();
        m.insert("time_embedding_type".into(), "positional".into());
        m.insert("act_fn".into(), "silu".into());
        m.insert("resnet_time_scale_shift".into(), "default".into());
        m.insert("mid_block_scale_factor".into(), 1.into());
        serde_json::to_string_pretty(&v).expect("config serialises")
    }

    pub fn validate(&self) -> Result<()> {
        if self.class_name != "UNet2DModel" {
            crate::fail!(
                Config,
                "unsupported config value: _class_name = {} (expected UNet2DModel)",
                self.class_name
            );
        }
        if self.center_input_sample {
            crate::fail!(Config, "unsupported config value: center_input_sample = true (inputs are expected in [-1, 1])");
        }
        let levels = self.block_out_channels.len();
        if levels == 0 {
            crate::fail!(Config, "block_out_channels must not be empty");
        }
        if self.down_block_types.len() != levels || self.up_block_types.len() != levels {
            crate::fail!(Config, "down_block_types and up_block_types need one entry per block_out_channels entry ({levels})");
        }
        if self.layers_per_block == 0 || self.in_channels == 0 || self.out_channels == 0 {
            crate::fail!(
                Config,
                "layers_per_block, in_channels and out_channels must be positive"
            );
        }
        if self.downsample_padding != 0.0 && self.downsample_padding != 1.0 {
            crate::fail!(
                Config,
                "unsupported config value: downsample_padding = {} (0 or 1)",
                self.downsample_padding
            );
        }
        if !(0.0..1.0).contains(&self.dropout) {
            crate::fail!(Config, "dropout must be in [0, 1)");
        }
        for &c in &self.block_out_channels {
            if c == 0 || c % self.norm_num_groups != 0 {
                crate::fail!(
                    Config,
                    "block_out_channels entry {c} is not a multiple of norm_num_groups {}",
                    self.norm_num_groups
                );
            }
            if let Some(d) = self.attention_head_dim {
                if d == 0 || c % d != 0 {
                    crate::fail!(
                        Config,
                        "attention_head_dim {d} does not divide channel count {c}"
                    );
                }
            }
        }
        let down = self.sample_size >> (levels - 1);
        if down == 0 || !self.sample_size.is_multiple_of(1 << (levels - 1)) {
            crate::fail!(
                Config,
                "sample_size {} cannot be halved {} times",
                self.sample_size,
                levels - 1
            );
        }
        Ok(())
    }

    pub fn time_embed_dim(&self) -> usize {
        self.time_embedding_dim
            .unwrap_or(4 * self.block_out_channels[0])
    }

    /// Heads of an attention block over `channels` channels.
    pub fn heads(&self, channels: usize) -> usize {
        self.attention_head_dim.map_or(1, |d| channels / d)
    }

    /// The paper's CIFAR-10 model (google/ddpm-cifar10-32): 35,746,307 parameters.
    pub fn cifar10() -> UNetConfig {
        use DownBlock::*;
        use UpBlock::*;
        UNetConfig {
            class_name: class_name(),
            sample_size: 32,
            in_channels: 3,
            out_channels: 3,
            center_input_sample: false,
            flip_sin_to_cos: false,
            freq_shift: 1.0,
            down_block_types: vec![DownBlock2D, AttnDownBlock2D, DownBlock2D, DownBlock2D],
            up_block_types: vec![UpBlock2D, UpBlock2D, AttnUpBlock2D, UpBlock2D],
            block_out_channels: vec![128, 256, 256, 256],
            layers_per_block: 2,
            downsample_padding: 0.0,
            dropout: 0.1,
            attention_head_dim: None,
            norm_num_groups: 32,
            norm_eps: 1e-6,
            add_attention: true,
            time_embedding_dim: None,
        }
    }

    /// The default: 1 channel 32x32 digits, channels (64, 128, 128), attention at 16x16:
    /// 6,469,889 parameters.
    pub fn mnist() -> UNetConfig {
        use DownBlock::*;
        use UpBlock::*;
        UNetConfig {
            in_channels: 1,
            out_channels: 1,
            down_block_types: vec![DownBlock2D, AttnDownBlock2D, DownBlock2D],
            up_block_types: vec![UpBlock2D, AttnUpBlock2D, UpBlock2D],
            block_out_channels: vec![64, 128, 128],
            dropout: 0.0,
            ..UNetConfig::cifar10()
        }
    }

    /// A very small model for tests and quick experiments (16x16, channels (32, 64)).
    pub fn tiny(channels: usize) -> UNetConfig {
        use DownBlock::*;
        use UpBlock::*;
        UNetConfig {
            sample_size: 16,
            in_channels: channels,
            out_channels: channels,
            down_block_types: vec![AttnDownBlock2D, DownBlock2D],
            up_block_types: vec![UpBlock2D, AttnUpBlock2D],
            block_out_channels: vec![32, 64],
            layers_per_block: 1,
            norm_num_groups: 8,
            dropout: 0.0,
            ..UNetConfig::cifar10()
        }
    }

    /// A small digit model (the shipped `assets/mnist-small`): the digits' own 28x28, channels
    /// (32, 64, 64), one residual block per level, attention at 14x14: 1,112,801 parameters.
    pub fn mnist_small() -> UNetConfig {
        UNetConfig {
            block_out_channels: vec![32, 64, 64],
            ..UNetConfig::mnist_cpu()
        }
    }

    /// The default of `ddpm train` on a CPU adapter: [`UNetConfig::mnist_small`] with channels
    /// (24, 48, 48), 627,433 parameters. Chosen by measured sample quality per CPU-minute among
    /// five candidates (tools/cpu-preset-study).
    pub fn mnist_cpu() -> UNetConfig {
        use DownBlock::*;
        use UpBlock::*;
        UNetConfig {
            sample_size: 28,
            in_channels: 1,
            out_channels: 1,
            down_block_types: vec![DownBlock2D, AttnDownBlock2D, DownBlock2D],
            up_block_types: vec![UpBlock2D, AttnUpBlock2D, UpBlock2D],
            block_out_channels: vec![24, 48, 48],
            layers_per_block: 1,
            norm_num_groups: 8,
            dropout: 0.0,
            ..UNetConfig::cifar10()
        }
    }

    /// The names [`UNetConfig::preset`] takes.
    pub const PRESETS: [&'static str; 5] = ["mnist", "mnist-small", "mnist-cpu", "cifar10", "tiny"];

    pub fn preset(name: &str) -> Result<UNetConfig> {
        match name {
            "mnist" => Ok(Self::mnist()),
            "mnist-small" => Ok(Self::mnist_small()),
            "mnist-cpu" => Ok(Self::mnist_cpu()),
            "cifar10" => Ok(Self::cifar10()),
            "tiny" => Ok(Self::tiny(1)),
            other => {
                crate::fail!(
                    Config,
                    "unknown preset '{other}' (available: {})",
                    Self::PRESETS.join(", ")
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_field_is_named() {
        let mut v: serde_json::Value =
            serde_json::from_str(&UNetConfig::mnist().to_json()).unwrap();
        v["cross_attention_dim"] = 768.into();
        let err = UNetConfig::from_json(&v.to_string())
            .unwrap_err()
            .to_string();
        assert!(err.contains("cross_attention_dim"), "{err}");
    }

    #[test]
    fn unsupported_value_is_named() {
        let mut v: serde_json::Value =
            serde_json::from_str(&UNetConfig::mnist().to_json()).unwrap();
        v["resnet_time_scale_shift"] = "scale_shift".into();
        let err = UNetConfig::from_json(&v.to_string())
            .unwrap_err()
            .to_string();
        assert!(err.contains("resnet_time_scale_shift"), "{err}");
    }

    #[test]
    fn integer_fields_are_written_as_integers() {
        let json: serde_json::Value =
            serde_json::from_str(&UNetConfig::cifar10().to_json()).unwrap();
        assert!(json["downsample_padding"].is_i64(), "{json}");
        assert!(json["freq_shift"].is_i64(), "{json}");
        assert!(json["sample_size"].is_u64(), "{json}");
    }

    #[test]
    fn round_trips_through_json() {
        for cfg in [
            UNetConfig::mnist(),
            UNetConfig::cifar10(),
            UNetConfig::tiny(3),
        ] {
            assert_eq!(UNetConfig::from_json(&cfg.to_json()).unwrap(), cfg);
        }
    }
}
