//! 2-D convolution (PyTorch `conv2d` semantics: cross-correlation, zero padding), forward and
//! the three backward passes (input, weight, bias). Kernels: `shaders/conv2d/`.
//!
//! Two kernel variants, picked per adapter by [`variant`]:
//! - [`ConvVariant::Direct`] (CPU adapters such as lavapipe): barrier-free, register-blocked
//!   kernels. On lavapipe (Mesa 22.3) every storage-buffer load is a per-lane loop (a vec4 load
//!   costs about as much as 150 lane-FMAs, uniform addresses included), so these kernels load
//!   only aligned vec4s, from a zero-padded copy of the input whose rows are a multiple of 4
//!   floats, and compute a block of 16-32 output channels ([`direct_block`]) x 32 pixels
//!   (forward) or x 2-4 input channels x 9 taps (weight gradient) per invocation, updating each
//!   accumulator with 8-9 FMAs at a time.
//!   Supports 3x3 with stride 1 or 2 and 1x1 with stride 1 (any padding); other shapes use Gemm.
//! - [`ConvVariant::Gemm`] (real GPUs): implicit GEMM with 64 x 64 shared-memory tiles, any
//!   kernel size, stride and padding.
//!
//! The input gradient is a stride-1 convolution of the output gradient, dilated by the stride
//! and padded by `k - 1 - pad`, with the flipped, transposed weights:
//! `dx[n, ci, iy, ix] = sum_{co, ky', kx'} dyd[n, co, iy + ky', ix + kx'] * w[co, ci, kh-1-ky', kw-1-kx']`
//! where `dyd[n, co, oy*s + kh-1-top, ox*s + kw-1-left] = dy[n, co, oy, ox]` and zero elsewhere
//! (substituting `ky = kh-1-ky'` gives `iy = oy*s + ky - top`, the forward relation).
//! On the Direct variants the 3x3 stride-2 case (top/left padding 0 or 1) instead runs
//! `direct_t2`, which visits only the taps that hit real dy elements (a quarter of the work).

use crate::gpu::{grid_1d, profile, tuning, DeviceClass, Gpu, Shader};
use crate::Tensor;

/// The data-layout passes (`pad`, `pack_weights`).
const LAYOUT: Shader = crate::shader!("conv2d/layout");
/// The backward reductions (`wgrad_reduce`, `bias_grad`).
const REDUCE: Shader = crate::shader!("conv2d/reduce");
/// The implicit-GEMM kernels for GPUs (`gemm_conv`, `gemm_wgrad`).
const GEMM: Shader = crate::shader!("conv2d/gemm");
/// The direct kernels for CPU adapters (`direct_*`, `wgrad_direct_*`), weights loaded lane by
/// lane.
const DIRECT_CPU: Shader = crate::shader!("conv2d/direct_cpu");
/// The same kernels with weight and dy loads shared across 8-wide subgroups; uses subgroup
/// operations, so it is compiled only on adapters with them.
const DIRECT_SUBGROUP: Shader = crate::shader!("conv2d/direct_subgroup");

/// The direct kernels by output-channel block ([`direct_block`]), one module per block and load
/// variant: `(block, lane by lane, subgroup)`. The forward and weight-gradient kernels exist at
/// every block; `direct_t2` only in the 16-channel modules. A block of 48 was measured too
/// (another 1.1x on 48-channel layers over two blocks of 24) but lavapipe took 3.4-7 s to
/// compile each of its pipelines, on every start of the program.
const DIRECT_MODULES: [(usize, Shader, Shader); 4] = [
    (
        SMALL_BLOCK,
        crate::shader!("conv2d/direct_cpu_c8"),
        crate::shader!("conv2d/direct_subgroup_c8"),
    ),
    (CO_TILE, DIRECT_CPU, DIRECT_SUBGROUP),
    (
        24,
        crate::shader!("conv2d/direct_cpu_c24"),
        crate::shader!("conv2d/direct_subgroup_c24"),
    ),
    (
        32,
        crate::shader!("conv2d/direct_cpu_c32"),
        crate::shader!("conv2d/direct_subgroup_c32"),
    ),
];

/// The channel block of the direct forward and weight-gradient kernels for `cout` output
/// channels (of the pass: Cin for the input gradient): the least padding of `cout`, then the
/// largest block. An invocation computes a block of channels x 32 pixels, and its input loads
/// (per-lane loops on lavapipe, about half the kernel's time at 16 channels) are shared by the
/// whole block, so larger blocks are faster on lavapipe (`CONV_BLOCKS=1 cargo bench --bench
/// conv`, `docs/runs/conv-blocks`). 24 -> 24, 48 -> 24, 64 -> 32, 72 -> 24, 96 -> 32. Layers of
/// at most 8 channels (the output conv's 1 or 3, and the input gradient of the input conv) take
/// the small block of 8, whose loads feed few FMAs but which pads them 2-16x less.
pub fn direct_block(cout: usize) -> usize {
    if cout <= SMALL_BLOCK {
        return SMALL_BLOCK;
    }
    DIRECT_MODULES
        .map(|m| m.0)
        .into_iter()
        .filter(|&b| b != SMALL_BLOCK)
        .min_by_key(|&b| (cout.next_multiple_of(b), std::cmp::Reverse(b)))
        .expect("blocks")
}

/// The channel block of the direct kernels for layers of at most 8 channels.
const SMALL_BLOCK: usize = 8;

/// Every channel block the direct kernels exist at (for tests and benchmarks).
pub fn direct_blocks() -> [usize; DIRECT_MODULES.len()] {
    DIRECT_MODULES.map(|m| m.0)
}

/// Input channels per tile of the direct weight-gradient kernels with `block` output channels
/// (the template values CI3 for 3x3, `kh` = 3, and CI1 for 1x1 of the modules above): fewer
/// as the block grows, so that a tile's accumulators stay near 864 floats (at 8, still 4: the
/// small layers it serves have few tiles as it is).
fn wgrad_ci_per_tile(block: usize, kh: usize) -> usize {
    match (kh, block) {
        (1, _) => 16,
        (_, 32) => 3,
        _ => 4,
    }
}

/// The module holding entry point `entry` (the direct kernels: the lane-by-lane module).
fn shader_of(entry: &str) -> Shader {
    match entry {
        "pad" | "pad_v4" | "pack_weights" => LAYOUT,
        "wgrad_reduce" | "wgrad_reduce_tiles" | "bias_grad" | "bias_grad_rows" => REDUCE,
        e if e.starts_with("gemm_") => GEMM,
        _ => DIRECT_CPU,
    }
}

