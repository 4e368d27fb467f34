//! Group normalisation (torch.nn.GroupNorm) with an optional fused SiLU, forward and backward.
//! Kernels: `shaders/norm/`; float64 reference: [`crate::reference::norm`].
//!
//! `x` is `[N, C, H, W]` (or any `[N, C, ...]`; `[N, C]` means one position per channel): with
//! `S` the product of the dimensions after `C`, `G` groups of `C / G` contiguous channels,
//!
//! ```text
//! mean, var = mean and biased variance of x[n, group g] over its (C/G) * S elements
//! pre = (x - mean) / sqrt(var + eps) * gamma[c] + beta[c]
//! y   = pre, or silu(pre) = pre * sigmoid(pre) when `silu`
//! ```
//!
//! The SiLU is fused so the U-Net's GroupNorm + SiLU is one pass and the pre-activation is never
//! stored: the backward recomputes it from `x`, the saved statistics, `gamma` and `beta`.
//!
//! Kernel variants ([`Variant`], chosen by [`variant`] from the adapter class): one workgroup
//! per (sample, group) with tree reductions on real GPUs, one invocation per (sample, group)
//! with plain loops on CPU adapters (lavapipe), where barriers are costly.

use crate::gpu::{grid_1d, tuning, DeviceClass, Shader};
use crate::{Gpu, Tensor};

const FORWARD: Shader = crate::shader!("norm/forward");
const BACKWARD: Shader = crate::shader!("norm/backward");
const PARAM_GRAD: Shader = crate::shader!("norm/param_grad");

/// Per (sample, group) statistics saved for backward: mean and 1/sqrt(var+eps), each [N*G].
#[derive(Clone)]
pub struct GroupNormStats {
    pub mean: Tensor,
    pub rstd: Tensor,
}

impl GroupNormStats {
    /// Room for the statistics of `groups_total` = N * G groups.
    fn uninit(gpu: &Gpu, groups_total: usize) -> GroupNormStats {
        GroupNormStats {
            mean: Tensor::uninit(gpu, &[groups_total]),
            rstd: Tensor::uninit(gpu, &[groups_total]),
        }
    }
}

/// How the kernels are parallelised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// One invocation per (sample, group), `lanes` invocations per workgroup, no barriers.
    Serial { lanes: u32 },
    /// One workgroup of `size` invocations (a power of two <= 256) per (sample, group), strided
    /// loops and tree reductions in workgroup memory.
    Workgroup { size: u32 },
}

impl Variant {
    /// Every variant worth checking (the checks run all of them on any adapter).
    pub const ALL: [Variant; 3] = [
        Variant::Serial { lanes: 8 },
        Variant::Workgroup { size: 256 },
        Variant::Workgroup { size: 8 },
    ];

    /// A short name for reports and the tuning cache.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Serial { lanes: 8 } => "serial8",
            Variant::Serial { .. } => "serial",
            Variant::Workgroup { size: 256 } => "wg256",
            Variant::Workgroup { size: 8 } => "wg8",
            Variant::Workgroup { .. } => "wg",
        }
    }

    /// Entry point and workgroup size. The serial kernels have vec4 forms for `s % 4 == 0`.
    fn entry(self, forward: bool, s: usize) -> (&'static str, u32) {
        let vec4 = s.is_multiple_of(4);
        match (self, forward) {
            (Variant::Serial { lanes }, true) => (
                if vec4 {
                    "forward_serial4"
                } else {
                    "forward_serial"
                },
                lanes,
            ),
            (Variant::Serial { lanes }, false) => (
                if vec4 {
                    "backward_serial4"
                } else {
                    "backward_serial"
                },
                lanes,
            ),
            (Variant::Workgroup { size }, true) => ("forward_wg", size),
            (Variant::Workgroup { size }, false) => ("backward_wg", size),
        }
    }

    fn grid(self, groups_total: usize) -> [u32; 3] {
        match self {
            Variant::Serial { lanes } => grid_1d(groups_total, lanes as usize),
            Variant::Workgroup { .. } => grid_1d(groups_total, 1),
        }
    }

    fn validate(self) {
        if let Variant::Workgroup { size } = self {
            assert!(
                size.is_power_of_two() && size <= 256,
                "group_norm: workgroup size {size} must be a power of two <= 256"
            );
        }
        if let Variant::Serial { lanes } = self {
            assert!(
                (1..=256).contains(&lanes),
                "group_norm: {lanes} lanes per workgroup out of 1..=256"
            );
        }
    }
}

