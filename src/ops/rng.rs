//! GPU random numbers: counter-based Philox 4x32-10 (`shaders/rng/philox.wgsl`, `shaders/common/philox.wgsl`).
//!
//! Every value is a pure function of `(seed, stream, element index)` (the layout is documented in
//! [`crate::reference::rng`], which implements the same generator on the CPU): the same call gives
//! the same bits on every run, a different `stream` gives an independent sequence, and a dropout
//! mask is regenerated in backward instead of stored. Callers give each use its own stream (e.g.
//! a hash of (training step, layer)).

use crate::gpu::{grid_1d, Shader};
use crate::{Gpu, Tensor};

const SHADER: Shader = crate::shader!("rng/philox");

/// Launch geometry of the rng kernels: `workgroup` invocations per workgroup, each invocation
/// producing `per_invocation` Philox blocks (4 elements each).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Variant {
    pub workgroup: u32,
    pub per_invocation: u32,
}

impl Variant {
    /// 4 elements per invocation, 256 invocations per workgroup: many workgroups for a GPU.
    pub const GPU: Variant = Variant {
        workgroup: 256,
        per_invocation: 1,
    };
    /// 64-wide workgroups with 4 blocks each (16 elements per invocation), for CPU adapters.
    pub const CPU: Variant = Variant {
        workgroup: 64,
        per_invocation: 4,
    };
    /// Every variant, for checks.
    pub const ALL: [Variant; 2] = [Variant::GPU, Variant::CPU];

    pub(crate) fn constants(self) -> [(&'static str, f64); 2] {
        [
            ("WG", self.workgroup as f64),
            ("PER", self.per_invocation as f64),
        ]
    }
    /// Elements one workgroup covers.
    pub(crate) fn elements_per_group(self) -> usize {
        4 * (self.workgroup * self.per_invocation) as usize
    }
}

/// The variant for this adapter. On lavapipe (2 loaded cores; `cargo bench --bench sampling`)
/// 64x4 took 60 ms for 4M normals against 93 ms for 256x1, and 13.8 ms against 20.0 ms for a
/// DDPM step on [128, 3, 32, 32]; in a probe of other shapes (64x1, 32x16, 128x8, 256x4, 16x16)
/// none was consistently better than 64x4 beyond the run-to-run noise (~1.5x there). GPUs get
/// one block per invocation in 256-wide workgroups (not measured here: no GPU was available).
pub fn variant(gpu: &Gpu) -> Variant {
    gpu.by_class(Variant::CPU, Variant::GPU)
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    key: PhiloxKey,
    arg_u: u32,
    arg_f: f32,
    /// Dropout only: the Philox block of element 0.
    block0: u32,
}

/// The Philox key and counter stream of a launch: the WGSL fields `key0, key1, stream0,
/// stream1` (low word first) that `common/philox_blocks.wgsl` reads.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct PhiloxKey {
    key: [u32; 2],
    stream: [u32; 2],
}

impl PhiloxKey {
    pub(crate) fn new(seed: u64, stream: u64) -> PhiloxKey {
        PhiloxKey {
            key: [seed as u32, (seed >> 32) as u32],
            stream: [stream as u32, (stream >> 32) as u32],
        }
    }
}

/// `n` as the u32 element count of a random-number launch.
pub(crate) fn element_count(n: usize) -> u32 {
    u32::try_from(n)
        .unwrap_or_else(|_| panic!("random tensor of {n} elements exceeds the u32 index range"))
}

impl Params {
    fn new(n: usize, seed: u64, stream: u64) -> Params {
        Params {
            n: element_count(n),
            key: PhiloxKey::new(seed, stream),
            arg_u: 0,
            arg_f: 0.0,
            block0: 0,
        }
    }
}

fn launch(entry: &str, variant: Variant, params: &Params, tensors: &[&Tensor]) {
    let gpu = tensors[0].gpu();
    let groups = grid_1d(params.n as usize, variant.elements_per_group());
    gpu.launch(
        &SHADER,
        entry,
        &variant.constants(),
        params,
        tensors,
        groups,
    );
}

fn generate(gpu: &Gpu, entry: &str, variant: Variant, shape: &[usize], params: Params) -> Tensor {
    let out = Tensor::uninit(gpu, shape);
    launch(entry, variant, &params, &[&out]);
    out
}

/// The raw Philox words: element `i` = word `i % 4` of block `i / 4`, as u32 (read with
/// `to_u32_vec`). Shape `shape`.
pub fn random_bits(gpu: &Gpu, shape: &[usize], seed: u64, stream: u64) -> Tensor {
    random_bits_with(variant(gpu), gpu, shape, seed, stream)
}