/// True where [`ConvVariant::DirectSubgroup`] runs as such: the adapter has the SUBGROUP feature
/// with subgroups exactly 8 wide.
pub fn subgroup_kernels_available(gpu: &Gpu) -> bool {
    crate::ops::matmul::subgroup_kernel_available(gpu)
}

/// The module holding the direct kernels of variant `v` on this adapter for output-channel
/// blocks of `block` (one of [`DIRECT_MODULES`]).
fn direct_shader(gpu: &Gpu, v: ConvVariant, block: usize) -> Shader {
    let subgroup = v == ConvVariant::DirectSubgroup && subgroup_kernels_available(gpu);
    let (_, lanes, shared) = DIRECT_MODULES
        .into_iter()
        .find(|w| w.0 == block)
        .expect("a direct channel block");
    if subgroup {
        shared
    } else {
        lanes
    }
}

/// The pixel-block workgroups of a dispatch as (x, z) with x <= 65,535 (the per-dimension limit
/// of WebGPU): the kernels take block `wid.x + wid.z * nwg.x` and skip blocks past the end, so
/// images or batches of any size run in one dispatch.
fn fold(groups: usize) -> (u32, u32) {
    const MAX: usize = 65_535;
    let z = groups.max(1).div_ceil(MAX);
    (u(groups.max(1).div_ceil(z)), u(z))
}

/// Stride and zero padding (top, bottom, left, right) of a convolution. Output size:
/// Hout = (H + top + bottom - kh) / stride + 1, likewise W.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeometry {
    pub stride: usize,
    pub pad: [usize; 4],
}

impl ConvGeometry {
    /// 3x3 "same" conv: stride 1, padding 1 everywhere.
    pub fn same3x3() -> Self {
        ConvGeometry {
            stride: 1,
            pad: [1, 1, 1, 1],
        }
    }
    /// 1x1: stride 1, no padding.
    pub fn pointwise() -> Self {
        ConvGeometry {
            stride: 1,
            pad: [0, 0, 0, 0],
        }
    }
    /// The DDPM downsample with downsample_padding=0: F.pad(x,(0,1,0,1)) then 3x3 stride 2 pad 0,
    /// i.e. pad = [0,1,0,1] (one zero row at the bottom, one zero column at the right), stride 2.
    pub fn downsample_asymmetric() -> Self {
        ConvGeometry {
            stride: 2,
            pad: [0, 1, 0, 1],
        }
    }
    /// stride 2 padding 1 (downsample_padding=1).
    pub fn downsample_symmetric() -> Self {
        ConvGeometry {
            stride: 2,
            pad: [1, 1, 1, 1],
        }
    }
    /// `(Hout, Wout)` for an `h x w` input and a `kh x kw` kernel.
    pub fn output_hw(&self, h: usize, w: usize, kh: usize, kw: usize) -> (usize, usize) {
        let [t, b, l, r] = self.pad;
        assert!(self.stride >= 1, "conv stride must be at least 1");
        assert!(
            h + t + b >= kh && w + l + r >= kw,
            "conv kernel {kh}x{kw} larger than the padded input {}x{}",
            h + t + b,
            w + l + r
        );
        (
            (h + t + b - kh) / self.stride + 1,
            (w + l + r - kw) / self.stride + 1,
        )
    }
}

/// Kernel family (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvVariant {
    /// [`ConvVariant::Direct`] with loads shared by the lanes of 8-wide subgroups (CPU adapters
    /// with the SUBGROUP feature; runs as Direct where the adapter lacks it).
    DirectSubgroup,
    /// Register-blocked direct convolution without barriers (CPU adapters).
    Direct,
    /// Implicit GEMM with shared-memory tiles (real GPUs).
    Gemm,
}

/// True if the [`ConvVariant::Direct`] kernels handle this kernel size and stride.
pub fn direct_supports(kh: usize, kw: usize, stride: usize) -> bool {
    matches!((kh, kw, stride), (3, 3, 1) | (3, 3, 2) | (1, 1, 1))
}

/// The variant used for a `kh x kw` convolution with geometry `g` on this adapter: Direct on
/// CPU adapters where it supports the shape (measured on lavapipe, 2 cores, 3x3 [8,64,32,32]
/// 64 -> 64 forward: Direct 18 ms, Gemm 208 ms, whose barriers and per-lane shared-memory
/// loads are costly there), Gemm everywhere else (the standard choice on GPUs). Where tuning
/// is on (the default on GPUs), each pass of each shape is timed instead ([`chosen`]).
pub fn variant(gpu: &Gpu, kh: usize, kw: usize, g: ConvGeometry) -> ConvVariant {
    match gpu.class() {
        DeviceClass::Cpu if direct_supports(kh, kw, g.stride) => {
            if subgroup_kernels_available(gpu) {
                ConvVariant::DirectSubgroup
            } else {
                ConvVariant::Direct
            }
        }
        _ => ConvVariant::Gemm,
    }
}

/// The variants measured for a `kh x kw` convolution with geometry `g` on this adapter, with
/// their names in the tuning cache. On GPUs only Gemm: the direct kernels are built for CPU
/// SIMD lanes (128 vec4 accumulators per invocation, no shared memory), which on a GPU spill
/// out of registers, so timing them would cost seconds per shape (long enough, on a small GPU,
/// to trip a driver's watchdog) for a variant that cannot win.
fn candidates(
    gpu: &Gpu,
    kh: usize,
    kw: usize,
    g: ConvGeometry,
) -> Vec<(ConvVariant, &'static str)> {
    let mut out = Vec::new();
    if gpu.class() == DeviceClass::Cpu && direct_supports(kh, kw, g.stride) {
        if subgroup_kernels_available(gpu) {
            out.push((ConvVariant::DirectSubgroup, "direct_subgroup"));
        }
        out.push((ConvVariant::Direct, "direct"));
    }
    out.push((ConvVariant::Gemm, "gemm"));
    out
}

/// The variant for one pass (`forward`, `input_grad`, `weight_grad`) of the convolution `d`:
/// the measured choice where tuning is on (see `crate::gpu::tuning`; `run(v)` launches the pass
/// once with variant `v` on scratch outputs), else [`variant`]'s rule.
fn chosen(
    gpu: &Gpu,
    pass: &str,
    d: &Dims,
    bias: bool,
    run: impl FnMut(ConvVariant),
) -> ConvVariant {
    let rule = variant(gpu, d.kh, d.kw, d.g);
    let key = format!(
        "conv {pass} n{} cin{} h{} w{} cout{} k{}x{} s{} pad{:?} bias{}",
        d.n, d.cin, d.h, d.w, d.cout, d.kh, d.kw, d.g.stride, d.g.pad, bias as u8
    );
    tuning::pick(gpu, &key, &candidates(gpu, d.kh, d.kw, d.g), run).unwrap_or(rule)
}

