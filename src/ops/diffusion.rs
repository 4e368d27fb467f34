//! Diffusion kernels (`shaders/diffusion/steps.wgsl`): forward noising `q_sample` for training, and one
//! fused reverse step of the DDPM and DDIM samplers (the step's noise is generated inside the
//! kernel by the Philox of [`crate::ops::rng`], so a step is one dispatch and nothing else).
//!
//! The schedule (betas, cumulative products) is computed by the caller in float64; these ops take
//! per-timestep tables as tensors ([`q_sample`]) or a step's scalars ([`DdpmStep`], [`DdimStep`],
//! with f64 constructors). Timesteps are 0-based (0..T-1).

use crate::gpu::{grid_1d, Shader};
use crate::maths::coefs::{DdimCoefs, DdpmCoefs};
use crate::ops::rng::{element_count, PhiloxKey, Variant};
use crate::Tensor;

const SHADER: Shader = crate::shader!("diffusion/steps");

/// The launch geometry for this adapter: the same choice as the rng kernels (these are rng +
/// a few flops per element; see `ops::rng::variant`).
pub fn variant(gpu: &crate::Gpu) -> Variant {
    crate::ops::rng::variant(gpu)
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    per_sample: u32,
    t_len: u32,
    clip: u32,
    key: PhiloxKey,
    c0: [f32; 4],
    c1: [f32; 4],
}

impl Params {
    fn new(n: usize, seed: u64, stream: u64) -> Params {
        Params {
            n: element_count(n),
            per_sample: 1,
            t_len: 1,
            clip: 0,
            key: PhiloxKey::new(seed, stream),
            c0: [0.0; 4],
            c1: [0.0; 4],
        }
    }
}

fn launch(entry: &str, v: Variant, params: &Params, tensors: &[&Tensor]) {
    let groups = grid_1d(params.n as usize, v.elements_per_group());
    tensors[0]
        .gpu()
        .launch(&SHADER, entry, &v.constants(), params, tensors, groups);
}

/// Forward noising for training: `x_t[b] = sqrt_abar[t_b] * x0[b] + sqrt_one_minus_abar[t_b] * eps[b]`
/// per sample `b`. `x0`, `eps`: `[B, ...]` (same shape); `t`: u32 `[B]` (from
/// `Tensor::from_u32` or `ops::rng::randint`), each in `0..T` (larger values are clamped to
/// T-1); tables: f32 `[T]`, computed by the caller in float64 and rounded. Returns `[B, ...]`.
pub fn q_sample(
    x0: &Tensor,
    eps: &Tensor,
    t: &Tensor,
    sqrt_abar: &Tensor,
    sqrt_one_minus_abar: &Tensor,
) -> Tensor {
    q_sample_with(
        variant(x0.gpu()),
        x0,
        eps,
        t,
        sqrt_abar,
        sqrt_one_minus_abar,
    )
}

pub fn q_sample_with(
    v: Variant,
    x0: &Tensor,
    eps: &Tensor,
    t: &Tensor,
    sqrt_abar: &Tensor,
    sqrt_one_minus_abar: &Tensor,
) -> Tensor {
    assert_eq!(
        x0.shape(),
        eps.shape(),
        "q_sample: x0 {:?} and eps {:?} differ",
        x0.shape(),
        eps.shape()
    );
    let batch = x0.dim(0);
    assert_eq!(
        t.shape(),
        [batch],
        "q_sample: t must be [B] = [{batch}], got {:?}",
        t.shape()
    );
    assert_eq!(
        sqrt_abar.shape(),
        sqrt_one_minus_abar.shape(),
        "q_sample: the two coefficient tables differ in shape"
    );
    assert_eq!(
        sqrt_abar.shape().len(),
        1,
        "q_sample: tables must be [T], got {:?}",
        sqrt_abar.shape()
    );
    let mut params = Params::new(x0.numel(), 0, 0);
    params.per_sample = (x0.numel() / batch) as u32;
    params.t_len = sqrt_abar.numel() as u32;
    let out = Tensor::uninit(x0.gpu(), x0.shape());
    launch(
        "q_sample",
        v,
        &params,
        &[&out, x0, eps, t, sqrt_abar, sqrt_one_minus_abar],
    );
    out
}

