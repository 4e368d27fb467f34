//! Gradient checks of the hand-written backward passes.
//!
//! 1. Float64: every layer, and the whole micro U-Net (every parameter tensor and the input),
//!    against central finite differences of the float64 reference forward. The scalar is
//!    L = sum(out * r) for a fixed random r, so dL/dout = r. With h = 1e-5 in f64 the
//!    truncation error is O(h^2 * f''') ~ 1e-10 and the rounding error ~ 1e-16 / h ~ 1e-11 of
//!    the output scale: a relative tolerance of 1e-6 is tight yet far above that noise, and a
//!    wrong backward gives errors of order 1.
//! 2. The GPU backward (f32) against the float64 reference backward, tensor by tensor; error
//!    relative to the tensor's largest gradient, tolerance 2e-3: f32 rounding (~6e-8) grows
//!    through ~20 layers and reductions over up to a few thousand terms to ~1e-5..1e-4.
//!
//! All parameters are random and non-zero (the zero-initialised layers too), so every path
//! carries gradient.

mod common;

use ddpm::model::unet::UNet;
use ddpm::model::{Layout, ParamStore, Registry, UNetConfig};
use ddpm::nn::attention::AttentionBlock;
use ddpm::nn::conv::Conv2d;
use ddpm::nn::linear::Linear;
use ddpm::nn::norm::GroupNorm;
use ddpm::nn::resample::{Downsample, Upsample};
use ddpm::nn::resnet::ResnetBlock;
use ddpm::nn::time::TimeEmbedding;
use ddpm::nn::{Mode, TensorOps};
use ddpm::ops::conv::ConvGeometry;
use ddpm::reference::cpu_tensor::{CpuParams, CpuTensor};
use ddpm::reference::random::Rng;
use ddpm::selftest::max_rel_err;
use ddpm::Tensor;

const H: f64 = 1e-5;
const FD_TOL: f64 = 1e-6;
/// Errors are relative to the tensor's largest gradient, but at least to this fraction of the
/// model's largest: the key bias of attention has an exactly zero gradient (softmax is
/// invariant to adding q.b_k to every score of a row), so its values are pure rounding noise.
const SCALE_FLOOR: f64 = 1e-3;

fn micro() -> UNetConfig {
    UNetConfig {
        sample_size: 8,
        block_out_channels: vec![8, 16],
        norm_num_groups: 4,
        ..UNetConfig::tiny(2)
    }
}

/// Random parameters: normal * 0.4, plus 1 for group-norm scales.
fn random_params(layout: &Layout, rng: &mut Rng) -> Vec<f64> {
    let mut flat = vec![0.0; layout.total];
    for (i, s) in layout.specs.iter().enumerate() {
        let scale_like = s.name.contains("norm") && s.name.ends_with("weight");
        for j in 0..layout.numel(i) {
            flat[layout.offsets[i] + j] = rng.normal() * 0.4 + if scale_like { 1.0 } else { 0.0 };
        }
    }
    flat
}

fn tensor(rng: &mut Rng, shape: &[usize]) -> CpuTensor {
    CpuTensor::new(shape, rng.normal_vec(shape.iter().product()))
}

fn dot(a: &CpuTensor, r: &[f64]) -> f64 {
    a.to_vec().iter().zip(r).map(|(x, y)| x * y).sum()
}