/// Kernel parameters; the same layout as `Params` in `shaders/conv2d/parts/params.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    cin: u32,
    h: u32,
    w: u32,
    cout: u32,
    hout: u32,
    wout: u32,
    kh: u32,
    kw: u32,
    stride: u32,
    pad_top: u32,
    pad_left: u32,
    /// The kernel's own four launch words: one of the `*Args` structs below, each the mirror
    /// of the WGSL struct of the same name.
    args: [u32; 4],
}

/// `ForwardArgs` of `gemm_conv`, `direct_k3` and `direct_k1`.
#[repr(C)]
#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct ForwardArgs {
    cout_padded: u32,
    has_bias: u32,
    quads_per_row: u32,
    unused: u32,
}

/// `T2Args` of `direct_t2`.
#[repr(C)]
#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct T2Args {
    cout_padded: u32,
    unused: u32,
    units_per_row: u32,
    unit_rows: u32,
}

/// `PackArgs` of `pack_weights`.
#[repr(C)]
#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct PackArgs {
    flip: u32,
    cols: u32,
    rows: u32,
    unused: u32,
}

/// `WgradDirectArgs` of `wgrad_direct_k3` and `wgrad_direct_k1`.
#[repr(C)]
#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct WgradDirectArgs {
    steps_per_split: u32,
    tiles_per_split: u32,
    tile_vec4s: u32,
    quads_per_row: u32,
}

/// `WgradArgs` of `gemm_wgrad`.
#[repr(C)]
#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct WgradArgs {
    per_split: u32,
    partials: u32,
    unused: [u32; 2],
}

/// `ReduceArgs` of `wgrad_reduce`.
#[repr(C)]
#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct ReduceArgs {
    len: u32,
    splits: u32,
    ci_per_tile: u32,
    tile_len: u32,
}

fn u(v: usize) -> u32 {
    u32::try_from(v).expect("conv dimension does not fit in u32")
}

/// The output-channel block of `direct_t2` (the 3x3 stride-2 input gradient), and the column
/// padding of packed weights for the Gemm kernels.
const CO_TILE: usize = 16;

/// Checked dimensions of one convolution `x [n, cin, h, w] * w [cout, cin, kh, kw]`.
#[derive(Clone, Copy, Debug)]
struct Dims {
    n: usize,
    cin: usize,
    h: usize,
    w: usize,
    cout: usize,
    kh: usize,
    kw: usize,
    hout: usize,
    wout: usize,
    g: ConvGeometry,
}

impl Dims {
    fn new(x_shape: &[usize], w_shape: &[usize], g: ConvGeometry) -> Dims {
        assert_eq!(
            x_shape.len(),
            4,
            "conv input must be [N, Cin, H, W], got {x_shape:?}"
        );
        assert_eq!(
            w_shape.len(),
            4,
            "conv weight must be [Cout, Cin, kh, kw], got {w_shape:?}"
        );
        let (n, cin, h, w) = (x_shape[0], x_shape[1], x_shape[2], x_shape[3]);
        let (cout, wcin, kh, kw) = (w_shape[0], w_shape[1], w_shape[2], w_shape[3]);
        assert_eq!(
            cin, wcin,
            "conv input has {cin} channels but the weight {w_shape:?} expects {wcin}"
        );
        let (hout, wout) = g.output_hw(h, w, kh, kw);
        Dims {
            n,
            cin,
            h,
            w,
            cout,
            kh,
            kw,
            hout,
            wout,
            g,
        }
    }

    fn params(&self) -> Params {
        Params {
            n: u(self.n),
            cin: u(self.cin),
            h: u(self.h),
            w: u(self.w),
            cout: u(self.cout),
            hout: u(self.hout),
            wout: u(self.wout),
            kh: u(self.kh),
            kw: u(self.kw),
            stride: u(self.g.stride),
            pad_top: u(self.g.pad[0]),
            pad_left: u(self.g.pad[2]),
            ..Default::default()
        }
    }

    /// 2 * N * Cout * Hout * Wout * Cin * kh * kw (also the useful work of both gradients).
    fn flops(&self) -> f64 {
        2.0 * (self.n * self.cout * self.hout * self.wout * self.cin * self.kh * self.kw) as f64
    }

    fn y_shape(&self) -> [usize; 4] {
        [self.n, self.cout, self.hout, self.wout]
    }

    /// The stride-1 convolution whose output is dx: input dyd (`cout` channels), output `cin`
    /// channels at `h x w`, flipped weights, no padding (the padding is in dyd).
    fn transposed(&self, hp: usize, wp: usize) -> Dims {
        Dims {
            n: self.n,
            cin: self.cout,
            h: hp,
            w: wp,
            cout: self.cin,
            kh: self.kh,
            kw: self.kw,
            hout: self.h,
            wout: self.w,
            g: ConvGeometry {
                stride: 1,
                pad: [0, 0, 0, 0],
            },
        }
    }
}

/// For `src [N, C, H, W]`: `dst [N*C, hp, wp]` with `dst[q, py, px] = src[q, (py - top)/d,
/// (px - left)/d]` where that is an integer inside the source, zero elsewhere (negative
/// `top`/`left` crop). `(hp, wp) = out_hw`, `(top, left) = offset`; `wp` must be a multiple of 4.
/// Rows of a multiple of 4 elements at dilation 1 are read as vec4s (`pad_v4`).
pub fn pad_planes(
    src: &Tensor,
    out_hw: (usize, usize),
    offset: (isize, isize),
    dil: usize,
) -> Tensor {
    let s = src.shape();
    let (planes, h, w) = (s[0] * s[1], s[2], s[3]);
    let (hp, wp) = out_hw;
    assert!(
        wp.is_multiple_of(4),
        "padded row length must be a multiple of 4"
    );
    let gpu = src.gpu();
    let dst = Tensor::uninit(gpu, &[planes, hp, wp]);
    let p = Params {
        n: u(planes),
        h: u(h),
        w: u(w),
        hout: u(hp),
        wout: u(wp),
        pad_top: offset.0 as i32 as u32,
        pad_left: offset.1 as i32 as u32,
        ..Default::default()
    };
    let (entry, constant) = if dil == 1 && w.is_multiple_of(4) {
        ("pad_v4", ("SHIFT", offset.1.rem_euclid(4) as f64))
    } else {
        ("pad", ("DIL", dil as f64))
    };
    gpu.launch(
        &LAYOUT,
        entry,
        &[constant],
        &p,
        &[src, &dst],
        grid_1d(planes * hp, 64),
    );
    dst
}

