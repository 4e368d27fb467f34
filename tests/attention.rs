//! Attention kernels against the float64 reference, and the reference backward against finite
//! differences of the reference forward.

mod common;

use ddpm::ops::attention::{self as att, Variant};
use ddpm::reference::attention as reference;
use ddpm::reference::random::Rng;
use ddpm::selftest::{max_rel_err, random_tensor};

#[test]
fn kernels_match_reference() {
    let gpu = common::gpu();
    let checks = ddpm::selftest::attention::checks(&gpu);
    for c in &checks {
        println!(
            "{:<34} {:<30} err {:.2e} (tol {:.0e})",
            c.op, c.shape, c.max_rel_err, c.tolerance
        );
    }
    common::assert_all_pass(checks);
}

/// Central differences of L = sum(w * o) with respect to every element of q, k and v, against
/// the reference backward (dout = w).
#[test]
fn reference_backward_matches_finite_differences() {
    let mut rng = Rng::new(7);
    for &(b, l, c, heads, gain) in &[
        (1usize, 5usize, 6usize, 2usize, 1.0f64),
        (2, 4, 8, 1, 2.5),
        (1, 3, 12, 4, 1.0),
    ] {
        let n = b * l * c;
        let q: Vec<f64> = (0..n).map(|_| gain * rng.normal()).collect();
        let k = rng.normal_vec(n);
        let v = rng.normal_vec(n);
        let w = rng.normal_vec(n);
        let loss = |q: &[f64], k: &[f64], v: &[f64]| -> f64 {
            let (o, _) = reference::attention(q, k, v, b, l, c, heads);
            o.iter().zip(&w).map(|(a, b)| a * b).sum()
        };
        let (dq, dk, dv) = reference::attention_backward(&q, &k, &v, &w, b, l, c, heads);
        let h = 1e-6;
        let mut worst = 0.0f64;
        for (which, grad) in [(0, &dq), (1, &dk), (2, &dv)] {
            for i in 0..n {
                let (mut qp, mut kp, mut vp) = (q.clone(), k.clone(), v.clone());
                let (mut qm, mut km, mut vm) = (q.clone(), k.clone(), v.clone());
                match which {
                    0 => {
                        qp[i] += h;
                        qm[i] -= h;
                    }
                    1 => {
                        kp[i] += h;
                        km[i] -= h;
                    }
                    _ => {
                        vp[i] += h;
                        vm[i] -= h;
                    }
                }
                let numeric = (loss(&qp, &kp, &vp) - loss(&qm, &km, &vm)) / (2.0 * h);
                let err = (numeric - grad[i]).abs() / (1.0 + grad[i].abs());
                worst = worst.max(err);
                assert!(
                    err < 1e-7,
                    "[{b},{l},{c}] heads {heads}: grad {which} [{i}]: numeric {numeric} vs {}",
                    grad[i]
                );
            }
        }
        println!("[{b},{l},{c}] heads {heads}: worst finite-difference error {worst:.1e}");
    }
}

/// The reference forward: rows of softmax sum to one (o of all-ones v is one), and lse is the
/// log-sum-exp of the scores.
#[test]
fn reference_forward_is_a_softmax() {
    let mut rng = Rng::new(3);
    let (b, l, c, heads) = (2, 7, 6, 3);
    let q = rng.normal_vec(b * l * c);
    let k = rng.normal_vec(b * l * c);
    let ones = vec![1.0; b * l * c];
    let (o, lse) = reference::attention(&q, &k, &ones, b, l, c, heads);
    assert!(o.iter().all(|&x| (x - 1.0).abs() < 1e-12));
    for n in 0..b {
        for h in 0..heads {
            let s = reference::scores(&q, &k, n, h, l, c, heads);
            for i in 0..l {
                let direct = s[i * l..(i + 1) * l]
                    .iter()
                    .map(|x| x.exp())
                    .sum::<f64>()
                    .ln();
                assert!((direct - lse[(n * heads + h) * l + i]).abs() < 1e-12);
            }
        }
    }
}

