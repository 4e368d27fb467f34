//! Scaled dot-product attention over tokens (`shaders/attention/`), forward and backward.
//!
//! `q`, `k`, `v`: `[B, L, C]` token-major (`L = H * W` tokens). The channels split contiguously
//! into `heads` heads of `d = C / heads` channels (head `h` uses channels `h*d .. h*d + d`). Per
//! batch and head: `o = softmax(q k^T / sqrt(d)) v`, no mask. The softmax is computed online over
//! blocks of keys (flash-attention style), so neither `L` nor `d` is limited by workgroup memory
//! and no `L x L` matrix is ever stored, forward or backward.
//!
//! Kernel variants ([`variant`] picks one per adapter and shape; the `*_with` functions force one):
//! - [`Variant::Rows`]: barrier-free, one invocation per 4 rows, scalar loads; any `d`.
//!   The CPU fallback (adapters without subgroups, or `d % 4 != 0`).
//! - [`Variant::RowsSubgroup`]: like `Rows` with vec4 loads, and each row of the other side is
//!   loaded once per subgroup of 8 and shared with `subgroupShuffle`. The CPU fast path: on
//!   lavapipe every storage-buffer load is a loop over the 8 SIMD lanes (~100 cycles per vec4),
//!   while a shuffle is a register operation, so sharing loads is what matters. Needs the
//!   device's `SUBGROUP` feature, subgroups of exactly 8, and `C % 4 == 0`, `d % 4 == 0`.
//! - [`Variant::Tiled`]: workgroup-memory tiles of 32 rows x 32 channels, 128 invocations per
//!   workgroup (real GPUs).
//! - [`Variant::Dense`]: the `L x L` scores and probabilities stored, the products done by the
//!   batched matmul (`ops::matmul`), the softmax steps between them by row kernels
//!   (`shaders/attention/dense.wgsl`). One head, `L % 4 == 0`, and `B L^2` floats must fit one
//!   storage binding. Five products backward instead of the flash kernels' seven, with
//!   `mm_cpu_sg`'s fewer loads per multiply-add: the CPU backward pass for long rows (see
//!   [`backward_variant`]), and the training forward before it, which keeps the probabilities
//!   for it ([`attention_for_training`]).
//!
//! Backward: `D_i = dout_i . o_i` (one small kernel), then one pass parallel over query rows for
//! `dq` and one parallel over key rows for `dk`, `dv`, each recomputing the probabilities from `q`,
//! `k` and the saved `lse`. No atomics.

use crate::gpu::{profile, tuning, DeviceClass, Gpu, Shader};
use crate::ops::matmul;
use crate::Tensor;

const PREP: Shader = crate::shader!("attention/prep");
const ROWS: Shader = crate::shader!("attention/rows");
const TILED: Shader = crate::shader!("attention/tiled");
const DENSE: Shader = crate::shader!("attention/dense");
/// The `*_sg` kernels use subgroup operations: a module of their own, compiled only on devices
/// with the SUBGROUP feature.
const SUBGROUP: Shader = crate::shader!("attention/subgroup");

/// Every module of the family with its entry points, for the shader checks.
pub const MODULES: [(Shader, &[&str]); 5] = [
    (PREP, &["attn_bwd_prep"]),
    (
        DENSE,
        &[
            "attn_dense_softmax",
            "attn_dense_probs",
            "attn_dense_dscores",
        ],
    ),
    (
        ROWS,
        &["attn_fwd_rows", "attn_bwd_dq_rows", "attn_bwd_dkdv_rows"],
    ),
    (
        TILED,
        &["attn_fwd_tiled", "attn_bwd_dq_tiled", "attn_bwd_dkdv_tiled"],
    ),
    (
        SUBGROUP,
        &["attn_fwd_sg", "attn_bwd_dq_sg", "attn_bwd_dkdv_sg"],
    ),
];

/// Kernel variant; see the module documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// Barrier-free, scalar loads, any head width (CPU fallback).
    Rows,
    /// Barrier-free, vec4 loads shared through subgroup shuffles (CPU fast path).
    RowsSubgroup,
    /// Workgroup-memory tiles (real GPUs).
    Tiled,
    /// Stored `L x L` matrices, batched matmuls and row kernels (CPU backward, long rows).
    Dense,
}

impl Variant {
    pub const ALL: [Variant; 4] = [
        Variant::Rows,
        Variant::RowsSubgroup,
        Variant::Tiled,
        Variant::Dense,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Variant::Rows => "rows",
            Variant::RowsSubgroup => "rows_subgroup",
            Variant::Tiled => "tiled",
            Variant::Dense => "dense",
        }
    }
}

