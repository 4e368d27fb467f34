//! A float64 CPU reference of every op, written plainly (loops over indices), against which
//! each GPU kernel and each hand-written backward pass is checked. Tensors are `&[f64]` in
//! row-major NCHW order with explicit dimensions.

pub mod random;
pub mod matmul;
pub mod conv;
pub mod norm;
pub mod attention;
pub mod cpu_tensor;
pub mod elementwise;
pub mod layout;
pub mod reduce;
pub mod rng;
pub mod diffusion;
pub mod optim;
