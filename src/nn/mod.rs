//! Layers with parameters. Each layer's backward is written by hand next to its forward: the
//! forward returns what the backward needs (a `Saved` value), the backward takes it with the
//! output gradient, accumulates parameter gradients into the [`ParamStore`], and returns the
//! input gradient. No autograd: the graph of the U-Net is fixed.

pub mod attention;
pub mod conv;
pub mod linear;
pub mod norm;
pub mod params;
pub mod resample;
pub mod resnet;
pub mod tensor_ops;
pub mod time;

pub use tensor_ops::{Params, TensorOps};

pub use params::{Init, Layout, ParamId, ParamStore, Registry};

/// What a forward pass is for: inference keeps nothing for backward and applies no dropout.
#[derive(Clone, Copy, Debug)]
pub struct Mode {
    pub training: bool,
    /// Seed and per-step counter of the dropout masks (regenerated in backward, never stored).
    pub seed: u64,
    pub step: u64,
    /// Index of this batch's first sample in the global batch: a data-parallel rank draws the
    /// dropout masks of its own samples (0 in a single process).
    pub first_sample: usize,
}

impl Mode {
    pub fn inference() -> Mode {
        Mode {
            training: false,
            seed: 0,
            step: 0,
            first_sample: 0,
        }
    }
    /// The random stream of dropout layer `layer` at this step.
    pub fn dropout_stream(&self, layer: usize) -> u64 {
        crate::streams::dropout(self.step, layer)
    }
    /// The global index of element 0 of a [B, ...] activation `x` of this batch.
    pub fn first_element<T: TensorOps>(&self, x: &T) -> usize {
        let per_sample: usize = x.shape()[1..].iter().product();
        self.first_sample * per_sample
    }
}
