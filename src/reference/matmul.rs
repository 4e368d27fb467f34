//! Float64 reference of the matmul family: batched matrix products with optional transposes,
//! broadcast and bias, the `linear` layer (PyTorch layout) and the backward passes of both.
//!
//! Layout conventions (row-major, matching the GPU ops in `ops::matmul`):
//! - `a` holds `batch_a` matrices, each `[m, k]`, or `[k, m]` when `ta` (op(a) = a^T);
//! - `b` holds `batch_b` matrices, each `[k, n]`, or `[n, k]` when `tb`;
//! - `batch_a` / `batch_b` are either equal or one of them is 1 (that operand is broadcast);
//! - the result holds `max(batch_a, batch_b)` matrices `[m, n]`.

/// Which dimension a fused bias runs along (mirrors `ops::matmul::BiasAlong`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BiasAlong {
    /// `bias[n]` added to every row of the `[m, n]` result.
    N,
    /// `bias[m]` added to every column of the `[m, n]` result.
    M,
}

/// Element (i, j) of op(x) where x is stored as `[rows, cols]` of op(x) (`t == false`) or as the
/// transpose (`t == true`). `r`, `c` are the dimensions of op(x).
fn at(x: &[f64], base: usize, i: usize, j: usize, r: usize, c: usize, t: bool) -> f64 {
    if t {
        x[base + j * r + i]
    } else {
        x[base + i * c + j]
    }
}

fn batch_of(batch_a: usize, batch_b: usize) -> usize {
    assert!(
        batch_a == batch_b || batch_a == 1 || batch_b == 1,
        "batch sizes {batch_a} and {batch_b} neither match nor broadcast"
    );
    batch_a.max(batch_b)
}

/// `out[p] = op(a[p]) @ op(b[p])` for every batch index p (see the module doc for layouts).
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    a: &[f64],
    b: &[f64],
    batch_a: usize,
    batch_b: usize,
    m: usize,
    k: usize,
    n: usize,
    ta: bool,
    tb: bool,
) -> Vec<f64> {
    matmul_bias(a, b, batch_a, batch_b, m, k, n, ta, tb, None)
}

/// [`matmul`] plus an optional bias: `bias[j]` added to column j (`BiasAlong::N`, length n) or
/// `bias[i]` added to row i (`BiasAlong::M`, length m), the same for every batch index.
#[allow(clippy::too_many_arguments)]
pub fn matmul_bias(
    a: &[f64],
    b: &[f64],
    batch_a: usize,
    batch_b: usize,
    m: usize,
    k: usize,
    n: usize,
    ta: bool,
    tb: bool,
    bias: Option<(&[f64], BiasAlong)>,
) -> Vec<f64> {
    let batch = batch_of(batch_a, batch_b);
    assert_eq!(a.len(), batch_a * m * k, "a has the wrong length");
    assert_eq!(b.len(), batch_b * k * n, "b has the wrong length");
    let mut out = vec![0.0; batch * m * n];
    for p in 0..batch {
        let abase = if batch_a == 1 { 0 } else { p * m * k };
        let bbase = if batch_b == 1 { 0 } else { p * k * n };
        for i in 0..m {
            for j in 0..n {
                let mut s = 0.0;
                for l in 0..k {
                    s += at(a, abase, i, l, m, k, ta) * at(b, bbase, l, j, k, n, tb);
                }
                s += match bias {
                    None => 0.0,
                    Some((v, BiasAlong::N)) => v[j],
                    Some((v, BiasAlong::M)) => v[i],
                };
                out[p * m * n + i * n + j] = s;
            }
        }
    }
    out
}

