//! Timestep embedding: sinusoidal features of t (width C0), then `linear_1` -> SiLU ->
//! `linear_2` (width Temb). Every residual block consumes silu(temb), computed here once.

use super::linear::Linear;
use super::tensor_ops::{Params, TensorOps};
use super::Registry;

pub struct TimeEmbedding {
    pub linear_1: Linear,
    pub linear_2: Linear,
    pub dim: usize,
    pub flip_sin_to_cos: bool,
    pub freq_shift: f32,
}

pub struct TimeSaved<T> {
    features: T,
    hidden: T,
    hidden_act: T,
    temb: T,
}

impl TimeEmbedding {
    pub fn new(
        reg: &mut Registry,
        dim: usize,
        temb: usize,
        flip_sin_to_cos: bool,
        freq_shift: f64,
    ) -> TimeEmbedding {
        TimeEmbedding {
            linear_1: Linear::new(reg, "time_embedding.linear_1", dim, temb, false),
            linear_2: Linear::new(reg, "time_embedding.linear_2", temb, temb, false),
            dim,
            flip_sin_to_cos,
            freq_shift: freq_shift as f32,
        }
    }

    /// `t`: u32 timesteps [B]. Returns silu(temb) [B, Temb].
    pub fn forward<T: TensorOps>(&self, ps: &impl Params<T>, t: &T) -> (T, TimeSaved<T>) {
        let features = t.timestep_embedding(self.dim, self.flip_sin_to_cos, self.freq_shift);
        let hidden = self.linear_1.forward(ps, &features);
        let hidden_act = hidden.silu();
        let temb = self.linear_2.forward(ps, &hidden_act);
        let temb_act = temb.silu();
        (
            temb_act,
            TimeSaved {
                features,
                hidden,
                hidden_act,
                temb,
            },
        )
    }

    /// `d_temb_act`: the gradient of silu(temb) summed over all residual blocks.
    pub fn backward<T: TensorOps>(&self, ps: &impl Params<T>, s: TimeSaved<T>, d_temb_act: &T) {
        let d_temb = T::silu_backward(&s.temb, d_temb_act);
        let d_hidden_act = self.linear_2.backward(ps, &s.hidden_act, &d_temb);
        let d_hidden = T::silu_backward(&s.hidden, &d_hidden_act);
        // The timestep features are not differentiable inputs; their gradient is dropped.
        let _ = self.linear_1.backward(ps, &s.features, &d_hidden);
    }
}
