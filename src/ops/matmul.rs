//! Matrix products (`shaders/matmul/`): batched matmul with transposes read through strides,
//! broadcast of a shared 2-D operand, fused bias and accumulation; the `linear` layer
//! (PyTorch layout) and its backward.
//!
//! Kernel variants, chosen per adapter by [`variant`] (the one place the choice is made):
//! - [`Variant::CpuSubgroup`] (`mm_cpu_sg`): for CPU adapters (Mesa lavapipe) that offer subgroup
//!   operations with 8-wide subgroups. No workgroup memory, no barriers: a subgroup of 8 lanes
//!   computes a 32 x 64 block; each lane loads distinct vec4s of op(A) and op(B) and shares the
//!   op(A) ones with `subgroupBroadcast`. On lavapipe a non-constant storage load runs lane by
//!   lane (~30 instructions per lane for a vec4) while arithmetic and broadcasts are cheap, so
//!   this kernel minimises loads per multiply-add (12 vec4 loads per 1024). It needs aligned
//!   shapes (see [`Variant::CpuSubgroup`]); other shapes use [`Variant::Cpu`].
//! - [`Variant::Cpu`] (`mm_cpu`): the CPU fallback without subgroups, 8 rows x 4 columns per
//!   lane, scalar loads, any shape.
//! - [`Variant::Tiled`] (`mm_tiled`): 64 x 64 output tiles staged through workgroup memory in
//!   K steps of 16, a 4 x 4 micro-tile per invocation: the classic GPU kernel.
//! - [`Variant::TiledSplitK`]: `mm_tiled` with K split across workgroups, for products with few
//!   output tiles and a long K (the weight gradients: a `[256, 256]` result summed over the
//!   32,768 pixels of a batch would be 16 workgroups on a GPU with 132 multiprocessors). The
//!   splits write partial results that a column sum ([`sum_rows_into`]) adds into `out`.
//!
//! Measurements behind the choice (`cargo bench --bench matmul`, lavapipe from Mesa 22.3.6 /
//! LLVM 15, 2 AMD EPYC cores shared with other jobs, so read them as ratios), n = 512:
//! `mm_cpu_sg` 6.3 GFLOP/s, `mm_cpu` 1.4, `mm_tiled` 0.94, `mm_tiled128` 0.81; n = 1024:
//! `mm_cpu_sg` 8.4, `mm_cpu` 1.4. From CPU time, `mm_cpu_sg` would do about 25-40 GFLOP/s with
//! both cores to itself (OpenBLAS: ~115-170 by the same estimate). Why `mm_cpu_sg` looks the way
//! it does (from profiling the JIT code): every storage load whose address is not a compile-time
//! constant becomes a loop over the 8 lanes (~30 instructions per lane for a vec4; half of the
//! kernel's time), there is no FMA contraction, loop-carried values are blended with the loop
//! mask, and workgroup barriers switch coroutines; subgroup broadcasts are cheap. A 64-row tile
//! (instead of 32) was 10-18% faster but compiles 3x slower (~6 s of LLVM per (ta, tb) pair), and
//! 8 k per iteration or splitting K into passes gave no clear gain.
//!
//! Shapes: `a` is `[batch.., M, K]` (`[batch.., K, M]` when `ta`), `b` is `[batch.., K, N]`
//! (`[batch.., N, K]` when `tb`); "batch" is the product of the leading dims. An operand with
//! only two dims is shared by every batch index of the other. The result is `[batch.., M, N]`.

use crate::gpu::{profile, tuning, DeviceClass, Shader};
use crate::{Gpu, Tensor};

const CPU: Shader = crate::shader!("matmul/cpu");
const TILED: Shader = crate::shader!("matmul/tiled");
const COLSUM: Shader = crate::shader!("matmul/colsum");
/// `mm_cpu_sg` uses subgroup operations, so it is a module of its own, compiled only on devices
/// with the SUBGROUP feature.
pub const CPU_SUBGROUP: Shader = crate::shader!("matmul/cpu_subgroup");

