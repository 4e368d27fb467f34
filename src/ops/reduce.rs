//! Reductions (`shaders/reduce.wgsl`): global sums (sum, mean, sum of squares for gradient
//! clipping, the MSE loss), per-channel and per-(sample, channel) sums (bias gradients, the
//! backward of `elementwise::add_channel`), and the MSE gradient.
//!
//! No float atomics and no readback: a reduction is a few recorded dispatches. A long row is
//! cut into blocks, each reduced to a partial, and the partials are reduced the same way until
//! one value per row is left. On a GPU a block is `workgroup * per_invocation` items reduced
//! by one workgroup (a short serial sum per invocation, then a pairwise tree in shared
//! memory); on a CPU adapter a block is `serial_len` items summed by one invocation, with no
//! barriers. Sums over the batch dimension (and rows too short to cut) use the serial kernel
//! in groups of at most [`Variant::serial_len`] terms, reduced again. Every sum is therefore a
//! tree of short f32 sums, accurate to ~1e-7 relative even for 36M elements.
//!
//! Tensors larger than the adapter's largest storage binding (lavapipe: 128 MiB, i.e. 33.5M
//! floats; a 36M-parameter gradient is larger) are reduced in chunks bound as views.

use super::ncs;
use crate::gpu::{grid_1d, Shader};
use crate::{Gpu, Tensor};

const SHADER: Shader = crate::shader!("reduce");

/// Launch geometry of the reduction kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Variant {
    /// Reduce long rows with the `rows` kernel (a shared-memory tree per workgroup, with
    /// barriers); otherwise with `serial` only (barrier-free, fan-in `serial_len` per level).
    pub tree: bool,
    /// Invocations per workgroup (a power of two, <= 256).
    pub workgroup: u32,
    /// Serial terms per invocation in the first level of a row reduction.
    pub per_invocation: u32,
    /// Longest run summed serially by one invocation (rows shorter than this, and groups of
    /// the batch dimension).
    pub serial_len: u32,
    /// `mse_loss_backward` (a flat elementwise kernel): items per invocation.
    pub flat_per_invocation: u32,
    /// `mse_loss_backward`: vec4 items when the element count allows.
    pub vec4: bool,
}

impl Variant {
    /// A real GPU: the tree kernel, 256-wide workgroups, 16 vec4 items per invocation
    /// (16384-element chunks per workgroup). Not measured on a GPU yet.
    pub const GPU: Variant = Variant {
        tree: true,
        workgroup: 256,
        per_invocation: 16,
        serial_len: 64,
        flat_per_invocation: 1,
        vec4: true,
    };
    /// A CPU adapter (lavapipe): barrier-free serial sums of 16 vec4 items per invocation and
    /// level (see [`variant`]).
    pub const CPU: Variant = Variant {
        tree: false,
        workgroup: 128,
        per_invocation: 1,
        serial_len: 16,
        flat_per_invocation: 1,
        vec4: true,
    };
    /// A small-tree variant with scalar reads, to exercise other geometries.
    pub const SMALL: Variant = Variant {
        tree: true,
        workgroup: 32,
        per_invocation: 3,
        serial_len: 5,
        flat_per_invocation: 3,
        vec4: false,
    };
    /// The barrier-free path with a small fan-in (more levels), scalar reads.
    pub const SMALL_SERIAL: Variant = Variant {
        tree: false,
        workgroup: 32,
        per_invocation: 1,
        serial_len: 7,
        flat_per_invocation: 1,
        vec4: false,
    };
    /// Every variant the checks run.
    pub const ALL: [Variant; 4] = [
        Variant::GPU,
        Variant::CPU,
        Variant::SMALL,
        Variant::SMALL_SERIAL,
    ];

    fn chunk(self) -> usize {
        (self.workgroup * self.per_invocation) as usize
    }
    /// Elements per partial in the first level of a long-row reduction.
    fn fan_in(self) -> usize {
        if self.tree {
            self.chunk()
        } else {
            self.serial_len as usize
        }
    }
}