/// Packs `w [cout, cin, kh, kw]` as `[cin*kh*kw, round_up(cout, block)]` (flip = false) or as
/// the flipped transpose `[cout*kh*kw, round_up(cin, block)]` (flip = true), zero-padded; rows
/// are rounded up to a multiple of 9 (the direct 1x1 kernel reads 9 at a time). `block`: the
/// channel block of the kernel that reads them (a multiple of 4). Returns (packed, width).
fn pack_weights(w: &Tensor, flip: bool, block: usize) -> (Tensor, usize) {
    let s = w.shape();
    let (cout, cin, kh, kw) = (s[0], s[1], s[2], s[3]);
    let (rows, cols) = if flip {
        (cout * kh * kw, cin)
    } else {
        (cin * kh * kw, cout)
    };
    let op = cols.next_multiple_of(block);
    let rows = rows.next_multiple_of(9);
    let out = Tensor::uninit(w.gpu(), &[rows, op]);
    let p = Params {
        cin: u(cin),
        cout: u(cout),
        kh: u(kh),
        kw: u(kw),
        args: bytemuck::cast(PackArgs {
            flip: flip as u32,
            cols: u(op),
            rows: u(rows),
            ..Default::default()
        }),
        ..Default::default()
    };
    w.gpu().launch(
        &LAYOUT,
        "pack_weights",
        &[],
        &p,
        &[w, &out],
        [u(op.div_ceil(16)), u(rows.div_ceil(kh * kw).div_ceil(4)), 1],
    );
    (out, op)
}

/// Quads (groups of 4 output columns) per output row, rounded up to even: the direct kernels
/// work on pairs (weight gradient) or runs of 2 or 4 (forward) consecutive quads.
fn quads(wout: usize) -> usize {
    wout.div_ceil(4).next_multiple_of(2)
}

/// Quads per output row for the direct forward kernels: [`quads`] for 3x3 (runs of 2 or 4),
/// exact for 1x1 (which loads each quad on its own), so that a 1x1 conv with Wout % 4 == 0
/// reads its input as it is, without a padded copy.
fn fwd_quads(d: &Dims) -> usize {
    if d.kw == 1 {
        d.wout.div_ceil(4)
    } else {
        quads(d.wout)
    }
}

/// Padded input layout `(hp, wp)` read by the direct kernels for a convolution `d` whose
/// output rows are processed as `qw` quads.
fn direct_padded_hw(d: &Dims, qw: usize) -> (usize, usize) {
    let s = d.g.stride;
    let hp = (d.hout - 1) * s + d.kh;
    let wp = if d.kw == 1 { 4 * qw } else { 4 * qw * s + 4 };
    (hp, wp)
}

/// The input of the direct kernels: `x` itself if already in the padded layout, else a padded copy.
fn direct_input(x: &Tensor, d: &Dims, qw: usize) -> (Tensor, usize, usize) {
    let (hp, wp) = direct_padded_hw(d, qw);
    let [top, _, left, _] = d.g.pad;
    if hp == d.h && wp == d.w && top == 0 && left == 0 {
        return (x.clone(), hp, wp);
    }
    let xp = pad_planes(x, (hp, wp), (top as isize, left as isize), 1);
    (xp, hp, wp)
}

/// Direct forward of `d` on the already padded input `xp [n, cin, hp, wp]` with weights packed
/// for output-channel blocks of `block`.
#[allow(clippy::too_many_arguments)]
fn direct_forward(
    v: ConvVariant,
    d: &Dims,
    xp: &Tensor,
    hp: usize,
    wp: usize,
    wpk: &Tensor,
    op: usize,
    block: usize,
    bias: Option<&Tensor>,
    flops: f64,
) -> Tensor {
    assert!(
        direct_supports(d.kh, d.kw, d.g.stride),
        "the direct conv kernel does not support {}x{} stride {}",
        d.kh,
        d.kw,
        d.g.stride
    );
    let gpu = xp.gpu();
    let qw = fwd_quads(d);
    let y = Tensor::uninit(gpu, &d.y_shape());
    let mut p = d.params();
    p.h = u(hp);
    p.w = u(wp);
    p.args = bytemuck::cast(ForwardArgs {
        cout_padded: u(op),
        has_bias: bias.is_some() as u32,
        quads_per_row: u(qw),
        ..Default::default()
    });
    let nq = d.n * d.hout * qw;
    // One invocation per (block of 8 quads, block of channels); y: the channel block.
    assert!(op.is_multiple_of(block), "weights packed for another block");
    let (gx, gz) = fold(nq.div_ceil(8).div_ceil(32));
    let grid = [gx, u(op / block), gz];
    let b = bias.unwrap_or(wpk);
    let shader = direct_shader(gpu, v, block);
    profile::flops(flops);
    if d.kh == 1 {
        gpu.launch(&shader, "direct_k1", &[], &p, &[xp, wpk, b, &y], grid);
    } else {
        // Runs of SEG consecutive quads of one row share their input loads.
        let seg = if qw.is_multiple_of(4) { 4.0 } else { 2.0 };
        let consts = [("STRIDE", d.g.stride as f64), ("SEG", seg)];
        gpu.launch(&shader, "direct_k3", &consts, &p, &[xp, wpk, b, &y], grid);
    }
    y
}

/// Implicit-GEMM forward of `d` on the raw input (padding by bounds checks).
fn gemm_forward(
    d: &Dims,
    x: &Tensor,
    wpk: &Tensor,
    op: usize,
    bias: Option<&Tensor>,
    flops: f64,
) -> Tensor {
    let gpu = x.gpu();
    let y = Tensor::uninit(gpu, &d.y_shape());
    let mut p = d.params();
    p.args = bytemuck::cast(ForwardArgs {
        cout_padded: u(op),
        has_bias: bias.is_some() as u32,
        ..Default::default()
    });
    let (gx, gz) = fold((d.n * d.hout * d.wout).div_ceil(64));
    let b = bias.unwrap_or(wpk);
    profile::flops(flops);
    gpu.launch(
        &GEMM,
        "gemm_conv",
        &[],
        &p,
        &[x, wpk, b, &y],
        [gx, u(d.cout.div_ceil(64)), gz],
    );
    y
}

fn check_bias(bias: Option<&Tensor>, cout: usize) {
    if let Some(b) = bias {
        assert_eq!(
            b.numel(),
            cout,
            "conv bias has {} elements, expected Cout = {cout}",
            b.numel()
        );
    }
}

/// y = conv2d(x, w) + bias. x: [N, Cin, H, W]; w: [Cout, Cin, kh, kw] (PyTorch layout); bias [Cout].
/// Returns y [N, Cout, Hout, Wout] (see [`ConvGeometry::output_hw`]).
pub fn conv2d(x: &Tensor, w: &Tensor, bias: Option<&Tensor>, g: ConvGeometry) -> Tensor {
    conv2d_keeping_input(x, w, bias, g).0
}

