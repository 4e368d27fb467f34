//! `GroupNorm` (optionally fused with the SiLU that follows it in every residual block).

use super::{Init, ParamId, ParamStore, Registry};
use crate::ops::norm::{self, GroupNormStats};
use crate::Tensor;

pub struct GroupNorm {
    pub weight: ParamId,
    pub bias: ParamId,
    pub groups: usize,
    pub eps: f32,
    /// Output silu(GN(x)) instead of GN(x).
    pub silu: bool,
}

/// What the backward needs: the input and the per-group statistics.
pub struct NormSaved {
    pub x: Tensor,
    pub stats: GroupNormStats,
}

impl GroupNorm {
    pub fn new(reg: &mut Registry, name: &str, channels: usize, groups: usize, eps: f64, silu: bool) -> GroupNorm {
        GroupNorm {
            weight: reg.add(format!("{name}.weight"), &[channels], Init::Ones),
            bias: reg.add(format!("{name}.bias"), &[channels], Init::Zeros),
            groups,
            eps: eps as f32,
            silu,
        }
    }

    pub fn forward(&self, ps: &ParamStore, x: &Tensor) -> (Tensor, NormSaved) {
        let (y, stats) = norm::group_norm(x, ps.value(self.weight), ps.value(self.bias), self.groups, self.eps, self.silu);
        (y, NormSaved { x: x.clone(), stats })
    }

    pub fn backward(&self, ps: &ParamStore, saved: &NormSaved, dy: &Tensor) -> Tensor {
        norm::group_norm_backward(
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
