//! Checks of the layout kernels.

use crate::ops::layout;
use crate::reference::layout as reference;
use crate::reference::random::Rng;
use crate::Gpu;

use super::{compare, random_tensor, Check};

pub fn checks(gpu: &Gpu) -> Vec<Check> {
    let mut rng = Rng::new(7);
    let mut out = Vec::new();
    // Sizes that are not multiples of the 16x16 workgroup, and multiples of 4 that are not
    // multiples of the 32x32 elements of a `transpose4` workgroup; a pure copy, so exact.
    for (b, r, c) in [
        (3, 37, 21),
        (1, 16, 16),
        (2, 5, 300),
        (3, 36, 20),
        (2, 196, 48),
        (1, 4, 68),
    ] {
        let (x, xr) = random_tensor(gpu, &mut rng, &[b, r, c]);
        let y = layout::transpose(&x).to_vec();
        out.push(compare(
            "transpose",
            format!("[{b},{r},{c}]"),
            &y,
            &reference::transpose(&xr, b, r, c),
            0.0,
        ));
    }
    out
}