/// The variant for this adapter.
///
/// Measured on lavapipe (sum of squares of 8M floats, best of 7 runs of 3; 2 shared, loaded
/// cores, so +-30% noise): vec4 reads beat scalar ones (serial, fan-in 64: 69 vs 84-119 ms);
/// the tree kernel with barriers took 28-75 ms whatever its geometry (32x256, 64x64,
/// 256x16); the barrier-free serial kernel with each invocation summing a contiguous block
/// took 12-14 ms with 16 vec4 items per block and 128-wide workgroups (17-24 ms with 32-64
/// items, and 2-3x slower when adjacent invocations read adjacent items instead of blocks):
/// 2.3-2.7 GB/s, against ~2 GB/s for `scale` (read + write) on the same data. A GPU gets the
/// tree kernel (coalesced reads, few levels); not yet measured on one.
pub fn variant(gpu: &Gpu) -> Variant {
    gpu.by_class(Variant::CPU, Variant::GPU)
}

#[repr(C)]
#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    len: u32,
    stride: u32,
    q: u32,
    epi: u32,
    out_off: u32,
    flags: u32,
    scale: f32,
    cstride: u32,
    kstride: u32,
    total: u32,
    limit: u32,
    x_off: u32,
    pad: [u32; 3],
}

/// Sizes of one `serial` dispatch (see the kernel's comment).
#[derive(Clone, Copy, Default)]
struct Serial {
    n: usize,
    len: usize,
    stride: usize,
    q: usize,
    cstride: usize,
    kstride: usize,
    total: usize,
    limit: usize,
    x_off: usize,
}

const UNBOUNDED: usize = u32::MAX as usize;

/// What the first level sums.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Term {
    Value,
    Square,
}

impl Term {
    fn mode(self) -> f64 {
        match self {
            Term::Value => 0.0,
            Term::Square => 1.0,
        }
    }
}

/// Where a reduction writes: `out[off + i] (+)= scale * sum_i`.
#[derive(Clone, Copy)]
struct Dest<'a> {
    out: &'a Tensor,
    off: usize,
    scale: f32,
    accumulate: bool,
}

/// The reductions with a fixed launch [`Variant`]. The free functions of this module use
/// [`variant`]; `Reduce::with(v)` forces `v`.
#[derive(Clone, Copy, Debug)]
pub struct Reduce {
    v: Variant,
}

impl Reduce {
    pub fn with(v: Variant) -> Reduce {
        assert!(
            v.workgroup.is_power_of_two() && v.workgroup <= 256,
            "bad workgroup size {v:?}"
        );
        assert!(
            v.per_invocation >= 1 && v.serial_len >= 1 && v.flat_per_invocation >= 1,
            "bad variant {v:?}"
        );
        Reduce { v }
    }
    pub fn for_gpu(gpu: &Gpu) -> Reduce {
        Reduce::with(variant(gpu))
    }
    pub fn variant(&self) -> Variant {
        self.v
    }