/// Where a fused bias is added: along N (bias `[N]`, added to every row of the `[M, N]` result)
/// or along M (bias `[M]`, added to every column).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BiasAlong {
    N,
    M,
}

/// The matmul kernel variants (see the module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// `mm_cpu_sg`: CPU adapters with 8-wide subgroups. Takes shapes with N % 4 == 0,
    /// K % 4 == 0 unless `ta`, M % 4 == 0 when `ta`, K % 4 == 0 when `tb`; other shapes (and
    /// devices without the SUBGROUP feature) fall back to [`Variant::Cpu`].
    CpuSubgroup,
    /// `mm_cpu`: CPU fallback, any shape.
    Cpu,
    /// `mm_tiled`: shared-memory tiled 64 x 64, 4 x 4 per invocation: for GPUs.
    Tiled,
    /// `mm_tiled128`: shared-memory tiled 128 x 128, 8 x 8 per invocation: for GPUs on large
    /// products (more reuse per workgroup-memory read, 4x fewer workgroups).
    Tiled128,
    /// `mm_tiled` over [`split_k`] ranges of K, then a column sum of the partial results: for
    /// GPUs on products with few output tiles. A fused bias is not taken (it falls back to
    /// [`Variant::Tiled`] then).
    TiledSplitK,
}

impl Variant {
    /// Every variant, so checks can run all of them on any adapter (`CpuSubgroup` falls back to
    /// `Cpu` where the device lacks subgroups; see [`subgroup_kernel_available`]).
    pub const ALL: [Variant; 5] = [
        Variant::CpuSubgroup,
        Variant::Cpu,
        Variant::Tiled,
        Variant::Tiled128,
        Variant::TiledSplitK,
    ];

    /// A short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Variant::CpuSubgroup => "cpu_sg",
            Variant::Cpu => "cpu",
            Variant::Tiled => "tiled",
            Variant::Tiled128 => "tiled128",
            Variant::TiledSplitK => "tiled_splitk",
        }
    }

    /// The module (`shaders/matmul/`) holding this variant's kernel.
    fn shader(self) -> Shader {
        match self {
            Variant::CpuSubgroup => CPU_SUBGROUP,
            Variant::Cpu => CPU,
            Variant::Tiled | Variant::Tiled128 | Variant::TiledSplitK => TILED,
        }
    }

    fn entry(self) -> &'static str {
        match self {
            Variant::CpuSubgroup => "mm_cpu_sg",
            Variant::Cpu => "mm_cpu",
            Variant::Tiled | Variant::TiledSplitK => "mm_tiled",
            Variant::Tiled128 => "mm_tiled128",
        }
    }

    /// Output rows and columns covered by one workgroup.
    fn tile(self) -> (usize, usize) {
        match self {
            Variant::CpuSubgroup => (32, 64),
            Variant::Cpu => (8, 32),
            Variant::Tiled | Variant::TiledSplitK => (64, 64),
            Variant::Tiled128 => (128, 128),
        }
    }
}

/// The variant for this adapter: the one place the choice is made. Measured on lavapipe
/// (n = 1024, see BENCHMARKS.md): `mm_cpu_sg` is several times faster than `mm_cpu`, which is
/// several times faster than `mm_tiled` (barriers and workgroup memory are costly there).
pub fn variant(gpu: &Gpu) -> Variant {
    match gpu.class() {
        DeviceClass::Cpu if subgroup_kernel_available(gpu) => Variant::CpuSubgroup,
        DeviceClass::Cpu => Variant::Cpu,
        DeviceClass::Gpu => Variant::Tiled,
    }
}

