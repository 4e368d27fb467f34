//! Checks of the conv kernels (see the module doc of `selftest`): every variant, forward and
//! the three backward passes, on odd sizes, against the float64 reference.

use crate::ops::conv::{self as ops, ConvGeometry, ConvVariant};
use crate::reference::conv::{self as reference, ConvDims};
use crate::reference::random::Rng;
use crate::Gpu;

use super::tolerance::CONV;
use super::{compare, random_tensor, Check};

/// One convolution shape to check.
struct Case {
    n: usize,
    cin: usize,
    cout: usize,
    h: usize,
    w: usize,
    kh: usize,
    kw: usize,
    g: ConvGeometry,
    bias: bool,
}

fn cases() -> Vec<Case> {
    let c = |n, cin, cout, h, w, k: (usize, usize), g, bias| Case {
        n,
        cin,
        cout,
        h,
        w,
        kh: k.0,
        kw: k.1,
        g,
        bias,
    };
    let s1 = ConvGeometry::same3x3();
    let asym = ConvGeometry::downsample_asymmetric();
    let sym = ConvGeometry::downsample_symmetric();
    let pw = ConvGeometry::pointwise();
    vec![
        // The brief's odd shape, and variations crossing the channel blocks (8, 16, 24, 32:
        // `direct_block` of Cout forward and of Cin for the input gradient) and 4-column tiles.
        c(2, 5, 7, 9, 11, (3, 3), s1, true),
        c(1, 6, 13, 5, 9, (3, 3), s1, true),
        c(1, 29, 46, 5, 9, (3, 3), s1, true),
        c(1, 44, 29, 6, 7, (3, 3), s1, false),
        c(1, 3, 20, 5, 7, (3, 3), s1, false),
        c(2, 37, 33, 6, 10, (3, 3), s1, true),
        c(3, 2, 3, 1, 1, (3, 3), s1, true),
        // Stride 1 with uneven padding: the input offsets are (0, 1) forward and (2, 1) for
        // the input gradient (a stride-1 conv of dy padded by kh - 1 - top, kw - 1 - left).
        c(
            2,
            5,
            18,
            7,
            9,
            (3, 3),
            ConvGeometry {
                stride: 1,
                pad: [0, 2, 1, 0],
            },
            true,
        ),
        // Rows of 8 quads (Wout = 32), where neighbouring quads share input loads.
        c(1, 3, 18, 3, 32, (3, 3), s1, true),
        c(2, 2, 3, 5, 64, (3, 3), asym, false),
        c(1, 3, 4, 3, 63, (3, 3), sym, true),
        // Enough pixels (640) that the Gemm weight gradient splits its reduction.
        c(2, 3, 5, 16, 20, (3, 3), s1, false),
        // Stride-2 downsamples, odd (13x13) and even sizes.
        c(2, 5, 7, 13, 13, (3, 3), asym, true),
        c(2, 6, 9, 13, 13, (3, 3), sym, false),
        c(1, 18, 5, 8, 12, (3, 3), asym, false),
        c(2, 4, 17, 10, 6, (3, 3), sym, true),
        // Stride-2 input gradients (`direct_t2`): an odd number of work units (2 dx rows x 8
        // columns), odd H and W, partial last quads, more than 16 channels on both sides.
        c(1, 20, 17, 9, 5, (3, 3), sym, false),
        c(1, 3, 4, 9, 17, (3, 3), asym, true),
        // 1x1 (the ResBlock shortcut), with and without aligned rows.
        c(2, 5, 7, 9, 11, (1, 1), pw, true),
        c(2, 19, 17, 4, 8, (1, 1), pw, false),
        c(1, 40, 3, 3, 5, (1, 1), pw, true),
        c(1, 30, 62, 4, 6, (1, 1), pw, true),
    ]
}

/// Shapes only the Gemm variant supports (general kernel sizes, strides and paddings).
fn gemm_only_cases() -> Vec<Case> {
    vec![
        Case {
            n: 2,
            cin: 3,
            cout: 5,
            h: 7,
            w: 9,
            kh: 2,
            kw: 3,
            g: ConvGeometry {
                stride: 2,
                pad: [1, 0, 2, 1],
            },
            bias: true,
        },
        Case {
            n: 1,
            cin: 4,
            cout: 6,
            h: 11,
            w: 8,
            kh: 5,
            kw: 5,
            g: ConvGeometry {
                stride: 3,
                pad: [2, 2, 0, 3],
            },
            bias: false,
        },
        Case {
            n: 2,
            cin: 3,
            cout: 4,
            h: 6,
            w: 7,
            kh: 1,
            kw: 1,
            g: ConvGeometry {
                stride: 2,
                pad: [0, 1, 1, 0],
            },
            bias: true,
        },
    ]
}

