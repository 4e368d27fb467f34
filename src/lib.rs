//! A diffusion-model (DDPM) engine written from scratch on wgpu.
//!
//! Layers, bottom to top: [`gpu`] (device, pipelines, buffer pool, recorder) → [`tensor`] →
//! [`ops`] (one module per WGSL kernel family, forward and backward side by side) →
//! `nn` (layers with hand-written backward) → `diffusion` → the jobs (`train`, `sample`).
//! [`maths`] holds the shared maths below all of them (step coefficients, the CPU random
//! generator); [`reference`] is a float64 CPU implementation of every op, used only by tests and
//! `selftest`. See ARCHITECTURE.md.

pub mod checkpoint;
pub mod cli;
pub mod data;
pub mod diffusion;
pub mod error;
pub mod files;
pub mod gpu;
pub mod maths;
pub mod model;
pub mod nn;
pub mod ops;
pub mod perf;
pub mod reference;
pub mod report;
pub mod selftest;
pub mod streams;
pub mod tensor;
pub mod train;

pub use error::Error;
pub use gpu::Gpu;
pub use tensor::Tensor;
