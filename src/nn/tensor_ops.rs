//! The operations the layers are written in, as a trait with two implementations: the GPU
//! [`Tensor`] (WGSL kernels) and the float64 CPU reference tensor
//! ([`crate::reference::cpu_tensor::CpuTensor`]). The U-Net's forward and hand-written backward
//! exist once, generic over this trait; so the float64 version of the whole network (checked
//! against finite differences) and the GPU version (checked against it) run the same graph.
//!
//! Semantics as `crate::ops`: clones share storage; `*_assign` and parameter-gradient
//! accumulation mutate in place.

use crate::ops::conv::ConvGeometry;

pub trait TensorOps: Clone + Sized {
    /// Per-group statistics a group norm saves for its backward.
    type NormStats: Clone;
    /// What a convolution keeps of its input for the weight gradient: the input (and, on the
    /// GPU tensor, the zero-padded copy a direct kernel read, see `ops::conv::ConvInput`).
    type ConvInput: Clone;

    fn shape(&self) -> Vec<usize>;
    fn dim(&self, i: usize) -> usize {
        self.shape()[i]
    }
    /// The same storage seen with another shape.
    fn reshape(&self, shape: &[usize]) -> Self;
    /// A new zero tensor on the same device.
    fn zeros_like_shape(&self, shape: &[usize]) -> Self;

    /// The convolution, and what its weight gradient needs of the input.
    fn conv2d(&self, w: &Self, bias: Option<&Self>, g: ConvGeometry) -> (Self, Self::ConvInput);
    /// (H, W) of the input a [`TensorOps::ConvInput`] was kept from.
    fn conv_input_hw(input: &Self::ConvInput) -> (usize, usize);
    fn conv2d_backward_input(
        dy: &Self,
        w: &Self,
        g: ConvGeometry,
        input_hw: (usize, usize),
    ) -> Self;
    fn conv2d_backward_weight(dy: &Self, x: &Self::ConvInput, dw: &Self, g: ConvGeometry);
    fn conv2d_backward_bias(dy: &Self, db: &Self);

    fn linear(&self, w: &Self, bias: Option<&Self>) -> Self;
    fn linear_backward(dy: &Self, x: &Self, w: &Self, dw: &Self, db: Option<&Self>) -> Self;

    fn group_norm(
        &self,
        gamma: &Self,
        beta: &Self,
        groups: usize,
        eps: f32,
        silu: bool,
    ) -> (Self, Self::NormStats);
    /// `group_norm` followed by `conv2d` on its output: the conv output, the norm's statistics
    /// and what the conv keeps of its input. The GPU tensor writes the norm's output straight
    /// into the zero-padded layout the direct convolution reads (no pad pass, and the unpadded
    /// output is never stored); the maths is that of the two calls.
    #[allow(clippy::too_many_arguments)]
    fn group_norm_conv2d(
        &self,
        gamma: &Self,
        beta: &Self,
        groups: usize,
        eps: f32,
        silu: bool,
        w: &Self,
        bias: Option<&Self>,
        g: ConvGeometry,
    ) -> (Self, Self::NormStats, Self::ConvInput) {
        let (a, stats) = self.group_norm(gamma, beta, groups, eps, silu);
        let (y, input) = a.conv2d(w, bias, g);
        (y, stats, input)
    }
    #[allow(clippy::too_many_arguments)]
    fn group_norm_backward(
        dy: &Self,
        x: &Self,
        gamma: &Self,
        beta: &Self,
        stats: &Self::NormStats,
        groups: usize,
        silu: bool,
        dgamma: &Self,
        dbeta: &Self,
    ) -> Self;

    /// Attention: `(o, lse, probs)`. With `training`, an implementation may also return the
    /// probabilities for [`TensorOps::attention_backward`] to reuse (the GPU tensor does where
    /// its backward pass stores them anyway: `ops::attention::attention_for_training`).
    fn attention(
        q: &Self,
        k: &Self,
        v: &Self,
        heads: usize,
        training: bool,
    ) -> (Self, Self, Option<Self>);
    /// Gradients `(dq, dk, dv)`; `probs`: what [`TensorOps::attention`] returned.
    #[allow(clippy::too_many_arguments)]
    fn attention_backward(
        q: &Self,
        k: &Self,
        v: &Self,
        o: &Self,
        lse: &Self,
        probs: Option<&Self>,
        dout: &Self,
        heads: usize,
    ) -> (Self, Self, Self);

