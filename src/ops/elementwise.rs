//! Elementwise ops (`shaders/elementwise/`): SiLU and its backward, sums, scaling, fills,
//! per-channel broadcasts, channel concat / split, nearest 2x upsampling and its backward, and
//! the sinusoidal timestep embedding.
//!
//! Shapes: "x [N, C, S]" means an NCHW tensor with S = H * W; 4-D shapes [N, C, H, W] are
//! accepted wherever [N, C, S] is. Every op records its dispatches into the pending encoder and
//! returns at once (no readback, no submit).
//!
//! Launch geometry ([`Variant`]): `workgroup` invocations per workgroup, `per_invocation` items
//! each, an item being one float or, when [`Variant::vec4`] is set and the shape allows it
//! (element count, or channel size S, a multiple of 4), one `vec4<f32>`. [`variant`] picks it
//! for the adapter; [`Elementwise::with`] forces one (the checks run every variant).

use super::ncs;
use crate::gpu::{grid_1d, Shader};
use crate::{Gpu, Tensor};

const POINTWISE: Shader = crate::shader!("elementwise/pointwise");
const RESAMPLE: Shader = crate::shader!("elementwise/resample");
const TIME_EMBEDDING: Shader = crate::shader!("elementwise/time_embedding");

/// The module (`shaders/elementwise/`) that holds entry point `entry`.
fn shader_of(entry: &str) -> &'static Shader {
    if entry.starts_with("upsample2x") {
        &RESAMPLE
    } else if entry == "timestep_embedding" {
        &TIME_EMBEDDING
    } else {
        &POINTWISE
    }
}

/// Launch geometry of the elementwise kernels (shared with the optimiser's flat kernels).
pub use super::FlatVariant as Variant;

/// The variant for this adapter.
///
/// Measured on lavapipe (2 shared cores, [8, 128, 32, 32] tensors, best of 7 runs of 3
/// dispatches; the machine was loaded, so +-30% noise): vec4 items are 1.5-3x faster than
/// scalar ones for every op (add 4.9-6.7 vs 1.0-3.3 GB/s; upsample 0.9-1.8 vs 0.3-0.5 GB/s);
/// among vec4 geometries, workgroups of 128-256 with one item per invocation were best (add
/// 4.9-6.7 GB/s, silu 3.7-4.9), 4 items per invocation no better, 16 items clearly worse
/// (add 2.1 GB/s). The GPU variant is the conventional choice, not yet measured on a GPU.
pub fn variant(gpu: &Gpu) -> Variant {
    gpu.by_class(Variant::CPU, Variant::GPU)
}

#[repr(C)]
#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    /// The kernel's own five launch words: one of the `*Args` structs below, each the mirror
    /// of the WGSL struct of the same name.
    args: [u32; 5],
    alpha: f32,
    pad: f32,
}

/// `ChannelArgs` of `add_channel*` (sizes in items).
#[repr(C)]
#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct ChannelArgs {
    channels: u32,
    plane: u32,
    per_sample: u32,
    unused: [u32; 2],
}

/// `CopyArgs` of `copy_channels*` (sizes in items).
#[repr(C)]
#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct CopyArgs {
    block: u32,
    x_per_sample: u32,
    src0: u32,
    dst0: u32,
    y_per_sample: u32,
}

/// `PlaneArgs` of `upsample2x*` (the low-resolution plane).
#[repr(C)]
#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct PlaneArgs {
    width: u32,
    height: u32,
    unused: [u32; 3],
}

/// `EmbeddingArgs` of `timestep_embedding`.
#[repr(C)]
#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct EmbeddingArgs {
    dim: u32,
    half: u32,
    flip: u32,
    /// Always 0, but a run-time value: see the kernel.
    zero: u32,
    unused: u32,
}

/// Largest element count one binding may hold on this device, as a multiple of 4096 floats
/// (so chunk boundaries keep views aligned and vec4-sized).
fn max_binding_elems(gpu: &Gpu) -> usize {
    let elems = gpu.limits().max_storage_buffer_binding_size as usize / 4;
    (elems / 4096 * 4096).min(1 << 31)
}

/// The elementwise ops with a fixed launch [`Variant`]. The free functions of this module use
/// [`variant`]; `Elementwise::with(v)` forces `v`.
#[derive(Clone, Copy, Debug)]
pub struct Elementwise {
    v: Variant,
}

