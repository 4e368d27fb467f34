//! Measured kernel choice (`ddpm::gpu::tuning`): the first use of a shape times the candidates
//! and writes the cache; a later process reuses it without measuring; results match the float64
//! reference whichever variant wins; a corrupt cache is ignored, not fatal.

use std::path::{Path, PathBuf};

use ddpm::gpu::{GpuOptions, TuneMode};
use ddpm::ops::matmul as mm;
use ddpm::reference::matmul as reference;
use ddpm::reference::random::Rng;
use ddpm::{Gpu, Tensor};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ddpm-tuning-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn gpu(mode: TuneMode, dir: &Path) -> Gpu {
    let gpu = Gpu::new(&GpuOptions {
        tune: Some(mode),
        cache_dir: Some(dir.to_path_buf()),
        ..Default::default()
    })
    .expect("a wgpu adapter (lavapipe on CI)");
    gpu.set_poison(true);
    gpu
}

// A product every candidate takes (M is not a multiple of any tile; N, K multiples of 4 so the
// subgroup kernel is a candidate on CPU adapters).
const M: usize = 37;
const K: usize = 20;
const N: usize = 28;

/// `a @ b^T` on the device against the float64 reference: the largest error relative to the
/// largest reference value. f32 with K = 20 terms of O(1): ~1e-6; 1e-5 is the matmul family's
/// tolerance in `ddpm selftest`.
fn product_error(gpu: &Gpu) -> f64 {
    let mut rng = Rng::new(7);
    let a = rng.normal_vec(M * K);
    let b = rng.normal_vec(N * K);
    let f32s = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
    let ta = Tensor::from_slice(gpu, &[M, K], &f32s(&a));
    let tb = Tensor::from_slice(gpu, &[N, K], &f32s(&b));
    let got = mm::matmul(&ta, &tb, false, true).to_vec();
    let want = reference::matmul(&a, &b, 1, 1, M, K, N, false, true);
    let scale = want.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    got.iter()
        .zip(&want)
        .map(|(g, w)| (*g as f64 - w).abs() / scale)
        .fold(0.0, f64::max)
}

fn cached_key_count(dir: &Path) -> usize {
    let text = std::fs::read_to_string(dir.join("tuning.json")).unwrap_or_default();
    text.matches("\"matmul b1 m37 k20 n28 ta0 tb1 bias-\"")
        .count()
}

#[test]
fn first_use_measures_and_writes_the_cache_then_it_is_reused() {
    let dir = scratch("reuse");
    let first = gpu(TuneMode::On, &dir);
    let err = product_error(&first);
    assert!(err < 1e-5, "tuned product: error {err:.2e}");
    let (reused, tuned, _) = first.tuner().stats();
    let candidates = if first.is_cpu() && !mm::subgroup_kernel_available(&first) {
        1
    } else {
        2
    };
    if candidates == 1 {
        eprintln!("a CPU adapter without 8-wide subgroups: one matmul candidate, nothing to time");
    } else {
        assert_eq!((reused, tuned), (0, 1), "the new shape is measured once");
        assert_eq!(
            cached_key_count(&dir),
            1,
            "the choice is written to the cache"
        );
    }
    let choice = first.tuner().cached_choices();

    // A new process (here: a new device) in cache mode uses the stored choice, measuring nothing.
    let second = gpu(TuneMode::Cache, &dir);
    assert_eq!(second.tuner().cached_choices(), choice);
    let err = product_error(&second);
    assert!(err < 1e-5, "cached choice: error {err:.2e}");
    let (reused, tuned, _) = second.tuner().stats();
    assert_eq!(tuned, 0, "cache mode never measures");
    if candidates == 2 {
        assert_eq!(reused, 1, "the cached choice is used");
    }
}

#[test]
fn off_and_cache_modes_never_write() {
    for mode in [TuneMode::Off, TuneMode::Cache] {
        let dir = scratch(mode.name());
        let g = gpu(mode, &dir);
        let err = product_error(&g);
        assert!(err < 1e-5, "{}: error {err:.2e}", mode.name());
        assert_eq!(g.tuner().stats().1, 0);
        assert!(!dir.join("tuning.json").exists(), "{}", mode.name());
    }
}

#[test]
fn a_corrupt_cache_is_ignored_and_rewritten() {
    let dir = scratch("corrupt");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("tuning.json"), "{ not json").unwrap();
    let g = gpu(TuneMode::On, &dir);
    let err = product_error(&g);
    assert!(err < 1e-5, "error {err:.2e}");
    if g.tuner().stats().1 == 1 {
        assert_eq!(cached_key_count(&dir), 1);
    }
}

#[test]
fn the_mode_names_parse_and_bad_ones_are_errors() {
    for m in [
        TuneMode::Off,
        TuneMode::Cache,
        TuneMode::On,
        TuneMode::Retune,
    ] {
        assert_eq!(TuneMode::parse(m.name()).unwrap(), m);
    }
    let e = TuneMode::parse("fast").unwrap_err().to_string();
    assert!(e.contains("on, off, cache or retune"), "{e}");
}