/// True if the device runs the subgroup kernels: `SUBGROUP` enabled and subgroups of exactly 8.
pub fn has_subgroups_of_8(gpu: &Gpu) -> bool {
    gpu.caps().subgroups_of_8()
}

/// True if the `RowsSubgroup` kernels run here for `C` channels in `heads` heads (they take
/// no other shape limit).
fn rows_subgroup_supported(gpu: &Gpu, c: usize, heads: usize) -> bool {
    has_subgroups_of_8(gpu) && c.is_multiple_of(4) && (c / heads).is_multiple_of(4)
}

/// True if `variant` can run on this device for `q` of shape `[B, L, C]` in `heads` heads.
pub fn supported(variant: Variant, gpu: &Gpu, shape: &[usize], heads: usize) -> bool {
    let (b, l, c) = (shape[0], shape[1], shape[2]);
    match variant {
        Variant::Rows | Variant::Tiled => true,
        Variant::RowsSubgroup => rows_subgroup_supported(gpu, c, heads),
        Variant::Dense => {
            let matrix_bytes = (b * l * l * 4) as u64;
            heads == 1 && l.is_multiple_of(4) && matrix_bytes <= gpu.caps().max_storage_binding
        }
    }
}

/// The forward variant used on this adapter for `C` channels in `heads` heads: on CPU adapters
/// `RowsSubgroup` where supported, else `Rows`; on GPUs `Tiled`.
///
/// Measured on lavapipe (2 cores, [8, 256 tokens, 128 ch], forward, process CPU time / 2 on a
/// loaded machine): `Rows` ~45 ms, `RowsSubgroup` ~6 ms, `Tiled` ~330 ms (on a CPU every
/// workgroup barrier is a coroutine switch). `Dense` forward is no faster than `RowsSubgroup`
/// (lavapipe, [64, 196, 48]: 31-38 ms against 28-42 ms), and stores `B L^2` floats.
pub fn variant(gpu: &Gpu, c: usize, heads: usize) -> Variant {
    match gpu.class() {
        DeviceClass::Cpu if rows_subgroup_supported(gpu, c, heads) => Variant::RowsSubgroup,
        DeviceClass::Cpu => Variant::Rows,
        DeviceClass::Gpu => Variant::Tiled,
    }
}

/// Rows of at least this many tokens take the `Dense` backward pass on CPU adapters.
/// Measured on lavapipe (`[64, L, 48]`, one head): at L = 196 the dense backward took 68-72 ms
/// in products against 117-161 ms for `RowsSubgroup`; at L = 49, 26-33 ms against 10-11 ms
/// (the matmul's 32 x 64 tiles are mostly padding there).
pub const DENSE_MIN_TOKENS: usize = 128;

/// The backward variant used on this adapter for `q` of shape `[B, L, C]`: on CPU adapters
/// with the subgroup matmul, `Dense` for rows of at least [`DENSE_MIN_TOKENS`] tokens where
/// supported; otherwise the forward's rule ([`variant`]).
pub fn backward_variant(gpu: &Gpu, shape: &[usize], heads: usize) -> Variant {
    let dense = gpu.class() == DeviceClass::Cpu
        && crate::ops::matmul::subgroup_kernel_available(gpu)
        && shape[1] >= DENSE_MIN_TOKENS
        && supported(Variant::Dense, gpu, shape, heads);
    if dense {
        Variant::Dense
    } else {
        variant(gpu, shape[2], heads)
    }
}

/// Invocations per workgroup of the `*_rows` / `*_sg` kernels (each owns 4 rows): a multiple of
/// the subgroup size 8, and small, so that even batch 1 spreads over several CPU threads.
const ROWS_WG: usize = 16;
/// Rows per workgroup and output channels per workgroup (grid z) of the `*_tiled` kernels.
const TILE_ROWS: usize = 32;
const TILE_SLICE: usize = 256;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    l: u32,
    c: u32,
    d: u32,
    heads: u32,
    scale: f32,
    groups: u32,
    pad0: u32,
    pad1: u32,
}

/// Shapes of one attention call.
#[derive(Clone, Copy, Debug)]
struct Dims {
    b: usize,
    l: usize,
    c: usize,
    heads: usize,
    d: usize,
}