/// Checks `n_samples` random elements of every parameter (and of `x` if `check_input`)
/// against central differences of `loss(params, x)`; returns the worst relative error.
fn finite_difference_check(
    name: &str,
    params: &CpuParams,
    x: &CpuTensor,
    analytic_dx: Option<&[f64]>,
    loss: &dyn Fn(&CpuParams, &CpuTensor) -> f64,
    rng: &mut Rng,
    n_samples: usize,
) {
    let mut worst = 0.0f64;
    let mut report = |what: String, analytic: f64, numeric: f64, scale: f64| {
        let err = (analytic - numeric).abs() / scale.max(1e-8);
        assert!(
            err < FD_TOL,
            "{name}: {what}: analytic {analytic:.9e} vs numeric {numeric:.9e} (rel {err:.2e})"
        );
        worst = worst.max(err);
    };
    let max_abs = |v: &[f64]| v.iter().fold(0.0f64, |m, g| m.max(g.abs()));
    let global = max_abs(&params.flat_grads());
    for i in 0..params.layout.specs.len() {
        let grad = params.grad_of(i);
        let scale = max_abs(&grad).max(SCALE_FLOOR * global);
        for _ in 0..n_samples {
            let j = rng.below(grad.len() as u64) as usize;
            params.nudge(i, j, H);
            let up = loss(params, x);
            params.nudge(i, j, -2.0 * H);
            let down = loss(params, x);
            params.nudge(i, j, H);
            report(
                format!("{}[{j}]", params.layout.specs[i].name),
                grad[j],
                (up - down) / (2.0 * H),
                scale,
            );
        }
    }
    if let Some(dx) = analytic_dx {
        let scale = dx.iter().fold(0.0f64, |m, g| m.max(g.abs()));
        for _ in 0..n_samples * 4 {
            let j = rng.below(dx.len() as u64) as usize;
            let mut xs = x.to_vec();
            xs[j] += H;
            let up = loss(params, &CpuTensor::new(&x.shape(), xs.clone()));
            xs[j] -= 2.0 * H;
            let down = loss(params, &CpuTensor::new(&x.shape(), xs));
            report(format!("input[{j}]"), dx[j], (up - down) / (2.0 * H), scale);
        }
    }
    eprintln!("{name}: worst finite-difference relative error {worst:.2e}");
}

/// Builds a layer, runs forward + backward on random input with L = sum(out * r), and checks
/// every parameter (and the input, if `input_differentiable`) against finite differences.
fn check_layer<L, S>(
    name: &str,
    build: impl FnOnce(&mut Registry) -> L,
    x: CpuTensor,
    input_differentiable: bool,
    forward: impl Fn(&L, &CpuParams, &CpuTensor) -> (CpuTensor, S),
    backward: impl Fn(&L, &CpuParams, S, &CpuTensor) -> CpuTensor,
) {
    let mut rng = Rng::new(name.len() as u64 * 7919 + 1);
    let mut reg = Registry::default();
    let layer = build(&mut reg);
    let layout = Layout::new(&reg);
    let params = CpuParams::new(&layout, &random_params(&layout, &mut rng));
    let (y, saved) = forward(&layer, &params, &x);
    let r = rng.normal_vec(y.to_vec().len());
    let dx = backward(
        &layer,
        &params,
        saved,
        &CpuTensor::new(&y.shape(), r.clone()),
    );
    let loss = |p: &CpuParams, x: &CpuTensor| dot(&forward(&layer, p, x).0, &r);
    let dx = dx.to_vec();
    finite_difference_check(
        name,
        &params,
        &x,
        input_differentiable.then_some(&dx[..]),
        &loss,
        &mut rng,
        3,
    );
}

fn input(shape: &[usize]) -> CpuTensor {
    tensor(&mut Rng::new(shape.iter().sum::<usize>() as u64), shape)
}

#[test]
fn conv2d_layer() {
    for (name, k, g, hw) in [
        ("conv3x3", 3, ConvGeometry::same3x3(), (5, 6)),
        ("conv1x1", 1, ConvGeometry::pointwise(), (5, 6)),
        (
            "conv3x3_stride2_asymmetric",
            3,
            ConvGeometry::downsample_asymmetric(),
            (6, 6),
        ),
        (
            "conv3x3_stride2_symmetric",
            3,
            ConvGeometry::downsample_symmetric(),
            (7, 5),
        ),
    ] {
        check_layer(
            name,
            |reg| Conv2d::new(reg, "c", 3, 5, k, g, false),
            input(&[2, 3, hw.0, hw.1]),
            true,
            |l, p, x| l.forward(p, x),
            |l, p, x, dy| l.backward(p, &x, dy),
        );
    }
}