/// A convolution's input as its weight gradient reads it: `x` and, where the forward pass ran a
/// direct 3x3 kernel on a zero-padded copy of `x`, that copy. The direct weight-gradient kernel
/// reads the same layout, so the backward pass need not pad `x` again (on lavapipe the pad
/// passes were 9% of a training step, a third of them such repeats).
///
/// A producer may also write the padded copy directly ([`padded_input_layout`],
/// [`conv2d_padded`]); then `x` itself was never stored, and the weight gradient reads the copy.
#[derive(Clone)]
pub struct ConvInput {
    x: Option<Tensor>,
    shape: [usize; 4],
    padded: Option<PaddedInput>,
}

/// The zero-padded layout in which the direct 3x3 kernels read their input: `[N, C, hp, wp]`,
/// pixel `(y, x)` of each plane at `(y + top, x + left)`, zeros everywhere else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PaddedLayout {
    pub hp: usize,
    pub wp: usize,
    pub top: usize,
    pub left: usize,
}

/// A zero-padded copy of a convolution input in the direct kernels' layout `[N, Cin, hp, wp]`.
#[derive(Clone)]
struct PaddedInput {
    xp: Tensor,
    hp: usize,
    wp: usize,
}

impl ConvInput {
    /// The input itself, with nothing kept beside it.
    pub fn plain(x: &Tensor) -> ConvInput {
        ConvInput {
            x: Some(x.clone()),
            shape: shape4(x),
            padded: None,
        }
    }

    /// The convolution's input `x`; None where a producer wrote only the padded copy
    /// ([`conv2d_padded`], which only runs where the weight gradient reads that copy).
    pub fn x(&self) -> Option<&Tensor> {
        self.x.as_ref()
    }

    /// The input's shape `[N, C, H, W]`.
    pub fn shape(&self) -> [usize; 4] {
        self.shape
    }

    /// Whether a padded copy is kept (for tests).
    pub fn keeps_padded_copy(&self) -> bool {
        self.padded.is_some()
    }
}

/// [`conv2d`] that also returns what the weight gradient needs of the input
/// ([`conv2d_backward_weight_kept`]): the layers' forward pass.
pub fn conv2d_keeping_input(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    g: ConvGeometry,
) -> (Tensor, ConvInput) {
    let d = Dims::new(x.shape(), w.shape(), g);
    let v = chosen(x.gpu(), "forward", &d, bias.is_some(), |v| {
        conv2d_with(v, x, w, bias, g);
    });
    match v {
        ConvVariant::Direct | ConvVariant::DirectSubgroup => {
            direct_conv(v, direct_block(d.cout), x, w, bias, g)
        }
        ConvVariant::Gemm => (conv2d_with(v, x, w, bias, g), ConvInput::plain(x)),
    }
}

/// The direct forward with output-channel blocks of `block`, and its input as the weight
/// gradient can read it: the padded copy is kept for 3x3 kernels (whose weight-gradient kernel
/// reads the same layout; the 1x1 ones pad rows differently).
fn direct_conv(
    v: ConvVariant,
    block: usize,
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    g: ConvGeometry,
) -> (Tensor, ConvInput) {
    assert!(
        v != ConvVariant::Gemm,
        "channel blocks are a direct-kernel setting"
    );
    assert!(
        DIRECT_MODULES.iter().any(|m| m.0 == block),
        "no direct kernel for blocks of {block}"
    );
    let d = Dims::new(x.shape(), w.shape(), g);
    check_bias(bias, d.cout);
    let (wpk, op) = pack_weights(w, false, block);
    let (xp, hp, wp) = direct_input(x, &d, fwd_quads(&d));
    let y = direct_forward(v, &d, &xp, hp, wp, &wpk, op, block, bias, d.flops());
    let padded = (d.kh == 3 && !xp.same_buffer(x)).then_some(PaddedInput { xp, hp, wp });
    (
        y,
        ConvInput {
            x: Some(x.clone()),
            shape: shape4(x),
            padded,
        },
    )
}

fn shape4(x: &Tensor) -> [usize; 4] {
    let s = x.shape();
    assert_eq!(s.len(), 4, "conv input must be [N, C, H, W], got {s:?}");
    [s[0], s[1], s[2], s[3]]
}

/// Where the forward of the convolution of an `x_shape` input with `w` would run a direct 3x3
/// kernel on a zero-padded copy of its input: the layout of that copy, which the producer of
/// the input may then write directly and hand to [`conv2d_padded`] (the group norm before
/// every 3x3 convolution of the U-Net does, saving a pad pass). None where the convolution
/// reads its input as it is, runs another kernel, or where kernel tuning is on (the measured
/// weight-gradient choice might then read `x` itself, which is never stored).
pub fn padded_input_layout(
    gpu: &Gpu,
    x_shape: &[usize],
    w: &Tensor,
    g: ConvGeometry,
) -> Option<PaddedLayout> {
    let d = Dims::new(x_shape, w.shape(), g);
    let direct = matches!(
        variant(gpu, d.kh, d.kw, d.g),
        ConvVariant::Direct | ConvVariant::DirectSubgroup
    );
    if d.kh != 3 || !direct || gpu.tuner().mode() != tuning::TuneMode::Off {
        return None;
    }
    let (hp, wp) = direct_padded_hw(&d, fwd_quads(&d));
    let [top, _, left, _] = d.g.pad;
    if (hp, wp, top, left) == (d.h, d.w, 0, 0) {
        return None;
    }
    Some(PaddedLayout { hp, wp, top, left })
}

/// The convolution of `x [N, Cin, H, W]` (`x_shape`) given only its zero-padded copy `xp` in
/// `layout`, the layout [`padded_input_layout`] returned for it; the same result as
/// [`conv2d_keeping_input`].
pub fn conv2d_padded(
    xp: &Tensor,
    layout: PaddedLayout,
    x_shape: &[usize],
    w: &Tensor,
    bias: Option<&Tensor>,
    g: ConvGeometry,
) -> (Tensor, ConvInput) {
    let gpu = xp.gpu();
    let d = Dims::new(x_shape, w.shape(), g);
    let PaddedLayout { hp, wp, top, left } = layout;
    let v = variant(gpu, d.kh, d.kw, d.g);
    assert!(
        v != ConvVariant::Gemm
            && d.kh == 3
            && (hp, wp) == direct_padded_hw(&d, fwd_quads(&d))
            && [top, left] == [d.g.pad[0], d.g.pad[2]],
        "conv2d_padded: this convolution does not read the padded layout {layout:?}"
    );
    assert_eq!(
        xp.shape(),
        [d.n, d.cin, hp, wp],
        "conv2d_padded: the padded input has the wrong layout"
    );
    check_bias(bias, d.cout);
    let block = direct_block(d.cout);
    let (wpk, op) = pack_weights(w, false, block);
    let y = direct_forward(v, &d, xp, hp, wp, &wpk, op, block, bias, d.flops());
    let input = ConvInput {
        x: None,
        shape: [d.n, d.cin, d.h, d.w],
        padded: Some(PaddedInput {
            xp: xp.clone(),
            hp,
            wp,
        }),
    };
    (y, input)
}

