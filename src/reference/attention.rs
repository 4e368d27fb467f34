//! Float64 reference of scaled dot-product attention over tokens, forward and backward.
//!
//! Layout: `q`, `k`, `v`, `o` and their gradients are `[b, l, c]` row-major (token-major: the
//! element of token `t`, channel `ch` of batch `n` is at `(n * l + t) * c + ch`). The channels are
//! split contiguously into `heads` heads of `d = c / heads` channels: head `h` uses channels
//! `h * d .. (h + 1) * d`. Per batch and head, with `scale = 1 / sqrt(d)`:
//!
//! ```text
//! s_ij = scale * sum_ch q_i,ch k_j,ch        (i: query token, j: key token)
//! p_ij = exp(s_ij - lse_i),  lse_i = log sum_j exp(s_ij)
//! o_i,ch = sum_j p_ij v_j,ch
//! ```
//!
//! `lse` is `[b, heads, l]`. No mask.

/// Offset of (batch `n`, token `t`, head `h`, channel 0 of the head) in a `[b, l, c]` tensor.
fn at(n: usize, t: usize, h: usize, l: usize, c: usize, d: usize) -> usize {
    (n * l + t) * c + h * d
}

fn check_dims(len: usize, b: usize, l: usize, c: usize, heads: usize, what: &str) -> usize {
    assert!(
        heads > 0 && c.is_multiple_of(heads),
        "attention: {c} channels do not split into {heads} heads"
    );
    assert_eq!(
        len,
        b * l * c,
        "attention reference: {what} has {len} values, expected {b}x{l}x{c}"
    );
    c / heads
}

/// The scaled scores `s_ij` of one batch `n` and head `h`, as an `l x l` matrix (row i, column j).
pub fn scores(
    q: &[f64],
    k: &[f64],
    n: usize,
    h: usize,
    l: usize,
    c: usize,
    heads: usize,
) -> Vec<f64> {
    let d = c / heads;
    let scale = 1.0 / (d as f64).sqrt();
    let mut s = vec![0.0; l * l];
    for i in 0..l {
        for j in 0..l {
            let (qi, kj) = (at(n, i, h, l, c, d), at(n, j, h, l, c, d));
            let mut acc = 0.0;
            for ch in 0..d {
                acc += q[qi + ch] * k[kj + ch];
            }
            s[i * l + j] = scale * acc;
        }
    }
    s
}

/// Row-wise softmax of an `l x l` score matrix in place; returns the row log-sum-exp.
fn softmax_rows(s: &mut [f64], l: usize) -> Vec<f64> {
    let mut lse = vec![0.0; l];
    for i in 0..l {
        let row = &mut s[i * l..(i + 1) * l];
        let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = row.iter().map(|&x| (x - m).exp()).sum();
        lse[i] = m + sum.ln();
        for x in row.iter_mut() {
            *x = (*x - lse[i]).exp();
        }
    }
    lse
}

/// Forward: returns `(o [b, l, c], lse [b, heads, l])`.
pub fn attention(
    q: &[f64],
    k: &[f64],
    v: &[f64],
    b: usize,
    l: usize,
    c: usize,
    heads: usize,
) -> (Vec<f64>, Vec<f64>) {
    let d = check_dims(q.len(), b, l, c, heads, "q");
    check_dims(k.len(), b, l, c, heads, "k");
    check_dims(v.len(), b, l, c, heads, "v");
    let mut o = vec![0.0; b * l * c];
    let mut lse = vec![0.0; b * heads * l];
    for n in 0..b {
        for h in 0..heads {
            let mut p = scores(q, k, n, h, l, c, heads);
            let row_lse = softmax_rows(&mut p, l);
            lse[(n * heads + h) * l..(n * heads + h + 1) * l].copy_from_slice(&row_lse);
            for i in 0..l {
                for j in 0..l {
                    let (oi, vj) = (at(n, i, h, l, c, d), at(n, j, h, l, c, d));
                    for ch in 0..d {
                        o[oi + ch] += p[i * l + j] * v[vj + ch];
                    }
                }
            }
        }
    }
    (o, lse)
}

/// Backward: given `dout = dL/do [b, l, c]`, returns `(dq, dk, dv)`, each `[b, l, c]`.
///
/// With `P = softmax(S)`: `dv_j = sum_i p_ij dout_i`, `dp_ij = dout_i . v_j`,
/// `ds_ij = p_ij (dp_ij - D_i)` where `D_i = sum_j p_ij dp_ij = dout_i . o_i`,
/// `dq_i = scale * sum_j ds_ij k_j`, `dk_j = scale * sum_i ds_ij q_i`.
/// The probabilities are recomputed here from `q` and `k`.
#[allow(clippy::too_many_arguments)]
pub fn attention_backward(
    q: &[f64],
    k: &[f64],
    v: &[f64],
    dout: &[f64],
    b: usize,
    l: usize,
    c: usize,
    heads: usize,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let d = check_dims(q.len(), b, l, c, heads, "q");
    check_dims(k.len(), b, l, c, heads, "k");
    check_dims(v.len(), b, l, c, heads, "v");
    check_dims(dout.len(), b, l, c, heads, "dout");
    let scale = 1.0 / (d as f64).sqrt();
    let (mut dq, mut dk, mut dv) = (
        vec![0.0; b * l * c],
        vec![0.0; b * l * c],
        vec![0.0; b * l * c],
    );
    for n in 0..b {
        for h in 0..heads {
            let mut p = scores(q, k, n, h, l, c, heads);
            softmax_rows(&mut p, l);
            // dp_ij = dout_i . v_j
            let mut dp = vec![0.0; l * l];
            for i in 0..l {
                for j in 0..l {
                    let (oi, vj) = (at(n, i, h, l, c, d), at(n, j, h, l, c, d));
                    dp[i * l + j] = (0..d).map(|ch| dout[oi + ch] * v[vj + ch]).sum();
                }
            }
            for i in 0..l {
                // D_i = sum_j p_ij dp_ij (equal to dout_i . o_i)
                let big_d: f64 = (0..l).map(|j| p[i * l + j] * dp[i * l + j]).sum();
                for j in 0..l {
                    let pij = p[i * l + j];
                    let ds = pij * (dp[i * l + j] - big_d);
                    let (ii, jj) = (at(n, i, h, l, c, d), at(n, j, h, l, c, d));
                    for ch in 0..d {
                        dv[jj + ch] += pij * dout[ii + ch];
                        dq[ii + ch] += scale * ds * k[jj + ch];
                        dk[jj + ch] += scale * ds * q[ii + ch];
                    }
                }
            }
        }
    }
    (dq, dk, dv)
}