/// The public entry points (default variants) on model-like shapes: short rows (the flash
/// kernels both ways) and rows of at least `DENSE_MIN_TOKENS` tokens (on CPU adapters with the
/// subgroup matmul, the dense backward pass).
#[test]
fn default_variant_forward_and_backward() {
    let gpu = common::gpu();
    let mut rng = Rng::new(11);
    let heads = 1;
    for (b, l, c) in [(2, 64, 32), (2, att::DENSE_MIN_TOKENS + 4, 24)] {
        let (q, qr) = random_tensor(&gpu, &mut rng, &[b, l, c]);
        let (k, kr) = random_tensor(&gpu, &mut rng, &[b, l, c]);
        let (v, vr) = random_tensor(&gpu, &mut rng, &[b, l, c]);
        let (dout, dr) = random_tensor(&gpu, &mut rng, &[b, l, c]);
        let (o, lse) = att::attention(&q, &k, &v, heads);
        let (dq, dk, dv) = att::attention_backward(&q, &k, &v, &o, &lse, &dout, heads);
        let (or, lr) = reference::attention(&qr, &kr, &vr, b, l, c, heads);
        let (dqr, dkr, dvr) = reference::attention_backward(&qr, &kr, &vr, &dr, b, l, c, heads);
        println!(
            "[{b}, {l}, {c}]: default variants {:?} forward, {:?} backward",
            att::variant(&gpu, c, heads),
            att::backward_variant(&gpu, &[b, l, c], heads)
        );
        assert!(max_rel_err(&o.to_vec(), &or) < 1e-5);
        assert!(max_rel_err(&lse.to_vec(), &lr) < 2e-6);
        assert!(max_rel_err(&dq.to_vec(), &dqr) < 2e-5);
        assert!(max_rel_err(&dk.to_vec(), &dkr) < 2e-5);
        assert!(max_rel_err(&dv.to_vec(), &dvr) < 2e-5);
    }
}

/// The training forward on rows long enough for the dense backward (CPU adapters with the
/// subgroup matmul): it keeps the probabilities, which match the float64 softmax, and the
/// backward that reuses them gives the float64 gradients. Elsewhere it keeps nothing and the
/// backward is the default one. Tolerances as `default_variant_forward_and_backward` (sums of
/// up to L = 132 products in float32).
#[test]
fn training_forward_keeps_probabilities_for_the_dense_backward() {
    let gpu = common::gpu();
    let mut rng = Rng::new(12);
    let (b, l, c, heads) = (2, att::DENSE_MIN_TOKENS + 4, 24, 1);
    let (q, qr) = random_tensor(&gpu, &mut rng, &[b, l, c]);
    let (k, kr) = random_tensor(&gpu, &mut rng, &[b, l, c]);
    let (v, vr) = random_tensor(&gpu, &mut rng, &[b, l, c]);
    let (dout, dr) = random_tensor(&gpu, &mut rng, &[b, l, c]);
    let (o, lse, probs) = att::attention_for_training(&q, &k, &v, heads);
    let dense = att::backward_variant(&gpu, &[b, l, c], heads) == Variant::Dense;
    if gpu.is_cpu() && ddpm::ops::matmul::subgroup_kernel_available(&gpu) {
        assert!(dense, "the dense backward should run on this adapter");
    }
    assert_eq!(probs.is_some(), dense);
    let (or, lr) = reference::attention(&qr, &kr, &vr, b, l, c, heads);
    assert!(max_rel_err(&o.to_vec(), &or) < 1e-5);
    assert!(max_rel_err(&lse.to_vec(), &lr) < 2e-6);
    if let Some(p) = &probs {
        let scale = 1.0 / (c as f64).sqrt();
        let mut pr = vec![0.0; b * l * l];
        for n in 0..b {
            for i in 0..l {
                for j in 0..l {
                    let dot: f64 = (0..c)
                        .map(|x| qr[(n * l + i) * c + x] * kr[(n * l + j) * c + x])
                        .sum();
                    pr[(n * l + i) * l + j] = (scale * dot - lr[n * l + i]).exp();
                }
            }
        }
        assert!(max_rel_err(&p.to_vec(), &pr) < 1e-5);
    }
    let (dq, dk, dv) =
        att::attention_backward_kept(&q, &k, &v, &o, &lse, probs.as_ref(), &dout, heads);
    let (dqr, dkr, dvr) = reference::attention_backward(&qr, &kr, &vr, &dr, b, l, c, heads);
    assert!(max_rel_err(&dq.to_vec(), &dqr) < 2e-5);
    assert!(max_rel_err(&dk.to_vec(), &dkr) < 2e-5);
    assert!(max_rel_err(&dv.to_vec(), &dvr) < 2e-5);
}

