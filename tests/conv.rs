//! Conv kernels against the float64 reference (every variant), the reference backward passes
//! against central finite differences of the reference forward, and the shader through naga.

mod common;

use ddpm::ops::conv::{self, ConvGeometry, ConvVariant};
use ddpm::reference::conv::{self as reference, ConvDims};
use ddpm::reference::random::Rng;

#[test]
fn conv_kernels_match_reference() {
    common::assert_all_pass(ddpm::selftest::conv::checks(&common::gpu()));
}

#[test]
fn output_sizes() {
    assert_eq!(ConvGeometry::same3x3().output_hw(32, 32, 3, 3), (32, 32));
    assert_eq!(ConvGeometry::pointwise().output_hw(16, 16, 1, 1), (16, 16));
    assert_eq!(
        ConvGeometry::downsample_asymmetric().output_hw(32, 32, 3, 3),
        (16, 16)
    );
    assert_eq!(
        ConvGeometry::downsample_symmetric().output_hw(32, 32, 3, 3),
        (16, 16)
    );
    assert_eq!(
        ConvGeometry::downsample_asymmetric().output_hw(13, 13, 3, 3),
        (6, 6)
    );
    assert_eq!(
        ConvGeometry::downsample_symmetric().output_hw(13, 13, 3, 3),
        (7, 7)
    );
}

fn random(rng: &mut Rng, n: usize) -> Vec<f64> {
    (0..n).map(|_| rng.normal()).collect()
}

/// L(x, w, b) = sum(conv2d(x, w, b) * g) for a fixed random g: dL/dx, dL/dw, dL/db are exactly
/// the backward passes applied to dy = g. Central differences with h = 1e-6 on every entry.
fn check_finite_differences(d: ConvDims) {
    let mut rng = Rng::new(7);
    let x = random(&mut rng, d.x_len());
    let w = random(&mut rng, d.w_len());
    let b = random(&mut rng, d.cout);
    let g = random(&mut rng, d.y_len());
    let loss = |x: &[f64], w: &[f64], b: &[f64]| -> f64 {
        reference::conv2d(&d, x, w, Some(b))
            .iter()
            .zip(&g)
            .map(|(y, g)| y * g)
            .sum()
    };
    let h = 1e-6;
    let numeric = |v: &[f64], f: &dyn Fn(&[f64]) -> f64| -> Vec<f64> {
        (0..v.len())
            .map(|i| {
                let mut p = v.to_vec();
                p[i] += h;
                let lp = f(&p);
                p[i] -= 2.0 * h;
                let lm = f(&p);
                (lp - lm) / (2.0 * h)
            })
            .collect()
    };
    let (ho, wo) = d.out_hw();
    let dx = reference::conv2d_backward_input(&d, &g, &w);
    // Accumulation: start from a non-zero value and subtract it back.
    let mut dw = vec![0.5; d.w_len()];
    reference::conv2d_backward_weight(&d, &g, &x, &mut dw);
    dw.iter_mut().for_each(|v| *v -= 0.5);
    let mut db = vec![-1.5; d.cout];
    reference::conv2d_backward_bias(d.n, d.cout, ho * wo, &g, &mut db);
    db.iter_mut().for_each(|v| *v += 1.5);

    let nx = numeric(&x, &|p| loss(p, &w, &b));
    let nw = numeric(&w, &|p| loss(&x, p, &b));
    let nb = numeric(&b, &|p| loss(&x, &w, p));
    for (name, a, n) in [("dx", &dx, &nx), ("dw", &dw, &nw), ("db", &db, &nb)] {
        let scale = n.iter().fold(1e-12f64, |m, v| m.max(v.abs()));
        let err = a
            .iter()
            .zip(n.iter())
            .fold(0.0f64, |m, (a, n)| m.max((a - n).abs()))
            / scale;
        // The loss is linear in each argument, so central differences are exact up to rounding
        // (~1e-16 * |L| / h ~ 1e-9 relative here).
        assert!(
            err < 1e-6,
            "{name} of {d:?}: finite-difference error {err:e}"
        );
        assert!(scale > 1e-3, "{name} of {d:?}: gradient is all zeros");
    }
}

#[test]
fn reference_backward_matches_finite_differences() {
    let shapes = [
        (3, 3, 1, [1, 1, 1, 1]),
        (3, 3, 2, [0, 1, 0, 1]),
        (3, 3, 2, [1, 1, 1, 1]),
        (1, 1, 1, [0, 0, 0, 0]),
        (2, 3, 2, [1, 0, 2, 1]),
    ];
    for (kh, kw, stride, pad) in shapes {
        for (h, w) in [(5, 6), (7, 7)] {
            check_finite_differences(ConvDims {
                n: 2,
                cin: 3,
                h,
                w,
                cout: 4,
                kh,
                kw,
                stride,
                pad,
            });
        }
    }
}

