//! `Conv2d`: weight [Cout, Cin, kh, kw] and bias [Cout] (PyTorch layout).

use super::tensor_ops::{Params, TensorOps};
use super::{Init, ParamId, Registry};
use crate::ops::conv::ConvGeometry;

pub struct Conv2d {
    pub weight: ParamId,
    pub bias: ParamId,
    pub geometry: ConvGeometry,
}

impl Conv2d {
    /// `zero`: weights and bias start at zero (DDPM's last layers of each block).
    pub fn new(
        reg: &mut Registry,
        name: &str,
        cin: usize,
        cout: usize,
        k: usize,
        geometry: ConvGeometry,
        zero: bool,
    ) -> Conv2d {
        let init = if zero {
            Init::Zeros
        } else {
            Init::FanAvgUniform {
                fan_in: cin * k * k,
                fan_out: cout * k * k,
            }
        };
        Conv2d {
            weight: reg.add(format!("{name}.weight"), &[cout, cin, k, k], init),
            bias: reg.add(format!("{name}.bias"), &[cout], Init::Zeros),
            geometry,
        }
    }

    /// The convolution, and what [`Conv2d::backward`] needs of the input.
    pub fn forward<T: TensorOps>(&self, ps: &impl Params<T>, x: &T) -> (T, T::ConvInput) {
        x.conv2d(
            ps.value(self.weight),
            Some(ps.value(self.bias)),
            self.geometry,
        )
    }

    /// Accumulates the weight and bias gradients; returns dL/dx. `input`: what the forward
    /// pass kept of its input.
    pub fn backward<T: TensorOps>(&self, ps: &impl Params<T>, input: &T::ConvInput, dy: &T) -> T {
        T::conv2d_backward_bias(dy, ps.grad(self.bias));
        self.backward_except_bias(ps, input, dy)
    }

    /// [`Conv2d::backward`] without the bias gradient, for a caller that accumulates it from
    /// sums of `dy` it has anyway (saving a pass over `dy`).
    pub fn backward_except_bias<T: TensorOps>(
        &self,
        ps: &impl Params<T>,
        input: &T::ConvInput,
        dy: &T,
    ) -> T {
        T::conv2d_backward_weight(dy, input, ps.grad(self.weight), self.geometry);
        T::conv2d_backward_input(
            dy,
            ps.value(self.weight),
            self.geometry,
            T::conv_input_hw(input),
        )
    }

    /// Accumulates the weight and bias gradients only (for a layer whose input needs none).
    pub fn backward_params<T: TensorOps>(&self, ps: &impl Params<T>, input: &T::ConvInput, dy: &T) {
        T::conv2d_backward_weight(dy, input, ps.grad(self.weight), self.geometry);
        T::conv2d_backward_bias(dy, ps.grad(self.bias));
    }
}
