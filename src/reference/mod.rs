//! A float64 CPU reference of every op, written plainly (loops over indices), against which
//! each GPU kernel and each hand-written backward pass is checked. Tensors are `&[f64]` in
//! row-major NCHW order with explicit dimensions.

pub mod attention;
pub mod bound;
pub mod conv;
pub mod cpu_tensor;
pub mod diffusion;
pub mod elementwise;
pub mod layout;
pub mod matmul;
pub mod norm;
pub mod optim;
pub mod reduce;
pub mod rng;

/// The CPU random generator lives in `maths` (production code uses it too).
pub use crate::maths::random;