#[test]
fn linear_layer() {
    check_layer(
        "linear",
        |reg| Linear::new(reg, "l", 5, 6, false),
        input(&[3, 4, 5]),
        true,
        |l, p, x| (l.forward(p, x), x.clone()),
        |l, p, x, dy| l.backward(p, &x, dy),
    );
}

#[test]
fn group_norm_layer() {
    for silu in [false, true] {
        check_layer(
            if silu {
                "group_norm_silu"
            } else {
                "group_norm"
            },
            |reg| GroupNorm::new(reg, "n", 8, 4, 1e-6, silu),
            input(&[2, 8, 3, 3]),
            true,
            |l, p, x| l.forward(p, x),
            |l, p, s, dy| l.backward(p, &s, dy),
        );
    }
}

#[test]
fn resnet_block() {
    let temb = input(&[2, 6]);
    for (cin, cout) in [(4, 8), (8, 8)] {
        check_layer(
            &format!("resnet_{cin}_to_{cout}"),
            |reg| ResnetBlock::new(reg, "r", cin, cout, 6, 4, 1e-6, 0.0, 0),
            input(&[2, cin, 4, 3]),
            true,
            |l, p, x| {
                l.forward(
                    p,
                    x,
                    &temb,
                    Mode {
                        training: true,
                        seed: 0,
                        step: 0,
                        first_sample: 0,
                    },
                )
            },
            |l, p, s, dy| l.backward(p, s, &temb, dy, &temb.zeros_like_shape(&[2, 6])),
        );
    }
}

#[test]
fn attention_block() {
    for heads in [1, 2] {
        check_layer(
            &format!("attention_{heads}_heads"),
            |reg| AttentionBlock::new(reg, "a", 8, heads, 4, 1e-6),
            input(&[2, 8, 3, 3]),
            true,
            |l, p, x| l.forward(p, x, true),
            |l, p, s, dy| l.backward(p, s, dy),
        );
    }
}

#[test]
fn resampling_layers() {
    check_layer(
        "downsample",
        |reg| Downsample::new(reg, "d", 4, 0),
        input(&[2, 4, 6, 6]),
        true,
        |l, p, x| l.forward(p, x),
        |l, p, x, dy| l.backward(p, &x, dy),
    );
    check_layer(
        "upsample",
        |reg| Upsample::new(reg, "u", 4),
        input(&[2, 4, 3, 3]),
        true,
        |l, p, x| l.forward(p, x),
        |l, p, x, dy| l.backward(p, &x, dy),
    );
}

#[test]
fn timestep_embedding_mlp() {
    // The timesteps are not differentiable: parameters only.
    check_layer(
        "time_embedding",
        |reg| TimeEmbedding::new(reg, 8, 12, false, 1.0),
        CpuTensor::new(&[3], vec![0.0, 17.0, 999.0]),
        false,
        |l, p, t| l.forward(p, t),
        |l, p, s, dy| {
            l.backward(p, s, dy);
            dy.clone()
        },
    );
}

/// The micro U-Net in float64 with random parameters: (model, params, x, t, r, flat values).
fn micro_unet_case(dropout: f64) -> (UNet, Layout, Vec<f64>, CpuTensor, CpuTensor, Vec<f64>) {
    let model = UNet::new(&UNetConfig { dropout, ..micro() });
    let layout = Layout::new(&model.registry);
    let mut rng = Rng::new(2024);
    let flat = random_params(&layout, &mut rng);
    let x = tensor(&mut rng, &[2, 2, 8, 8]);
    let t = CpuTensor::new(&[2], vec![3.0, 700.0]);
    let r = rng.normal_vec(x.to_vec().len());
    (model, layout, flat, x, t, r)
}

const TRAIN: Mode = Mode {
    training: true,
    seed: 5,
    step: 0,
    first_sample: 0,
};