impl Elementwise {
    pub fn with(v: Variant) -> Elementwise {
        assert!(
            v.workgroup.is_power_of_two() && v.workgroup <= 256,
            "bad workgroup size {v:?}"
        );
        assert!(v.per_invocation >= 1, "bad items per invocation {v:?}");
        Elementwise { v }
    }
    pub fn for_gpu(gpu: &Gpu) -> Elementwise {
        Elementwise::with(variant(gpu))
    }
    pub fn variant(&self) -> Variant {
        self.v
    }

    fn launch(&self, gpu: &Gpu, entry: &str, vec4: bool, p: Params, tensors: &[&Tensor]) {
        let name = if vec4 {
            format!("{entry}4")
        } else {
            entry.to_string()
        };
        let groups = grid_1d(p.n as usize, self.v.items_per_workgroup());
        gpu.launch(
            shader_of(entry),
            &name,
            &self.v.constants(),
            &p,
            tensors,
            groups,
        );
    }

    /// Runs a flat (same index everywhere) kernel over `n` elements, in chunks that fit one
    /// binding; `views(offset, len)` gives the tensors of one chunk.
    fn flat(
        &self,
        gpu: &Gpu,
        entry: &str,
        n: usize,
        alpha: f32,
        views: impl Fn(usize, usize) -> Vec<Tensor>,
    ) {
        let max = max_binding_elems(gpu);
        let mut off = 0;
        while off < n {
            let len = (n - off).min(max);
            let ts = views(off, len);
            let refs: Vec<&Tensor> = ts.iter().collect();
            let vec4 = self.v.vec4 && len.is_multiple_of(4);
            let items = if vec4 { len / 4 } else { len };
            let p = Params {
                n: items as u32,
                alpha,
                ..Default::default()
            };
            self.launch(gpu, entry, vec4, p, &refs);
            off += len;
        }
    }

    /// `x * sigmoid(x)`, same shape as `x`.
    pub fn silu(&self, x: &Tensor) -> Tensor {
        let y = Tensor::uninit(x.gpu(), x.shape());
        let n = x.numel();
        self.flat(x.gpu(), "silu", n, 0.0, |o, l| {
            vec![x.view(o, &[l]), y.view(o, &[l])]
        });
        y
    }

    /// Backward of [`silu`](Self::silu): `dy * (s + x s (1 - s))` with `s = sigmoid(x)`.
    pub fn silu_backward(&self, x: &Tensor, dy: &Tensor) -> Tensor {
        assert_eq!(
            x.shape(),
            dy.shape(),
            "silu_backward: x and dy shapes differ"
        );
        let dx = Tensor::uninit(x.gpu(), x.shape());
        self.flat(x.gpu(), "silu_bwd", x.numel(), 0.0, |o, l| {
            vec![x.view(o, &[l]), dy.view(o, &[l]), dx.view(o, &[l])]
        });
        dx
    }

    /// `a + b` (same shapes).
    pub fn add(&self, a: &Tensor, b: &Tensor) -> Tensor {
        assert_eq!(a.shape(), b.shape(), "add: shapes differ");
        let y = Tensor::uninit(a.gpu(), a.shape());
        self.flat(a.gpu(), "add", a.numel(), 0.0, |o, l| {
            vec![a.view(o, &[l]), b.view(o, &[l]), y.view(o, &[l])]
        });
        y
    }

    /// `a += b` in place (same number of elements; `a` and `b` must not share a buffer).
    pub fn add_assign(&self, a: &Tensor, b: &Tensor) {
        self.axpy(a, 1.0, b);
    }

    /// `s * x`.
    pub fn scale(&self, x: &Tensor, s: f32) -> Tensor {
        let y = Tensor::uninit(x.gpu(), x.shape());
        self.flat(x.gpu(), "scale", x.numel(), s, |o, l| {
            vec![x.view(o, &[l]), y.view(o, &[l])]
        });
        y
    }

    /// `y += alpha * x` in place (same number of elements; no shared buffer).
    pub fn axpy(&self, y: &Tensor, alpha: f32, x: &Tensor) {
        assert_eq!(
            y.numel(),
            x.numel(),
            "axpy / add_assign: {:?} vs {:?}",
            y.shape(),
            x.shape()
        );
        assert!(
            !y.same_buffer(x),
            "axpy / add_assign: the operands share a buffer"
        );
        self.flat(y.gpu(), "axpy", y.numel(), alpha, |o, l| {
            vec![y.view(o, &[l]), x.view(o, &[l])]
        });
    }

    /// Sets every element of `x` to `value`, in place.
    pub fn fill(&self, x: &Tensor, value: f32) {
        self.flat(x.gpu(), "fill", x.numel(), value, |o, l| {
            vec![x.view(o, &[l])]
        });
    }