/// Validates shapes.
fn dims(q: &Tensor, k: &Tensor, v: &Tensor, heads: usize) -> Dims {
    assert_eq!(
        q.shape().len(),
        3,
        "attention: q must be [B, L, C], got {:?}",
        q.shape()
    );
    assert_eq!(
        k.shape(),
        q.shape(),
        "attention: k {:?} differs from q {:?}",
        k.shape(),
        q.shape()
    );
    assert_eq!(
        v.shape(),
        q.shape(),
        "attention: v {:?} differs from q {:?}",
        v.shape(),
        q.shape()
    );
    let (b, l, c) = (q.dim(0), q.dim(1), q.dim(2));
    assert!(
        heads > 0 && c.is_multiple_of(heads),
        "attention: {c} channels do not split into {heads} heads"
    );
    assert!(
        b * heads <= 65_535,
        "attention: batch x heads = {} exceeds 65535",
        b * heads
    );
    assert!(
        l < (1 << 24) && b * l * c < (1 << 32),
        "attention: tensor too large for u32 indexing"
    );
    Dims {
        b,
        l,
        c,
        heads,
        d: c / heads,
    }
}

impl Dims {
    /// FLOPs of `products` L x L x d matrix products over every (batch, head): 2 B L^2 C each.
    fn flops(&self, products: usize) -> f64 {
        2.0 * (products * self.b * self.l * self.l * self.c) as f64
    }

    fn params(&self) -> Params {
        Params {
            l: self.l as u32,
            c: self.c as u32,
            d: self.d as u32,
            heads: self.heads as u32,
            scale: 1.0 / (self.d as f32).sqrt(),
            groups: self.l.div_ceil(4) as u32,
            pad0: 0,
            pad1: 0,
        }
    }

    /// Launches `entry` of the given family with `tensors` bound to 1.. in order.
    fn launch(&self, gpu: &Gpu, variant: Variant, entry: &str, tensors: &[&Tensor]) {
        let p = self.params();
        let bh = (self.b * self.heads) as u32;
        match variant {
            Variant::Rows | Variant::RowsSubgroup => {
                let sg = variant == Variant::RowsSubgroup;
                let suffix = if sg { "sg" } else { "rows" };
                let gx = self.l.div_ceil(4).div_ceil(ROWS_WG) as u32;
                gpu.launch(
                    if sg { &SUBGROUP } else { &ROWS },
                    &format!("{entry}_{suffix}"),
                    &[("WG", ROWS_WG as f64)],
                    &p,
                    tensors,
                    [gx, bh, 1],
                );
            }
            Variant::Dense => {
                let grid = [self.l.div_ceil(64) as u32, bh, 1];
                gpu.launch(&DENSE, entry, &[], &p, tensors, grid);
            }
            Variant::Tiled => {
                let gx = self.l.div_ceil(TILE_ROWS) as u32;
                let gz = self.d.div_ceil(TILE_SLICE) as u32;
                let chunks = self.d.div_ceil(32).min(TILE_SLICE / 32);
                gpu.launch(
                    &TILED,
                    &format!("{entry}_tiled"),
                    &[("DCH", chunks as f64)],
                    &p,
                    tensors,
                    [gx, bh, gz],
                );
            }
        }
    }
}

fn check_variant(variant: Variant, gpu: &Gpu, dm: &Dims) {
    assert!(
        supported(variant, gpu, &[dm.b, dm.l, dm.c], dm.heads),
        "attention: variant {:?} is not supported here (B = {}, L = {}, C = {}, heads = {}, subgroups of 8: {})",
        variant,
        dm.b,
        dm.l,
        dm.c,
        dm.heads,
        has_subgroups_of_8(gpu)
    );
}

/// Forward attention. Returns `o [B, L, C]` and the row log-sum-exp of the scaled scores,
/// `lse [B, heads, L]` (saved for the backward pass).
pub fn attention(q: &Tensor, k: &Tensor, v: &Tensor, heads: usize) -> (Tensor, Tensor) {
    let gpu = q.gpu();
    let rule = variant(gpu, q.dim(-1), heads);
    let pick = tuned(gpu, "fwd", q, heads, rule, |variant| {
        attention_with(variant, q, k, v, heads);
    });
    attention_with(pick, q, k, v, heads)
}