/// The direct-kernel modules with the override constants the ops use (tests/shaders.rs checks
/// every module with its defaults).
#[test]
fn shader_validates_and_translates() {
    for (name, caps) in [
        ("conv2d/direct_cpu", naga::valid::Capabilities::empty()),
        (
            "conv2d/direct_subgroup",
            naga::valid::Capabilities::SUBGROUP,
        ),
    ] {
        let src = ddpm::gpu::wgsl::compose_file(name).unwrap_or_else(|e| panic!("{e}"));
        let module = naga::front::wgsl::parse_str(&src).expect("parses");
        let info = naga::valid::Validator::new(naga::valid::ValidationFlags::all(), caps)
            .subgroup_stages(naga::valid::ShaderStages::COMPUTE)
            .subgroup_operations(naga::valid::SubgroupOperationSet::all())
            .validate(&module)
            .unwrap_or_else(|e| panic!("{name} validates: {e:?}"));
        for stride in [1.0, 2.0] {
            let mut constants = naga::back::PipelineConstants::default();
            constants.insert("STRIDE".to_string(), stride);
            constants.insert("SEG".to_string(), 4.0);
            constants.insert("T2_TOP".to_string(), stride - 1.0);
            constants.insert("T2_LEFT".to_string(), stride - 1.0);
            let (module, info) =
                naga::back::pipeline_constants::process_overrides(&module, &info, None, &constants)
                    .expect("override constants apply");
            naga::back::spv::write_vec(&module, &info, &Default::default(), None).expect("SPIR-V");
            let msl = naga::back::msl::Options {
                lang_version: (2, 4),
                ..Default::default()
            };
            naga::back::msl::write_string(&module, &info, &msl, &Default::default()).expect("MSL");
            let hlsl = naga::back::hlsl::Options {
                shader_model: naga::back::hlsl::ShaderModel::V6_0,
                ..Default::default()
            };
            let mut text = String::new();
            naga::back::hlsl::Writer::new(&mut text, &hlsl, &Default::default())
                .write(&module, &info, None)
                .expect("HLSL");
        }
    }
}

/// More pixel tiles than one dispatch dimension holds (65,535): the implicit-GEMM forward folds
/// them into grid z. A 1x1 convolution of 2 channels over 1 x 2,050 x 2,050 pixels is 65,664
/// tiles of 64 pixels; every output is checked against the float64 reference, with the output
/// poisoned first so a tile the folded grid missed shows as NaN.
#[test]
fn gemm_forward_covers_more_than_65535_pixel_tiles() {
    use ddpm::ops::conv::{conv2d_with, ConvVariant};
    let gpu = common::gpu();
    gpu.set_poison(true);
    let (n, cin, cout, h, w) = (1, 2, 2, 2050, 2050);
    let d = ConvDims {
        n,
        cin,
        h,
        w,
        cout,
        kh: 1,
        kw: 1,
        stride: 1,
        pad: [0, 0, 0, 0],
    };
    let mut rng = Rng::new(11);
    let x = random(&mut rng, d.x_len());
    let wt = random(&mut rng, d.w_len());
    let b = random(&mut rng, cout);
    let f32s = |v: &[f64]| v.iter().map(|&a| a as f32).collect::<Vec<_>>();
    let xt = ddpm::Tensor::from_slice(&gpu, &[n, cin, h, w], &f32s(&x));
    let wtt = ddpm::Tensor::from_slice(&gpu, &[cout, cin, 1, 1], &f32s(&wt));
    let bt = ddpm::Tensor::from_slice(&gpu, &[cout], &f32s(&b));
    let y = conv2d_with(
        ConvVariant::Gemm,
        &xt,
        &wtt,
        Some(&bt),
        ConvGeometry::pointwise(),
    )
    .to_vec();
    let want = reference::conv2d(&d, &x, &wt, Some(&b));
    let err = ddpm::selftest::max_rel_err(&y, &want);
    // Two products and a bias in f32: a few ulp.
    assert!(err < 1e-5, "max relative error {err}");
}

/// On adapters whose 3x3 convolutions run the direct kernels, the forward pass keeps the padded
/// copy it read, for the weight gradient (checked against float64 in `ddpm selftest`'s "kept
/// input" checks); elsewhere it keeps only the input.
#[test]
fn direct_forward_keeps_its_padded_input() {
    let gpu = common::gpu();
    let g = ConvGeometry::same3x3();
    let x = ddpm::Tensor::from_slice(&gpu, &[1, 3, 6, 7], &[0.5; 126]);
    let w = ddpm::Tensor::from_slice(&gpu, &[4, 3, 3, 3], &[0.25; 108]);
    let (_, kept) = conv::conv2d_keeping_input(&x, &w, None, g);
    let direct = matches!(
        conv::variant(&gpu, 3, 3, g),
        ConvVariant::Direct | ConvVariant::DirectSubgroup
    );
    assert_eq!(kept.keeps_padded_copy(), direct);
    assert!(kept.x().expect("x is kept").same_buffer(&x));
}