    /// The parameters of add_channel: (item count, params, vec4).
    fn channel_params(&self, x: &Tensor, v: &Tensor, op: &str) -> (bool, Params) {
        let (n, c, s) = ncs(x.shape(), op);
        let per_sample = match v.shape() {
            [vc] if *vc == c => false,
            [vn, vc] if *vn == n && *vc == c => true,
            other => panic!("{op}: v must be [C] = [{c}] or [N, C] = [{n}, {c}], got {other:?}"),
        };
        x.assert_bindable(op);
        assert!(
            x.numel() < u32::MAX as usize,
            "{op}: tensor too large for 32-bit indices"
        );
        let vec4 = self.v.vec4 && s % 4 == 0;
        let s_items = if vec4 { s / 4 } else { s };
        let p = Params {
            n: (n * c * s_items) as u32,
            args: bytemuck::cast(ChannelArgs {
                channels: c as u32,
                plane: s_items as u32,
                per_sample: per_sample as u32,
                ..Default::default()
            }),
            ..Default::default()
        };
        (vec4, p)
    }

    /// `y[n,c,s] = x[n,c,s] + v[c]` (v: [C]) or `+ v[n,c]` (v: [N, C]), decided by v's shape.
    pub fn add_channel(&self, x: &Tensor, v: &Tensor) -> Tensor {
        let (vec4, p) = self.channel_params(x, v, "add_channel");
        let y = Tensor::uninit(x.gpu(), x.shape());
        self.launch(x.gpu(), "add_channel", vec4, p, &[x, v, &y]);
        y
    }

    /// In-place [`add_channel`](Self::add_channel): `x[n,c,s] += v[c]` or `+= v[n,c]`.
    pub fn add_channel_assign(&self, x: &Tensor, v: &Tensor) {
        assert!(
            !x.same_buffer(v),
            "add_channel_assign: x and v share a buffer"
        );
        let (vec4, p) = self.channel_params(x, v, "add_channel_assign");
        self.launch(x.gpu(), "add_channel_assign", vec4, p, &[x, v]);
    }

    /// Copies channels [src0, src0 + cnt) of `src` [N, Cs, S] to channels [dst0, dst0 + cnt)
    /// of `dst` [N, Cd, S].
    #[allow(clippy::too_many_arguments)]
    fn copy_channels(
        &self,
        src: &Tensor,
        cs: usize,
        src0: usize,
        dst: &Tensor,
        cd: usize,
        dst0: usize,
        cnt: usize,
        n: usize,
        s: usize,
    ) {
        let vec4 = self.v.vec4 && s.is_multiple_of(4);
        let si = if vec4 { s / 4 } else { s };
        let p = Params {
            n: (n * cnt * si) as u32,
            args: bytemuck::cast(CopyArgs {
                block: (cnt * si) as u32,
                x_per_sample: (cs * si) as u32,
                src0: (src0 * si) as u32,
                dst0: (dst0 * si) as u32,
                y_per_sample: (cd * si) as u32,
            }),
            ..Default::default()
        };
        self.launch(src.gpu(), "copy_channels", vec4, p, &[src, dst]);
    }

    /// Channel concat: a [N, Ca, H, W], b [N, Cb, H, W] -> [N, Ca + Cb, H, W] (a's channels
    /// first). 3-D [N, C, S] inputs give a 3-D output.
    pub fn concat_channels(&self, a: &Tensor, b: &Tensor) -> Tensor {
        let (n, ca, s) = ncs(a.shape(), "concat_channels");
        let (nb, cb, sb) = ncs(b.shape(), "concat_channels");
        assert!(
            n == nb
                && s == sb
                && a.shape().len() == b.shape().len()
                && a.shape()[2..] == b.shape()[2..],
            "concat_channels: a {:?} and b {:?} differ outside the channel dimension",
            a.shape(),
            b.shape()
        );
        let mut shape = a.shape().to_vec();
        shape[1] = ca + cb;
        let y = Tensor::uninit(a.gpu(), &shape);
        y.assert_bindable("concat_channels");
        self.copy_channels(a, ca, 0, &y, ca + cb, 0, ca, n, s);
        self.copy_channels(b, cb, 0, &y, ca + cb, ca, cb, n, s);
        y
    }