pub fn random_bits_with(v: Variant, gpu: &Gpu, shape: &[usize], seed: u64, stream: u64) -> Tensor {
    generate(
        gpu,
        "rand_bits",
        v,
        shape,
        Params::new(crate::tensor::numel(shape), seed, stream),
    )
}

/// Uniform values in the open interval (0, 1): odd multiples of 2^-24 (23 random bits).
pub fn uniform(gpu: &Gpu, shape: &[usize], seed: u64, stream: u64) -> Tensor {
    uniform_with(variant(gpu), gpu, shape, seed, stream)
}

pub fn uniform_with(v: Variant, gpu: &Gpu, shape: &[usize], seed: u64, stream: u64) -> Tensor {
    generate(
        gpu,
        "rand_uniform",
        v,
        shape,
        Params::new(crate::tensor::numel(shape), seed, stream),
    )
}

/// Standard normal values N(0, 1) (Box-Muller on word pairs; |z| <= 5.77).
pub fn normal(gpu: &Gpu, shape: &[usize], seed: u64, stream: u64) -> Tensor {
    normal_with(variant(gpu), gpu, shape, seed, stream)
}

pub fn normal_with(v: Variant, gpu: &Gpu, shape: &[usize], seed: u64, stream: u64) -> Tensor {
    generate(
        gpu,
        "rand_normal",
        v,
        shape,
        Params::new(crate::tensor::numel(shape), seed, stream),
    )
}

/// `n` integers uniform in `0..high` stored as u32 (read with `to_u32_vec`); shape `[n]`.
/// Used for training timesteps. Bias below `high / 2^32`.
pub fn randint(gpu: &Gpu, n: usize, high: u32, seed: u64, stream: u64) -> Tensor {
    randint_with(variant(gpu), gpu, n, high, seed, stream)
}

pub fn randint_with(v: Variant, gpu: &Gpu, n: usize, high: u32, seed: u64, stream: u64) -> Tensor {
    assert!(high >= 1, "randint: high must be at least 1");
    let mut params = Params::new(n, seed, stream);
    params.arg_u = high;
    generate(gpu, "rand_int", v, &[n], params)
}

/// Inverted dropout: `y = x * mask / (1 - p)`, `mask ~ Bernoulli(1 - p)` drawn from
/// `(seed, stream, element index)`; any shape, `0 <= p < 1` (`p = 0` is a copy).
pub fn dropout(x: &Tensor, p: f32, seed: u64, stream: u64) -> Tensor {
    dropout_with(variant(x.gpu()), x, p, seed, stream)
}

pub fn dropout_with(v: Variant, x: &Tensor, p: f32, seed: u64, stream: u64) -> Tensor {
    dropout_at_with(v, x, p, seed, stream, 0)
}

/// Dropout of a slice of a larger tensor: `x` holds elements `first..` of it and gets their
/// mask, so a data-parallel rank with samples `k..` of a batch draws the single-process masks.
/// `first` must be a multiple of 4 (one Philox block holds 4 elements). Also the backward.
pub fn dropout_at(x: &Tensor, p: f32, seed: u64, stream: u64, first: usize) -> Tensor {
    dropout_at_with(variant(x.gpu()), x, p, seed, stream, first)
}

fn dropout_at_with(v: Variant, x: &Tensor, p: f32, seed: u64, stream: u64, first: usize) -> Tensor {
    assert!(
        first.is_multiple_of(4) && (first + x.numel()) / 4 <= u32::MAX as usize,
        "dropout slice at element {first}: not a whole Philox block, or beyond the u32 block range"
    );
    let mut params = Params::new(x.numel(), seed, stream);
    params.block0 = (first / 4) as u32;
    params.arg_u = crate::maths::dropout::dropout_threshold(p);
    params.arg_f = crate::maths::dropout::dropout_scale(p);
    let y = Tensor::uninit(x.gpu(), x.shape());
    launch("dropout", v, &params, &[&y, x]);
    y
}

/// Dropout backward: `dx = dy * mask / (1 - p)` with the forward's mask, regenerated from the
/// same `(seed, stream)` (nothing is stored). Same shape as `dy`.
pub fn dropout_backward(dy: &Tensor, p: f32, seed: u64, stream: u64) -> Tensor {
    dropout_backward_with(variant(dy.gpu()), dy, p, seed, stream)
}

pub fn dropout_backward_with(v: Variant, dy: &Tensor, p: f32, seed: u64, stream: u64) -> Tensor {
    // The backward of a mask-and-scale is the same mask-and-scale.
    dropout_with(v, dy, p, seed, stream)
}