/// [`attention`] for a training step. Where the backward pass takes the `Dense` variant by rule
/// ([`backward_variant`]: CPU adapters, rows of at least [`DENSE_MIN_TOKENS`] tokens), the
/// forward runs `Dense` as well and also returns its probabilities `p [B, L, L]`, which
/// [`attention_backward_kept`] reuses instead of recomputing them (one of the dense backward's
/// five products and its `attn_dense_probs` pass). Elsewhere: [`attention`], and `None`.
/// Costs `B L^2` floats kept from the forward to the backward pass.
pub fn attention_for_training(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    heads: usize,
) -> (Tensor, Tensor, Option<Tensor>) {
    if backward_variant(q.gpu(), q.shape(), heads) != Variant::Dense {
        let (o, lse) = attention(q, k, v, heads);
        return (o, lse, None);
    }
    let dm = dims(q, k, v, heads);
    let (o, lse, p) = dense_forward(&dm, q, k, v);
    (o, lse, Some(p))
}

/// The candidates measured on this adapter's class: the barrier-free row kernels on CPU
/// adapters (the subgroup one where it runs), the tiled and row kernels on GPUs, and the dense
/// variant on both where the shape allows it.
fn candidates(gpu: &Gpu, shape: &[usize], heads: usize) -> Vec<(Variant, &'static str)> {
    let vs: &[Variant] = match gpu.class() {
        DeviceClass::Cpu => &[Variant::RowsSubgroup, Variant::Rows, Variant::Dense],
        DeviceClass::Gpu => &[
            Variant::Tiled,
            Variant::Rows,
            Variant::RowsSubgroup,
            Variant::Dense,
        ],
    };
    vs.iter()
        .filter(|&&v| supported(v, gpu, shape, heads))
        .map(|&v| (v, v.name()))
        .collect()
}

/// The measured variant for this pass and shape (`crate::gpu::tuning`), else `rule`.
/// `run` launches one candidate (its outputs are new tensors, dropped: the caller's are untouched).
fn tuned(
    gpu: &Gpu,
    pass: &str,
    q: &Tensor,
    heads: usize,
    rule: Variant,
    run: impl FnMut(Variant),
) -> Variant {
    let key = format!("attention {pass} {:?} heads{heads}", q.shape());
    tuning::pick(gpu, &key, &candidates(gpu, q.shape(), heads), run).unwrap_or(rule)
}

/// [`attention`] with a forced kernel variant (panics if the device or shape cannot run it).
pub fn attention_with(
    variant: Variant,
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    heads: usize,
) -> (Tensor, Tensor) {
    let dm = dims(q, k, v, heads);
    let gpu = q.gpu();
    check_variant(variant, gpu, &dm);
    if variant == Variant::Dense {
        let (o, lse, _) = dense_forward(&dm, q, k, v);
        return (o, lse);
    }
    let o = Tensor::uninit(gpu, &[dm.b, dm.l, dm.c]);
    let lse = Tensor::uninit(gpu, &[dm.b, heads, dm.l]);
    profile::flops(dm.flops(2));
    dm.launch(gpu, variant, "attn_fwd", &[q, k, v, &o, &lse]);
    (o, lse)
}

/// Gradients `(dq, dk, dv)` of `q`, `k`, `v` given `dout = dL/do`, using the `o` and `lse`
/// saved by [`attention`] (the softmax is recomputed from them: blockwise by the flash
/// variants, as a whole `L x L` matrix by `Dense`).
pub fn attention_backward(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    o: &Tensor,
    lse: &Tensor,
    dout: &Tensor,
    heads: usize,
) -> (Tensor, Tensor, Tensor) {
    let rule = backward_variant(q.gpu(), q.shape(), heads);
    let pick = tuned(q.gpu(), "bwd", q, heads, rule, |variant| {
        attention_backward_with(variant, q, k, v, o, lse, dout, heads);
    });
    attention_backward_with(pick, q, k, v, o, lse, dout, heads)
}

/// [`attention_backward`] given what [`attention_for_training`] returned: with the kept
/// probabilities the `Dense` backward reuses them, without them this is [`attention_backward`].
#[allow(clippy::too_many_arguments)]
pub fn attention_backward_kept(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    o: &Tensor,
    lse: &Tensor,
    probs: Option<&Tensor>,
    dout: &Tensor,
    heads: usize,
) -> (Tensor, Tensor, Tensor) {
    match probs {
        Some(p) => backward(Variant::Dense, q, k, v, o, lse, Some(p), dout, heads),
        None => attention_backward(q, k, v, o, lse, dout, heads),
    }
}

