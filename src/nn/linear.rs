//! `Linear`: weight [out, in] and bias [out] (PyTorch layout), y = x W^T + b over the last dim.

use super::tensor_ops::{Params, TensorOps};
use super::{Init, ParamId, Registry};

pub struct Linear {
    pub weight: ParamId,
    pub bias: ParamId,
}

impl Linear {
    pub fn new(
        reg: &mut Registry,
        name: &str,
        fan_in: usize,
        fan_out: usize,
        zero: bool,
    ) -> Linear {
        let init = if zero {
            Init::Zeros
        } else {
            Init::FanAvgUniform { fan_in, fan_out }
        };
        Linear {
            weight: reg.add(format!("{name}.weight"), &[fan_out, fan_in], init),
            bias: reg.add(format!("{name}.bias"), &[fan_out], Init::Zeros),
        }
    }

    pub fn forward<T: TensorOps>(&self, ps: &impl Params<T>, x: &T) -> T {
        x.linear(ps.value(self.weight), Some(ps.value(self.bias)))
    }

    /// Accumulates the parameter gradients; returns dL/dx. `x` is the forward input.
    pub fn backward<T: TensorOps>(&self, ps: &impl Params<T>, x: &T, dy: &T) -> T {
        T::linear_backward(
            dy,
            x,
            ps.value(self.weight),
            ps.grad(self.weight),
            Some(ps.grad(self.bias)),
        )
    }
}