fn run_case(gpu: &Gpu, rng: &mut Rng, v: ConvVariant, c: &Case, out: &mut Vec<Check>) {
    let d = ConvDims {
        n: c.n,
        cin: c.cin,
        h: c.h,
        w: c.w,
        cout: c.cout,
        kh: c.kh,
        kw: c.kw,
        stride: c.g.stride,
        pad: c.g.pad,
    };
    let (ho, wo) = d.out_hw();
    let shape = format!(
        "x[{},{},{},{}] w[{},{},{},{}] s{} pad{:?}{}",
        c.n,
        c.cin,
        c.h,
        c.w,
        c.cout,
        c.cin,
        c.kh,
        c.kw,
        c.g.stride,
        c.g.pad,
        if c.bias { " +bias" } else { "" }
    );
    let (x, xv) = random_tensor(gpu, rng, &[c.n, c.cin, c.h, c.w]);
    let (w, wv) = random_tensor(gpu, rng, &[c.cout, c.cin, c.kh, c.kw]);
    let (b, bv) = random_tensor(gpu, rng, &[c.cout]);
    let (dy, dyv) = random_tensor(gpu, rng, &[c.n, c.cout, ho, wo]);
    let name = |op: &str| format!("conv2d {op} [{v:?}]");
    let bias = c.bias.then_some(&b);
    let y = ops::conv2d_with(v, &x, &w, bias, c.g);
    let yr = reference::conv2d(&d, &xv, &wv, c.bias.then_some(&bv[..]));
    out.push(compare(name("forward"), &shape, &y.to_vec(), &yr, CONV));

    // Input gradient.
    let dx = ops::conv2d_backward_input_with(v, &dy, &w, c.g, (c.h, c.w));
    let dxr = reference::conv2d_backward_input(&d, &dyv, &wv);
    out.push(compare(
        name("backward input"),
        &shape,
        &dx.to_vec(),
        &dxr,
        CONV,
    ));

    // Weight gradient, accumulated into a pre-filled dw.
    let (dw, dw0) = random_tensor(gpu, rng, &[c.cout, c.cin, c.kh, c.kw]);
    ops::conv2d_backward_weight_with(v, &dy, &x, &dw, c.g);
    let mut dwr = dw0;
    reference::conv2d_backward_weight(&d, &dyv, &xv, &mut dwr);
    out.push(compare(
        name("backward weight"),
        &shape,
        &dw.to_vec(),
        &dwr,
        CONV,
    ));

    // Bias gradient (variant-independent kernel, checked once per case with the Gemm pass),
    // accumulated into a pre-filled db.
    if v == ConvVariant::Gemm {
        let (db, db0) = random_tensor(gpu, rng, &[c.cout]);
        ops::conv2d_backward_bias(&dy, &db);
        let mut dbr = db0;
        reference::conv2d_backward_bias(c.n, c.cout, ho * wo, &dyv, &mut dbr);
        out.push(compare(
            "conv2d backward bias",
            &shape,
            &db.to_vec(),
            &dbr,
            CONV,
        ));
    }
}

/// `pad_planes` against a float64 copy: rows of a multiple of 4 (the vec4 pass, every left
/// offset modulo 4, cropping included) and not (the scalar pass), dilations 1 and 2. A copy is
/// exact: tolerance 0.
fn pad_checks(gpu: &Gpu, rng: &mut Rng, out: &mut Vec<Check>) {
    let offsets = [(1, 1), (0, 0), (2, 2), (-1, 3), (1, -1), (0, -4), (3, 5)];
    for (h, w) in [(5, 8), (3, 12), (4, 7), (6, 5)] {
        for dil in [1, 2] {
            for (top, left) in offsets {
                let (x, xv) = random_tensor(gpu, rng, &[2, 3, h, w]);
                let hp = h * dil + 2;
                let wp = (w * dil + 3).next_multiple_of(4);
                let got = ops::pad_planes(&x, (hp, wp), (top, left), dil);
                let want = reference::pad_planes(&xv, (6, h, w), (hp, wp), (top, left), dil);
                let shape = format!("[2,3,{h},{w}] -> [{hp},{wp}] at ({top},{left}) dil {dil}");
                out.push(compare("conv2d pad", shape, &got.to_vec(), &want, 0.0));
            }
        }
    }
}

