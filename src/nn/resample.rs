//! `Downsample2D` (stride-2 3x3 conv) and `Upsample2D` (nearest 2x, then 3x3 conv).

use super::conv::Conv2d;
use super::tensor_ops::{Params, TensorOps};
use super::Registry;
use crate::ops::conv::ConvGeometry;

pub struct Downsample {
    pub conv: Conv2d,
}

impl Downsample {
    /// `padding` = diffusers' downsample_padding: 0 pads one zero row/column at the bottom/right
    /// only (TensorFlow "SAME", the original DDPM), 1 pads every side.
    pub fn new(reg: &mut Registry, name: &str, channels: usize, padding: usize) -> Downsample {
        let g = if padding == 0 {
            ConvGeometry::downsample_asymmetric()
        } else {
            ConvGeometry::downsample_symmetric()
        };
        Downsample {
            conv: Conv2d::new(
                reg,
                &format!("{name}.conv"),
                channels,
                channels,
                3,
                g,
                false,
            ),
        }
    }
    /// The downsampled tensor, and what the backward pass needs of the input.
    pub fn forward<T: TensorOps>(&self, ps: &impl Params<T>, x: &T) -> (T, T::ConvInput) {
        self.conv.forward(ps, x)
    }
    pub fn backward<T: TensorOps>(&self, ps: &impl Params<T>, input: &T::ConvInput, dy: &T) -> T {
        self.conv.backward(ps, input, dy)
    }
}

pub struct Upsample {
    pub conv: Conv2d,
}

impl Upsample {
    pub fn new(reg: &mut Registry, name: &str, channels: usize) -> Upsample {
        Upsample {
            conv: Conv2d::new(
                reg,
                &format!("{name}.conv"),
                channels,
                channels,
                3,
                ConvGeometry::same3x3(),
                false,
            ),
        }
    }
    /// The upsampled and convolved tensor, and what the backward pass needs of the conv's input
    /// (the upsampled tensor, or on the GPU tensor its padded copy).
    pub fn forward<T: TensorOps>(&self, ps: &impl Params<T>, x: &T) -> (T, T::ConvInput) {
        self.conv.forward(ps, &x.upsample_nearest2x())
    }
    pub fn backward<T: TensorOps>(&self, ps: &impl Params<T>, input: &T::ConvInput, dy: &T) -> T {
        T::upsample_nearest2x_backward(&self.conv.backward(ps, input, dy))
    }
}