#[test]
fn whole_unet_backward_matches_finite_differences() {
    let (model, layout, flat, x, t, r) = micro_unet_case(0.0);
    let params = CpuParams::new(&layout, &flat);
    let (eps, tape) = model.forward(&params, &x, &t, TRAIN);
    let dx = model
        .backward(&params, tape, &CpuTensor::new(&eps.shape(), r.clone()))
        .dx
        .to_vec();
    let loss =
        |p: &CpuParams, x: &CpuTensor| dot(&model.forward(p, x, &t, Mode::inference()).0, &r);
    let mut rng = Rng::new(99);
    finite_difference_check("micro U-Net", &params, &x, Some(&dx), &loss, &mut rng, 2);
}

#[test]
fn gpu_backward_matches_float64_reference() {
    let gpu = common::gpu();
    // With dropout: the GPU and the reference draw the same Philox masks from (seed, stream),
    // so this also checks that backward reuses the forward's mask.
    let (model, layout, flat, x, t, r) = micro_unet_case(0.3);
    // Reference: float64 on the CPU, from the same f32-rounded inputs the GPU sees.
    let round = |v: &[f64]| v.iter().map(|&a| a as f32 as f64).collect::<Vec<_>>();
    let (flat, x, r) = (
        round(&flat),
        CpuTensor::new(&x.shape(), round(&x.to_vec())),
        round(&r),
    );
    let params = CpuParams::new(&layout, &flat);
    let (eps_ref, tape) = model.forward(&params, &x, &t, TRAIN);
    let dx_ref = model
        .backward(&params, tape, &CpuTensor::new(&eps_ref.shape(), r.clone()))
        .dx
        .to_vec();

    let f32s = |v: &[f64]| v.iter().map(|&a| a as f32).collect::<Vec<_>>();
    let store = ParamStore::new(&gpu, layout.clone(), &f32s(&flat));
    let xg = Tensor::from_slice(&gpu, &x.shape(), &f32s(&x.to_vec()));
    let tg = Tensor::from_u32(&gpu, &[2], &[3, 700]);
    let (eps, tape) = model.forward(&store, &xg, &tg, TRAIN);
    let eps_err = max_rel_err(&eps.to_vec(), &eps_ref.to_vec());
    let dx = model
        .backward(
            &store,
            tape,
            &Tensor::from_slice(&gpu, eps.shape(), &f32s(&r)),
        )
        .dx
        .to_vec();
    let grads = store.grads.as_ref().unwrap().to_vec();
    let grads_ref = params.flat_grads();

    let mut failures = Vec::new();
    let mut worst = ("", 0.0f64);
    let global = grads_ref.iter().fold(0.0f64, |m, g| m.max(g.abs()));
    for (i, s) in layout.specs.iter().enumerate() {
        let range = layout.offsets[i]..layout.offsets[i] + layout.numel(i);
        let (g, r) = (&grads[range.clone()], &grads_ref[range]);
        let scale = r
            .iter()
            .fold(0.0f64, |m, v| m.max(v.abs()))
            .max(SCALE_FLOOR * global);
        let err = if g.iter().all(|v| v.is_finite()) {
            g.iter()
                .zip(r)
                .fold(0.0f64, |m, (a, b)| m.max((*a as f64 - b).abs()))
                / scale
        } else {
            f64::INFINITY
        };
        if err > worst.1 {
            worst = (s.name.as_str(), err);
        }
        // NaN counts as a failure (err is infinite for non-finite values).
        if err.is_nan() || err >= 2e-3 {
            failures.push(format!("{}: {err:.2e}", s.name));
        }
    }
    let dx_err = max_rel_err(&dx, &dx_ref);
    eprintln!("GPU vs float64: eps {eps_err:.2e}, input grad {dx_err:.2e}, worst parameter grad {} {:.2e}", worst.0, worst.1);
    assert!(eps_err < 1e-4, "forward differs: {eps_err:.2e}");
    assert!(dx_err < 2e-3, "input gradient differs: {dx_err:.2e}");
    assert!(
        failures.is_empty(),
        "parameter gradients differ:\n{}",
        failures.join("\n")
    );
}