/// [`attention_backward`] with a forced kernel variant.
#[allow(clippy::too_many_arguments)]
pub fn attention_backward_with(
    variant: Variant,
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    o: &Tensor,
    lse: &Tensor,
    dout: &Tensor,
    heads: usize,
) -> (Tensor, Tensor, Tensor) {
    backward(variant, q, k, v, o, lse, None, dout, heads)
}

/// The backward pass with `variant`; `probs`: the probabilities kept by a `Dense` forward.
#[allow(clippy::too_many_arguments)]
fn backward(
    variant: Variant,
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    o: &Tensor,
    lse: &Tensor,
    probs: Option<&Tensor>,
    dout: &Tensor,
    heads: usize,
) -> (Tensor, Tensor, Tensor) {
    let dm = dims(q, k, v, heads);
    assert_eq!(
        o.shape(),
        q.shape(),
        "attention_backward: o {:?} differs from q {:?}",
        o.shape(),
        q.shape()
    );
    assert_eq!(
        dout.shape(),
        q.shape(),
        "attention_backward: dout {:?} differs from q {:?}",
        dout.shape(),
        q.shape()
    );
    assert_eq!(
        lse.shape(),
        [dm.b, heads, dm.l],
        "attention_backward: lse must be [B, heads, L]"
    );
    let gpu = q.gpu();
    check_variant(variant, gpu, &dm);
    let dd = Tensor::uninit(gpu, &[dm.b, heads, dm.l]);
    gpu.launch(
        &PREP,
        "attn_bwd_prep",
        &[],
        &dm.params(),
        &[o, dout, &dd],
        [dm.l.div_ceil(64) as u32, (dm.b * heads) as u32, 1],
    );
    if variant == Variant::Dense {
        return dense_backward(&dm, q, k, v, lse, probs, dout, &dd);
    }
    let dq = Tensor::uninit(gpu, q.shape());
    let dk = Tensor::uninit(gpu, q.shape());
    let dv = Tensor::uninit(gpu, q.shape());
    // Work done: dq recomputes S and forms dP and dS K (3 products); dk/dv 4 products.
    profile::flops(dm.flops(3));
    dm.launch(gpu, variant, "attn_bwd_dq", &[q, k, v, dout, lse, &dd, &dq]);
    profile::flops(dm.flops(4));
    dm.launch(
        gpu,
        variant,
        "attn_bwd_dkdv",
        &[q, k, v, dout, lse, &dd, &dk, &dv],
    );
    (dq, dk, dv)
}

/// [`Variant::Dense`] forward: `s = q k^T`, the row softmax in place (and `lse`), `o = p v`.
/// Returns `(o, lse, p)`.
fn dense_forward(dm: &Dims, q: &Tensor, k: &Tensor, v: &Tensor) -> (Tensor, Tensor, Tensor) {
    let gpu = q.gpu();
    let p = matmul::matmul(q, k, false, true);
    let lse = Tensor::uninit(gpu, &[dm.b, 1, dm.l]);
    dm.launch(gpu, Variant::Dense, "attn_dense_softmax", &[&p, &lse]);
    (matmul::matmul(&p, v, false, false), lse, p)
}

/// [`Variant::Dense`] backward: the probabilities `p` (kept by the forward, else again from
/// `s = q k^T` and `lse`), then `dv = p^T dout`, `dp = dout v^T`, `ds = scale p (dp - D)` in
/// place, `dq = ds k`, `dk = ds^T q`. `dd`: `D = rowsum(dout * o)` from `attn_bwd_prep`.
#[allow(clippy::too_many_arguments)]
fn dense_backward(
    dm: &Dims,
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    lse: &Tensor,
    kept: Option<&Tensor>,
    dout: &Tensor,
    dd: &Tensor,
) -> (Tensor, Tensor, Tensor) {
    let gpu = q.gpu();
    let p = match kept {
        Some(p) => {
            assert_eq!(
                p.shape(),
                [dm.b, dm.l, dm.l],
                "attention_backward: kept probabilities must be [B, L, L]"
            );
            p.clone()
        }
        None => {
            let p = matmul::matmul(q, k, false, true);
            dm.launch(gpu, Variant::Dense, "attn_dense_probs", &[&p, lse]);
            p
        }
    };
    let dv = matmul::matmul(&p, dout, true, false);
    let ds = matmul::matmul(dout, v, false, true);
    dm.launch(gpu, Variant::Dense, "attn_dense_dscores", &[&ds, &p, dd]);
    let dq = matmul::matmul(&ds, k, false, false);
    let dk = matmul::matmul(&ds, q, true, false);
    (dq, dk, dv)
}