/// The variant for one product on this adapter: [`variant`], refined on GPUs by size:
/// `mm_tiled128` once there are at least 128 of its 128 x 128 tiles (enough to fill a large GPU),
/// split K when there are fewer than 128 tiles of 64 x 64 and K is at least 1,024 (so that each
/// split still runs 64 or more K steps), `mm_tiled` otherwise. The thresholds are first
/// guesses, not yet measured on a GPU; where tuning is on, measurement decides instead.
pub fn choose(gpu: &Gpu, s: &Sizes) -> Variant {
    match variant(gpu) {
        Variant::Tiled if s.batch * s.m.div_ceil(128) * s.n.div_ceil(128) >= 128 => {
            Variant::Tiled128
        }
        Variant::Tiled if tiles64(s) < 128 && s.k >= 1024 => Variant::TiledSplitK,
        v => v,
    }
}

/// Output tiles of 64 x 64 of a product.
fn tiles64(s: &Sizes) -> usize {
    s.batch * s.m.div_ceil(64) * s.n.div_ceil(64)
}

/// Workgroups split K aims for: two per multiprocessor of a large GPU (132 on an H200).
const SPLIT_K_TARGET: usize = 264;

/// `(splits, kchunk)` of [`Variant::TiledSplitK`] for a product: enough splits of K to give
/// about [`SPLIT_K_TARGET`] workgroups, each split a multiple of 16 (the kernel's K step) long.
pub fn split_k(s: &Sizes) -> (usize, usize) {
    let want = SPLIT_K_TARGET
        .div_ceil(tiles64(s))
        .clamp(1, s.k.div_ceil(16).max(1));
    let kchunk = s.k.div_ceil(want).next_multiple_of(16).max(16);
    (s.k.div_ceil(kchunk).max(1), kchunk)
}

/// True when `mm_cpu_sg` can run here: the device has the SUBGROUP feature and its subgroups
/// are exactly 8 wide (the kernel broadcasts from lanes 0..7 of one 8-invocation workgroup).
pub fn subgroup_kernel_available(gpu: &Gpu) -> bool {
    gpu.caps().subgroups_of_8()
}

/// Whether `mm_cpu_sg` takes this product (alignment for its vec4 loads and stores).
pub fn subgroup_shape_ok(m: usize, k: usize, n: usize, ta: bool, tb: bool) -> bool {
    n.is_multiple_of(4)
        && (if ta {
            m.is_multiple_of(4)
        } else {
            k.is_multiple_of(4)
        })
        && (!tb || k.is_multiple_of(4))
}

const ACCUMULATE: u32 = 1;
const BIAS_N: u32 = 2;
const BIAS_M: u32 = 4;

/// Mirrors `struct Params` in `shaders/matmul/parts/params.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    m: u32,
    n: u32,
    k: u32,
    flags: u32,
    a_bs: u32,
    b_bs: u32,
    zsplit: u32,
    gx: u32,
    batches: u32,
    kchunk: u32,
    pad: [u32; 2],
}

/// The sizes of one (batched) product, derived from the operand shapes by [`sizes`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sizes {
    /// Number of matrices in the result (the product of the leading dims).
    pub batch: usize,
    /// Whether `a` has leading dims (else it is shared by every batch index).
    pub a_batched: bool,
    /// Whether `b` has leading dims.
    pub b_batched: bool,
    pub m: usize,
    pub k: usize,
    pub n: usize,
    /// `[batch.., M, N]`.
    pub out_shape: Vec<usize>,
}

