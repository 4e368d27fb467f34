//! Optimiser kernels (`shaders/optim.wgsl`). All parameters of a model live in ONE flat buffer,
//! and so do the gradients, Adam's m and v, and the EMA (same size each): an Adam step and an EMA
//! update are one dispatch each over millions of elements (split only when a tensor exceeds the
//! adapter's largest storage binding).

use crate::gpu::{grid_1d, Shader};
use crate::maths::optim::Adam;
use crate::{Gpu, Tensor};

const SHADER: Shader = crate::shader!("optim");

/// Launch geometry (as for the elementwise kernels). With `vec4`, buffers whose size is not a
/// multiple of 4 take the vec4 kernel on their first multiple of 64 elements and the scalar
/// kernel on the (< 64-element) rest: a second, tiny dispatch. Allocating the flat buffers with
/// a multiple of 4 elements avoids it.
pub use super::FlatVariant as Variant;

/// The variant for this adapter. On lavapipe (2 loaded cores, 4M parameters, best of 7) the
/// vec4 Adam kernel took 42-63 ms against 146-294 ms for the scalar one across workgroup shapes
/// (one vec4 access costs about what a scalar one does there), and other vec4 shapes (64x1,
/// 64x4, 64x16, 16x16) were no better than 256x1. On GPUs, 16-byte accesses by neighbouring
/// invocations are the usual choice for bandwidth-bound elementwise kernels; not yet measured
/// here (no GPU was available), so the same variant is used.
pub fn variant(_gpu: &Gpu) -> Variant {
    Variant::GPU
}

/// Adam(W) hyper-parameters.
#[derive(Clone, Copy, Debug)]
pub struct AdamConfig {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    /// Decoupled weight decay (AdamW); 0 = Adam.
    pub weight_decay: f32,
    /// Clip the gradient to this global L2 norm; 0 = no clipping.
    pub max_grad_norm: f32,
}

impl Default for AdamConfig {
    /// The DDPM paper's CIFAR-10 setting (lr 2e-4 before warm-up scaling, clipping at 1.0).
    fn default() -> Self {
        AdamConfig {
            lr: 2e-4,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            max_grad_norm: 1.0,
        }
    }
}

impl AdamConfig {
    /// The same values as f64, for the reference.
    pub fn to_reference(&self) -> Adam {
        Adam {
            lr: self.lr as f64,
            beta1: self.beta1 as f64,
            beta2: self.beta2 as f64,
            eps: self.eps as f64,
            weight_decay: self.weight_decay as f64,
            max_grad_norm: self.max_grad_norm as f64,
        }
    }
}

#[repr(C)]
#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    clip_on: u32,
    max_norm: f32,
    beta1: f32,
    one_m_beta1: f32,
    beta2: f32,
    one_m_beta2: f32,
    step_size: f32,
    inv_sqrt_bc2: f32,
    eps: f32,
    lr_wd: f32,
    one_m_decay: f32,
}

/// Largest number of elements one binding may hold on this adapter, rounded down to a multiple
/// of 1024 elements (4 KiB, a multiple of every storage-offset alignment).
fn max_chunk(gpu: &Gpu) -> usize {
    let bytes = gpu.limits().max_storage_buffer_binding_size as usize;
    ((bytes / 4) / 1024 * 1024).max(1024)
}

/// Calls `f(offset, len, vec4)` over consecutive parts of `n` elements: chunks of at most
/// `chunk` elements (so each fits one binding), each split (when `vec4` and its length is not a
/// multiple of 4) into a vec4 part of a multiple of 64 elements and a scalar rest. Every offset
/// is a multiple of 64 elements (256 bytes), as views require.
fn for_parts(n: usize, chunk: usize, vec4: bool, mut f: impl FnMut(usize, usize, bool)) {
    assert!(
        chunk > 0 && chunk.is_multiple_of(1024),
        "chunks must be multiples of 1024 elements"
    );
    let chunk = chunk.min(u32::MAX as usize / 2 / 1024 * 1024);
    let mut off = 0;
    while off < n {
        let len = chunk.min(n - off);
        let main = if !vec4 {
            0
        } else if len.is_multiple_of(4) {
            len
        } else {
            len / 64 * 64
        };
        if main > 0 {
            f(off, main, true);
        }
        if main < len {
            f(off + main, len - main, false);
        }
        off += len;
    }
}

/// A flat view of `len` elements of `t` from `off` (the tensor itself when it is the whole).
fn part(t: &Tensor, off: usize, len: usize) -> Tensor {
    if off == 0 && len == t.numel() {
        t.reshape(&[len])
    } else {
        t.view(off, &[len])
    }
}

/// One Adam(W) step number `step` (1-based; the bias corrections 1-beta^step are computed here
/// in f64). `params`, `grads`, `m`, `v`: flat buffers of equal size (any shapes of equal numel),
/// four different buffers; `params`, `m`, `v` are updated in place. `grad_sumsq`: a `[1]` tensor
/// holding sum(g^2) over ALL gradients (produced on the GPU earlier in the same submit); the
/// kernel computes the clip factor `min(1, max_grad_norm / (sqrt(grad_sumsq) + 1e-6))` itself,
/// so clipping needs no readback. Update (g the clipped gradient):
/// `m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p -= lr wd p + lr (m/(1-b1^t)) / (sqrt(v/(1-b2^t)) + eps)`.
pub fn adam_step(
    params: &Tensor,
    grads: &Tensor,
    m: &Tensor,
    v: &Tensor,
    grad_sumsq: &Tensor,
    cfg: &AdamConfig,
    step: u64,
) {
    adam_step_with(
        variant(params.gpu()),
        params,
        grads,
        m,
        v,
        grad_sumsq,
        cfg,
        step,
    )
}