/// [`conv2d`] with a forced kernel variant (Direct only for shapes it supports).
pub fn conv2d_with(
    v: ConvVariant,
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    g: ConvGeometry,
) -> Tensor {
    let d = Dims::new(x.shape(), w.shape(), g);
    match v {
        ConvVariant::Direct | ConvVariant::DirectSubgroup => {
            conv2d_direct_block(v, direct_block(d.cout), x, w, bias, g)
        }
        ConvVariant::Gemm => {
            check_bias(bias, d.cout);
            let (wpk, op) = pack_weights(w, false, CO_TILE);
            gemm_forward(&d, x, &wpk, op, bias, d.flops())
        }
    }
}

/// [`conv2d`] on a direct variant with output-channel blocks of `block` (8, 16, 24 or 32) instead
/// of [`direct_block`]'s choice: for tests and benchmarks of the blocks.
pub fn conv2d_direct_block(
    v: ConvVariant,
    block: usize,
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    g: ConvGeometry,
) -> Tensor {
    direct_conv(v, block, x, w, bias, g).0
}

/// dL/dx given dy [N, Cout, Hout, Wout]; `input_hw` = (H, W) of x (needed with stride 2).
/// Returns dx [N, Cin, H, W].
pub fn conv2d_backward_input(
    dy: &Tensor,
    w: &Tensor,
    g: ConvGeometry,
    input_hw: (usize, usize),
) -> Tensor {
    let ws = w.shape();
    let d = Dims::new(&[dy.dim(0), ws[1], input_hw.0, input_hw.1], ws, g);
    let v = chosen(dy.gpu(), "input_grad", &d, false, |v| {
        conv2d_backward_input_with(v, dy, w, g, input_hw);
    });
    conv2d_backward_input_with(v, dy, w, g, input_hw)
}

/// [`conv2d_backward_input`] with a forced kernel variant.
pub fn conv2d_backward_input_with(
    v: ConvVariant,
    dy: &Tensor,
    w: &Tensor,
    g: ConvGeometry,
    input_hw: (usize, usize),
) -> Tensor {
    let ws = w.shape();
    assert_eq!(
        ws.len(),
        4,
        "conv weight must be [Cout, Cin, kh, kw], got {ws:?}"
    );
    let (h, wd) = input_hw;
    let d = Dims::new(&[dy.dim(0), ws[1], h, wd], ws, g);
    assert_eq!(
        dy.shape(),
        d.y_shape(),
        "conv dy shape does not match the output of input {input_hw:?} with weight {ws:?}"
    );
    // dyd[oy*s + kh-1-top, ox*s + kw-1-left] = dy[oy, ox]; a stride-1 conv of it gives dx.
    let top = d.kh as isize - 1 - d.g.pad[0] as isize;
    let left = d.kw as isize - 1 - d.g.pad[2] as isize;
    let s = d.g.stride;
    let t2 = s == 2 && d.kh == 3 && d.kw == 3 && d.g.pad[0] <= 1 && d.g.pad[2] <= 1;
    // The input gradient's output channels are the forward's input channels.
    let block = match v {
        ConvVariant::Direct | ConvVariant::DirectSubgroup if !t2 => direct_block(d.cin),
        _ => CO_TILE,
    };
    let (wpk, op) = pack_weights(w, true, block);
    match v {
        ConvVariant::Direct | ConvVariant::DirectSubgroup => {
            assert!(
                direct_supports(d.kh, d.kw, s),
                "the direct conv kernel does not support {}x{} stride {s}",
                d.kh,
                d.kw
            );
            if t2 {
                return direct_backward_input_s2(v, &d, dy, &wpk, op);
            }
            let t0 = d.transposed(0, 0);
            let (hp, wp) = direct_padded_hw(&t0, fwd_quads(&t0));
            let t = d.transposed(hp, wp);
            let dyd = if hp == d.hout && wp == d.wout && top == 0 && left == 0 && s == 1 {
                dy.clone()
            } else {
                pad_planes(dy, (hp, wp), (top, left), s)
            };
            direct_forward(v, &t, &dyd, hp, wp, &wpk, op, block, None, d.flops())
        }
        ConvVariant::Gemm => {
            if s == 1 && top >= 0 && left >= 0 {
                // Pad on the fly: a stride-1 conv of dy with padding (kh-1-top, kw-1-left).
                let mut t = d.transposed(d.hout, d.wout);
                t.g.pad = [top as usize, 0, left as usize, 0];
                gemm_forward(&t, dy, &wpk, op, None, d.flops())
            } else {
                let hp = d.h + d.kh - 1;
                let wp = (d.w + d.kw - 1).next_multiple_of(4);
                let dyd = pad_planes(dy, (hp, wp), (top, left), s);
                let t = d.transposed(hp, wp);
                gemm_forward(&t, &dyd, &wpk, op, None, d.flops())
            }
        }
    }
}

/// The input gradient of a 3x3 stride-2 conv with top and left padding 0 or 1 (`direct_t2`:
/// only the taps that hit real dy elements, a quarter of the work of the stride-1 conv of the
/// dilated dy). `wpk`: the weights packed with flip = true, `op` columns.
fn direct_backward_input_s2(
    v: ConvVariant,
    d: &Dims,
    dy: &Tensor,
    wpk: &Tensor,
    op: usize,
) -> Tensor {
    let gpu = dy.gpu();
    let (top, left) = (d.g.pad[0], d.g.pad[2]);
    // Units of 2 dx rows x 8 dx columns; dyp row r = dy row r - 1, column c = dy column
    // c - 1 + left, so unit (a, m) reads dyp rows a + top .. a + top + 1, vec4 columns m, m + 1.
    let na = d.h.div_ceil(2);
    let np = d.w.div_ceil(8);
    let (hp, wp) = (na + 2, 4 * np + 4);
    let dyp = pad_planes(dy, (hp, wp), (1, 1 - left as isize), 1);
    let dx = Tensor::uninit(gpu, &[d.n, d.cin, d.h, d.w]);
    let p = Params {
        n: u(d.n),
        cin: u(d.cout),
        h: u(hp),
        w: u(wp),
        cout: u(d.cin),
        hout: u(d.h),
        wout: u(d.w),
        kh: 3,
        kw: 3,
        stride: 2,
        args: bytemuck::cast(T2Args {
            cout_padded: u(op),
            units_per_row: u(np),
            unit_rows: u(na),
            ..Default::default()
        }),
        ..Default::default()
    };
    // One invocation per 2 units and block of 16 dx channels.
    let (gx, gz) = fold((d.n * na * np).div_ceil(2).div_ceil(32));
    let consts = [("T2_TOP", top as f64), ("T2_LEFT", left as f64)];
    profile::flops(d.flops());
    gpu.launch(
        &direct_shader(gpu, v, CO_TILE),
        "direct_t2",
        &consts,
        &p,
        &[&dyp, wpk, wpk, &dx],
        [gx, u(op / CO_TILE), gz],
    );
    dx
}

