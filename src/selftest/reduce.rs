//! Checks of the reduce kernels (see the module doc of `selftest`).

use crate::Gpu;

use super::Check;

pub fn checks(_gpu: &Gpu) -> Vec<Check> {
    Vec::new()
}