/// The sizes of `op(a) @ op(b)`, checking that the shapes agree.
pub fn sizes(a_shape: &[usize], b_shape: &[usize], ta: bool, tb: bool) -> Sizes {
    let (sa, sb) = (a_shape, b_shape);
    assert!(
        sa.len() >= 2,
        "matmul: a must have at least 2 dims, got {sa:?}"
    );
    assert!(
        sb.len() >= 2,
        "matmul: b must have at least 2 dims, got {sb:?}"
    );
    let (ra, ca) = (sa[sa.len() - 2], sa[sa.len() - 1]);
    let (rb, cb) = (sb[sb.len() - 2], sb[sb.len() - 1]);
    let (m, k) = if ta { (ca, ra) } else { (ra, ca) };
    let (kb, n) = if tb { (cb, rb) } else { (rb, cb) };
    assert_eq!(
        k, kb,
        "matmul: inner dims differ: a {sa:?} (ta = {ta}) and b {sb:?} (tb = {tb}) give K = {k} vs {kb}"
    );
    let lead_a = &sa[..sa.len() - 2];
    let lead_b = &sb[..sb.len() - 2];
    let (batch_a, batch_b): (usize, usize) = (lead_a.iter().product(), lead_b.iter().product());
    let (a_batched, b_batched) = (!lead_a.is_empty(), !lead_b.is_empty());
    if a_batched && b_batched {
        assert_eq!(
            batch_a, batch_b,
            "matmul: batch dims differ: a {sa:?}, b {sb:?}"
        );
    }
    let lead = if a_batched { lead_a } else { lead_b };
    let mut out_shape = lead.to_vec();
    out_shape.extend([m, n]);
    Sizes {
        batch: batch_a.max(batch_b),
        a_batched,
        b_batched,
        m,
        k,
        n,
        out_shape,
    }
}

