//! Checks of the rng kernels (see the module doc of `selftest`): every entry point and every
//! variant against the CPU Philox of `reference::rng`, plus statistical sanity of the normals.

use crate::ops::rng::{self as ops, Variant};
use crate::reference::random::Rng;
use crate::reference::rng as reference;
use crate::Gpu;

use super::tolerance;
use super::{compare, random_tensor, Check};

/// Mismatching words as the "error": integer outputs must agree bit for bit (tolerance 0).
fn exact(op: &str, shape: &str, gpu: &[u32], want: &[u32]) -> Check {
    assert_eq!(gpu.len(), want.len());
    let wrong = gpu.iter().zip(want).filter(|(a, b)| a != b).count();
    Check {
        op: op.into(),
        shape: shape.into(),
        max_rel_err: wrong as f64,
        tolerance: 0.0,
    }
}

fn stat(op: &str, shape: &str, err: f64, tolerance: f64) -> Check {
    Check {
        op: op.into(),
        shape: shape.into(),
        max_rel_err: err,
        tolerance,
    }
}

pub fn checks(gpu: &Gpu) -> Vec<Check> {
    let mut out = Vec::new();
    // 1000003 is odd and prime: not a multiple of 4 (a partial last Philox block) nor of any
    // workgroup size. Seeds and streams with high bits exercise both key and counter words.
    const N: usize = 1_000_003;
    let seed = 0x1234_5678_9abc_def0u64;
    let stream = 0xfedc_ba98_0000_0007u64;
    let want_bits = reference::bits(N, seed, stream);
    let want_uniform = reference::uniform(N, seed, stream);
    let want_normal = reference::normal(N, seed, stream);

    for v in Variant::ALL {
        let tag = |op: &str| format!("{op} {}x{}", v.workgroup, v.per_invocation);
        let shape = format!("[{N}]");

        let bits = ops::random_bits_with(v, gpu, &[N], seed, stream).to_u32_vec();
        out.push(exact(&tag("rng bits"), &shape, &bits, &want_bits));

        // The uniform transform is exact in f32 (see reference::rng), so tolerance 0.
        let u = ops::uniform_with(v, gpu, &[N], seed, stream).to_vec();
        out.push(compare(tag("rng uniform"), &shape, &u, &want_uniform, 0.0));

        let z = ops::normal_with(v, gpu, &[N], seed, stream).to_vec();
        out.push(compare(
            tag("rng normal"),
            &shape,
            &z,
            &want_normal,
            tolerance::NORMALS,
        ));
        if v == Variant::ALL[0] {
            let n = z.len() as f64;
            let mean = z.iter().map(|&x| x as f64).sum::<f64>() / n;
            let var = z.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
            out.push(stat(
                "rng normal |mean|",
                &shape,
                mean.abs(),
                tolerance::NORMAL_MEAN,
            ));
            out.push(stat(
                "rng normal |var - 1|",
                &shape,
                (var - 1.0).abs(),
                tolerance::NORMAL_VARIANCE,
            ));
            let um = u.iter().map(|&x| x as f64).sum::<f64>() / n;
            let uv = u.iter().map(|&x| (x as f64 - um).powi(2)).sum::<f64>() / n;
            out.push(stat(
                "rng uniform |mean - 1/2|",
                &shape,
                (um - 0.5).abs(),
                tolerance::UNIFORM_MEAN,
            ));
            out.push(stat(
                "rng uniform |var - 1/12|",
                &shape,
                (uv - 1.0 / 12.0).abs(),
                tolerance::UNIFORM_VARIANCE,
            ));
        }

        for (n, high) in [(1001usize, 1000u32), (37, 7), (5, 1)] {
            let t = ops::randint_with(v, gpu, n, high, seed, stream).to_u32_vec();
            let want = reference::randint(n, high, seed, stream);
            out.push(exact(
                &tag(&format!("rng randint<{high}")),
                &format!("[{n}]"),
                &t,
                &want,
            ));
        }

        // Dropout.
        let mut rng = Rng::new(11);
        for (shape, p) in [
            (vec![3usize, 37, 61], 0.1f32),
            (vec![5, 7, 9], 0.5),
            (vec![61], 0.0),
        ] {
            let (x, x64) = random_tensor(gpu, &mut rng, &shape);
            let y = ops::dropout_with(v, &x, p, seed, 42).to_vec();
            let name = format!("{shape:?}");
            out.push(compare(
                tag(&format!("dropout p={p}")),
                &name,
                &y,
                &reference::dropout(&x64, p, seed, 42),
                tolerance::ONE_PRODUCT,
            ));
            let (dy, dy64) = random_tensor(gpu, &mut rng, &shape);
            let dx = ops::dropout_backward_with(v, &dy, p, seed, 42).to_vec();
            let want = reference::dropout_backward(&dy64, p, seed, 42);
            out.push(compare(
                tag(&format!("dropout backward p={p}")),
                &name,
                &dx,
                &want,
                tolerance::ONE_PRODUCT,
            ));
        }
    }
    out
}
