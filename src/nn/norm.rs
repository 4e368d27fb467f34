//! `GroupNorm` (optionally fused with the SiLU that follows it in every residual block).

use super::conv::Conv2d;
use super::tensor_ops::{Params, TensorOps};
use super::{Init, ParamId, Registry};

pub struct GroupNorm {
    pub weight: ParamId,
    pub bias: ParamId,
    pub groups: usize,
    pub eps: f32,
    /// Output silu(GN(x)) instead of GN(x).
    pub silu: bool,
}

/// What the backward needs: the input and the per-group statistics.
pub struct NormSaved<T: TensorOps> {
    pub x: T,
    pub stats: T::NormStats,
}

impl GroupNorm {
    pub fn new(
        reg: &mut Registry,
        name: &str,
        channels: usize,
        groups: usize,
        eps: f64,
        silu: bool,
    ) -> GroupNorm {
        GroupNorm {
            weight: reg.add(format!("{name}.weight"), &[channels], Init::Ones),
            bias: reg.add(format!("{name}.bias"), &[channels], Init::Zeros),
            groups,
            eps: eps as f32,
            silu,
        }
    }

    pub fn forward<T: TensorOps>(&self, ps: &impl Params<T>, x: &T) -> (T, NormSaved<T>) {
        let (y, stats) = x.group_norm(
            ps.value(self.weight),
            ps.value(self.bias),
            self.groups,
            self.eps,
            self.silu,
        );
        (
            y,
            NormSaved {
                x: x.clone(),
                stats,
            },
        )
    }

    /// This norm followed by `conv` on its output, in one step where the tensor type fuses them
    /// ([`TensorOps::group_norm_conv2d`]): the conv output, the norm's tape, the conv's input.
    pub fn forward_into_conv<T: TensorOps>(
        &self,
        ps: &impl Params<T>,
        x: &T,
        conv: &Conv2d,
    ) -> (T, NormSaved<T>, T::ConvInput) {
        let (y, stats, input) = x.group_norm_conv2d(
            ps.value(self.weight),
            ps.value(self.bias),
            self.groups,
            self.eps,
            self.silu,
            ps.value(conv.weight),
            Some(ps.value(conv.bias)),
            conv.geometry,
        );
        (
            y,
            NormSaved {
                x: x.clone(),
                stats,
            },
            input,
        )
    }

    pub fn backward<T: TensorOps>(&self, ps: &impl Params<T>, saved: &NormSaved<T>, dy: &T) -> T {
        T::group_norm_backward(
            dy,
            &saved.x,
            ps.value(self.weight),
            ps.value(self.bias),
            &saved.stats,
            self.groups,
            self.silu,
            ps.grad(self.weight),
            ps.grad(self.bias),
        )
    }
}
