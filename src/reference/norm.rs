//! Float64 reference of group normalisation (torch.nn.GroupNorm) with an optional fused SiLU,
//! forward and backward.
//!
//! Layout: `x` is `[n, c, s]` row-major (an NCHW tensor with `s = h * w`, or `[n, c]` with
//! `s = 1`). The `c` channels form `groups` groups of `c / groups` contiguous channels; the
//! statistics of sample `i`, group `g` are taken over its `c / groups * s` elements:
//!
//! ```text
//! mean[i,g] = sum x / K,   var[i,g] = sum (x - mean)^2 / K   (biased),   K = c / groups * s
//! rstd[i,g] = 1 / sqrt(var + eps)
//! xhat      = (x - mean) * rstd
//! pre       = xhat * gamma[ch] + beta[ch]
//! y         = pre                 (silu = false)
//! y         = pre * sigmoid(pre)  (silu = true)
//! ```
//!
//! Statistics are returned as `[n * groups]` vectors indexed `i * groups + g`.

/// Checks the dimensions shared by forward and backward.
fn check_dims(x_len: usize, gamma_len: usize, n: usize, c: usize, s: usize, groups: usize) {
    assert!(
        groups > 0 && c.is_multiple_of(groups),
        "group_norm: {c} channels not divisible into {groups} groups"
    );
    assert_eq!(
        x_len,
        n * c * s,
        "group_norm: x has {x_len} values, expected n*c*s = {}",
        n * c * s
    );
    assert_eq!(gamma_len, c, "group_norm: gamma/beta need {c} values");
}

fn sigmoid(v: f64) -> f64 {
    1.0 / (1.0 + (-v).exp())
}

/// Forward pass. Returns `(y [n*c*s], mean [n*groups], rstd [n*groups])`.
#[allow(clippy::too_many_arguments)]
pub fn group_norm(
    x: &[f64],
    gamma: &[f64],
    beta: &[f64],
    n: usize,
    c: usize,
    s: usize,
    groups: usize,
    eps: f64,
    silu: bool,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    check_dims(x.len(), gamma.len(), n, c, s, groups);
    assert_eq!(beta.len(), c, "group_norm: beta needs {c} values");
    let cpg = c / groups;
    let k = (cpg * s) as f64;
    let mut y = vec![0.0; x.len()];
    let mut mean = vec![0.0; n * groups];
    let mut rstd = vec![0.0; n * groups];
    for i in 0..n {
        for g in 0..groups {
            let channels = g * cpg..(g + 1) * cpg;
            let mut sum = 0.0;
            for ch in channels.clone() {
                for j in 0..s {
                    sum += x[(i * c + ch) * s + j];
                }
            }
            let m = sum / k;
            let mut sq = 0.0;
            for ch in channels.clone() {
                for j in 0..s {
                    let d = x[(i * c + ch) * s + j] - m;
                    sq += d * d;
                }
            }
            let r = 1.0 / (sq / k + eps).sqrt();
            mean[i * groups + g] = m;
            rstd[i * groups + g] = r;
            for ch in channels {
                for j in 0..s {
                    let idx = (i * c + ch) * s + j;
                    let pre = (x[idx] - m) * r * gamma[ch] + beta[ch];
                    y[idx] = if silu { pre * sigmoid(pre) } else { pre };
                }
            }
        }
    }
    (y, mean, rstd)
}

/// Backward pass, given the forward's `mean` and `rstd` (`[n*groups]`). Returns
/// `(dx [n*c*s], dgamma [c], dbeta [c])` (fresh values, not accumulated).
///
/// With `dpre = dy` (no silu) or `dpre = dy * sigmoid(pre) * (1 + pre * (1 - sigmoid(pre)))`
/// (the derivative of `pre * sigmoid(pre)`, with `pre` recomputed from x and the statistics),
/// per sample and group, over its K elements:
///
/// ```text
/// dxhat     = dpre * gamma[ch]
/// dx        = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
/// dgamma[ch] = sum over samples and positions of dpre * xhat
/// dbeta[ch]  = sum over samples and positions of dpre
/// ```
#[allow(clippy::too_many_arguments)]
pub fn group_norm_backward(
    dy: &[f64],
    x: &[f64],
    gamma: &[f64],
    beta: &[f64],
    mean: &[f64],
    rstd: &[f64],
    n: usize,
    c: usize,
    s: usize,
    groups: usize,
    silu: bool,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    check_dims(x.len(), gamma.len(), n, c, s, groups);
    assert_eq!(
        dy.len(),
        x.len(),
        "group_norm_backward: dy and x differ in size"
    );
    assert_eq!(beta.len(), c, "group_norm_backward: beta needs {c} values");
    assert!(
        mean.len() == n * groups && rstd.len() == n * groups,
        "group_norm_backward: stats need n*groups values"
    );
    let cpg = c / groups;
    let k = (cpg * s) as f64;
    let mut dx = vec![0.0; x.len()];
    let mut dgamma = vec![0.0; c];
    let mut dbeta = vec![0.0; c];
    // dpre and xhat of one element.
    let grad_pre = |idx: usize, ch: usize, m: f64, r: f64| -> (f64, f64) {
        let xhat = (x[idx] - m) * r;
        let mut d = dy[idx];
        if silu {
            let pre = xhat * gamma[ch] + beta[ch];
            let sg = sigmoid(pre);
            d *= sg * (1.0 + pre * (1.0 - sg));
        }
        (d, xhat)
    };
    for i in 0..n {
        for g in 0..groups {
            let (m, r) = (mean[i * groups + g], rstd[i * groups + g]);
            let channels = g * cpg..(g + 1) * cpg;
            let mut sum_dxhat = 0.0;
            let mut sum_dxhat_xhat = 0.0;
            for ch in channels.clone() {
                for j in 0..s {
                    let idx = (i * c + ch) * s + j;
                    let (d, xhat) = grad_pre(idx, ch, m, r);
                    sum_dxhat += d * gamma[ch];
                    sum_dxhat_xhat += d * gamma[ch] * xhat;
                    dgamma[ch] += d * xhat;
                    dbeta[ch] += d;
                }
            }
            let (m1, m2) = (sum_dxhat / k, sum_dxhat_xhat / k);
            for ch in channels {
                for j in 0..s {
                    let idx = (i * c + ch) * s + j;
                    let (d, xhat) = grad_pre(idx, ch, m, r);
                    dx[idx] = r * (d * gamma[ch] - m1 - xhat * m2);
                }
            }
        }
    }
    (dx, dgamma, dbeta)
}
