//! The golden case (from an independent implementation, ../shared/golden/unet-tiny, copied
//! into tests/data): our forward pass reproduces `output.eps`.
//!
//! Tolerance: the reference was computed in f32; our kernels accumulate in different orders,
//! and the path through ~30 layers (convs over up to 9*96 terms, softmax over 256 tokens, group
//! norms) amplifies rounding. Measured agreement is reported by the test; 1e-4 of the largest
//! output magnitude leaves a margin over f32 noise while any wrong layer (a transposed weight,
//! a missed skip, a wrong timestep frequency) gives errors of order 1e-1..1.

mod common;

use std::path::Path;

use ddpm::checkpoint::{load_model, read_safetensors};
use ddpm::model::unet::UNet;
use ddpm::model::{Layout, ParamStore};
use ddpm::nn::Mode;
use ddpm::selftest::max_rel_err;
use ddpm::Tensor;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/unet-tiny");

#[test]
fn forward_reproduces_golden_eps() {
    let gpu = common::gpu();
    let loaded = load_model(Path::new(DIR), true, ddpm::train::layout_of).unwrap();
    let model = UNet::new(&loaded.config);
    let layout = Layout::new(&model.registry);
    let store = ParamStore::for_inference(
        layout.clone(),
        Tensor::from_slice(&gpu, &[layout.total], &loaded.weights),
    );
    let (io, _) = read_safetensors(&Path::new(DIR).join("io.safetensors")).unwrap();
    let (xs, x) = &io["input.x"];
    let (_, t) = &io["input.t"];
    let (_, expected) = &io["output.eps"];
    let x = Tensor::from_slice(&gpu, xs, x);
    let t = Tensor::from_u32(
        &gpu,
        &[t.len()],
        &t.iter().map(|&v| v as u32).collect::<Vec<_>>(),
    );
    let (eps, _) = model.forward(&store, &x, &t, Mode::inference());
    let got = eps.to_vec();
    let reference: Vec<f64> = expected.iter().map(|&v| v as f64).collect();
    let err = max_rel_err(&got, &reference);
    eprintln!("golden forward: max error / max |eps| = {err:.3e}");
    assert!(err < 1e-4, "golden forward differs: {err:.3e}");
}
