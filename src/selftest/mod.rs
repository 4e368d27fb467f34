//! Kernel checks against the float64 reference, shared by `ddpm selftest` and the test suite.
//!
//! Each family module exposes `checks(gpu) -> Vec<Check>`: it draws random inputs (never all
//! zeros) on sizes that are not multiples of the workgroup size, runs the GPU op with the
//! device's poison mode on (fresh buffers filled with NaN, so unwritten outputs are caught),
//! runs the reference, and compares.
//!
//! Error metric: `max_i |gpu_i - ref_i| / max_j |ref_j|`, the largest error relative to the
//! largest reference magnitude (per-element relative error is meaningless near zeros). Any
//! non-finite GPU value makes the error infinite.

pub mod attention;
pub mod bound;
pub mod conv;
pub mod diffusion;
pub mod elementwise;
pub mod layout;
pub mod matmul;
pub mod norm;
pub mod optim;
pub mod reduce;
pub mod rng;
pub mod tolerance;

use crate::reference::random::Rng;
use crate::{Gpu, Tensor};

#[derive(Clone, Debug)]
pub struct Check {
    pub op: String,
    pub shape: String,
    pub max_rel_err: f64,
    pub tolerance: f64,
}

impl Check {
    pub fn passed(&self) -> bool {
        self.max_rel_err.is_finite() && self.max_rel_err <= self.tolerance
    }
}

/// The error metric of this module's doc comment.
pub fn max_rel_err(gpu: &[f32], reference: &[f64]) -> f64 {
    assert_eq!(
        gpu.len(),
        reference.len(),
        "output length differs from the reference"
    );
    let scale = reference
        .iter()
        .fold(0.0f64, |m, r| m.max(r.abs()))
        .max(1e-30);
    let mut worst = 0.0f64;
    for (&g, &r) in gpu.iter().zip(reference) {
        if !g.is_finite() {
            return f64::INFINITY;
        }
        worst = worst.max((g as f64 - r).abs() / scale);
    }
    worst
}

/// Compares a GPU result with the reference and names the check.
pub fn compare(
    op: impl Into<String>,
    shape: impl Into<String>,
    gpu: &[f32],
    reference: &[f64],
    tolerance: f64,
) -> Check {
    Check {
        op: op.into(),
        shape: shape.into(),
        max_rel_err: max_rel_err(gpu, reference),
        tolerance,
    }
}

/// Random normal data as f64 (for the reference) and the f32 tensor holding the same values.
/// The f64 copy is rounded through f32 so both sides see identical inputs.
pub fn random_tensor(gpu: &Gpu, rng: &mut Rng, shape: &[usize]) -> (Tensor, Vec<f64>) {
    let n: usize = shape.iter().product();
    let data32: Vec<f32> = (0..n).map(|_| rng.normal() as f32).collect();
    let data64 = data32.iter().map(|&v| v as f64).collect();
    (Tensor::from_slice(gpu, shape, &data32), data64)
}

/// Rounds reference inputs through f32 (for data generated on the CPU side).
pub fn to_f32(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

/// Every check of every family, in a stable order, with poison mode on.
pub fn all_checks(gpu: &Gpu) -> Vec<Check> {
    let was = gpu.poison();
    gpu.set_poison(true);
    let mut out = Vec::new();
    out.extend(matmul::checks(gpu));
    out.extend(conv::checks(gpu));
    out.extend(norm::checks(gpu));
    out.extend(attention::checks(gpu));
    out.extend(elementwise::checks(gpu));
    out.extend(layout::checks(gpu));
    out.extend(reduce::checks(gpu));
    out.extend(rng::checks(gpu));
    out.extend(diffusion::checks(gpu));
    out.extend(bound::checks(gpu));
    out.extend(optim::checks(gpu));
    gpu.set_poison(was);
    out
}
