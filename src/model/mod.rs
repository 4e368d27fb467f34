//! The DDPM network: its configuration, its parameters, and the U-Net built from `nn` layers.

pub mod config;
pub mod unet;

/// The parameter registry and store live with the layers (`nn::params`).
pub use crate::nn::params::{Init, Layout, ParamId, ParamStore, Registry};
pub use config::UNetConfig;
