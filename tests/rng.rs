//! The rng kernels against the CPU Philox reference (selftest checks), determinism, stream
//! independence, dropout's mask reuse in backward, the reference backward against finite
//! differences, and the three WGSL files of this family through naga's backends.

mod common;

use ddpm::ops::rng;
use ddpm::reference::random::Rng;
use ddpm::reference::rng as reference;
use ddpm::Tensor;

#[test]
fn rng_kernels_match_reference() {
    let checks = ddpm::selftest::rng::checks(&common::gpu());
    for c in &checks {
        println!(
            "{:<40} {:<12} err {:.2e} tol {:.1e}",
            c.op, c.shape, c.max_rel_err, c.tolerance
        );
    }
    common::assert_all_pass(checks);
}

#[test]
fn same_seed_and_stream_give_identical_bits() {
    let gpu = common::gpu();
    for v in rng::Variant::ALL {
        let a = rng::normal_with(v, &gpu, &[3, 5, 61], 9, 4).to_u32_vec();
        let b = rng::normal_with(v, &gpu, &[3, 5, 61], 9, 4).to_u32_vec();
        assert_eq!(a, b, "normal() is not reproducible");
        let u1 = rng::uniform_with(v, &gpu, &[1001], 9, 4).to_u32_vec();
        let u2 = rng::uniform_with(v, &gpu, &[1001], 9, 4).to_u32_vec();
        assert_eq!(u1, u2, "uniform() is not reproducible");
    }
    // Variants produce the same stream (only the launch geometry differs).
    let a = rng::normal_with(rng::Variant::ALL[0], &gpu, &[999], 1, 2).to_u32_vec();
    let b = rng::normal_with(rng::Variant::ALL[1], &gpu, &[999], 1, 2).to_u32_vec();
    assert_eq!(a, b);
}

#[test]
fn different_streams_and_seeds_differ() {
    let gpu = common::gpu();
    let base = rng::random_bits(&gpu, &[4096], 1, 0).to_u32_vec();
    for (seed, stream) in [(1u64, 1u64), (2, 0), (1, 1 << 32), (1 << 32 | 1, 0)] {
        let other = rng::random_bits(&gpu, &[4096], seed, stream).to_u32_vec();
        let same = base.iter().zip(&other).filter(|(a, b)| a == b).count();
        // Independent words agree with probability 2^-32: expect none of 4096.
        assert!(same <= 1, "seed {seed} stream {stream}: {same} equal words");
    }
    // Values depend only on the element index, not on the tensor size.
    let short = rng::normal(&gpu, &[37], 5, 6).to_u32_vec();
    let long = rng::normal(&gpu, &[1000], 5, 6).to_u32_vec();
    assert_eq!(short[..], long[..37]);
}

#[test]
fn dropout_backward_uses_the_forward_mask() {
    let gpu = common::gpu();
    let n = 3 * 37 * 61;
    let p = 0.3f32;
    // Forward on ones reveals the mask: y = mask / (1 - p).
    let ones = Tensor::from_slice(&gpu, &[3, 37, 61], &vec![1.0; n]);
    let y = rng::dropout(&ones, p, 77, 12).to_vec();
    let dx = rng::dropout_backward(&ones, p, 77, 12).to_vec();
    assert_eq!(y, dx, "backward mask differs from forward mask");
    let kept = y.iter().filter(|&&v| v != 0.0).count() as f64 / n as f64;
    // Keep rate 0.7 with standard error sqrt(0.21 / 6771) = 0.0056: 5 standard errors.
    assert!((kept - 0.7).abs() < 0.028, "keep rate {kept}");
    let scale = 1.0 / (1.0 - p);
    assert!(y.iter().all(|&v| v == 0.0 || (v - scale).abs() < 1e-6));
    // Another stream gives another mask.
    let y2 = rng::dropout(&ones, p, 77, 13).to_vec();
    assert_ne!(y, y2);
}

