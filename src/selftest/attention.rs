//! Checks of the attention kernels (see the module doc of `selftest`): every variant the device
//! supports, forward (`o`, `lse`) and backward (`dq`, `dk`, `dv`), against the float64 reference.

use crate::ops::attention::{self as att, Variant};
use crate::reference::attention as reference;
use crate::reference::random::Rng;
use crate::{Gpu, Tensor};

use super::{compare, random_tensor, Check};

/// (batch, tokens, channels, heads, factor on q). Token counts are not multiples of the row
/// groups (4), key blocks (8 / 32) or tiles (32); 300 spans many blocks; head widths d = 6, 40,
/// 16, 12, 128, 264 (not powers of 2; 128 the model's; 264 > 256 splits the tiled kernel's
/// output channels over grid z). A factor of 3 on q makes the softmax peaked (scores with a
/// standard deviation of ~3), which exercises the running maximum of the online softmax.
/// The last two have one head and token counts that are multiples of 4 but not of the
/// matmul's 32 x 64 tiles, for the dense variant (which takes only those).
const SHAPES: [(usize, usize, usize, usize, f32); 9] = [
    (2, 37, 12, 2, 1.0),
    (1, 61, 40, 1, 1.0),
    (1, 300, 32, 2, 1.0),
    (1, 37, 48, 4, 1.0),
    (2, 61, 40, 2, 3.0),
    (1, 45, 128, 1, 3.0),
    (1, 33, 264, 1, 1.0),
    (2, 36, 20, 1, 3.0),
    (1, 100, 48, 1, 1.0),
];

// Tolerances: see `super::tolerance`.
use super::tolerance::{
    ATTENTION_GRAD as TOL_GRAD, ATTENTION_LSE as TOL_LSE, ATTENTION_OUT as TOL_O,
};

pub fn checks(gpu: &Gpu) -> Vec<Check> {
    let mut rng = Rng::new(0xa77e);
    let mut out = Vec::new();
    for &(b, l, c, heads, q_gain) in &SHAPES {
        let shape = [b, l, c];
        let (q, qr) = scaled_tensor(gpu, &mut rng, &shape, q_gain);
        let (k, kr) = random_tensor(gpu, &mut rng, &shape);
        let (v, vr) = random_tensor(gpu, &mut rng, &shape);
        let (dout, dr) = random_tensor(gpu, &mut rng, &shape);
        let (o_ref, lse_ref) = reference::attention(&qr, &kr, &vr, b, l, c, heads);
        let (dq_ref, dk_ref, dv_ref) =
            reference::attention_backward(&qr, &kr, &vr, &dr, b, l, c, heads);
        let label = format!("[{b}, {l}, {c}] heads {heads} q x{q_gain}");
        for variant in Variant::ALL {
            if !att::supported(variant, gpu, &shape, heads) {
                continue;
            }
            let name = variant.name();
            let (o, lse) = att::attention_with(variant, &q, &k, &v, heads);
            out.push(compare(
                format!("attention {name} o"),
                &label,
                &o.to_vec(),
                &o_ref,
                TOL_O,
            ));
            out.push(compare(
                format!("attention {name} lse"),
                &label,
                &lse.to_vec(),
                &lse_ref,
                TOL_LSE,
            ));
            let (dq, dk, dv) =
                att::attention_backward_with(variant, &q, &k, &v, &o, &lse, &dout, heads);
            out.push(compare(
                format!("attention {name} dq"),
                &label,
                &dq.to_vec(),
                &dq_ref,
                TOL_GRAD,
            ));
            out.push(compare(
                format!("attention {name} dk"),
                &label,
                &dk.to_vec(),
                &dk_ref,
                TOL_GRAD,
            ));
            out.push(compare(
                format!("attention {name} dv"),
                &label,
                &dv.to_vec(),
                &dv_ref,
                TOL_GRAD,
            ));
        }
    }
    out
}

/// A random normal tensor times `gain` (the f64 copy holds exactly the f32 values).
fn scaled_tensor(gpu: &Gpu, rng: &mut Rng, shape: &[usize], gain: f32) -> (Tensor, Vec<f64>) {
    let n: usize = shape.iter().product();
    let data: Vec<f32> = (0..n).map(|_| rng.normal() as f32 * gain).collect();
    let data64 = data.iter().map(|&x| x as f64).collect();
    (Tensor::from_slice(gpu, shape, &data), data64)
}