/// Scalars of one DDPM reverse step at timestep t (the caller computes them in f64 from the
/// schedule, e.g. with [`DdpmStep::new`]).
#[derive(Clone, Copy, Debug)]
pub struct DdpmStep {
    /// 1/sqrt(abar_t)
    pub sqrt_recip_abar: f32,
    /// sqrt(1/abar_t - 1)
    pub sqrt_recipm1_abar: f32,
    /// sqrt(abar_prev) beta_t / (1-abar_t)
    pub coef_x0: f32,
    /// sqrt(alpha_t)(1-abar_prev)/(1-abar_t)
    pub coef_xt: f32,
    /// beta_t / sqrt(1-abar_t)   (paper form, no clipping)
    pub eps_coef: f32,
    /// 1/sqrt(alpha_t)
    pub inv_sqrt_alpha: f32,
    /// sqrt(var), 0 at t == 0
    pub sigma: f32,
    /// clip x0_hat to [-1,1] (diffusers clip_sample) -> uses the posterior-mean form
    pub clip: bool,
}

impl DdpmStep {
    /// The step from `abar_t` to `abar_prev` (= abar_{t-1}, 1 at t = 0) with noise scale `sigma`
    /// (0 at t = 0; sqrt(beta_t) for "fixed large", sqrt(beta_tilde_t) for "fixed small"), all in
    /// f64, rounded once to f32.
    pub fn new(abar_t: f64, abar_prev: f64, sigma: f64, clip: bool) -> DdpmStep {
        DdpmStep::from_coefs(&DdpmCoefs::new(abar_t, abar_prev, sigma, clip))
    }

    pub fn from_coefs(c: &DdpmCoefs) -> DdpmStep {
        DdpmStep {
            sqrt_recip_abar: c.sqrt_recip_abar as f32,
            sqrt_recipm1_abar: c.sqrt_recipm1_abar as f32,
            coef_x0: c.coef_x0 as f32,
            coef_xt: c.coef_xt as f32,
            eps_coef: c.eps_coef as f32,
            inv_sqrt_alpha: c.inv_sqrt_alpha as f32,
            sigma: c.sigma as f32,
            clip: c.clip,
        }
    }

    /// The f32 values as f64, for the reference.
    pub fn to_coefs(&self) -> DdpmCoefs {
        DdpmCoefs {
            sqrt_recip_abar: self.sqrt_recip_abar as f64,
            sqrt_recipm1_abar: self.sqrt_recipm1_abar as f64,
            coef_x0: self.coef_x0 as f64,
            coef_xt: self.coef_xt as f64,
            eps_coef: self.eps_coef as f64,
            inv_sqrt_alpha: self.inv_sqrt_alpha as f64,
            sigma: self.sigma as f64,
            clip: self.clip,
        }
    }
}

fn check_step_inputs(op: &str, x_t: &Tensor, eps: &Tensor) {
    assert_eq!(
        x_t.shape(),
        eps.shape(),
        "{op}: x_t {:?} and eps {:?} differ",
        x_t.shape(),
        eps.shape()
    );
    assert!(
        !x_t.same_buffer(eps),
        "{op}: x_t and eps must be different buffers"
    );
}

/// Fused DDPM reverse step in ONE kernel, any shape: z ~ N(0,1) is generated inside from
/// `(seed, stream, element index)`, exactly the values `ops::rng::normal(shape, seed, stream)`
/// would give (none when `sigma == 0`).
/// - without clip: `x_prev = (x_t - eps_coef * eps) * inv_sqrt_alpha + sigma z`;
/// - with clip: `x0 = clamp(sqrt_recip_abar x_t - sqrt_recipm1_abar eps, -1, 1)`;
///   `x_prev = coef_x0 x0 + coef_xt x_t + sigma z`.
pub fn ddpm_step(x_t: &Tensor, eps: &Tensor, step: &DdpmStep, seed: u64, stream: u64) -> Tensor {
    ddpm_step_with(variant(x_t.gpu()), x_t, eps, step, seed, stream)
}

