//! The spatial self-attention block (diffusers `Attention` with a residual connection):
//!
//! ```text
//! h = GN(x) as tokens [B, L=H*W, C];  q, k, v = h Wq^T + bq, ...
//! out = x + (softmax(q k^T / sqrt(d)) v) Wo^T + bo        (back to [B, C, H, W])
//! ```

use super::linear::Linear;
use super::norm::{GroupNorm, NormSaved};
use super::tensor_ops::{Params, TensorOps};
use super::Registry;

pub struct AttentionBlock {
    pub group_norm: GroupNorm,
    pub to_q: Linear,
    pub to_k: Linear,
    pub to_v: Linear,
    pub to_out: Linear,
    pub heads: usize,
}

pub struct AttentionSaved<T: TensorOps> {
    norm: NormSaved<T>,
    tokens: T,
    q: T,
    k: T,
    v: T,
    o: T,
    lse: T,
    /// The attention probabilities, where the forward kept them for the backward.
    probs: Option<T>,
}

impl AttentionBlock {
    pub fn new(
        reg: &mut Registry,
        name: &str,
        channels: usize,
        heads: usize,
        groups: usize,
        eps: f64,
    ) -> AttentionBlock {
        AttentionBlock {
            group_norm: GroupNorm::new(
                reg,
                &format!("{name}.group_norm"),
                channels,
                groups,
                eps,
                false,
            ),
            to_q: Linear::new(reg, &format!("{name}.to_q"), channels, channels, false),
            to_k: Linear::new(reg, &format!("{name}.to_k"), channels, channels, false),
            to_v: Linear::new(reg, &format!("{name}.to_v"), channels, channels, false),
            to_out: Linear::new(reg, &format!("{name}.to_out.0"), channels, channels, true),
            heads,
        }
    }

    /// `training`: the record will be used by [`AttentionBlock::backward`] (the GPU tensor may
    /// then keep the attention probabilities in it).
    pub fn forward<T: TensorOps>(
        &self,
        ps: &impl Params<T>,
        x: &T,
        training: bool,
    ) -> (T, AttentionSaved<T>) {
        let (b, c, h, w) = (x.dim(0), x.dim(1), x.dim(2), x.dim(3));
        let (normed, norm) = self.group_norm.forward(ps, x);
        let tokens = normed.reshape(&[b, c, h * w]).transpose(); // [B, L, C]
        let q = self.to_q.forward(ps, &tokens);
        let k = self.to_k.forward(ps, &tokens);
        let v = self.to_v.forward(ps, &tokens);
        let (o, lse, probs) = T::attention(&q, &k, &v, self.heads, training);
        let projected = self.to_out.forward(ps, &o); // [B, L, C]
        let out = projected.transpose().reshape(&[b, c, h, w]);
        out.add_assign(x);
        (
            out,
            AttentionSaved {
                norm,
                tokens,
                q,
                k,
                v,
                o,
                lse,
                probs,
            },
        )
    }

    pub fn backward<T: TensorOps>(&self, ps: &impl Params<T>, s: AttentionSaved<T>, dy: &T) -> T {
        let (b, c, h, w) = (dy.dim(0), dy.dim(1), dy.dim(2), dy.dim(3));
        let d_projected = dy.reshape(&[b, c, h * w]).transpose();
        let d_o = self.to_out.backward(ps, &s.o, &d_projected);
        let (dq, dk, dv) = T::attention_backward(
            &s.q,
            &s.k,
            &s.v,
            &s.o,
            &s.lse,
            s.probs.as_ref(),
            &d_o,
            self.heads,
        );
        let d_tokens = self.to_q.backward(ps, &s.tokens, &dq);
        d_tokens.add_assign(&self.to_k.backward(ps, &s.tokens, &dk));
        d_tokens.add_assign(&self.to_v.backward(ps, &s.tokens, &dv));
        let d_normed = d_tokens.transpose().reshape(&[b, c, h, w]);
        let dx = self.group_norm.backward(ps, &s.norm, &d_normed);
        dx.add_assign(dy);
        dx
    }
}