    /// Inverse of concat (its backward): x [N, Ca + Cb, H, W] -> (first Ca channels, rest).
    pub fn split_channels(&self, x: &Tensor, ca: usize) -> (Tensor, Tensor) {
        let (n, c, s) = ncs(x.shape(), "split_channels");
        assert!(
            ca > 0 && ca < c,
            "split_channels: split point {ca} must be inside 1..{c}"
        );
        x.assert_bindable("split_channels");
        let cb = c - ca;
        let (mut sa, mut sb) = (x.shape().to_vec(), x.shape().to_vec());
        sa[1] = ca;
        sb[1] = cb;
        let a = Tensor::uninit(x.gpu(), &sa);
        let b = Tensor::uninit(x.gpu(), &sb);
        self.copy_channels(x, c, 0, &a, ca, 0, ca, n, s);
        self.copy_channels(x, c, ca, &b, cb, 0, cb, n, s);
        (a, b)
    }

    /// Nearest 2x upsampling: x [N, C, H, W] -> [N, C, 2H, 2W], `out[n,c,i,j] = x[n,c,i/2,j/2]`.
    pub fn upsample_nearest2x(&self, x: &Tensor) -> Tensor {
        let &[n, c, h, w] = x.shape() else {
            panic!(
                "upsample_nearest2x: expected [N, C, H, W], got {:?}",
                x.shape()
            )
        };
        let y = Tensor::uninit(x.gpu(), &[n, c, 2 * h, 2 * w]);
        y.assert_bindable("upsample_nearest2x");
        let vec4 = self.v.vec4 && w % 2 == 0;
        let outputs = n * c * 4 * h * w;
        let items = if vec4 { outputs / 4 } else { outputs };
        let p = Params {
            n: items as u32,
            args: bytemuck::cast(PlaneArgs {
                width: w as u32,
                height: h as u32,
                ..Default::default()
            }),
            ..Default::default()
        };
        self.launch(x.gpu(), "upsample2x", vec4, p, &[x, &y]);
        y
    }

    /// Backward of [`upsample_nearest2x`](Self::upsample_nearest2x): dy [N, C, 2H, 2W] ->
    /// dx [N, C, H, W], each output the sum of its 2x2 block.
    pub fn upsample_nearest2x_backward(&self, dy: &Tensor) -> Tensor {
        let &[n, c, h2, w2] = dy.shape() else {
            panic!(
                "upsample_nearest2x_backward: expected [N, C, 2H, 2W], got {:?}",
                dy.shape()
            )
        };
        assert!(
            h2 % 2 == 0 && w2 % 2 == 0,
            "upsample_nearest2x_backward: odd size {:?}",
            dy.shape()
        );
        dy.assert_bindable("upsample_nearest2x_backward");
        let (h, w) = (h2 / 2, w2 / 2);
        let dx = Tensor::uninit(dy.gpu(), &[n, c, h, w]);
        let vec4 = self.v.vec4 && w % 4 == 0;
        let outputs = n * c * h * w;
        let items = if vec4 { outputs / 4 } else { outputs };
        let p = Params {
            n: items as u32,
            args: bytemuck::cast(PlaneArgs {
                width: w as u32,
                height: h as u32,
                ..Default::default()
            }),
            ..Default::default()
        };
        self.launch(dy.gpu(), "upsample2x_bwd", vec4, p, &[dy, &dx]);
        dx
    }

    /// Sinusoidal timestep embedding (diffusers `get_timestep_embedding`), see
    /// [`timestep_embedding`].
    pub fn timestep_embedding(
        &self,
        t: &Tensor,
        dim: usize,
        flip_sin_to_cos: bool,
        freq_shift: f32,
    ) -> Tensor {
        let &[rows] = t.shape() else {
            panic!(
                "timestep_embedding: t must be a 1-D u32 tensor [B], got {:?}",
                t.shape()
            )
        };
        assert!(
            dim >= 2,
            "timestep_embedding: dim must be at least 2, got {dim}"
        );
        let half = dim / 2;
        let freqs = timestep_frequencies(dim, freq_shift);
        let gpu = t.gpu();
        let f = Tensor::from_slice(gpu, &[half], &freqs);
        let y = Tensor::uninit(gpu, &[rows, dim]);
        let p = Params {
            n: (rows * dim) as u32,
            args: bytemuck::cast(EmbeddingArgs {
                dim: dim as u32,
                half: half as u32,
                flip: flip_sin_to_cos as u32,
                ..Default::default()
            }),
            ..Default::default()
        };
        self.launch(gpu, "timestep_embedding", false, p, &[t, &f, &y]);
        y
    }
}