pub fn checks(gpu: &Gpu) -> Vec<Check> {
    let mut rng = Rng::new(0xC0_4E);
    let mut out = Vec::new();
    for v in [
        ConvVariant::DirectSubgroup,
        ConvVariant::Direct,
        ConvVariant::Gemm,
    ] {
        for c in cases() {
            run_case(gpu, &mut rng, v, &c, &mut out);
        }
    }
    for c in gemm_only_cases() {
        run_case(gpu, &mut rng, ConvVariant::Gemm, &c, &mut out);
    }
    // The public entry points (variant chosen by the adapter) on one shape.
    let d = ConvDims {
        n: 2,
        cin: 5,
        h: 9,
        w: 11,
        cout: 7,
        kh: 3,
        kw: 3,
        stride: 1,
        pad: [1; 4],
    };
    let (x, xv) = random_tensor(gpu, &mut rng, &[2, 5, 9, 11]);
    let (w, wv) = random_tensor(gpu, &mut rng, &[7, 5, 3, 3]);
    let y = ops::conv2d(&x, &w, None, ConvGeometry::same3x3());
    let yr = reference::conv2d(&d, &xv, &wv, None);
    out.push(compare(
        "conv2d (auto variant)",
        "x[2,5,9,11] w[7,5,3,3]",
        &y.to_vec(),
        &yr,
        CONV,
    ));
    kept_input_checks(gpu, &mut rng, &mut out);
    block_checks(gpu, &mut rng, &mut out);
    pad_checks(gpu, &mut rng, &mut out);
    out
}

/// The layers' path: the forward pass keeps its input (with the direct kernels, the padded
/// copy they read) and the weight gradient reads what was kept, not a new pad of `x`; checked
/// on the adapter's own variants (3x3 stride 1 and 2, odd sizes), the gradient accumulated into
/// a pre-filled `dw`.
fn kept_input_checks(gpu: &Gpu, rng: &mut Rng, out: &mut Vec<Check>) {
    let geometries = [
        ("same", ConvGeometry::same3x3(), 9, 11),
        ("stride 2", ConvGeometry::downsample_asymmetric(), 10, 13),
    ];
    for (label, g, h, w) in geometries {
        let (n, cin, cout) = (2, 5, 27);
        let d = ConvDims {
            n,
            cin,
            h,
            w,
            cout,
            kh: 3,
            kw: 3,
            stride: g.stride,
            pad: g.pad,
        };
        let (x, xv) = random_tensor(gpu, rng, &[n, cin, h, w]);
        let (wt, wv) = random_tensor(gpu, rng, &[cout, cin, 3, 3]);
        let (y, kept) = ops::conv2d_keeping_input(&x, &wt, None, g);
        let shape = format!("x[{n},{cin},{h},{w}] w[{cout},{cin},3,3] {label}");
        let yr = reference::conv2d(&d, &xv, &wv, None);
        out.push(compare(
            "conv2d kept input: y",
            &shape,
            &y.to_vec(),
            &yr,
            CONV,
        ));
        let (dy, dyv) = random_tensor(gpu, rng, y.shape());
        let (dw, dw0) = random_tensor(gpu, rng, &[cout, cin, 3, 3]);
        ops::conv2d_backward_weight_kept(&dy, &kept, &dw, g);
        let mut dwr = dw0;
        reference::conv2d_backward_weight(&d, &dyv, &xv, &mut dwr);
        out.push(compare(
            "conv2d kept input: backward weight",
            &shape,
            &dw.to_vec(),
            &dwr,
            CONV,
        ));
    }
}

/// Every output-channel block of the direct forward kernels (8, 16, 24, 32), each forced on
/// the same shapes, whatever `direct_block` would choose: 37 channels leave every block's last
/// tile partial; 3x3 stride 1 and 2, and 1x1 (which reads 9 input channels at a time: 13 is not
/// a multiple of 9).
fn block_checks(gpu: &Gpu, rng: &mut Rng, out: &mut Vec<Check>) {
    let s1 = ConvGeometry::same3x3();
    let shapes = [
        (13, 37, 3, s1),
        (13, 37, 3, ConvGeometry::downsample_asymmetric()),
        (13, 37, 1, ConvGeometry::pointwise()),
    ];
    for v in [ConvVariant::DirectSubgroup, ConvVariant::Direct] {
        for (cin, cout, k, g) in shapes {
            let (n, h, w) = (2, 7, 10);
            let (ho, wo) = g.output_hw(h, w, k, k);
            let d = ConvDims {
                n,
                cin,
                h,
                w,
                cout,
                kh: k,
                kw: k,
                stride: g.stride,
                pad: g.pad,
            };
            let (x, xv) = random_tensor(gpu, rng, &[n, cin, h, w]);
            let (wt, wv) = random_tensor(gpu, rng, &[cout, cin, k, k]);
            let (b, bv) = random_tensor(gpu, rng, &[cout]);
            let yr = reference::conv2d(&d, &xv, &wv, Some(&bv[..]));
            assert_eq!(yr.len(), n * cout * ho * wo);
            for block in ops::direct_blocks() {
                let y = ops::conv2d_direct_block(v, block, &x, &wt, Some(&b), g);
                let shape = format!(
                    "x[{n},{cin},{h},{w}] w[{cout},{cin},{k},{k}] s{} block {block}",
                    g.stride
                );
                out.push(compare(
                    format!("conv2d forward [{v:?}]"),
                    &shape,
                    &y.to_vec(),
                    &yr,
                    CONV,
                ));
            }
        }
    }
}