/// The variant for this adapter. On lavapipe (2 cores, 8-wide SIMD; every memory access is a
/// loop over the lanes, every barrier a coroutine switch) the barrier-free serial kernel with
/// vec4 accesses measured 10x faster than workgroups of 8 and 40x faster than workgroups of
/// 256 (`cargo bench --bench norm`, group "norm variants": [8,128,16,16] forward 1.3 ms vs 13 ms
/// vs 53 ms on a loaded machine); 8 lanes per workgroup keep both cores busy at batch 1 (32
/// groups = 4 workgroups). Real GPUs get 256-invocation workgroups and tree reductions.
pub fn variant(gpu: &Gpu) -> Variant {
    match gpu.class() {
        DeviceClass::Cpu => Variant::Serial { lanes: 8 },
        DeviceClass::Gpu => Variant::Workgroup { size: 256 },
    }
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    c: u32,
    s: u32,
    groups: u32,
    cpg: u32,
    eps: f32,
    offset: u32,
    pad: u32,
    width: u32,
    out_w: u32,
    out_plane: u32,
    out_origin: u32,
}

/// (N, C, S) of an `[N, C, ...]` tensor, checked against `groups`.
fn dims(x: &Tensor, groups: usize) -> (usize, usize, usize) {
    let shape = x.shape();
    assert!(
        shape.len() >= 2,
        "group_norm: x must be [N, C, ...], got {shape:?}"
    );
    let (n, c) = (shape[0], shape[1]);
    let s: usize = shape[2..].iter().product();
    assert!(
        groups > 0 && c.is_multiple_of(groups),
        "group_norm: {c} channels are not divisible into {groups} groups"
    );
    assert!(
        x.numel() < u32::MAX as usize,
        "group_norm: tensor {shape:?} too large for u32 indexing"
    );
    (n, c, s)
}

/// The forward's gamma and beta (`[C]` each) and eps, checked for `op`.
fn check_affine(op: &str, c: usize, gamma: &Tensor, beta: &Tensor, eps: f32) {
    for (name, t) in [("gamma", gamma), ("beta", beta)] {
        assert_eq!(
            t.numel(),
            c,
            "{op}: {name} has {} values, x has {c} channels",
            t.numel()
        );
    }
    assert!(eps > 0.0, "{op}: eps must be positive");
}

fn params(n: usize, c: usize, s: usize, groups: usize, eps: f32) -> Params {
    Params {
        n: n as u32,
        c: c as u32,
        s: s as u32,
        groups: groups as u32,
        cpg: (c / groups) as u32,
        eps,
        offset: 0,
        pad: 0,
        width: 0,
        out_w: 0,
        out_plane: 0,
        out_origin: 0,
    }
}

/// GroupNorm forward with the adapter's variant: returns `y` (shape of `x`) and the statistics.
/// `x`: `[N, C, ...]`; `gamma`, `beta`: `[C]`; `groups` divides `C`.
pub fn group_norm(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    groups: usize,
    eps: f32,
    silu: bool,
) -> (Tensor, GroupNormStats) {
    let pick = tuned(x, "fwd", groups, silu, |v| {
        group_norm_with(v, x, gamma, beta, groups, eps, silu);
    });
    group_norm_with(pick, x, gamma, beta, groups, eps, silu)
}