    fn silu(&self) -> Self;
    fn silu_backward(x: &Self, dy: &Self) -> Self;
    fn add_assign(&self, other: &Self);
    /// x[n, c, ...] += v[n, c] (v: [N, C]), in place.
    fn add_channel_assign(&self, v: &Self);
    /// [N, C, S] -> [N, C]: sum over S.
    fn sum_spatial(&self) -> Self;
    fn concat_channels(a: &Self, b: &Self) -> Self;
    fn split_channels(&self, ca: usize) -> (Self, Self);
    fn upsample_nearest2x(&self) -> Self;
    fn upsample_nearest2x_backward(dy: &Self) -> Self;
    /// [B, R, C] -> [B, C, R].
    fn transpose(&self) -> Self;
    /// `self` holds timesteps [B] (u32 on the GPU).
    fn timestep_embedding(&self, dim: usize, flip_sin_to_cos: bool, freq_shift: f32) -> Self;
    /// `first`: the index of this tensor's element 0 in the whole batch's tensor (a
    /// data-parallel rank holds a slice of the batch and takes that slice's mask).
    fn dropout(&self, p: f32, seed: u64, stream: u64, first: usize) -> Self;
    fn dropout_backward(dy: &Self, p: f32, seed: u64, stream: u64, first: usize) -> Self;
}

/// Where layers find their parameters (and gradient accumulators).
pub trait Params<T> {
    fn value(&self, id: super::ParamId) -> &T;
    fn grad(&self, id: super::ParamId) -> &T;
}

mod gpu {
    use super::{Params, TensorOps};
    use crate::nn::params::ParamStore;
    use crate::ops::conv::{self, ConvGeometry};
    use crate::ops::norm::{self, GroupNormStats};
    use crate::ops::{attention, elementwise, layout, matmul, reduce, rng};
    use crate::Tensor;

    impl Params<Tensor> for ParamStore {
        fn value(&self, id: crate::nn::ParamId) -> &Tensor {
            ParamStore::value(self, id)
        }
        fn grad(&self, id: crate::nn::ParamId) -> &Tensor {
            ParamStore::grad(self, id)
        }
    }

    impl TensorOps for Tensor {
        type NormStats = GroupNormStats;
        type ConvInput = conv::ConvInput;