/// How one product is dispatched: the kernel, its override constants, its parameter block and
/// its grid. Bindings are always (params, out, a, b, bias). [`matmul_into_with`] launches it on
/// a [`Gpu`]; tests and benchmarks use it to run `mm_cpu_sg` on a raw device with subgroups.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The variant that runs (`CpuSubgroup` falls back to `Cpu` for shapes it does not take).
    pub variant: Variant,
    pub shader: Shader,
    pub entry: &'static str,
    pub constants: [(&'static str, f64); 2],
    /// The `Params` block of `shaders/matmul/parts/params.wgsl`, as its 12 u32 fields.
    pub params: [u32; 12],
    pub workgroups: [u32; 3],
    /// K splits ([`Variant::TiledSplitK`]): above 1, the dispatch writes `splits` partial
    /// results, `[splits, batch.., M, N]`, which the caller sums into `out`; flags (bias,
    /// accumulate) then apply to that sum, not to the dispatch.
    pub splits: usize,
}

/// The [`Plan`] for `out (+)= op(a) @ op(b) (+ bias)`. `subgroups`: whether the device can run
/// `mm_cpu_sg` ([`subgroup_kernel_available`]); without it `CpuSubgroup` falls back to `Cpu`.
pub fn plan(
    v: Variant,
    subgroups: bool,
    s: &Sizes,
    ta: bool,
    tb: bool,
    bias: Option<BiasAlong>,
    accumulate: bool,
) -> Plan {
    let v = match v {
        Variant::CpuSubgroup if !(subgroups && subgroup_shape_ok(s.m, s.k, s.n, ta, tb)) => {
            Variant::Cpu
        }
        Variant::TiledSplitK if bias.is_some() => Variant::Tiled,
        v => v,
    };
    let shader = v.shader();
    let (splits, kchunk) = match v {
        Variant::TiledSplitK => split_k(s),
        _ => (1, s.k.max(1)),
    };
    let mut flags = if accumulate { ACCUMULATE } else { 0 };
    flags |= match bias {
        None => 0,
        Some(BiasAlong::N) => BIAS_N,
        Some(BiasAlong::M) => BIAS_M,
    };
    if splits > 1 {
        flags = 0; // partial sums: the caller's column sum accumulates
    }
    let (tile_m, tile_n) = v.tile();
    let row_tiles = s.m.div_ceil(tile_m);
    let zsplit = row_tiles.div_ceil(MAX_GROUPS);
    let gx = row_tiles.div_ceil(zsplit);
    let gy = s.n.div_ceil(tile_n);
    let gz = splits * s.batch * zsplit;
    assert!(
        gy <= MAX_GROUPS,
        "matmul: N = {} needs {gy} column tiles (> {MAX_GROUPS})",
        s.n
    );
    assert!(
        gz <= MAX_GROUPS,
        "matmul: batch {} x {zsplit} row-tile groups exceeds {MAX_GROUPS}",
        s.batch
    );
    let params = Params {
        m: s.m as u32,
        n: s.n as u32,
        k: s.k as u32,
        flags,
        a_bs: if s.a_batched { (s.m * s.k) as u32 } else { 0 },
        b_bs: if s.b_batched { (s.k * s.n) as u32 } else { 0 },
        zsplit: zsplit as u32,
        gx: gx as u32,
        batches: s.batch as u32,
        kchunk: kchunk as u32,
        pad: [0; 2],
    };
    Plan {
        variant: v,
        shader,
        entry: v.entry(),
        constants: [("TA", ta as u32 as f64), ("TB", tb as u32 as f64)],
        params: bytemuck::cast(params),
        workgroups: [gx as u32, gy as u32, gz as u32],
        splits,
    }
}

/// The shape `matmul(a, b, ta, tb)` returns.
pub fn output_shape(a: &Tensor, b: &Tensor, ta: bool, tb: bool) -> Vec<usize> {
    sizes(a.shape(), b.shape(), ta, tb).out_shape
}

/// out = op(a) @ op(b) for every batch index; op(x) = x^T when the flag is set.
/// a: `[batch.., M, K]` (or `[batch.., K, M]` if ta); b: `[batch.., K, N]` (or `[batch.., N, K]`
/// if tb). "batch" is the product of the leading dims; an operand with only 2 dims is broadcast
/// over the batch of the other (a shared weight). Output: `[batch.., M, N]`.
pub fn matmul(a: &Tensor, b: &Tensor, ta: bool, tb: bool) -> Tensor {
    matmul_bias(a, b, ta, tb, None)
}

/// [`matmul`] with an optional fused bias (see [`BiasAlong`]).
pub fn matmul_bias(
    a: &Tensor,
    b: &Tensor,
    ta: bool,
    tb: bool,
    bias: Option<(&Tensor, BiasAlong)>,
) -> Tensor {
    matmul_bias_pick(None, a, b, ta, tb, bias)
}

/// [`matmul_bias`] with a forced kernel variant (checks and benchmarks run every variant).
pub fn matmul_bias_with(
    v: Variant,
    a: &Tensor,
    b: &Tensor,
    ta: bool,
    tb: bool,
    bias: Option<(&Tensor, BiasAlong)>,
) -> Tensor {
    matmul_bias_pick(Some(v), a, b, ta, tb, bias)
}

/// `v`: a forced variant, or `None` for [`choose`]'s.
fn matmul_bias_pick(
    v: Option<Variant>,
    a: &Tensor,
    b: &Tensor,
    ta: bool,
    tb: bool,
    bias: Option<(&Tensor, BiasAlong)>,
) -> Tensor {
    let out = Tensor::uninit(a.gpu(), &output_shape(a, b, ta, tb));
    matmul_into_pick(v, &out, a, b, ta, tb, bias, false);
    out
}

/// Writes op(a) @ op(b) into `out` (its shape must be the one [`matmul`] would return); if
/// `accumulate`, out += result instead (parameter gradients accumulate).
pub fn matmul_into(out: &Tensor, a: &Tensor, b: &Tensor, ta: bool, tb: bool, accumulate: bool) {
    matmul_into_pick(None, out, a, b, ta, tb, None, accumulate);
}

/// The general entry point: `out (+)= op(a) @ op(b) (+ bias)` with a forced variant.
#[allow(clippy::too_many_arguments)]
pub fn matmul_into_with(
    v: Variant,
    out: &Tensor,
    a: &Tensor,
    b: &Tensor,
    ta: bool,
    tb: bool,
    bias: Option<(&Tensor, BiasAlong)>,
    accumulate: bool,
) {
    matmul_into_pick(Some(v), out, a, b, ta, tb, bias, accumulate);
}

/// [`matmul_into_with`] with `v` forced, or chosen by [`choose`] when `None`.
#[allow(clippy::too_many_arguments)]
fn matmul_into_pick(
    v: Option<Variant>,
    out: &Tensor,
    a: &Tensor,
    b: &Tensor,
    ta: bool,
    tb: bool,
    bias: Option<(&Tensor, BiasAlong)>,
    accumulate: bool,
) {
    let pr = sizes(a.shape(), b.shape(), ta, tb);
    assert_eq!(
        out.shape(),
        &pr.out_shape[..],
        "matmul_into: out has shape {:?}, the product of a {:?} and b {:?} (ta = {ta}, tb = {tb}) is {:?}",
        out.shape(),
        a.shape(),
        b.shape(),
        pr.out_shape
    );
    for (name, t) in [("a", a), ("b", b)] {
        assert!(
            !out.same_buffer(t),
            "matmul: out must not share a buffer with {name}"
        );
    }
    let limit = u32::MAX as usize;
    assert!(
        a.numel() <= limit && b.numel() <= limit && out.numel() <= limit,
        "matmul: operands too large for 32-bit indexing"
    );
    let gpu = out.gpu();
    let dummy;
    let bias_t = match bias {
        Some((t, along)) => {
            let want = if along == BiasAlong::N { pr.n } else { pr.m };
            assert_eq!(
                t.numel(),
                want,
                "matmul: bias along {along:?} must have {want} elements, has shape {:?}",
                t.shape()
            );
            assert!(
                !out.same_buffer(t),
                "matmul: out must not share a buffer with the bias"
            );
            t
        }
        None => {
            dummy = Tensor::uninit(gpu, &[1]);
            &dummy
        }
    };
    let along = bias.map(|(_, along)| along);
    let launch = |v: Variant, out: &Tensor, accumulate: bool| {
        let plan = plan(
            v,
            subgroup_kernel_available(gpu),
            &pr,
            ta,
            tb,
            along,
            accumulate,
        );
        profile::flops(2.0 * (pr.batch * pr.m * pr.n * pr.k) as f64);
        let partials = (plan.splits > 1).then(|| Tensor::uninit(gpu, &[plan.splits, out.numel()]));
        gpu.launch(
            &plan.shader,
            plan.entry,
            &plan.constants,
            &plan.params,
            &[partials.as_ref().unwrap_or(out), a, b, bias_t],
            plan.workgroups,
        );
        if let Some(partials) = partials {
            sum_partials_into(out, &partials, accumulate);
        }
    };
    let v = v.unwrap_or_else(|| {
        tuned(gpu, &pr, ta, tb, along, |c, scratch| {
            launch(c, scratch, false)
        })
        .unwrap_or_else(|| choose(gpu, &pr))
    });
    launch(v, out, accumulate);
}

/// The candidates measured for one product on this adapter's class: the CPU kernels on CPU
/// adapters (`mm_cpu_sg` only where it takes the shape), the tiled ones on GPUs.
fn candidates(gpu: &Gpu, s: &Sizes, ta: bool, tb: bool, bias: bool) -> Vec<Variant> {
    match gpu.class() {
        DeviceClass::Cpu
            if subgroup_kernel_available(gpu) && subgroup_shape_ok(s.m, s.k, s.n, ta, tb) =>
        {
            vec![Variant::CpuSubgroup, Variant::Cpu]
        }
        DeviceClass::Cpu => vec![Variant::Cpu],
        DeviceClass::Gpu if bias || split_k(s).0 == 1 => vec![Variant::Tiled, Variant::Tiled128],
        DeviceClass::Gpu => vec![Variant::Tiled, Variant::Tiled128, Variant::TiledSplitK],
    }
}

/// The measured choice for this product (see `crate::gpu::tuning`), or None where tuning is off
/// or has no cached choice in `cache` mode. `run(variant, scratch)` launches one candidate into
/// a scratch output, so timing never touches the caller's tensors.
fn tuned(
    gpu: &Gpu,
    s: &Sizes,
    ta: bool,
    tb: bool,
    bias: Option<BiasAlong>,
    run: impl Fn(Variant, &Tensor),
) -> Option<Variant> {
    let key = format!(
        "matmul b{} m{} k{} n{} ta{} tb{} bias{}",
        s.batch,
        s.m,
        s.k,
        s.n,
        ta as u8,
        tb as u8,
        match bias {
            None => "-",
            Some(BiasAlong::N) => "n",
            Some(BiasAlong::M) => "m",
        }
    );
    let vs: Vec<(Variant, &'static str)> = candidates(gpu, s, ta, tb, bias.is_some())
        .into_iter()
        .map(|v| (v, v.name()))
        .collect();
    let scratch = std::cell::OnceCell::new();
    tuning::pick(gpu, &key, &vs, |v| {
        run(v, scratch.get_or_init(|| Tensor::uninit(gpu, &s.out_shape)))
    })
}

const MAX_GROUPS: usize = 65_535;

/// Column sums: `out[j] (+)= sum_r x[r, j]` for x viewed as `[rows, cols]` with
/// `cols = out.numel()` (all leading dims of x are rows). Used for bias gradients.
pub fn sum_rows_into(out: &Tensor, x: &Tensor, accumulate: bool) {
    let cols = out.numel();
    assert!(
        x.numel().is_multiple_of(cols) && x.shape().last() == Some(&cols),
        "sum_rows_into: x {:?} does not end in {cols} columns",
        x.shape()
    );
    assert!(
        !out.same_buffer(x),
        "sum_rows_into: out must not share a buffer with x"
    );
    let rows = x.numel() / cols;
    let gpu = out.gpu();
    // Rows per partial sum: few chunks on a CPU (each chunk is one pass over its rows), more on
    // a GPU for parallelism; never more than 65,535 chunks.
    let per_chunk = if gpu.is_cpu() { 1024 } else { 64 };
    let chunk = per_chunk.max(rows.div_ceil(MAX_GROUPS));
    let chunks = rows.div_ceil(chunk);
    let part = Tensor::uninit(gpu, &[chunks, cols]);
    let gx = cols.div_ceil(64);
    assert!(gx <= MAX_GROUPS, "sum_rows_into: too many columns ({cols})");
    gpu.launch(
        &COLSUM,
        "colsum_partial",
        &[],
        &Params::colsum(rows, cols, chunk, 0),
        &[&part, x],
        [gx as u32, chunks as u32, 1],
    );
    sum_partials_into(out, &part, accumulate);
}

/// `out[j] (+)= sum_c part[c, j]` for `part [chunks, out.numel()]` in one pass (`colsum_finish`):
/// the second pass of [`sum_rows_into`], and how the splits of [`Variant::TiledSplitK`] add up.
fn sum_partials_into(out: &Tensor, part: &Tensor, accumulate: bool) {
    let cols = out.numel();
    let chunks = part.numel() / cols;
    assert!(
        cols.div_ceil(64) <= MAX_GROUPS,
        "sum_partials_into: too many columns ({cols})"
    );
    let flags = if accumulate { ACCUMULATE } else { 0 };
    out.gpu().launch(
        &COLSUM,
        "colsum_finish",
        &[],
        &Params::colsum(chunks, cols, 0, flags),
        &[out, part],
        [cols.div_ceil(64) as u32, 1, 1],
    );
}

impl Params {
    /// The parameters of the column-sum kernels (`shaders/matmul/colsum.wgsl`).
    fn colsum(rows: usize, cols: usize, chunk: usize, flags: u32) -> Params {
        Params {
            m: rows as u32,
            n: cols as u32,
            k: chunk as u32,
            flags,
            a_bs: 0,
            b_bs: 0,
            zsplit: 1,
            gx: 0,
            batches: 1,
            kchunk: 0,
            pad: [0; 2],
        }
    }
}

/// y = x @ w^T + bias. x: `[rows.., in]`, w: `[out, in]` (PyTorch Linear layout), bias `[out]`.
/// y: `[rows.., out]`.
pub fn linear(x: &Tensor, w: &Tensor, bias: Option<&Tensor>) -> Tensor {
    linear_pick(None, x, w, bias)
}

/// [`linear`] with a forced kernel variant.
pub fn linear_with(v: Variant, x: &Tensor, w: &Tensor, bias: Option<&Tensor>) -> Tensor {
    linear_pick(Some(v), x, w, bias)
}

fn linear_pick(v: Option<Variant>, x: &Tensor, w: &Tensor, bias: Option<&Tensor>) -> Tensor {
    let (rows, fan_in, fan_out) = linear_dims(x, w);
    let x2 = x.reshape(&[rows, fan_in]);
    let y = matmul_bias_pick(v, &x2, w, false, true, bias.map(|b| (b, BiasAlong::N)));
    let mut shape = x.shape().to_vec();
    *shape.last_mut().unwrap() = fan_out;
    y.reshape(&shape)
}

fn linear_dims(x: &Tensor, w: &Tensor) -> (usize, usize, usize) {
    assert_eq!(
        w.shape().len(),
        2,
        "linear: w must be [out, in], got {:?}",
        w.shape()
    );
    let (fan_out, fan_in) = (w.dim(0), w.dim(1));
    assert!(
        !x.shape().is_empty() && x.dim(-1) == fan_in,
        "linear: x {:?} must end in in = {fan_in} (w is {:?})",
        x.shape(),
        w.shape()
    );
    (x.numel() / fan_in, fan_in, fan_out)
}

/// Backward of [`linear`]: returns dx = dy @ w (shape of x); accumulates dw += dy^T @ x (over all
/// leading rows, one product of the flattened `[rows, ..]` matrices) and db += column sums of dy.
pub fn linear_backward(
    dy: &Tensor,
    x: &Tensor,
    w: &Tensor,
    dw: &Tensor,
    db: Option<&Tensor>,
) -> Tensor {
    linear_backward_pick(None, dy, x, w, dw, db)
}

/// [`linear_backward`] with a forced kernel variant.
pub fn linear_backward_with(
    v: Variant,
    dy: &Tensor,
    x: &Tensor,
    w: &Tensor,
    dw: &Tensor,
    db: Option<&Tensor>,
) -> Tensor {
    linear_backward_pick(Some(v), dy, x, w, dw, db)
}

fn linear_backward_pick(
    v: Option<Variant>,
    dy: &Tensor,
    x: &Tensor,
    w: &Tensor,
    dw: &Tensor,
    db: Option<&Tensor>,
) -> Tensor {
    let (rows, fan_in, fan_out) = linear_dims(x, w);
    assert_eq!(
        dy.numel(),
        rows * fan_out,
        "linear_backward: dy {:?} does not match x {:?} and w {:?}",
        dy.shape(),
        x.shape(),
        w.shape()
    );
    assert_eq!(
        dw.shape(),
        w.shape(),
        "linear_backward: dw must have w's shape"
    );
    let dy2 = dy.reshape(&[rows, fan_out]);
    let x2 = x.reshape(&[rows, fan_in]);
    let dx = matmul_bias_pick(v, &dy2, w, false, false, None);
    matmul_into_pick(v, dw, &dy2, &x2, true, false, None, true);
    if let Some(db) = db {
        assert_eq!(
            db.numel(),
            fan_out,
            "linear_backward: db must have {fan_out} elements"
        );
        sum_rows_into(db, &dy2, true);
    }
    dx.reshape(x.shape())
}
