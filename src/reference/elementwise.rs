//! Float64 reference of the elementwise ops and their backward passes (`ops::elementwise`).
//!
//! Tensors are row-major `&[f64]` slices with explicit dimensions; "[N, C, S]" is an NCHW
//! tensor with S = H * W. The backward of `add_channel` (a sum over n and s, or over s) lives
//! in `reference::reduce` (`sum_to_channels`, `sum_spatial`).

/// `1 / (1 + exp(-x))`.
pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// `y = x * sigmoid(x)`.
pub fn silu(x: &[f64]) -> Vec<f64> {
    x.iter().map(|&v| v * sigmoid(v)).collect()
}

/// Backward of [`silu`]: `dx = dy * (s + x s (1 - s))`, `s = sigmoid(x)`.
pub fn silu_backward(x: &[f64], dy: &[f64]) -> Vec<f64> {
    assert_eq!(x.len(), dy.len());
    let mut dx = vec![0.0; x.len()];
    for i in 0..x.len() {
        let s = sigmoid(x[i]);
        dx[i] = dy[i] * (s + x[i] * s * (1.0 - s));
    }
    dx
}

/// `a + b`. (Backward: both inputs receive dy.)
pub fn add(a: &[f64], b: &[f64]) -> Vec<f64> {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| x + y).collect()
}

/// `s * x`. (Backward: `s * dy`.)
pub fn scale(x: &[f64], s: f64) -> Vec<f64> {
    x.iter().map(|v| s * v).collect()
}

/// `y += alpha * x` in place.
pub fn axpy(y: &mut [f64], alpha: f64, x: &[f64]) {
    assert_eq!(y.len(), x.len());
    for i in 0..y.len() {
        y[i] += alpha * x[i];
    }
}

/// `y[n,c,s] = x[n,c,s] + v[c]` (`per_sample == false`, v has C values) or `+ v[n*C + c]`
/// (`per_sample == true`, v is [N, C]), for x [N, C, S].
/// Backward: `dx = dy`; `dv = reduce::sum_to_channels(dy)` or `reduce::sum_spatial(dy)`.
pub fn add_channel(
    x: &[f64],
    n: usize,
    c: usize,
    s: usize,
    v: &[f64],
    per_sample: bool,
) -> Vec<f64> {
    assert_eq!(x.len(), n * c * s);
    assert_eq!(v.len(), if per_sample { n * c } else { c });
    let mut y = vec![0.0; x.len()];
    for ni in 0..n {
        for ci in 0..c {
            let add = if per_sample { v[ni * c + ci] } else { v[ci] };
            for si in 0..s {
                let i = (ni * c + ci) * s + si;
                y[i] = x[i] + add;
            }
        }
    }
    y
}

/// Channel concat: a [N, Ca, S], b [N, Cb, S] -> [N, Ca + Cb, S], a's channels first.
/// Backward: [`split_channels`] of dy.
pub fn concat_channels(a: &[f64], b: &[f64], n: usize, ca: usize, cb: usize, s: usize) -> Vec<f64> {
    assert_eq!(a.len(), n * ca * s);
    assert_eq!(b.len(), n * cb * s);
    let c = ca + cb;
    let mut y = vec![0.0; n * c * s];
    for ni in 0..n {
        for ci in 0..c {
            for si in 0..s {
                y[(ni * c + ci) * s + si] = if ci < ca {
                    a[(ni * ca + ci) * s + si]
                } else {
                    b[(ni * cb + ci - ca) * s + si]
                };
            }
        }
    }
    y
}

