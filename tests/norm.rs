//! Group norm: GPU kernels against the float64 reference (every variant), float64
//! finite-difference checks of the reference backward, and naga translation of the shader.

mod common;

use ddpm::reference::norm::{group_norm, group_norm_backward};
use ddpm::reference::random::Rng;

#[test]
fn gpu_kernels_match_reference() {
    common::assert_all_pass(ddpm::selftest::norm::checks(&common::gpu()));
}

/// Loss L = sum(w * y) of the reference forward, so dL/dy = w.
#[allow(clippy::too_many_arguments)]
fn loss(
    x: &[f64],
    gamma: &[f64],
    beta: &[f64],
    w: &[f64],
    dims: (usize, usize, usize, usize),
    eps: f64,
    silu: bool,
) -> f64 {
    let (n, c, s, groups) = dims;
    let (y, _, _) = group_norm(x, gamma, beta, n, c, s, groups, eps, silu);
    y.iter().zip(w).map(|(a, b)| a * b).sum()
}

/// Largest |analytic - numeric| relative to the largest |analytic| of one gradient, where the
/// numeric gradient perturbs `which` (0: x, 1: gamma, 2: beta) by central differences.
#[allow(clippy::too_many_arguments)]
fn fd_error(
    which: usize,
    analytic: &[f64],
    x: &[f64],
    gamma: &[f64],
    beta: &[f64],
    w: &[f64],
    dims: (usize, usize, usize, usize),
    eps: f64,
    silu: bool,
) -> f64 {
    let h = 1e-6;
    let scale = analytic.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(scale > 0.0, "all-zero analytic gradient");
    let mut worst = 0.0f64;
    for i in 0..analytic.len() {
        let mut args = [x.to_vec(), gamma.to_vec(), beta.to_vec()];
        args[which][i] += h;
        let plus = loss(&args[0], &args[1], &args[2], w, dims, eps, silu);
        args[which][i] -= 2.0 * h;
        let minus = loss(&args[0], &args[1], &args[2], w, dims, eps, silu);
        let numeric = (plus - minus) / (2.0 * h);
        worst = worst.max((numeric - analytic[i]).abs() / scale);
    }
    worst
}

#[test]
fn reference_backward_matches_finite_differences() {
    let mut rng = Rng::new(42);
    // (n, c, s, groups), eps, mean offset of x
    let cases = [
        ((2, 6, 5, 3), 1e-5, 0.0),
        ((3, 8, 3, 2), 1e-6, 3.0),
        ((2, 12, 1, 3), 1e-5, 3.0),
        ((1, 4, 7, 1), 1e-5, 0.0),
    ];
    for (dims, eps, offset) in cases {
        let (n, c, s, _) = dims;
        for silu in [false, true] {
            let x: Vec<f64> = (0..n * c * s).map(|_| rng.normal() + offset).collect();
            let gamma: Vec<f64> = (0..c).map(|_| 1.0 + 0.5 * rng.normal()).collect();
            let beta: Vec<f64> = (0..c).map(|_| 0.5 * rng.normal()).collect();
            let w: Vec<f64> = (0..n * c * s).map(|_| rng.normal()).collect();
            let (_, mean, rstd) = group_norm(&x, &gamma, &beta, n, c, s, dims.3, eps, silu);
            let (dx, dgamma, dbeta) =
                group_norm_backward(&w, &x, &gamma, &beta, &mean, &rstd, n, c, s, dims.3, silu);
            for (which, name, grad) in
                [(0, "dx", &dx), (1, "dgamma", &dgamma), (2, "dbeta", &dbeta)]
            {
                let err = fd_error(which, grad, &x, &gamma, &beta, &w, dims, eps, silu);
                // Central differences with h = 1e-6 in f64: truncation ~h^2, rounding ~1e-16/h.
                assert!(
                    err < 1e-6,
                    "{name} dims {dims:?} eps {eps} silu {silu}: FD error {err:.3e}"
                );
            }
        }
    }
}

/// The shader validates and translates to SPIR-V, MSL and HLSL for every entry point and
/// override set the op uses.
#[test]
fn shader_translates_to_every_backend() {
    let stage = naga::ShaderStage::Compute;
    for (name, entry) in [
        ("norm/forward", "forward_wg"),
        ("norm/forward", "forward_serial"),
        ("norm/forward", "forward_serial4"),
        ("norm/backward", "backward_wg"),
        ("norm/backward", "backward_serial"),
        ("norm/backward", "backward_serial4"),
        ("norm/param_grad", "param_grad"),
    ] {
        let source = ddpm::gpu::wgsl::compose_file(name).unwrap_or_else(|e| panic!("{e}"));
        let module = naga::front::wgsl::parse_str(&source).expect("parses");
        let info = naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::default(),
        )
        .validate(&module)
        .unwrap_or_else(|e| panic!("{name} validates: {e:?}"));
        for (wg, silu) in [(256.0, 0.0), (8.0, 1.0), (64.0, 0.0)] {
            let constants = naga::back::PipelineConstants::from_iter([
                ("WG".to_string(), wg),
                ("SILU".to_string(), silu),
            ]);
            let (m, i) = naga::back::pipeline_constants::process_overrides(
                &module,
                &info,
                Some((stage, entry)),
                &constants,
            )
            .unwrap_or_else(|e| panic!("{entry}: overrides: {e}"));
            let spv_pipe = naga::back::spv::PipelineOptions {
                shader_stage: stage,
                entry_point: entry.into(),
            };
            naga::back::spv::write_vec(&m, &i, &Default::default(), Some(&spv_pipe))
                .unwrap_or_else(|e| panic!("{entry}: SPIR-V: {e}"));
            let msl_pipe = naga::back::msl::PipelineOptions {
                entry_point: Some((stage, entry.into())),
                ..Default::default()
            };
            naga::back::msl::write_string(&m, &i, &Default::default(), &msl_pipe)
                .unwrap_or_else(|e| panic!("{entry}: MSL: {e}"));
            let mut hlsl = String::new();
            let hlsl_options = naga::back::hlsl::Options::default();
            let hlsl_pipe = naga::back::hlsl::PipelineOptions {
                entry_point: Some((stage, entry.into())),
            };
            naga::back::hlsl::Writer::new(&mut hlsl, &hlsl_options, &hlsl_pipe)
                .write(&m, &i, None)
                .unwrap_or_else(|e| panic!("{entry}: HLSL: {e}"));
        }
    }
}