        fn shape(&self) -> Vec<usize> {
            Tensor::shape(self).to_vec()
        }
        fn reshape(&self, shape: &[usize]) -> Self {
            Tensor::reshape(self, shape)
        }
        fn zeros_like_shape(&self, shape: &[usize]) -> Self {
            Tensor::zeros(self.gpu(), shape)
        }
        fn conv2d(
            &self,
            w: &Self,
            bias: Option<&Self>,
            g: ConvGeometry,
        ) -> (Self, conv::ConvInput) {
            conv::conv2d_keeping_input(self, w, bias, g)
        }
        fn conv_input_hw(input: &conv::ConvInput) -> (usize, usize) {
            let [_, _, h, w] = input.shape();
            (h, w)
        }
        fn conv2d_backward_input(
            dy: &Self,
            w: &Self,
            g: ConvGeometry,
            input_hw: (usize, usize),
        ) -> Self {
            conv::conv2d_backward_input(dy, w, g, input_hw)
        }
        fn conv2d_backward_weight(dy: &Self, x: &conv::ConvInput, dw: &Self, g: ConvGeometry) {
            conv::conv2d_backward_weight_kept(dy, x, dw, g)
        }
        fn conv2d_backward_bias(dy: &Self, db: &Self) {
            conv::conv2d_backward_bias(dy, db)
        }
        fn linear(&self, w: &Self, bias: Option<&Self>) -> Self {
            matmul::linear(self, w, bias)
        }
        fn linear_backward(dy: &Self, x: &Self, w: &Self, dw: &Self, db: Option<&Self>) -> Self {
            matmul::linear_backward(dy, x, w, dw, db)
        }
        fn group_norm(
            &self,
            gamma: &Self,
            beta: &Self,
            groups: usize,
            eps: f32,
            silu: bool,
        ) -> (Self, GroupNormStats) {
            norm::group_norm(self, gamma, beta, groups, eps, silu)
        }
        fn group_norm_conv2d(
            &self,
            gamma: &Self,
            beta: &Self,
            groups: usize,
            eps: f32,
            silu: bool,
            w: &Self,
            bias: Option<&Self>,
            g: ConvGeometry,
        ) -> (Self, GroupNormStats, conv::ConvInput) {
            match conv::padded_input_layout(self.gpu(), self.shape(), w, g) {
                Some(layout) => {
                    let (xp, stats) =
                        norm::group_norm_padded(self, gamma, beta, groups, eps, silu, layout);
                    let (y, input) = conv::conv2d_padded(&xp, layout, self.shape(), w, bias, g);
                    (y, stats, input)
                }
                None => {
                    let (a, stats) = norm::group_norm(self, gamma, beta, groups, eps, silu);
                    let (y, input) = conv::conv2d_keeping_input(&a, w, bias, g);
                    (y, stats, input)
                }
            }
        }
        fn group_norm_backward(
            dy: &Self,
            x: &Self,
            gamma: &Self,
            beta: &Self,
            stats: &GroupNormStats,
            groups: usize,
            silu: bool,
            dgamma: &Self,
            dbeta: &Self,
        ) -> Self {
            norm::group_norm_backward(dy, x, gamma, beta, stats, groups, silu, dgamma, dbeta)
        }
        fn attention(
            q: &Self,
            k: &Self,
            v: &Self,
            heads: usize,
            training: bool,
        ) -> (Self, Self, Option<Self>) {
            if training {
                return attention::attention_for_training(q, k, v, heads);
            }
            let (o, lse) = attention::attention(q, k, v, heads);
            (o, lse, None)
        }
        fn attention_backward(
            q: &Self,
            k: &Self,
            v: &Self,
            o: &Self,
            lse: &Self,
            probs: Option<&Self>,
            dout: &Self,
            heads: usize,
        ) -> (Self, Self, Self) {
            attention::attention_backward_kept(q, k, v, o, lse, probs, dout, heads)
        }
        fn silu(&self) -> Self {
            elementwise::silu(self)
        }
        fn silu_backward(x: &Self, dy: &Self) -> Self {
            elementwise::silu_backward(x, dy)
        }
        fn add_assign(&self, other: &Self) {
            elementwise::add_assign(self, other)
        }
        fn add_channel_assign(&self, v: &Self) {
            elementwise::add_channel_assign(self, v)
        }
        fn sum_spatial(&self) -> Self {
            reduce::sum_spatial(self)
        }
        fn concat_channels(a: &Self, b: &Self) -> Self {
            elementwise::concat_channels(a, b)
        }
        fn split_channels(&self, ca: usize) -> (Self, Self) {
            elementwise::split_channels(self, ca)
        }
        fn upsample_nearest2x(&self) -> Self {
            elementwise::upsample_nearest2x(self)
        }
        fn upsample_nearest2x_backward(dy: &Self) -> Self {
            elementwise::upsample_nearest2x_backward(dy)
        }
        fn transpose(&self) -> Self {
            layout::transpose(self)
        }
        fn timestep_embedding(&self, dim: usize, flip_sin_to_cos: bool, freq_shift: f32) -> Self {
            elementwise::timestep_embedding(self, dim, flip_sin_to_cos, freq_shift)
        }
        fn dropout(&self, p: f32, seed: u64, stream: u64, first: usize) -> Self {
            rng::dropout_at(self, p, seed, stream, first)
        }
        fn dropout_backward(dy: &Self, p: f32, seed: u64, stream: u64, first: usize) -> Self {
            // The backward of a mask-and-scale is the same mask-and-scale.
            rng::dropout_at(dy, p, seed, stream, first)
        }
    }
}