/// Split x [N, Ca + Cb, S] into (first Ca channels, the other Cb). Backward: concat.
pub fn split_channels(x: &[f64], n: usize, ca: usize, cb: usize, s: usize) -> (Vec<f64>, Vec<f64>) {
    let c = ca + cb;
    assert_eq!(x.len(), n * c * s);
    let mut a = vec![0.0; n * ca * s];
    let mut b = vec![0.0; n * cb * s];
    for ni in 0..n {
        for ci in 0..c {
            for si in 0..s {
                let v = x[(ni * c + ci) * s + si];
                if ci < ca {
                    a[(ni * ca + ci) * s + si] = v;
                } else {
                    b[(ni * cb + ci - ca) * s + si] = v;
                }
            }
        }
    }
    (a, b)
}

/// Nearest 2x upsampling of x [M, H, W] (M = N * C) -> [M, 2H, 2W]: `y[m,i,j] = x[m,i/2,j/2]`.
pub fn upsample_nearest2x(x: &[f64], m: usize, h: usize, w: usize) -> Vec<f64> {
    assert_eq!(x.len(), m * h * w);
    let (h2, w2) = (2 * h, 2 * w);
    let mut y = vec![0.0; m * h2 * w2];
    for mi in 0..m {
        for i in 0..h2 {
            for j in 0..w2 {
                y[(mi * h2 + i) * w2 + j] = x[(mi * h + i / 2) * w + j / 2];
            }
        }
    }
    y
}

/// Backward of [`upsample_nearest2x`]: dy [M, 2H, 2W] -> dx [M, H, W], each element the sum
/// of its 2x2 block. `h`, `w` are the sizes of the forward input.
pub fn upsample_nearest2x_backward(dy: &[f64], m: usize, h: usize, w: usize) -> Vec<f64> {
    let (h2, w2) = (2 * h, 2 * w);
    assert_eq!(dy.len(), m * h2 * w2);
    let mut dx = vec![0.0; m * h * w];
    for mi in 0..m {
        for i in 0..h2 {
            for j in 0..w2 {
                dx[(mi * h + i / 2) * w + j / 2] += dy[(mi * h2 + i) * w2 + j];
            }
        }
    }
    dx
}

/// How the timestep-embedding argument `t * freq_k` is formed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmbeddingArgument {
    /// Exact maths in f64: `freq_k = exp(-ln(10000) k / (half - shift))`, `t * freq_k`.
    Exact,
    /// As PyTorch computes it in float32 (diffusers `get_timestep_embedding`): the exponent
    /// `f32(-ln 10000) * k` rounded to f32, divided by `half - shift` in f32, `exp` rounded to
    /// f32, then the product `f32(t) * freq` rounded to f32. Only sin / cos are exact.
    Float32,
}

/// Sinusoidal timestep embedding [B, dim] of the timesteps `t` (diffusers
/// `get_timestep_embedding` with max_period 10000): `half = dim / 2`,
/// row b = `[sin(t_b f_0), .., sin(t_b f_{half-1}), cos(t_b f_0), .., cos(t_b f_{half-1})]`
/// (`flip`: the cos half first), and a zero last column when `dim` is odd.
pub fn timestep_embedding(
    t: &[u32],
    dim: usize,
    flip: bool,
    shift: f64,
    arg: EmbeddingArgument,
) -> Vec<f64> {
    let half = dim / 2;
    let mut y = vec![0.0; t.len() * dim];
    for (b, &tb) in t.iter().enumerate() {
        for k in 0..half {
            let x = match arg {
                EmbeddingArgument::Exact => {
                    let freq = (-(10000f64.ln()) * k as f64 / (half as f64 - shift)).exp();
                    tb as f64 * freq
                }
                EmbeddingArgument::Float32 => {
                    let exponent =
                        (-(10000f64.ln()) as f32 * k as f32) / (half as f32 - shift as f32);
                    let freq = (exponent as f64).exp() as f32;
                    (tb as f32 * freq) as f64
                }
            };
            let (first, second) = if flip {
                (x.cos(), x.sin())
            } else {
                (x.sin(), x.cos())
            };
            y[b * dim + k] = first;
            y[b * dim + half + k] = second;
        }
    }
    y
}
