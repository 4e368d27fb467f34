//! GPU ops: one module per kernel family (one WGSL file each under `shaders/`). Each module
//! builds bind groups, picks the kernel variant for the shape and adapter, and dispatches;
//! forward and backward of an op live side by side.

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