/// One case of the norm-into-conv check: `x [N, C, H, W]`, the norm's gamma and beta, a 3x3
/// conv to `cout` channels (weights, bias) and a dy for its gradients, as f32 values.
struct NormConvCase {
    shape: [usize; 4],
    cout: usize,
    groups: usize,
    x: Vec<f32>,
    gamma: Vec<f32>,
    beta: Vec<f32>,
    wt: Vec<f32>,
    bias: Vec<f32>,
    dy: Vec<f32>,
}

/// On the tensor type `T` (`t` makes one from a shape and values): `group_norm_conv2d` of the
/// case (SiLU on, eps 1e-5, same-padded 3x3 conv), then the conv's weight and bias gradients of
/// its dy through what the conv kept. Returns (y, norm statistics, kept input, dw, db).
fn norm_conv_and_grads<T: ddpm::nn::TensorOps>(
    case: &NormConvCase,
    t: impl Fn(&[usize], &[f32]) -> T,
) -> (T, T::NormStats, T::ConvInput, T, T) {
    let g = ddpm::ops::conv::ConvGeometry::same3x3();
    let [n, c, h, w] = case.shape;
    let w_shape = [case.cout, c, 3, 3];
    let x = t(&case.shape, &case.x);
    let (y, stats, kept) = x.group_norm_conv2d(
        &t(&[c], &case.gamma),
        &t(&[c], &case.beta),
        case.groups,
        1e-5,
        true,
        &t(&w_shape, &case.wt),
        Some(&t(&[case.cout], &case.bias)),
        g,
    );
    let (dw, db) = (
        x.zeros_like_shape(&w_shape),
        x.zeros_like_shape(&[case.cout]),
    );
    let dy = t(&[n, case.cout, h, w], &case.dy);
    T::conv2d_backward_weight(&dy, &kept, &dw, g);
    T::conv2d_backward_bias(&dy, &db);
    (y, stats, kept, dw, db)
}

/// The norm writing a convolution's padded input (`TensorOps::group_norm_conv2d` on the GPU
/// tensor) against the float64 pair it replaces (`group_norm` then `conv2d` on the reference
/// tensor): the conv output, the statistics, and the weight and bias gradients of a random dy
/// read through what the conv kept of its input (the padded copy only, when fused). On
/// adapters whose 3x3 convolutions run the direct kernels the fused path must be the one
/// taken. Sizes: 7x7 and 6x10 planes (rows not a multiple of 4, S % 4 = 1 and 0).
#[test]
fn norm_into_conv_matches_the_unfused_float64_pair() {
    use ddpm::ops::conv::{self, ConvGeometry, ConvVariant};
    use ddpm::reference::cpu_tensor::CpuTensor;

    let gpu = common::gpu();
    let mut rng = Rng::new(0x6e63);
    for (shape, cout, groups) in [([2, 8, 7, 7], 12, 4), ([3, 6, 6, 10], 5, 2)] {
        let [n, c, h, w] = shape;
        let mut random = |len: usize, offset: f64| -> Vec<f32> {
            (0..len).map(|_| (rng.normal() + offset) as f32).collect()
        };
        let case = NormConvCase {
            shape,
            cout,
            groups,
            x: random(n * c * h * w, 0.5),
            gamma: random(c, 1.0),
            beta: random(c, 0.0),
            wt: random(cout * c * 9, 0.0),
            bias: random(cout, 0.0),
            dy: random(n * cout * h * w, 0.0),
        };
        let f64s = |v: &[f32]| v.iter().map(|&a| a as f64).collect::<Vec<_>>();
        let (y_gpu, stats_gpu, kept, dw, db) =
            norm_conv_and_grads(&case, |s, v| ddpm::Tensor::from_slice(&gpu, s, v));
        let (y_ref, _, _, dw_ref, db_ref) =
            norm_conv_and_grads(&case, |s, v| CpuTensor::new(s, f64s(v)));
        let direct = matches!(
            conv::variant(&gpu, 3, 3, ConvGeometry::same3x3()),
            ConvVariant::Direct | ConvVariant::DirectSubgroup
        );
        assert_eq!(kept.x().is_none(), direct, "fused exactly where direct");
        let (_, mean_ref, _) = group_norm(
            &f64s(&case.x),
            &f64s(&case.gamma),
            &f64s(&case.beta),
            n,
            c,
            h * w,
            groups,
            1e-5,
            true,
        );
        // f32 sums of 9 * C products of O(1) terms, after an f32 norm: a few 1e-6 relative.
        for (what, got, want, tol) in [
            ("y", y_gpu.to_vec(), y_ref.to_vec(), 1e-5),
            ("mean", stats_gpu.mean.to_vec(), mean_ref, 1e-5),
            ("dw", dw.to_vec(), dw_ref.to_vec(), 1e-5),
            ("db", db.to_vec(), db_ref.to_vec(), 1e-5),
        ] {
            let err = ddpm::selftest::max_rel_err(&got, &want);
            assert!(err < tol, "{shape:?}: {what} max relative error {err}");
        }
    }
}