/// A data-parallel rank holds samples k.. of a batch: its dropout (`dropout_at`) must apply the
/// masks of those samples in the whole batch's tensor, on the GPU and in the reference.
#[test]
fn dropout_of_a_batch_slice_takes_that_slice_of_the_mask() {
    let gpu = common::gpu();
    let (per_sample, p) = (4 * 37, 0.4f32);
    let whole: Vec<f32> = (0..6 * per_sample).map(|i| 1.0 + i as f32).collect();
    let full = rng::dropout(&Tensor::from_slice(&gpu, &[6, 37, 4], &whole), p, 5, 9).to_vec();
    let slice = &whole[2 * per_sample..5 * per_sample];
    let x = Tensor::from_slice(&gpu, &[3, 37, 4], slice);
    let part = rng::dropout_at(&x, p, 5, 9, 2 * per_sample).to_vec();
    assert_eq!(part, full[2 * per_sample..5 * per_sample]);
    let slice64: Vec<f64> = slice.iter().map(|&v| v as f64).collect();
    let want = reference::dropout_at(&slice64, p, 5, 9, 2 * per_sample);
    assert!(part
        .iter()
        .zip(&want)
        .all(|(g, w)| (*g as f64 - w).abs() <= 1e-6 * w.abs()));
    assert!(part.contains(&0.0) && part.iter().any(|&v| v != 0.0));
}

#[test]
fn randint_covers_its_range_uniformly() {
    let gpu = common::gpu();
    let n = 100_000;
    let t = rng::randint(&gpu, n, 1000, 3, 1).to_u32_vec();
    assert!(t.iter().all(|&x| x < 1000));
    let mut counts = vec![0usize; 10];
    for &x in &t {
        counts[(x / 100) as usize] += 1;
    }
    // 10 bins of expected 10,000 (sd 95): within 5 sd.
    for c in counts {
        assert!((c as f64 - 10_000.0).abs() < 475.0, "bin count {c}");
    }
}

/// The reference dropout backward against central differences of the reference forward (it is
/// linear, so the differences are exact up to rounding): d/dx_i sum_j w_j y_j = w_i mask_i/(1-p).
#[test]
fn reference_dropout_backward_matches_finite_differences() {
    let mut r = Rng::new(3);
    let n = 61;
    let x = r.normal_vec(n);
    let w = r.normal_vec(n);
    let p = 0.25;
    let loss = |x: &[f64]| -> f64 {
        reference::dropout(x, p, 8, 9)
            .iter()
            .zip(&w)
            .map(|(a, b)| a * b)
            .sum()
    };
    let grad = reference::dropout_backward(&w, p, 8, 9);
    let h = 1e-6;
    for i in 0..n {
        let mut xp = x.clone();
        let mut xm = x.clone();
        xp[i] += h;
        xm[i] -= h;
        let fd = (loss(&xp) - loss(&xm)) / (2.0 * h);
        assert!(
            (fd - grad[i]).abs() < 1e-8,
            "element {i}: fd {fd} vs backward {}",
            grad[i]
        );
    }
    assert!(
        grad.contains(&0.0) && grad.iter().any(|&g| g != 0.0),
        "mask should drop some, keep some"
    );
}

/// The Philox of the reference against the published Random123 known answers
/// (`tests/kat_vectors`: the "philox4x32 10" lines, and the "philox4x32 7" lines, which check the
/// round function and key schedule independently of the round count).
#[test]
fn reference_philox_known_answers() {
    let pi_ctr = [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344];
    let pi_key = [0xa4093822, 0x299f31d0];
    type Kat = ([u32; 4], [u32; 2], u32, [u32; 4]);
    let kat: [Kat; 6] = [
        (
            [0; 4],
            [0; 2],
            10,
            [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8],
        ),
        (
            [u32::MAX; 4],
            [u32::MAX; 2],
            10,
            [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd],
        ),
        (
            pi_ctr,
            pi_key,
            10,
            [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1],
        ),
        (
            [0; 4],
            [0; 2],
            7,
            [0x5f6fb709, 0x0d893f64, 0x4f121f81, 0x4f730a48],
        ),
        (
            [u32::MAX; 4],
            [u32::MAX; 2],
            7,
            [0x5207ddc2, 0x45165e59, 0x4d8ee751, 0x8c52f662],
        ),
        (
            pi_ctr,
            pi_key,
            7,
            [0x4dfccaba, 0x190a87f0, 0xc47362ba, 0xb6b5242a],
        ),
    ];
    for (ctr, key, rounds, want) in kat {
        assert_eq!(
            reference::philox4x32_rounds(ctr, key, rounds),
            want,
            "{rounds} rounds, counter {ctr:08x?}"
        );
    }
    assert_eq!(reference::philox4x32_10(pi_ctr, pi_key), kat[2].3);
}