#[allow(clippy::too_many_arguments)]
pub fn adam_step_with(
    var: Variant,
    params: &Tensor,
    grads: &Tensor,
    m: &Tensor,
    v: &Tensor,
    grad_sumsq: &Tensor,
    cfg: &AdamConfig,
    step: u64,
) {
    let chunk = max_chunk(params.gpu());
    adam_step_chunked(var, chunk, params, grads, m, v, grad_sumsq, cfg, step)
}

/// [`adam_step_with`] with one dispatch per `chunk` elements (a multiple of 1024): what happens
/// automatically when the buffers exceed the adapter's binding size; checks force it.
#[doc(hidden)]
#[allow(clippy::too_many_arguments)]
pub fn adam_step_chunked(
    var: Variant,
    chunk: usize,
    params: &Tensor,
    grads: &Tensor,
    m: &Tensor,
    v: &Tensor,
    grad_sumsq: &Tensor,
    cfg: &AdamConfig,
    step: u64,
) {
    let n = params.numel();
    for (name, t) in [("grads", grads), ("m", m), ("v", v)] {
        assert_eq!(
            t.numel(),
            n,
            "adam_step: {name} has {} elements, params {n}",
            t.numel()
        );
    }
    let all = [params, grads, m, v, grad_sumsq];
    for i in 0..all.len() {
        for j in i + 1..all.len() {
            assert!(
                !all[i].same_buffer(all[j]),
                "adam_step: params, grads, m, v and grad_sumsq must be five different buffers"
            );
        }
    }
    assert_eq!(
        grad_sumsq.numel(),
        1,
        "adam_step: grad_sumsq must be a [1] tensor, got {:?}",
        grad_sumsq.shape()
    );
    assert!(step >= 1, "adam_step: steps are 1-based (bias correction)");
    let bc1 = 1.0 - (cfg.beta1 as f64).powf(step as f64);
    let bc2 = 1.0 - (cfg.beta2 as f64).powf(step as f64);
    let mut p = Params {
        clip_on: (cfg.max_grad_norm > 0.0) as u32,
        max_norm: cfg.max_grad_norm,
        beta1: cfg.beta1,
        one_m_beta1: (1.0 - cfg.beta1 as f64) as f32,
        beta2: cfg.beta2,
        one_m_beta2: (1.0 - cfg.beta2 as f64) as f32,
        step_size: (cfg.lr as f64 / bc1) as f32,
        inv_sqrt_bc2: (1.0 / bc2.sqrt()) as f32,
        eps: cfg.eps,
        lr_wd: (cfg.lr as f64 * cfg.weight_decay as f64) as f32,
        ..Default::default()
    };
    let gpu = params.gpu();
    let per_group = (var.workgroup * var.per_invocation) as usize;
    for_parts(n, chunk, var.vec4, |off, len, vec4| {
        p.n = len as u32;
        let ts = [
            part(params, off, len),
            part(grads, off, len),
            part(m, off, len),
            part(v, off, len),
        ];
        let tensors = [&ts[0], &ts[1], &ts[2], &ts[3], grad_sumsq];
        let (entry, items) = if vec4 {
            ("adam4", len / 4)
        } else {
            ("adam", len)
        };
        gpu.launch(
            &SHADER,
            entry,
            &var.constants(),
            &p,
            &tensors,
            grid_1d(items, per_group),
        );
    });
}

/// `ema = decay * ema + (1 - decay) * params`, in place; equal numel, different buffers.
pub fn ema_update(ema: &Tensor, params: &Tensor, decay: f32) {
    ema_update_with(variant(ema.gpu()), ema, params, decay)
}

pub fn ema_update_with(var: Variant, ema: &Tensor, params: &Tensor, decay: f32) {
    ema_update_chunked(var, max_chunk(ema.gpu()), ema, params, decay)
}

/// [`ema_update_with`] with one dispatch per `chunk` elements (a multiple of 1024).
#[doc(hidden)]
pub fn ema_update_chunked(var: Variant, chunk: usize, ema: &Tensor, params: &Tensor, decay: f32) {
    let n = ema.numel();
    assert_eq!(
        params.numel(),
        n,
        "ema_update: ema has {n} elements, params {}",
        params.numel()
    );
    assert!(
        !ema.same_buffer(params),
        "ema_update: ema and params must be different buffers"
    );
    assert!(
        (0.0..=1.0).contains(&decay),
        "ema_update: decay {decay} outside [0, 1]"
    );
    let mut p = Params {
        one_m_decay: (1.0 - decay as f64) as f32,
        ..Default::default()
    };
    let gpu = ema.gpu();
    let per_group = (var.workgroup * var.per_invocation) as usize;
    for_parts(n, chunk, var.vec4, |off, len, vec4| {
        p.n = len as u32;
        let (e, q) = (part(ema, off, len), part(params, off, len));
        let (entry, items) = if vec4 {
            ("ema4", len / 4)
        } else {
            ("ema", len)
        };
        gpu.launch(
            &SHADER,
            entry,
            &var.constants(),
            &p,
            &[&e, &q],
            grid_1d(items, per_group),
        );
    });
}
