//! DDPM itself: the noise schedule (float64) and the samplers that drive the network.

pub mod bound;
pub mod sampler;
pub mod schedule;

pub use schedule::{Schedule, Variance};