/// The GPU Philox on the known-answer inputs: key and counter words map to seed and stream
/// (counter = (block, stream lo, stream hi, 0)), so the vectors whose 4th counter word is 0 are
/// reachable: block 0 of seed 0, stream 0 must be the all-zero answer.
#[test]
fn gpu_philox_known_answer() {
    let gpu = common::gpu();
    let w = rng::random_bits(&gpu, &[4], 0, 0).to_u32_vec();
    assert_eq!(w, [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]);
}

/// This family's shaders parse, validate, and translate to SPIR-V, MSL and HLSL for every entry
/// point and every variant's override constants (no device needed).
#[test]
fn shaders_translate_with_naga() {
    let shaders = [
        (
            "rng/philox",
            &[
                "rand_bits",
                "rand_uniform",
                "rand_normal",
                "rand_int",
                "dropout",
            ][..],
        ),
        (
            "diffusion/steps",
            &["q_sample", "ddpm_step", "ddim_step"][..],
        ),
        ("optim", &["adam", "ema", "adam4", "ema4"][..]),
    ];
    for (name, entries) in shaders {
        let src = &ddpm::gpu::wgsl::compose_file(name).unwrap_or_else(|e| panic!("{e}"));
        let module = naga::front::wgsl::parse_str(src)
            .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(src)));
        let info = naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::empty(),
        )
        .validate(&module)
        .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        // The whole module at once (all entry points, default constants).
        let (m, i) = naga::back::pipeline_constants::process_overrides(
            &module,
            &info,
            None,
            &Default::default(),
        )
        .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        naga::back::spv::write_vec(&m, &i, &Default::default(), None)
            .unwrap_or_else(|e| panic!("{name} spv: {e:?}"));
        naga::back::msl::write_string(&m, &i, &Default::default(), &Default::default())
            .unwrap_or_else(|e| panic!("{name} msl: {e:?}"));
        let mut s = String::new();
        naga::back::hlsl::Writer::new(&mut s, &Default::default(), &Default::default())
            .write(&m, &i, None)
            .unwrap_or_else(|e| panic!("{name} hlsl: {e:?}"));
        for entry in entries {
            for (wg, per) in [(256.0, 1.0), (64.0, 4.0), (64.0, 16.0)] {
                let mut pc = naga::back::PipelineConstants::default();
                pc.insert("WG".into(), wg);
                // The optimiser's flat kernels name items per invocation as the elementwise
                // ones do (`EPI`); the random-number kernels `PER`.
                let per_name = if name == "optim" { "EPI" } else { "PER" };
                pc.insert(per_name.into(), per);
                let ep = Some((naga::ShaderStage::Compute, *entry));
                let (m, i) =
                    naga::back::pipeline_constants::process_overrides(&module, &info, ep, &pc)
                        .unwrap_or_else(|e| panic!("{name}:{entry}: {e:?}"));
                let spv_opts = naga::back::spv::PipelineOptions {
                    shader_stage: naga::ShaderStage::Compute,
                    entry_point: entry.to_string(),
                };
                naga::back::spv::write_vec(&m, &i, &Default::default(), Some(&spv_opts))
                    .unwrap_or_else(|e| panic!("{name}:{entry} spv: {e:?}"));
                let msl_opts = naga::back::msl::PipelineOptions {
                    entry_point: Some((naga::ShaderStage::Compute, entry.to_string())),
                    ..Default::default()
                };
                naga::back::msl::write_string(&m, &i, &Default::default(), &msl_opts)
                    .unwrap_or_else(|e| panic!("{name}:{entry} msl: {e:?}"));
                let hlsl_opts = naga::back::hlsl::PipelineOptions {
                    entry_point: Some((naga::ShaderStage::Compute, entry.to_string())),
                };
                let mut s = String::new();
                naga::back::hlsl::Writer::new(&mut s, &Default::default(), &hlsl_opts)
                    .write(&m, &i, None)
                    .unwrap_or_else(|e| panic!("{name}:{entry} hlsl: {e:?}"));
            }
        }
    }
}