/// Backward of [`matmul`]: given `dout` (`[batch, m, n]`), returns `(da, db)` in the stored
/// layouts of `a` and `b` (so `da` is `[k, m]` per matrix when `ta`). A broadcast operand
/// (batch 1 while the other is batched) receives the sum over the batch.
#[allow(clippy::too_many_arguments)]
pub fn matmul_backward(
    a: &[f64],
    b: &[f64],
    dout: &[f64],
    batch_a: usize,
    batch_b: usize,
    m: usize,
    k: usize,
    n: usize,
    ta: bool,
    tb: bool,
) -> (Vec<f64>, Vec<f64>) {
    let batch = batch_of(batch_a, batch_b);
    assert_eq!(dout.len(), batch * m * n, "dout has the wrong length");
    let mut da = vec![0.0; a.len()];
    let mut db = vec![0.0; b.len()];
    for p in 0..batch {
        let abase = if batch_a == 1 { 0 } else { p * m * k };
        let bbase = if batch_b == 1 { 0 } else { p * k * n };
        for i in 0..m {
            for j in 0..n {
                let g = dout[p * m * n + i * n + j];
                for l in 0..k {
                    // out[i,j] += A[i,l] * B[l,j]
                    let ai = if ta {
                        abase + l * m + i
                    } else {
                        abase + i * k + l
                    };
                    let bi = if tb {
                        bbase + j * k + l
                    } else {
                        bbase + l * n + j
                    };
                    da[ai] += g * b[bi];
                    db[bi] += g * a[ai];
                }
            }
        }
    }
    (da, db)
}

/// Column sums of bias gradients: for `BiasAlong::N`, `db[j] = sum over p, i of dout[p, i, j]`;
/// for `BiasAlong::M`, `db[i] = sum over p, j of dout[p, i, j]`.
pub fn bias_backward(dout: &[f64], batch: usize, m: usize, n: usize, along: BiasAlong) -> Vec<f64> {
    assert_eq!(dout.len(), batch * m * n, "dout has the wrong length");
    let mut db = vec![0.0; if along == BiasAlong::N { n } else { m }];
    for p in 0..batch {
        for i in 0..m {
            for j in 0..n {
                let g = dout[p * m * n + i * n + j];
                match along {
                    BiasAlong::N => db[j] += g,
                    BiasAlong::M => db[i] += g,
                }
            }
        }
    }
    db
}

/// `y = x @ w^T + bias`: x `[rows, fan_in]`, w `[fan_out, fan_in]` (PyTorch Linear layout),
/// bias `[fan_out]`; y `[rows, fan_out]`.
pub fn linear(
    x: &[f64],
    w: &[f64],
    bias: Option<&[f64]>,
    rows: usize,
    fan_in: usize,
    fan_out: usize,
) -> Vec<f64> {
    assert_eq!(x.len(), rows * fan_in, "x has the wrong length");
    assert_eq!(w.len(), fan_out * fan_in, "w has the wrong length");
    let mut y = vec![0.0; rows * fan_out];
    for r in 0..rows {
        for o in 0..fan_out {
            let mut s = bias.map_or(0.0, |b| b[o]);
            for i in 0..fan_in {
                s += x[r * fan_in + i] * w[o * fan_in + i];
            }
            y[r * fan_out + o] = s;
        }
    }
    y
}

/// Backward of [`linear`]: returns `(dx, dw, db)` with `dx = dy @ w` (`[rows, fan_in]`),
/// `dw = dy^T @ x` (`[fan_out, fan_in]`) and `db = column sums of dy` (`[fan_out]`).
pub fn linear_backward(
    dy: &[f64],
    x: &[f64],
    w: &[f64],
    rows: usize,
    fan_in: usize,
    fan_out: usize,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    assert_eq!(dy.len(), rows * fan_out, "dy has the wrong length");
    let mut dx = vec![0.0; rows * fan_in];
    let mut dw = vec![0.0; fan_out * fan_in];
    let mut db = vec![0.0; fan_out];
    for r in 0..rows {
        for o in 0..fan_out {
            let g = dy[r * fan_out + o];
            db[o] += g;
            for i in 0..fan_in {
                dx[r * fan_in + i] += g * w[o * fan_in + i];
                dw[o * fan_in + i] += g * x[r * fan_in + i];
            }
        }
    }
    (dx, dw, db)
}
