//! Checks of the convolution kernels against `reference::conv`.
//!
//! Tolerance 1e-5 of the largest reference value: each output sums at most Cin*kh*kw (forward,
//! backward input: <= 7*9 here) or N*Hout*Wout (weights: <= 2*121) products of O(1) values in
//! f32, so rounding stays ~1e-6 relative; an index error gives O(1) errors.

use crate::ops::conv::{self, ConvGeometry};
use crate::reference::conv::{self as reference, ConvDims};
use crate::reference::random::Rng;
use crate::Gpu;

use super::{compare, random_tensor, Check};

const TOL: f64 = 1e-5;

pub fn checks(gpu: &Gpu) -> Vec<Check> {
    let mut rng = Rng::new(41);
    let mut out = Vec::new();
    let cases = [
        ("3x3 s1", 3, ConvGeometry::same3x3(), (9, 11)),
        ("1x1", 1, ConvGeometry::pointwise(), (9, 11)),
        (
            "3x3 s2 pad(0,1,0,1)",
            3,
            ConvGeometry::downsample_asymmetric(),
            (13, 13),
        ),
        (
            "3x3 s2 pad 1",
            3,
            ConvGeometry::downsample_symmetric(),
            (13, 10),
        ),
    ];
    for (name, k, g, (h, w)) in cases {
        let d = ConvDims {
            n: 2,
            cin: 5,
            h,
            w,
            cout: 7,
            kh: k,
            kw: k,
            stride: g.stride,
            pad: g.pad,
        };
        let (ho, wo) = d.out_hw();
        let shape = format!("[2,5,{h},{w}]->[2,7,{ho},{wo}]");
        let (x, xr) = random_tensor(gpu, &mut rng, &[2, 5, h, w]);
        let (wt, wr) = random_tensor(gpu, &mut rng, &[7, 5, k, k]);
        let (b, br) = random_tensor(gpu, &mut rng, &[7]);
        let y = conv::conv2d(&x, &wt, Some(&b), g).to_vec();
        out.push(compare(
            format!("conv2d {name}"),
            shape.clone(),
            &y,
            &reference::conv2d(&d, &xr, &wr, Some(&br)),
            TOL,
        ));

        let (dy, dyr) = random_tensor(gpu, &mut rng, &[2, 7, ho, wo]);
        let dx = conv::conv2d_backward_input(&dy, &wt, g, (h, w)).to_vec();
        out.push(compare(
            format!("conv2d_backward_input {name}"),
            shape.clone(),
            &dx,
            &reference::conv2d_backward_input(&d, &dyr, &wr),
            TOL,
        ));

        // Parameter gradients accumulate: start from random values.
        let (dw, mut dwr) = random_tensor(gpu, &mut rng, &[7, 5, k, k]);
        conv::conv2d_backward_weight(&dy, &x, &dw, g);
        reference::conv2d_backward_weight(&d, &dyr, &xr, &mut dwr);
        out.push(compare(
            format!("conv2d_backward_weight {name}"),
            shape.clone(),
            &dw.to_vec(),
            &dwr,
            TOL,
        ));

        let (db, mut dbr) = random_tensor(gpu, &mut rng, &[7]);
        conv::conv2d_backward_bias(&dy, &db);
        reference::conv2d_backward_bias(2, 7, ho * wo, &dyr, &mut dbr);
        out.push(compare(
            format!("conv2d_backward_bias {name}"),
            shape,
            &db.to_vec(),
            &dbr,
            TOL,
        ));
    }
    out
}