/// dw += dL/dw (accumulates: parameter gradients accumulate across uses).
/// dy [N, Cout, Hout, Wout], x [N, Cin, H, W], dw [Cout, Cin, kh, kw].
pub fn conv2d_backward_weight(dy: &Tensor, x: &Tensor, dw: &Tensor, g: ConvGeometry) {
    conv2d_backward_weight_kept(dy, &ConvInput::plain(x), dw, g)
}

/// [`conv2d_backward_weight`] of the input kept by [`conv2d_keeping_input`] (its padded copy
/// is used where the chosen kernel reads that layout).
pub fn conv2d_backward_weight_kept(dy: &Tensor, input: &ConvInput, dw: &Tensor, g: ConvGeometry) {
    let d = Dims::new(&input.shape, dw.shape(), g);
    // Timing runs accumulate into a scratch gradient, never into `dw`.
    let scratch = std::cell::OnceCell::new();
    let v = chosen(dy.gpu(), "weight_grad", &d, false, |v| {
        let sdw = scratch.get_or_init(|| Tensor::zeros(dy.gpu(), dw.shape()));
        backward_weight(v, dy, input, sdw, g);
    });
    backward_weight(v, dy, input, dw, g)
}

/// Adds the partial sums of the weight gradient into `dw`. `tile`: None for the plain
/// `[splits, dw]` layout of `gemm_wgrad` (`wgrad_reduce`), or `(ci_per_tile, floats_per_tile,
/// tiles_per_split)` for the tiled layout of the direct kernels (`wgrad_reduce_tiles`).
fn reduce_partials(part: &Tensor, dw: &Tensor, splits: usize, tile: Option<(usize, usize, usize)>) {
    let s = dw.shape();
    let len = dw.numel();
    let (ci_per, tile_len, tiles) = tile.unwrap_or((0, 0, 0));
    let p = Params {
        n: u(tiles),
        cout: u(s[0]),
        cin: u(s[1]),
        kh: u(s[2]),
        kw: u(s[3]),
        args: bytemuck::cast(ReduceArgs {
            len: u(len),
            splits: u(splits),
            ci_per_tile: u(ci_per),
            tile_len: u(tile_len),
        }),
        ..Default::default()
    };
    let (entry, grid) = match tile {
        None => ("wgrad_reduce", grid_1d(len, 64)),
        Some(_) => {
            let block = tile_len / (ci_per * s[2] * s[3]);
            assert!(
                block.is_multiple_of(8),
                "wgrad_reduce_tiles: a tile's output channels ({block}) must be a multiple of 8"
            );
            let ci_blocks = s[1].div_ceil(ci_per);
            let grid = [
                u(block / 8),
                u(ci_blocks.div_ceil(8)),
                u(s[0].div_ceil(block)),
            ];
            ("wgrad_reduce_tiles", grid)
        }
    };
    dw.gpu().launch(&REDUCE, entry, &[], &p, &[part, dw], grid);
}

/// [`conv2d_backward_weight`] with a forced kernel variant.
pub fn conv2d_backward_weight_with(
    v: ConvVariant,
    dy: &Tensor,
    x: &Tensor,
    dw: &Tensor,
    g: ConvGeometry,
) {
    backward_weight(v, dy, &ConvInput::plain(x), dw, g)
}

/// The weight gradient on variant `v`, reading the padded copy `input` keeps if it has the
/// layout the direct kernel wants.
fn backward_weight(v: ConvVariant, dy: &Tensor, input: &ConvInput, dw: &Tensor, g: ConvGeometry) {
    let d = Dims::new(&input.shape, dw.shape(), g);
    assert_eq!(
        dy.shape(),
        d.y_shape(),
        "conv dy shape does not match the conv of x {:?} with weight {:?}",
        input.shape,
        dw.shape()
    );
    // Only a padded copy is kept where the weight gradient reads it (`padded_input_layout`).
    let x = || {
        input
            .x()
            .expect("conv weight gradient: x was not stored, only its padded copy")
    };
    assert!(
        !dw.same_buffer(dy) && input.x().is_none_or(|x| !dw.same_buffer(x)),
        "dw must not alias dy or x"
    );
    let gpu = dy.gpu();
    let wlen = dw.numel();
    match v {
        ConvVariant::Direct | ConvVariant::DirectSubgroup => {
            assert!(
                direct_supports(d.kh, d.kw, d.g.stride),
                "the direct conv kernel does not support {}x{} stride {}",
                d.kh,
                d.kw,
                d.g.stride
            );
            let qe = quads(d.wout);
            let (xp, hp, wp) = match &input.padded {
                Some(k) if (k.hp, k.wp) == direct_padded_hw(&d, qe) => (k.xp.clone(), k.hp, k.wp),
                _ => direct_input(x(), &d, qe),
            };
            let dyq = if 4 * qe == d.wout {
                dy.clone()
            } else {
                pad_planes(dy, (d.hout, 4 * qe), (0, 0), 1)
            };
            let block = direct_block(d.cout);
            let ci_per = wgrad_ci_per_tile(block, d.kh);
            // A workgroup: one block of output channels x 8 blocks of ci_per input channels
            // (spare tiles past Cin are computed and ignored).
            let tiles = d.cout.div_ceil(block) * d.cin.div_ceil(ci_per).next_multiple_of(8);
            // Split the reduction steps (output row, pair of quads) so that there are enough
            // invocations to keep every core busy (lavapipe: ~128 = 16 workgroups of 8).
            let steps = d.n * d.hout * qe / 2;
            let real_tiles = d.cout.div_ceil(block) * d.cin.div_ceil(ci_per);
            let want = 128usize.div_ceil(real_tiles).clamp(1, steps);
            let per = steps.div_ceil(want);
            let splits = steps.div_ceil(per);
            // One tile of block co x ci_per ci x kh*kw taps per invocation, stored as vec4s.
            let tile_len = block * ci_per * d.kh * d.kw;
            let mut p = d.params();
            p.h = u(hp);
            p.w = u(wp);
            p.args = bytemuck::cast(WgradDirectArgs {
                steps_per_split: u(per),
                tiles_per_split: u(tiles),
                tile_vec4s: u(tile_len / 4),
                quads_per_row: u(qe),
            });
            let grid = [u(tiles / 8), u(splits), 1];
            let entry = if d.kh == 1 {
                "wgrad_direct_k1"
            } else {
                "wgrad_direct_k3"
            };
            let consts: &[(&str, f64)] = if d.kh == 1 {
                &[]
            } else {
                &[("STRIDE", d.g.stride as f64)]
            };
            let part = Tensor::uninit(gpu, &[splits * tiles * tile_len]);
            profile::flops(d.flops());
            let shader = direct_shader(gpu, v, block);
            gpu.launch(&shader, entry, consts, &p, &[&dyq, &xp, &part], grid);
            reduce_partials(&part, dw, splits, Some((ci_per, tile_len, tiles)));
        }
        ConvVariant::Gemm => {
            let kdim = d.cin * d.kh * d.kw;
            let tiles = kdim.div_ceil(64) * d.cout.div_ceil(64);
            let npix = d.n * d.hout * d.wout;
            // Split the pixel reduction until there are ~512 workgroups, keeping >= 256 pixels each.
            let want = 512usize.div_ceil(tiles).clamp(1, npix.div_ceil(256).max(1));
            let per = npix.div_ceil(want).next_multiple_of(16);
            let splits = npix.div_ceil(per);
            assert!(splits <= 65_535, "too many reduction splits");
            let mut p = d.params();
            p.args = bytemuck::cast(WgradArgs {
                per_split: u(per),
                partials: (splits > 1) as u32,
                ..Default::default()
            });
            let grid = [u(kdim.div_ceil(64)), u(d.cout.div_ceil(64)), u(splits)];
            profile::flops(d.flops());
            if splits == 1 {
                gpu.launch(&GEMM, "gemm_wgrad", &[], &p, &[dy, x(), dw], grid);
            } else {
                let part = Tensor::uninit(gpu, &[splits, wlen]);
                gpu.launch(&GEMM, "gemm_wgrad", &[], &p, &[dy, x(), &part], grid);
                reduce_partials(&part, dw, splits, None);
            }
        }
    }
}

