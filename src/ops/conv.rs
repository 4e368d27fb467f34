//! 2-D convolution forward and backward (`shaders/conv2d.wgsl`): direct loops, one
//! invocation per output element of each pass. Simple and correct on every adapter; the
//! tuned variants are future work (see BENCHMARKS.md).

use crate::gpu::{grid_1d, Shader};
use crate::Tensor;

const SHADER: Shader = crate::shader!("conv2d");

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
            pad: [1; 4],
        }
    }
    /// 1x1: stride 1, no padding.
    pub fn pointwise() -> Self {
        ConvGeometry {
            stride: 1,
            pad: [0; 4],
        }
    }
    /// DDPM's downsample with downsample_padding = 0: one zero row at the bottom and one zero
    /// column at the right (`F.pad(x, (0, 1, 0, 1))`), then 3x3 stride 2.
    pub fn downsample_asymmetric() -> Self {
        ConvGeometry {
            stride: 2,
            pad: [0, 1, 0, 1],
        }
    }
    /// 3x3 stride 2 padding 1 (downsample_padding = 1).
    pub fn downsample_symmetric() -> Self {
        ConvGeometry {
            stride: 2,
            pad: [1; 4],
        }
    }
    pub fn output_hw(&self, h: usize, w: usize, kh: usize, kw: usize) -> (usize, usize) {
        let [t, b, l, r] = self.pad;
        assert!(
            h + t + b >= kh && w + l + r >= kw,
            "kernel larger than the padded input"
        );
        (
            (h + t + b - kh) / self.stride + 1,
            (w + l + r - kw) / self.stride + 1,
        )
    }
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    cin: u32,
    h: u32,
    w: u32,
    cout: u32,
    ho: u32,
    wo: u32,
    kh: u32,
    kw: u32,
    stride: u32,
    pad_top: u32,
    pad_left: u32,
    has_bias: u32,
    accumulate: u32,
    total: u32,
    pad: u32,
}

fn params(x_shape: [usize; 4], w: &Tensor, g: ConvGeometry, total: usize) -> Params {
    let [n, cin, h, wd] = x_shape;
    let ws = w.shape();
    assert_eq!(
        ws.len(),
        4,
        "conv weight must be [Cout, Cin, kh, kw], got {ws:?}"
    );
    assert_eq!(
        ws[1], cin,
        "conv weight expects {} input channels, the input has {cin}",
        ws[1]
    );
    let (ho, wo) = g.output_hw(h, wd, ws[2], ws[3]);
    let u = |v: usize| v as u32;
    Params {
        n: u(n),
        cin: u(cin),
        h: u(h),
        w: u(wd),
        cout: u(ws[0]),
        ho: u(ho),
        wo: u(wo),
        kh: u(ws[2]),
        kw: u(ws[3]),
        stride: u(g.stride),
        pad_top: u(g.pad[0]),
        pad_left: u(g.pad[2]),
        has_bias: 0,
        accumulate: 0,
        total: u(total),
        pad: 0,
    }
}

fn nchw(t: &Tensor) -> [usize; 4] {
    let s = t.shape();
    assert_eq!(s.len(), 4, "conv input must be [N, C, H, W], got {s:?}");
    [s[0], s[1], s[2], s[3]]
}

/// y = conv2d(x, w) + bias. x: [N, Cin, H, W]; w: [Cout, Cin, kh, kw]; bias [Cout].
pub fn conv2d(x: &Tensor, w: &Tensor, bias: Option<&Tensor>, g: ConvGeometry) -> Tensor {
    let xs = nchw(x);
    let (ho, wo) = g.output_hw(xs[2], xs[3], w.dim(2), w.dim(3));
    let y = Tensor::uninit(x.gpu(), &[xs[0], w.dim(0), ho, wo]);
    let mut p = params(xs, w, g, y.numel());
    p.has_bias = bias.is_some() as u32;
    let b = bias.unwrap_or(w);
    x.gpu().launch(
        &SHADER,
        "forward",
        &[],
        &p,
        &[x, w, b, &y],
        grid_1d(y.numel(), 64),
    );
    y
}

/// dL/dx given dy [N, Cout, Hout, Wout]; `input_hw` = (H, W) of x.
pub fn conv2d_backward_input(
    dy: &Tensor,
    w: &Tensor,
    g: ConvGeometry,
    input_hw: (usize, usize),
) -> Tensor {
    let xs = [dy.dim(0), w.dim(1), input_hw.0, input_hw.1];
    let dx = Tensor::uninit(dy.gpu(), &xs);
    let p = params(xs, w, g, dx.numel());
    dy.gpu().launch(
        &SHADER,
        "backward_input",
        &[],
        &p,
        &[dy, w, &dx],
        grid_1d(dx.numel(), 64),
    );
    dx
}

/// dw += dL/dw.
pub fn conv2d_backward_weight(dy: &Tensor, x: &Tensor, dw: &Tensor, g: ConvGeometry) {
    let mut p = params(nchw(x), dw, g, dw.numel());
    p.accumulate = 1;
    x.gpu().launch(
        &SHADER,
        "backward_weight",
        &[],
        &p,
        &[dy, x, dw],
        grid_1d(dw.numel(), 64),
    );
}

/// db += sum over n, y, x of dy.
pub fn conv2d_backward_bias(dy: &Tensor, db: &Tensor) {
    let s = nchw(dy);
    let p = Params {
        n: s[0] as u32,
        cout: s[1] as u32,
        ho: s[2] as u32,
        wo: s[3] as u32,
        accumulate: 1,
        total: s[1] as u32,
        ..bytemuck::Zeroable::zeroed()
    };
    dy.gpu().launch(
        &SHADER,
        "backward_bias",
        &[],
        &p,
        &[dy, db],
        grid_1d(s[1], 64),
    );
}
