//! The DDPM network: its configuration, its parameters, and the U-Net built from `nn` layers.

pub mod config;
pub mod params;
pub mod unet;

pub use config::UNetConfig;
pub use params::{Init, Layout, ParamId, ParamStore, Registry};
