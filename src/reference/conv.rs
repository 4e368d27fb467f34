//! Float64 reference of 2-D convolution (cross-correlation, as PyTorch's `conv2d`) and of its
//! three backward passes, written as plain loops over the forward index space.
//!
//! Layouts (row-major): x `[n, cin, h, w]`, weight `[cout, cin, kh, kw]` (PyTorch layout),
//! bias `[cout]`, y `[n, cout, hout, wout]`.
//!
//! Semantics, with `pad = [top, bottom, left, right]` zero padding and stride `s`:
//!
//! ```text
//! hout = (h + top + bottom - kh) / s + 1        wout = (w + left + right - kw) / s + 1
//! y[n,co,oy,ox] = bias[co] + sum_{ci,ky,kx} w[co,ci,ky,kx] * x[n,ci, oy*s+ky-top, ox*s+kx-left]
//! ```
//!
//! where `x` outside `[0,h) x [0,w)` reads as zero. Every backward function below loops over
//! exactly the same index space as the forward and applies the chain rule to each product,
//! so they are the adjoint of the forward by construction (and the finite-difference tests in
//! `tests/conv.rs` check it numerically).

/// Sizes and geometry of one convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvDims {
    pub n: usize,
    pub cin: usize,
    pub h: usize,
    pub w: usize,
    pub cout: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: usize,
    /// Zero padding `[top, bottom, left, right]`.
    pub pad: [usize; 4],
}

impl ConvDims {
    /// `(hout, wout)`.
    pub fn out_hw(&self) -> (usize, usize) {
        let [t, b, l, r] = self.pad;
        assert!(self.stride >= 1, "stride must be at least 1");
        assert!(
            self.h + t + b >= self.kh && self.w + l + r >= self.kw,
            "kernel larger than padded input"
        );
        (
            (self.h + t + b - self.kh) / self.stride + 1,
            (self.w + l + r - self.kw) / self.stride + 1,
        )
    }
    pub fn x_len(&self) -> usize {
        self.n * self.cin * self.h * self.w
    }
    pub fn w_len(&self) -> usize {
        self.cout * self.cin * self.kh * self.kw
    }
    pub fn y_len(&self) -> usize {
        let (ho, wo) = self.out_hw();
        self.n * self.cout * ho * wo
    }

    /// Calls `f(x_index, w_index, y_index)` for every product term of the forward sum whose
    /// input position lies inside the image (padding terms are zero and skipped).
    fn for_each_term(&self, mut f: impl FnMut(usize, usize, usize)) {
        let (ho, wo) = self.out_hw();
        let [top, _, left, _] = self.pad;
        for n in 0..self.n {
            for co in 0..self.cout {
                for oy in 0..ho {
                    for ox in 0..wo {
                        let yi = ((n * self.cout + co) * ho + oy) * wo + ox;
                        for ci in 0..self.cin {
                            for ky in 0..self.kh {
                                let iy = (oy * self.stride + ky) as isize - top as isize;
                                if iy < 0 || iy >= self.h as isize {
                                    continue;
                                }
                                for kx in 0..self.kw {
                                    let ix = (ox * self.stride + kx) as isize - left as isize;
                                    if ix < 0 || ix >= self.w as isize {
                                        continue;
                                    }
                                    let xi = ((n * self.cin + ci) * self.h + iy as usize) * self.w
                                        + ix as usize;
                                    let wi = ((co * self.cin + ci) * self.kh + ky) * self.kw + kx;
                                    f(xi, wi, yi);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `y = conv2d(x, w) + bias`, shape `[n, cout, hout, wout]`.
pub fn conv2d(d: &ConvDims, x: &[f64], w: &[f64], bias: Option<&[f64]>) -> Vec<f64> {
    assert_eq!(x.len(), d.x_len(), "x length");
    assert_eq!(w.len(), d.w_len(), "weight length");
    let (ho, wo) = d.out_hw();
    let mut y = vec![0.0; d.y_len()];
    if let Some(b) = bias {
        assert_eq!(b.len(), d.cout, "bias length");
        for (i, v) in y.iter_mut().enumerate() {
            *v = b[(i / (ho * wo)) % d.cout];
        }
    }
    d.for_each_term(|xi, wi, yi| y[yi] += w[wi] * x[xi]);
    y
}

/// `dL/dx` given `dy = dL/dy`: shape `[n, cin, h, w]`.
pub fn conv2d_backward_input(d: &ConvDims, dy: &[f64], w: &[f64]) -> Vec<f64> {
    assert_eq!(dy.len(), d.y_len(), "dy length");
    assert_eq!(w.len(), d.w_len(), "weight length");
    let mut dx = vec![0.0; d.x_len()];
    d.for_each_term(|xi, wi, yi| dx[xi] += w[wi] * dy[yi]);
    dx
}

/// `dw += dL/dw` (accumulates into `dw`, shape `[cout, cin, kh, kw]`).
pub fn conv2d_backward_weight(d: &ConvDims, dy: &[f64], x: &[f64], dw: &mut [f64]) {
    assert_eq!(dy.len(), d.y_len(), "dy length");
    assert_eq!(x.len(), d.x_len(), "x length");
    assert_eq!(dw.len(), d.w_len(), "dw length");
    d.for_each_term(|xi, wi, yi| dw[wi] += x[xi] * dy[yi]);
}

/// `db += dL/dbias = sum over n, y, x of dy` (accumulates into `db`, shape `[cout]`).
pub fn conv2d_backward_bias(n: usize, cout: usize, hw: usize, dy: &[f64], db: &mut [f64]) {
    assert_eq!(dy.len(), n * cout * hw, "dy length");
    assert_eq!(db.len(), cout, "db length");
    for (i, g) in dy.iter().enumerate() {
        db[(i / hw) % cout] += g;
    }
}

/// `ops::conv::pad_planes` in float64: `x [planes, h, w]` copied into `[planes, hp, wp]` at
/// rows `top + d*y`, columns `left + d*x` (offsets may be negative: crop), zero elsewhere.
pub fn pad_planes(
    x: &[f64],
    (planes, h, w): (usize, usize, usize),
    (hp, wp): (usize, usize),
    (top, left): (isize, isize),
    dil: usize,
) -> Vec<f64> {
    let source = |v: usize, off: isize, len: usize| {
        let r = v as isize - off;
        let d = dil as isize;
        (r >= 0 && r % d == 0 && ((r / d) as usize) < len).then(|| (r / d) as usize)
    };
    let mut y = vec![0.0; planes * hp * wp];
    for q in 0..planes {
        for py in 0..hp {
            for px in 0..wp {
                if let (Some(sy), Some(sx)) = (source(py, top, h), source(px, left, w)) {
                    y[(q * hp + py) * wp + px] = x[(q * h + sy) * w + sx];
                }
            }
        }
    }
    y
}