pub fn ddpm_step_with(
    v: Variant,
    x_t: &Tensor,
    eps: &Tensor,
    step: &DdpmStep,
    seed: u64,
    stream: u64,
) -> Tensor {
    check_step_inputs("ddpm_step", x_t, eps);
    let mut params = Params::new(x_t.numel(), seed, stream);
    params.clip = step.clip as u32;
    params.c0 = [
        step.sqrt_recip_abar,
        step.sqrt_recipm1_abar,
        step.coef_x0,
        step.coef_xt,
    ];
    params.c1 = [step.eps_coef, step.inv_sqrt_alpha, step.sigma, 0.0];
    let out = Tensor::uninit(x_t.gpu(), x_t.shape());
    launch("ddpm_step", v, &params, &[&out, x_t, eps]);
    out
}

/// Scalars of one DDIM step (the caller computes them in f64, e.g. with [`DdimStep::new`]).
#[derive(Clone, Copy, Debug)]
pub struct DdimStep {
    pub sqrt_abar: f32,
    pub sqrt_one_minus_abar: f32,
    pub sqrt_abar_prev: f32,
    /// sqrt(1 - abar_prev - sigma^2)
    pub dir_coef: f32,
    pub sigma: f32,
    pub clip: bool,
}

impl DdimStep {
    /// The DDIM step from `abar_t` to `abar_prev` with stochasticity `eta` (0 = deterministic):
    /// `sigma = eta sqrt((1-abar_prev)/(1-abar_t) (1 - abar_t/abar_prev))`, in f64.
    pub fn new(abar_t: f64, abar_prev: f64, eta: f64, clip: bool) -> DdimStep {
        DdimStep::from_coefs(&DdimCoefs::new(abar_t, abar_prev, eta, clip))
    }

    pub fn from_coefs(c: &DdimCoefs) -> DdimStep {
        DdimStep {
            sqrt_abar: c.sqrt_abar as f32,
            sqrt_one_minus_abar: c.sqrt_one_minus_abar as f32,
            sqrt_abar_prev: c.sqrt_abar_prev as f32,
            dir_coef: c.dir_coef as f32,
            sigma: c.sigma as f32,
            clip: c.clip,
        }
    }

    /// The f32 values as f64, for the reference.
    pub fn to_coefs(&self) -> DdimCoefs {
        DdimCoefs {
            sqrt_abar: self.sqrt_abar as f64,
            sqrt_one_minus_abar: self.sqrt_one_minus_abar as f64,
            sqrt_abar_prev: self.sqrt_abar_prev as f64,
            dir_coef: self.dir_coef as f64,
            sigma: self.sigma as f64,
            clip: self.clip,
        }
    }
}

/// One DDIM step in one kernel, any shape: `x0 = (x_t - sqrt(1-abar) eps) / sqrt(abar)`
/// (clamped to [-1, 1] if clip); `x_prev = sqrt_abar_prev x0 + dir_coef eps + sigma z`, z as in
/// [`ddpm_step`] (none when `sigma == 0`, i.e. eta = 0).
pub fn ddim_step(x_t: &Tensor, eps: &Tensor, step: &DdimStep, seed: u64, stream: u64) -> Tensor {
    ddim_step_with(variant(x_t.gpu()), x_t, eps, step, seed, stream)
}

pub fn ddim_step_with(
    v: Variant,
    x_t: &Tensor,
    eps: &Tensor,
    step: &DdimStep,
    seed: u64,
    stream: u64,
) -> Tensor {
    check_step_inputs("ddim_step", x_t, eps);
    assert!(
        step.sqrt_abar > 0.0,
        "ddim_step: sqrt_abar must be positive"
    );
    let mut params = Params::new(x_t.numel(), seed, stream);
    params.clip = step.clip as u32;
    params.c0 = [
        step.sqrt_abar,
        step.sqrt_one_minus_abar,
        step.sqrt_abar_prev,
        step.dir_coef,
    ];
    params.c1 = [step.sigma, 0.0, 0.0, 0.0];
    let out = Tensor::uninit(x_t.gpu(), x_t.shape());
    launch("ddim_step", v, &params, &[&out, x_t, eps]);
    out
}
