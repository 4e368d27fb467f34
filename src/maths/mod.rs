//! Shared maths with no GPU in it, used both by the GPU layers and by the float64 reference:
//! the scalars of a sampler step and of a bound term, Adam's hyper-parameters, the dropout
//! threshold, and the CPU random generator (weight initialisation, data order).

pub mod bound;
pub mod coefs;
pub mod dropout;
pub mod optim;
pub mod random;
