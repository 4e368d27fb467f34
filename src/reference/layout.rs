//! Reference of `ops::layout`.

/// `[batch, rows, cols] -> [batch, cols, rows]`.
pub fn transpose(x: &[f64], batch: usize, rows: usize, cols: usize) -> Vec<f64> {
    let mut y = vec![0.0; x.len()];
    for b in 0..batch {
        for r in 0..rows {
            for c in 0..cols {
                y[b * rows * cols + c * rows + r] = x[b * rows * cols + r * cols + c];
            }
        }
    }
    y
}