    fn constants(&self, term: Term) -> [(&'static str, f64); 2] {
        [("WG", self.v.workgroup as f64), ("MODE", term.mode())]
    }

    /// Whether a reduction of rows of `len` elements, `stride` apart, in `x` (and `target`)
    /// can read vec4 items.
    fn use_vec4(&self, x: &Tensor, len: usize, stride: usize) -> bool {
        self.v.vec4
            && len.is_multiple_of(4)
            && stride.is_multiple_of(4)
            && x.numel().is_multiple_of(4)
    }

    #[allow(clippy::too_many_arguments)]
    fn launch(
        &self,
        base: &str,
        x: &Tensor,
        target: Option<&Tensor>,
        term: Term,
        vec4: bool,
        p: &Params,
        dest: Dest,
        groups: [u32; 3],
    ) {
        let entry = format!(
            "{base}{}{}",
            if target.is_some() { "_mse" } else { "" },
            if vec4 { "4" } else { "" }
        );
        let gpu = x.gpu();
        match target {
            None => gpu.launch(
                &SHADER,
                &entry,
                &self.constants(term),
                p,
                &[x, dest.out],
                groups,
            ),
            Some(t) => gpu.launch(
                &SHADER,
                &entry,
                &self.constants(term),
                p,
                &[x, t, dest.out],
                groups,
            ),
        }
    }

    /// One `rows` dispatch (sizes in items): partial sums of `q` chunks of each of `rows` rows
    /// of `len` items (starts `stride` apart), `epi` terms per invocation, written to
    /// `dest.out[dest.off + r * q + c]`.
    #[allow(clippy::too_many_arguments)]
    fn rows_dispatch(
        &self,
        x: &Tensor,
        target: Option<&Tensor>,
        term: Term,
        vec4: bool,
        rows: usize,
        len: usize,
        stride: usize,
        q: usize,
        epi: usize,
        dest: Dest,
    ) {
        let p = Params {
            n: rows as u32,
            len: len as u32,
            stride: stride as u32,
            q: q as u32,
            epi: epi as u32,
            out_off: dest.off as u32,
            flags: dest.accumulate as u32,
            scale: dest.scale,
            ..Default::default()
        };
        self.launch(
            "rows",
            x,
            target,
            term,
            vec4,
            &p,
            dest,
            grid_1d(rows * q, 1),
        );
    }

    /// One `serial` dispatch (sizes in items; see the kernel's comment).
    fn serial_dispatch(
        &self,
        x: &Tensor,
        target: Option<&Tensor>,
        term: Term,
        vec4: bool,
        sz: Serial,
        dest: Dest,
    ) {
        let p = Params {
            n: sz.n as u32,
            len: sz.len as u32,
            stride: sz.stride as u32,
            q: sz.q as u32,
            out_off: dest.off as u32,
            flags: dest.accumulate as u32,
            scale: dest.scale,
            cstride: sz.cstride as u32,
            kstride: sz.kstride as u32,
            total: sz.total as u32,
            limit: sz.limit as u32,
            x_off: sz.x_off as u32,
            ..Default::default()
        };
        self.launch(
            "serial",
            x,
            target,
            term,
            vec4,
            &p,
            dest,
            grid_1d(sz.n, self.v.workgroup as usize),
        );
    }

    /// First level of a long-row reduction: each of `rows` rows of `len` elements (starts
    /// `stride` apart) to `ceil(items / fan_in)` partials (items = len / 4 when vec4), written
    /// from `dest.off` on. Returns the partials per row.
    #[allow(clippy::too_many_arguments)]
    fn partials(
        &self,
        x: &Tensor,
        target: Option<&Tensor>,
        term: Term,
        rows: usize,
        len: usize,
        stride: usize,
        dest: Dest,
    ) -> usize {
        let vec4 = self.use_vec4(x, len, stride);
        let (len, stride) = if vec4 {
            (len / 4, stride / 4)
        } else {
            (len, stride)
        };
        let parts = len.div_ceil(self.v.fan_in());
        if self.v.tree {
            self.rows_dispatch(
                x,
                target,
                term,
                vec4,
                rows,
                len,
                stride,
                parts,
                self.v.per_invocation as usize,
                dest,
            );
        } else {
            // Partial m sums the contiguous items [m f, (m + 1) f) of its row (f = fan-in): on a
            // CPU adapter each invocation then streams through memory (an interleaved layout,
            // adjacent invocations on adjacent items, measured 2-3x slower on lavapipe).
            let f = self.v.fan_in();
            let sz = Serial {
                n: rows * parts,
                len: f,
                stride,
                q: parts,
                cstride: f,
                kstride: 1,
                total: UNBOUNDED,
                limit: len,
                x_off: 0,
            };
            self.serial_dispatch(x, target, term, vec4, sz, dest);
        }
        parts
    }

    /// `dest[r] (+)= scale * sum_j term(x[r * stride + j])` for r < rows, j < len
    /// (term (x - target)^2 when `target` is given).
    #[allow(clippy::too_many_arguments)]
    fn reduce_rows(
        &self,
        x: &Tensor,
        target: Option<&Tensor>,
        term: Term,
        rows: usize,
        len: usize,
        stride: usize,
        dest: Dest,
    ) {
        let vec4 = self.use_vec4(x, len, stride);
        let (ilen, istride) = if vec4 {
            (len / 4, stride / 4)
        } else {
            (len, stride)
        };
        if ilen <= self.v.serial_len as usize {
            // Short rows: one invocation per row.
            let sz = Serial {
                n: rows,
                len: ilen,
                q: rows,
                cstride: istride,
                kstride: 1,
                total: ilen,
                limit: UNBOUNDED,
                ..Default::default()
            };
            self.serial_dispatch(x, target, term, vec4, sz, dest);
            return;
        }
        if self.v.tree && ilen <= self.v.chunk() {
            let epi = ilen.div_ceil(self.v.workgroup as usize);
            self.rows_dispatch(x, target, term, vec4, rows, ilen, istride, 1, epi, dest);
            return;
        }
        let parts = ilen.div_ceil(self.v.fan_in());
        let partial = Tensor::uninit(x.gpu(), &[rows * parts]);
        let pd = Dest {
            out: &partial,
            off: 0,
            scale: 1.0,
            accumulate: false,
        };
        self.partials(x, target, term, rows, len, stride, pd);
        self.reduce_rows(&partial, None, Term::Value, rows, parts, parts, dest);
    }

    /// `dest[m] (+)= scale * sum_a x[a * m_len + m]` for x [a_len, m_len] (sum over the
    /// leading dimension), in groups of at most `serial_len` rows, reduced again.
    fn reduce_leading(&self, x: &Tensor, a_len: usize, m_len: usize, dest: Dest) {
        let g = self.v.serial_len as usize;
        let groups = a_len.div_ceil(g);
        // vec4 items along m: output item m4 sums columns 4 m4 .. 4 m4 + 3, which is not what
        // is wanted, so this sum stays scalar; it is coalesced (adjacent invocations read
        // adjacent columns) and reads each element once.
        let sz = Serial {
            n: groups * m_len,
            len: g.min(a_len),
            stride: g * m_len,
            q: m_len,
            cstride: 1,
            kstride: m_len,
            total: a_len,
            limit: UNBOUNDED,
            x_off: 0,
        };
        if groups == 1 {
            self.serial_dispatch(x, None, Term::Value, false, sz, dest);
            return;
        }
        let partial = Tensor::uninit(x.gpu(), &[groups, m_len]);
        let pd = Dest {
            out: &partial,
            off: 0,
            scale: 1.0,
            accumulate: false,
        };
        self.serial_dispatch(x, None, Term::Value, false, sz, pd);
        self.reduce_leading(&partial, groups, m_len, dest);
    }

    /// scale * sum of term over all elements (of x, or of (x - target)^2), as a new [1].
    /// The first level runs on views of at most one binding each; with vec4 reads, the last
    /// `n % 4` elements get a scalar partial of their own.
    fn reduce_all(&self, x: &Tensor, target: Option<&Tensor>, term: Term, scale: f32) -> Tensor {
        let gpu = x.gpu();
        let n = x.numel();
        let out = Tensor::uninit(gpu, &[1]);
        let dest = Dest {
            out: &out,
            off: 0,
            scale,
            accumulate: false,
        };
        let max_elems = gpu.limits().max_storage_buffer_binding_size as usize / 4;
        let item = if self.v.vec4 { 4 } else { 1 };
        let fan = self.v.fan_in() * item; // elements per first-level partial
        let ragged = self.v.vec4 && !n.is_multiple_of(4) && n > fan;
        if n <= max_elems && !ragged {
            self.reduce_rows(x, target, term, 1, n, n, dest);
            return out;
        }
        // Chunks of `per` elements, a multiple of `fan` and of 4096 floats, so the views stay
        // aligned and chunk i's partials start at i * per / fan.
        let unit = fan * 4096 / gcd(fan, 4096);
        let per = max_elems / unit * unit;
        assert!(
            per > 0,
            "reduce: the adapter's storage binding limit is too small"
        );
        let last = (n - 1) / per * per; // start of the last chunk
        let main_last = (n - last) / item * item;
        let tail = n - last - main_last;
        let parts = last / fan + main_last.div_ceil(fan) + (tail > 0) as usize;
        let partial = Tensor::uninit(gpu, &[parts]);
        let mut off = 0;
        while off < n {
            let len = (n - off).min(per);
            let main = len / item * item;
            if main > 0 {
                let xv = x.view(off, &[main]);
                let tv = target.map(|t| t.view(off, &[main]));
                let pd = Dest {
                    out: &partial,
                    off: off / fan,
                    scale: 1.0,
                    accumulate: false,
                };
                self.partials(&xv, tv.as_ref(), term, 1, main, main, pd);
            }
            if main < len {
                // The ragged end: one scalar partial, last in the partials.
                let xv = x.view(off, &[len]);
                let tv = target.map(|t| t.view(off, &[len]));
                let sz = Serial {
                    n: 1,
                    len: len - main,
                    q: 1,
                    kstride: 1,
                    total: len - main,
                    limit: UNBOUNDED,
                    x_off: main,
                    ..Default::default()
                };
                let pd = Dest {
                    out: &partial,
                    off: parts - 1,
                    scale: 1.0,
                    accumulate: false,
                };
                self.serial_dispatch(&xv, tv.as_ref(), term, false, sz, pd);
            }
            off += len;
        }
        self.reduce_rows(&partial, None, Term::Value, 1, parts, parts, dest);
        out
    }

    /// Sum of all elements, as [1].
    pub fn sum(&self, x: &Tensor) -> Tensor {
        self.reduce_all(x, None, Term::Value, 1.0)
    }

    /// Mean of all elements, as [1].
    pub fn mean(&self, x: &Tensor) -> Tensor {
        self.reduce_all(x, None, Term::Value, 1.0 / x.numel() as f32)
    }

    /// Sum of squares of all elements, as [1] (the squared global gradient norm).
    pub fn sum_squares(&self, x: &Tensor) -> Tensor {
        self.reduce_all(x, None, Term::Square, 1.0)
    }

    /// `out[c] (+)= sum over n and s of x[n, c, s]` for x [N, C, S] (or [N, C, H, W], or
    /// [rows, C] with S = 1); `out` is [C] (any shape with C elements). Bias gradients.
    pub fn sum_to_channels(&self, x: &Tensor, out: &Tensor, accumulate: bool) {
        let (n, c, s) = ncs(x.shape(), "sum_to_channels");
        assert_eq!(
            out.numel(),
            c,
            "sum_to_channels: out has {} elements, x {:?} has {c} channels",
            out.numel(),
            x.shape()
        );
        assert!(
            !out.same_buffer(x),
            "sum_to_channels: x and out share a buffer"
        );
        x.assert_bindable("sum_to_channels");
        let dest = Dest {
            out,
            off: 0,
            scale: 1.0,
            accumulate,
        };
        if n == 1 {
            self.reduce_rows(x, None, Term::Value, c, s, s, dest);
        } else if s == 1 {
            self.reduce_leading(x, n, c, dest);
        } else {
            // Sum over the batch first (contiguous, coalesced), then over the spatial positions.
            let per_cs = Tensor::uninit(x.gpu(), &[c, s]);
            let pd = Dest {
                out: &per_cs,
                off: 0,
                scale: 1.0,
                accumulate: false,
            };
            self.reduce_leading(x, n, c * s, pd);
            self.reduce_rows(&per_cs, None, Term::Value, c, s, s, dest);
        }
    }

    /// [N, C, S] (or [N, C, H, W]) -> [N, C]: sum over the spatial positions (the backward of
    /// `add_channel` with a per-sample v).
    pub fn sum_spatial(&self, x: &Tensor) -> Tensor {
        let (n, c, s) = ncs(x.shape(), "sum_spatial");
        x.assert_bindable("sum_spatial");
        let out = Tensor::uninit(x.gpu(), &[n, c]);
        self.reduce_rows(
            x,
            None,
            Term::Value,
            n * c,
            s,
            s,
            Dest {
                out: &out,
                off: 0,
                scale: 1.0,
                accumulate: false,
            },
        );
        out
    }

    /// `mean((pred - target)^2)` as [1].
    pub fn mse_loss(&self, pred: &Tensor, target: &Tensor) -> Tensor {
        assert_eq!(
            pred.shape(),
            target.shape(),
            "mse_loss: pred and target shapes differ"
        );
        self.reduce_all(pred, Some(target), Term::Value, 1.0 / pred.numel() as f32)
    }

    /// The gradient of [`mse_loss`](Self::mse_loss) with respect to `pred`:
    /// `2 (pred - target) / numel`, shape of `pred`.
    pub fn mse_loss_backward(&self, pred: &Tensor, target: &Tensor) -> Tensor {
        assert_eq!(
            pred.shape(),
            target.shape(),
            "mse_loss_backward: pred and target shapes differ"
        );
        let gpu = pred.gpu();
        let n = pred.numel();
        let grad = Tensor::uninit(gpu, pred.shape());
        let scale = 2.0 / n as f32;
        let max = (gpu.limits().max_storage_buffer_binding_size as usize / 4) / 4096 * 4096;
        let epi = self.v.flat_per_invocation as f64;
        let wg = self.v.workgroup;
        let mut off = 0;
        while off < n {
            let len = (n - off).min(max);
            let vec4 = self.v.vec4 && len.is_multiple_of(4);
            let items = if vec4 { len / 4 } else { len };
            let p = Params {
                n: items as u32,
                scale,
                ..Default::default()
            };
            let entry = if vec4 { "mse_bwd4" } else { "mse_bwd" };
            let (pv, tv, gv) = (
                pred.view(off, &[len]),
                target.view(off, &[len]),
                grad.view(off, &[len]),
            );
            let groups = grid_1d(items, wg as usize * epi as usize);
            gpu.launch(
                &SHADER,
                entry,
                &[("WG", wg as f64), ("EPI", epi)],
                &p,
                &[&pv, &tv, &gv],
                groups,
            );
            off += len;
        }
        grad
    }
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Sum of all elements, as [1].
pub fn sum(x: &Tensor) -> Tensor {
    Reduce::for_gpu(x.gpu()).sum(x)
}
/// Mean of all elements, as [1].
pub fn mean(x: &Tensor) -> Tensor {
    Reduce::for_gpu(x.gpu()).mean(x)
}
/// Sum of squares of all elements, as [1] (squared global gradient norm for clipping).
pub fn sum_squares(x: &Tensor) -> Tensor {
    Reduce::for_gpu(x.gpu()).sum_squares(x)
}
/// `out[c] (+)= sum over n and s of x[n,c,s]` (bias gradients; x [N, C, S] or [rows, C] with S = 1).
pub fn sum_to_channels(x: &Tensor, out: &Tensor, accumulate: bool) {
    Reduce::for_gpu(x.gpu()).sum_to_channels(x, out, accumulate)
}
/// [N, C, S] -> [N, C]: sum over S (backward of add_channel with a per-sample v).
pub fn sum_spatial(x: &Tensor) -> Tensor {
    Reduce::for_gpu(x.gpu()).sum_spatial(x)
}
/// `loss = mean((pred - target)^2)` as [1].
pub fn mse_loss(pred: &Tensor, target: &Tensor) -> Tensor {
    Reduce::for_gpu(pred.gpu()).mse_loss(pred, target)
}
/// `2 (pred - target) / numel`, same shape as `pred`.
pub fn mse_loss_backward(pred: &Tensor, target: &Tensor) -> Tensor {
    Reduce::for_gpu(pred.gpu()).mse_loss_backward(pred, target)
}