/// The golden case's forward pass (`tests/golden.rs`: convolutions, matmuls, attention and group norms of a
/// tiny U-Net) with every tunable family measured, against the same pass with the built-in
/// rules and against the independent reference. Tolerance 1e-4 of the largest output, as in
/// the golden test: every candidate passes its family's checks, so only rounding may differ.
#[test]
fn a_tuned_forward_matches_the_untuned_one() {
    use ddpm::checkpoint::{load_model, read_safetensors};
    use ddpm::model::unet::UNet;
    use ddpm::model::{Layout, ParamStore};
    use ddpm::nn::Mode;
    use ddpm::selftest::max_rel_err;

    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/unet-tiny"));
    let loaded = load_model(dir, true, ddpm::train::layout_of).unwrap();
    let (io, _) = read_safetensors(&dir.join("io.safetensors")).unwrap();
    let forward = |gpu: &Gpu| -> Vec<f32> {
        let model = UNet::new(&loaded.config);
        let layout = Layout::new(&model.registry);
        let store = ParamStore::for_inference(
            layout.clone(),
            Tensor::from_slice(gpu, &[layout.total], &loaded.weights),
        );
        let (xs, x) = &io["input.x"];
        let (_, t) = &io["input.t"];
        let x = Tensor::from_slice(gpu, xs, x);
        let t: Vec<u32> = t.iter().map(|&v| v as u32).collect();
        let t = Tensor::from_u32(gpu, &[t.len()], &t);
        model.forward(&store, &x, &t, Mode::inference()).0.to_vec()
    };
    let cache = scratch("forward");
    let tuned = gpu(TuneMode::Retune, &cache);
    let tuned_eps = forward(&tuned);
    let (_, measured, seconds) = tuned.tuner().stats();
    eprintln!("tuned forward: {measured} shapes measured in {seconds:.2} s");
    assert!(measured > 0, "nothing was measured");
    let families: Vec<String> = tuned.tuner().cached_choices().into_keys().collect();
    for family in ["matmul", "attention", "group_norm", "conv"] {
        assert!(
            families.iter().any(|k| k.starts_with(family)),
            "no {family} choice in {families:?}"
        );
    }
    let untuned_eps = forward(&gpu(TuneMode::Off, &scratch("forward-off")));
    let as64 = |v: &[f32]| v.iter().map(|&x| x as f64).collect::<Vec<f64>>();
    let err = max_rel_err(&tuned_eps, &as64(&untuned_eps));
    eprintln!("tuned vs untuned forward: {err:.3e}");
    assert!(err < 1e-4, "tuned forward differs from untuned: {err:.3e}");
    let golden = as64(&io["output.eps"].1);
    let err = max_rel_err(&tuned_eps, &golden);
    assert!(
        err < 1e-4,
        "tuned forward differs from the golden output: {err:.3e}"
    );
}

/// Every convolution pass measured (forward, input and weight gradient, on a shape the direct
/// kernels take and on a stride-2 one), against the float64 reference within the conv
/// family's selftest tolerance (2e-5 of the largest value); the weight gradient accumulates
/// into the caller's pre-filled tensor exactly once (timing runs use a scratch one).
#[test]
fn tuned_convolutions_match_the_reference() {
    use ddpm::ops::conv::{self as ops, ConvGeometry};
    use ddpm::reference::conv::{self as cref, ConvDims};
    use ddpm::selftest::max_rel_err;

    let g = gpu(TuneMode::Retune, &scratch("conv"));
    let mut rng = Rng::new(5);
    let f32s = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
    for (geometry, (h, w)) in [
        (ConvGeometry::same3x3(), (9, 11)),
        (ConvGeometry::downsample_symmetric(), (9, 10)),
    ] {
        let d = ConvDims {
            n: 2,
            cin: 5,
            h,
            w,
            cout: 7,
            kh: 3,
            kw: 3,
            stride: geometry.stride,
            pad: geometry.pad,
        };
        let (ho, wo) = d.out_hw();
        let x = rng.normal_vec(d.x_len());
        let wt = rng.normal_vec(d.w_len());
        let dy = rng.normal_vec(2 * 7 * ho * wo);
        let dw0 = rng.normal_vec(d.w_len());
        let tx = Tensor::from_slice(&g, &[2, 5, h, w], &f32s(&x));
        let tw = Tensor::from_slice(&g, &[7, 5, 3, 3], &f32s(&wt));
        let tdy = Tensor::from_slice(&g, &[2, 7, ho, wo], &f32s(&dy));
        let tdw = Tensor::from_slice(&g, &[7, 5, 3, 3], &f32s(&dw0));
        let y = ops::conv2d(&tx, &tw, None, geometry).to_vec();
        let dx = ops::conv2d_backward_input(&tdy, &tw, geometry, (h, w)).to_vec();
        ops::conv2d_backward_weight(&tdy, &tx, &tdw, geometry);
        let mut dw_ref = dw0.clone();
        cref::conv2d_backward_weight(&d, &dy, &x, &mut dw_ref);
        for (name, got, want) in [
            ("forward", y, cref::conv2d(&d, &x, &wt, None)),
            ("input grad", dx, cref::conv2d_backward_input(&d, &dy, &wt)),
            ("weight grad", tdw.to_vec(), dw_ref),
        ] {
            let err = max_rel_err(&got, &want);
            assert!(err <= 2e-5, "{name} s{}: error {err:.2e}", d.stride);
        }
    }
    let choices = g.tuner().cached_choices();
    for pass in ["forward", "input_grad", "weight_grad"] {
        let key = format!("conv {pass} ");
        assert_eq!(
            choices.keys().filter(|k| k.starts_with(&key)).count(),
            2,
            "{pass}: {choices:?}"
        );
    }
    eprintln!("conv choices: {choices:?}");
}