/// The measured variant for this pass and shape (`crate::gpu::tuning`), else [`variant`]'s
/// rule. Candidates: the serial kernel and workgroups of 8 on CPU adapters (workgroups of 256
/// are 40x slower there), workgroups of 256 and the serial kernel on GPUs. `run` launches one
/// candidate on scratch outputs.
fn tuned(x: &Tensor, pass: &str, groups: usize, silu: bool, run: impl FnMut(Variant)) -> Variant {
    let gpu = x.gpu();
    let vs: &[Variant] = match gpu.class() {
        DeviceClass::Cpu => &[Variant::Serial { lanes: 8 }, Variant::Workgroup { size: 8 }],
        DeviceClass::Gpu => &[
            Variant::Workgroup { size: 256 },
            Variant::Serial { lanes: 8 },
        ],
    };
    let candidates: Vec<(Variant, &'static str)> = vs.iter().map(|&v| (v, v.name())).collect();
    let key = format!(
        "group_norm {pass} {:?} groups{groups} silu{}",
        x.shape(),
        silu as u8
    );
    tuning::pick(gpu, &key, &candidates, run).unwrap_or_else(|| variant(gpu))
}

/// [`group_norm`] with a forced kernel variant.
pub fn group_norm_with(
    variant: Variant,
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    groups: usize,
    eps: f32,
    silu: bool,
) -> (Tensor, GroupNormStats) {
    variant.validate();
    let (n, c, s) = dims(x, groups);
    check_affine("group_norm", c, gamma, beta, eps);
    let gpu = x.gpu();
    let y = Tensor::uninit(gpu, x.shape());
    let stats = GroupNormStats::uninit(gpu, n * groups);
    let (entry, wg) = variant.entry(true, s);
    let constants = [("WG", wg as f64), ("SILU", silu as u32 as f64)];
    gpu.launch(
        &FORWARD,
        entry,
        &constants,
        &params(n, c, s, groups, eps),
        &[x, gamma, beta, &y, &stats.mean, &stats.rstd],
        variant.grid(n * groups),
    );
    (y, stats)
}

/// [`group_norm`] on the serial kernels, writing `y` straight into a zero-padded layout (the
/// input of a direct convolution, see [`crate::ops::conv::PaddedLayout`]): `x [N, C, H, W]`
/// gives `y [N, C, hp, wp]` with `y[n, c, yy + top, xx + left] = GN(x)[n, c, yy, xx]` and zeros
/// elsewhere. Saves the convolution's pad pass (on lavapipe a per-lane loop over every element).
pub fn group_norm_padded(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    groups: usize,
    eps: f32,
    silu: bool,
    layout: crate::ops::conv::PaddedLayout,
) -> (Tensor, GroupNormStats) {
    let (n, c, s) = dims(x, groups);
    let shape = x.shape();
    assert_eq!(shape.len(), 4, "group_norm_padded: x must be [N, C, H, W]");
    let (h, w) = (shape[2], shape[3]);
    let crate::ops::conv::PaddedLayout { hp, wp, top, left } = layout;
    assert!(
        top + h <= hp && left + w <= wp,
        "group_norm_padded: {h}x{w} at ({top}, {left}) does not fit in {hp}x{wp}"
    );
    check_affine("group_norm_padded", c, gamma, beta, eps);
    let gpu = x.gpu();
    let y = Tensor::zeros(gpu, &[n, c, hp, wp]);
    let stats = GroupNormStats::uninit(gpu, n * groups);
    // The CPU adapters' serial kernels, as `variant` picks them there.
    let serial = Variant::Serial { lanes: 8 };
    let (_, lanes) = serial.entry(true, s);
    let entry = if w.is_multiple_of(4) && wp.is_multiple_of(4) && left == 1 {
        "forward_serial4_pad1"
    } else if s.is_multiple_of(4) {
        "forward_serial4_pad"
    } else {
        "forward_serial_pad"
    };
    let p = Params {
        width: w as u32,
        out_w: wp as u32,
        out_plane: (hp * wp) as u32,
        out_origin: (top * wp + left) as u32,
        ..params(n, c, s, groups, eps)
    };
    gpu.launch(
        &FORWARD,
        entry,
        &[("WG", lanes as f64), ("SILU", silu as u32 as f64)],
        &p,
        &[x, gamma, beta, &y, &stats.mean, &stats.rstd],
        serial.grid(n * groups),
    );
    (y, stats)
}

/// GroupNorm backward with the adapter's variant. `dy` and `x`: `[N, C, ...]`; `gamma`, `beta`:
/// the forward's parameters `[C]`; `stats`: the forward's statistics; `silu` as in the forward.
/// Returns `dx`; accumulates `dgamma += sum_{n,s} dpre * xhat` and `dbeta += sum_{n,s} dpre`
/// (`[C]` each; they may be views of one gradient buffer).
#[allow(clippy::too_many_arguments)]
pub fn group_norm_backward(
    dy: &Tensor,
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    stats: &GroupNormStats,
    groups: usize,
    silu: bool,
    dgamma: &Tensor,
    dbeta: &Tensor,
) -> Tensor {
    let pick = tuned(x, "bwd", groups, silu, |v| {
        // Scratch parameter gradients: the candidates accumulate into them, not the caller's.
        let (dg, db) = (
            Tensor::uninit(x.gpu(), dgamma.shape()),
            Tensor::uninit(x.gpu(), dbeta.shape()),
        );
        group_norm_backward_with(v, dy, x, gamma, beta, stats, groups, silu, &dg, &db);
    });
    group_norm_backward_with(pick, dy, x, gamma, beta, stats, groups, silu, dgamma, dbeta)
}

/// [`group_norm_backward`] with a forced kernel variant.
#[allow(clippy::too_many_arguments)]
pub fn group_norm_backward_with(
    variant: Variant,
    dy: &Tensor,
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    stats: &GroupNormStats,
    groups: usize,
    silu: bool,
    dgamma: &Tensor,
    dbeta: &Tensor,
) -> Tensor {
    variant.validate();
    let (n, c, s) = dims(x, groups);
    assert_eq!(
        dy.shape(),
        x.shape(),
        "group_norm_backward: dy {:?} and x {:?} differ",
        dy.shape(),
        x.shape()
    );
    for (name, t) in [
        ("gamma", gamma),
        ("beta", beta),
        ("dgamma", dgamma),
        ("dbeta", dbeta),
    ] {
        assert_eq!(
            t.numel(),
            c,
            "group_norm_backward: {name} has {} values, x has {c} channels",
            t.numel()
        );
    }
    for (name, t) in [("mean", &stats.mean), ("rstd", &stats.rstd)] {
        assert_eq!(
            t.numel(),
            n * groups,
            "group_norm_backward: stats.{name} has {} values, expected N*G = {}",
            t.numel(),
            n * groups
        );
    }
    let gpu = x.gpu();
    let dx = Tensor::uninit(gpu, x.shape());
    // Per (sample, channel) partial sums: [0] sum_s dpre (dbeta), [1] sum_s dpre * xhat (dgamma).
    let part = Tensor::uninit(gpu, &[2, n, c]);
    let (entry, wg) = variant.entry(false, s);
    let p = params(n, c, s, groups, 1.0);
    gpu.launch(
        &BACKWARD,
        entry,
        &[("WG", wg as f64), ("SILU", silu as u32 as f64)],
        &p,
        &[dy, x, gamma, beta, &stats.mean, &stats.rstd, &dx, &part],
        variant.grid(n * groups),
    );
    // One dispatch per gradient, so dgamma and dbeta may share a buffer.
    const PG: u32 = 64;
    for (grad, offset) in [(dbeta, 0), (dgamma, n * c)] {
        let pp = Params {
            offset: offset as u32,
            ..p
        };
        gpu.launch(
            &PARAM_GRAD,
            "param_grad",
            &[("WG", PG as f64)],
            &pp,
            &[&part, grad],
            grid_1d(c, PG as usize),
        );
    }
    dx
}
