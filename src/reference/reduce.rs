//! Float64 reference of the reductions (`ops::reduce`) and their backward passes.
//!
//! Tensors are row-major `&[f64]` slices with explicit dimensions; "[N, C, S]" is an NCHW
//! tensor with S = H * W (and [rows, C] is [N, C, 1]).

/// Sum of all elements. (Backward: every element receives the output gradient.)
pub fn sum(x: &[f64]) -> f64 {
    x.iter().sum()
}

/// Mean of all elements. (Backward: `dy / numel` everywhere.)
pub fn mean(x: &[f64]) -> f64 {
    sum(x) / x.len() as f64
}

/// Sum of squares. (Backward: `2 x dy`.)
pub fn sum_squares(x: &[f64]) -> f64 {
    x.iter().map(|v| v * v).sum()
}

/// `out[c] = sum over n and s of x[n, c, s]`, x [N, C, S]: the bias gradient, and the
/// backward of `elementwise::add_channel` with v [C].
pub fn sum_to_channels(x: &[f64], n: usize, c: usize, s: usize) -> Vec<f64> {
    assert_eq!(x.len(), n * c * s);
    let mut out = vec![0.0; c];
    for ni in 0..n {
        for ci in 0..c {
            for si in 0..s {
                out[ci] += x[(ni * c + ci) * s + si];
            }
        }
    }
    out
}

/// `out[n, c] = sum over s of x[n, c, s]`, x [N, C, S] -> [N, C]: the backward of
/// `elementwise::add_channel` with v [N, C].
pub fn sum_spatial(x: &[f64], n: usize, c: usize, s: usize) -> Vec<f64> {
    assert_eq!(x.len(), n * c * s);
    let mut out = vec![0.0; n * c];
    for ni in 0..n {
        for ci in 0..c {
            for si in 0..s {
                out[ni * c + ci] += x[(ni * c + ci) * s + si];
            }
        }
    }
    out
}

/// `mean((pred - target)^2)`.
pub fn mse_loss(pred: &[f64], target: &[f64]) -> f64 {
    assert_eq!(pred.len(), target.len());
    let mut acc = 0.0;
    for i in 0..pred.len() {
        let d = pred[i] - target[i];
        acc += d * d;
    }
    acc / pred.len() as f64
}

/// Gradient of [`mse_loss`] with respect to `pred`: `2 (pred - target) / numel`.
pub fn mse_loss_backward(pred: &[f64], target: &[f64]) -> Vec<f64> {
    assert_eq!(pred.len(), target.len());
    let n = pred.len() as f64;
    pred.iter()
        .zip(target)
        .map(|(p, t)| 2.0 * (p - t) / n)
        .collect()
}