/// The frequencies of the timestep embedding as PyTorch computes them in float32:
/// `exponent = f32(-ln(10000)) * k` (rounded to f32), `/ (half - shift)` (rounded to f32),
/// `freq = exp(exponent)` (correctly rounded here, via f64). `k = 0..dim/2`.
pub fn timestep_frequencies(dim: usize, freq_shift: f32) -> Vec<f32> {
    let half = dim / 2;
    let neg_log = -(10000f64.ln()) as f32;
    let denom = half as f32 - freq_shift;
    assert!(
        denom != 0.0,
        "timestep_embedding: dim / 2 - freq_shift must not be 0"
    );
    (0..half)
        .map(|k| {
            let e = (neg_log * k as f32) / denom;
            (e as f64).exp() as f32
        })
        .collect()
}

/// `x * sigmoid(x)`.
pub fn silu(x: &Tensor) -> Tensor {
    Elementwise::for_gpu(x.gpu()).silu(x)
}
/// `dy * (s + x s (1 - s))`, `s = sigmoid(x)`: the backward of [`silu`].
pub fn silu_backward(x: &Tensor, dy: &Tensor) -> Tensor {
    Elementwise::for_gpu(x.gpu()).silu_backward(x, dy)
}
/// `a + b` (same shapes).
pub fn add(a: &Tensor, b: &Tensor) -> Tensor {
    Elementwise::for_gpu(a.gpu()).add(a, b)
}
/// `a += b` in place (a and b must not share a buffer).
pub fn add_assign(a: &Tensor, b: &Tensor) {
    Elementwise::for_gpu(a.gpu()).add_assign(a, b)
}
/// `s * x`.
pub fn scale(x: &Tensor, s: f32) -> Tensor {
    Elementwise::for_gpu(x.gpu()).scale(x, s)
}
/// `y += alpha * x` in place.
pub fn axpy(y: &Tensor, alpha: f32, x: &Tensor) {
    Elementwise::for_gpu(y.gpu()).axpy(y, alpha, x)
}
/// Sets every element of `x` to `value`, in place.
pub fn fill(x: &Tensor, value: f32) {
    Elementwise::for_gpu(x.gpu()).fill(x, value)
}
/// `y[n,c,s] = x[n,c,s] + v[c]` (v: [C]) or `+ v[n,c]` (v: [N, C]); returns a new tensor.
/// Its backward: dx = dy, dv = `reduce::sum_to_channels(dy)` or `reduce::sum_spatial(dy)`.
pub fn add_channel(x: &Tensor, v: &Tensor) -> Tensor {
    Elementwise::for_gpu(x.gpu()).add_channel(x, v)
}
/// In-place [`add_channel`].
pub fn add_channel_assign(x: &Tensor, v: &Tensor) {
    Elementwise::for_gpu(x.gpu()).add_channel_assign(x, v)
}
/// Channel concat: a [N, Ca, H, W], b [N, Cb, H, W] -> [N, Ca+Cb, H, W] (a's channels first).
pub fn concat_channels(a: &Tensor, b: &Tensor) -> Tensor {
    Elementwise::for_gpu(a.gpu()).concat_channels(a, b)
}
/// Inverse of concat (its backward): x [N, Ca+Cb, H, W] -> (first Ca channels, rest).
pub fn split_channels(x: &Tensor, ca: usize) -> (Tensor, Tensor) {
    Elementwise::for_gpu(x.gpu()).split_channels(x, ca)
}
/// Nearest 2x upsample: `out[n,c,i,j] = x[n,c,i/2,j/2]`.
pub fn upsample_nearest2x(x: &Tensor) -> Tensor {
    Elementwise::for_gpu(x.gpu()).upsample_nearest2x(x)
}
/// Backward of [`upsample_nearest2x`]: sums each 2x2 block.
pub fn upsample_nearest2x_backward(dy: &Tensor) -> Tensor {
    Elementwise::for_gpu(dy.gpu()).upsample_nearest2x_backward(dy)
}
/// Sinusoidal timestep embedding (diffusers `get_timestep_embedding`, max_period 10000):
/// `t` is a u32 tensor [B] of 0-based timesteps (made with `Tensor::from_u32`); with
/// `half = dim / 2` and `freq_k = exp(-ln(10000) k / (half - freq_shift))` (float32, as
/// PyTorch), `emb = [sin(t freq), cos(t freq)]` (`[cos, sin]` if `flip_sin_to_cos`), the
/// argument `t * freq` rounded to float32 as PyTorch does; an odd `dim` gets a zero last
/// column. Output [B, dim].
pub fn timestep_embedding(
    t: &Tensor,
    dim: usize,
    flip_sin_to_cos: bool,
    freq_shift: f32,
) -> Tensor {
    Elementwise::for_gpu(t.gpu()).timestep_embedding(t, dim, flip_sin_to_cos, freq_shift)
}