/// db += sum over n, y, x of dy. dy [N, Cout, Hout, Wout], db [Cout].
pub fn conv2d_backward_bias(dy: &Tensor, db: &Tensor) {
    let s = dy.shape();
    assert_eq!(s.len(), 4, "conv dy must be [N, Cout, H, W], got {s:?}");
    assert_eq!(
        db.numel(),
        s[1],
        "conv db has {} elements, expected Cout = {}",
        db.numel(),
        s[1]
    );
    assert!(!db.same_buffer(dy), "db must not alias dy");
    let gpu = dy.gpu();
    if gpu.class() == DeviceClass::Cpu && s[2] * s[3] > 1 {
        // On CPU adapters `bias_grad`'s 64-lane strided loops and tree reduction ran at 0.8-1
        // GB/s (lavapipe); the plane sums of `sum_spatial` (one invocation per plane, vec4
        // loads) first, then `bias_grad` over the [N, Cout] sums, read dy about twice as fast.
        let planes = crate::ops::reduce::sum_spatial(dy);
        return conv2d_backward_bias(&planes.reshape(&[s[0], s[1], 1, 1]), db);
    }
    let p = Params {
        n: u(s[0]),
        cout: u(s[1]),
        // bias_grad's one launch word: the plane size.
        args: [u(s[2] * s[3]), 0, 0, 0],
        ..Default::default()
    };
    if s[2] * s[3] == 1 {
        gpu.launch(
            &REDUCE,
            "bias_grad_rows",
            &[],
            &p,
            &[dy, db],
            [u(s[1].div_ceil(16)), 1, 1],
        );
    } else {
        gpu.launch(&REDUCE, "bias_grad", &[], &p, &[dy, db], [u(s[1]), 1, 1]);
    }
}

/// Every kernel entry point with the override constants it is used with (for warm-up).
pub fn pipelines() -> Vec<(&'static str, Vec<(&'static str, f64)>)> {
    vec![
        ("pad", vec![("DIL", 1.0)]),
        ("pad", vec![("DIL", 2.0)]),
        ("pad_v4", vec![("SHIFT", 0.0)]),
        ("pad_v4", vec![("SHIFT", 1.0)]),
        ("pad_v4", vec![("SHIFT", 2.0)]),
        ("pad_v4", vec![("SHIFT", 3.0)]),
        ("pack_weights", vec![]),
        ("direct_k3", vec![("STRIDE", 1.0), ("SEG", 2.0)]),
        ("direct_k3", vec![("STRIDE", 1.0), ("SEG", 4.0)]),
        ("direct_k3", vec![("STRIDE", 2.0), ("SEG", 2.0)]),
        ("direct_k3", vec![("STRIDE", 2.0), ("SEG", 4.0)]),
        ("direct_k1", vec![]),
        ("direct_t2", vec![("T2_TOP", 0.0), ("T2_LEFT", 0.0)]),
        ("direct_t2", vec![("T2_TOP", 1.0), ("T2_LEFT", 1.0)]),
        ("wgrad_direct_k3", vec![("STRIDE", 1.0)]),
        ("wgrad_direct_k3", vec![("STRIDE", 2.0)]),
        ("wgrad_direct_k1", vec![]),
        ("wgrad_reduce", vec![]),
        ("wgrad_reduce_tiles", vec![]),
        ("bias_grad", vec![]),
        ("bias_grad_rows", vec![]),
        ("gemm_conv", vec![]),
        ("gemm_wgrad", vec![]),
    ]
}

/// Compiles every conv pipeline now (keeps compile time out of benchmarks).
pub fn warm_up(gpu: &Gpu) {
    let subgroup = subgroup_kernels_available(gpu);
    for (entry, consts) in pipelines() {
        gpu.warm_up(&shader_of(entry), entry, &consts);
        if (entry.starts_with("direct_") || entry.starts_with("wgrad_direct_")) && subgroup {
            gpu.warm_up(&DIRECT_SUBGROUP, entry, &consts);
        }
        // The other blocks' modules (no `direct_t2` there), in the variant the adapter runs.
        if entry.starts_with("direct_k") || entry.starts_with("wgrad_direct_") {
            for (_, lanes, shared) in DIRECT_MODULES.iter().filter(|m| m.0 != CO_TILE) {
                gpu.warm_up(if subgroup { shared } else { lanes }, entry, &consts);
            }
        }
    }
}