#[test]
#[should_panic(expected = "do not split into")]
fn rejects_heads_that_do_not_divide_channels() {
    let gpu = common::gpu();
    let q = ddpm::Tensor::zeros(&gpu, &[1, 4, 6]);
    let _ = att::attention_with(Variant::Rows, &q, &q, &q, 4);
}

/// Every module of the family parses, validates and translates to SPIR-V, MSL and HLSL for each
/// of its entry points with the override values the ops use (no device needed); only the
/// subgroup module may use subgroup operations.
#[test]
fn shader_translates_with_naga() {
    for (shader, entries) in att::MODULES {
        let subgroups = shader.name.ends_with("subgroup");
        let caps = if subgroups {
            naga::valid::Capabilities::SUBGROUP
        } else {
            naga::valid::Capabilities::empty()
        };
        let src = &shader.wgsl();
        let module = naga::front::wgsl::parse_str(src)
            .unwrap_or_else(|e| panic!("{}", e.emit_to_string(src)));
        let info = naga::valid::Validator::new(naga::valid::ValidationFlags::all(), caps)
            .subgroup_stages(naga::valid::ShaderStages::COMPUTE)
            .subgroup_operations(naga::valid::SubgroupOperationSet::all())
            .validate(&module)
            .unwrap_or_else(|e| panic!("{}: {e:?}", shader.name));
        for &entry in entries {
            for (name, value) in [("WG", 16.0), ("DCH", 8.0), ("DCH", 1.0)] {
                // Each module declares only the overrides its kernels use.
                let declared = module
                    .overrides
                    .iter()
                    .any(|(_, o)| o.name.as_deref() == Some(name));
                let mut pc = naga::back::PipelineConstants::default();
                if declared {
                    pc.insert(name.into(), value);
                }
                let ep = Some((naga::ShaderStage::Compute, entry));
                let (m, i) =
                    naga::back::pipeline_constants::process_overrides(&module, &info, ep, &pc)
                        .unwrap_or_else(|e| panic!("{entry}: {e:?}"));
                let spv_opts = naga::back::spv::PipelineOptions {
                    shader_stage: naga::ShaderStage::Compute,
                    entry_point: entry.to_string(),
                };
                let spv = naga::back::spv::Options {
                    lang_version: (1, 3),
                    ..Default::default()
                };
                naga::back::spv::write_vec(&m, &i, &spv, Some(&spv_opts))
                    .unwrap_or_else(|e| panic!("{entry} spv: {e:?}"));
                let msl = naga::back::msl::Options {
                    lang_version: (2, 1),
                    ..Default::default()
                };
                let msl_pipe = naga::back::msl::PipelineOptions {
                    entry_point: Some((naga::ShaderStage::Compute, entry.to_string())),
                    ..Default::default()
                };
                naga::back::msl::write_string(&m, &i, &msl, &msl_pipe)
                    .unwrap_or_else(|e| panic!("{entry} msl: {e:?}"));
                let hlsl = naga::back::hlsl::Options {
                    shader_model: naga::back::hlsl::ShaderModel::V6_0,
                    ..Default::default()
                };
                let mut out = String::new();
                let hlsl_pipe = naga::back::hlsl::PipelineOptions {
                    entry_point: Some((naga::ShaderStage::Compute, entry.to_string())),
                };
                naga::back::hlsl::Writer::new(&mut out, &hlsl, &hlsl_pipe)
                    .write(&m, &i, None)
                    .unwrap_or_else(|e| panic!("{entry} hlsl: {e:?}"));
            }
        }
    }
}
