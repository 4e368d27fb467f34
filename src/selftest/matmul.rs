//! Checks of the matmul kernels (see the module doc of `selftest`): every variant the adapter
//! can run, every (ta, tb) combination, broadcast and batched operands, accumulation, fused bias
//! both ways, and `linear` / `linear_backward`, against the float64 reference.
//!
//! Tolerance: [`super::tolerance::MATMUL`].

use crate::ops::matmul::{self as mm, BiasAlong, Variant};
use crate::reference::matmul as reference;
use crate::reference::random::Rng;
use crate::{Gpu, Tensor};

use super::{compare, random_tensor, Check};

const TOL: f64 = super::tolerance::MATMUL;

fn to_ref(b: BiasAlong) -> reference::BiasAlong {
    match b {
        BiasAlong::N => reference::BiasAlong::N,
        BiasAlong::M => reference::BiasAlong::M,
    }
}

/// Stored shape of an operand: `[batch.., r, c]` with (r, c) swapped when transposed.
fn stored(batch: Option<usize>, r: usize, c: usize, t: bool) -> Vec<usize> {
    let mut s: Vec<usize> = batch.into_iter().collect();
    if t {
        s.extend([c, r]);
    } else {
        s.extend([r, c]);
    }
    s
}

/// One product check: `out (+)= op(a) @ op(b) (+ bias)` with random inputs.
#[allow(clippy::too_many_arguments)]
fn product(
    gpu: &Gpu,
    rng: &mut Rng,
    v: Variant,
    (m, k, n): (usize, usize, usize),
    (batch_a, batch_b): (Option<usize>, Option<usize>),
    (ta, tb): (bool, bool),
    bias: Option<BiasAlong>,
    accumulate: bool,
) -> Check {
    let (a, av) = random_tensor(gpu, rng, &stored(batch_a, m, k, ta));
    let (b, bv) = random_tensor(gpu, rng, &stored(batch_b, k, n, tb));
    let bias_len = match bias {
        Some(BiasAlong::N) => n,
        _ => m,
    };
    let (bt, biasv) = random_tensor(gpu, rng, &[bias_len]);
    let (ba, bb) = (batch_a.unwrap_or(1), batch_b.unwrap_or(1));
    let mut want = reference::matmul_bias(
        &av,
        &bv,
        ba,
        bb,
        m,
        k,
        n,
        ta,
        tb,
        bias.map(|along| (&biasv[..], to_ref(along))),
    );
    let out_shape = mm::output_shape(&a, &b, ta, tb);
    let out = if accumulate {
        let (o, ov) = random_tensor(gpu, rng, &out_shape);
        for (w, o0) in want.iter_mut().zip(&ov) {
            *w += o0;
        }
        o
    } else {
        Tensor::uninit(gpu, &out_shape)
    };
    mm::matmul_into_with(
        v,
        &out,
        &a,
        &b,
        ta,
        tb,
        bias.map(|along| (&bt, along)),
        accumulate,
    );
    let mut op = format!("matmul[{}] ta={} tb={}", v.name(), ta as u8, tb as u8);
    if let Some(along) = bias {
        op.push_str(&format!(" bias={along:?}"));
    }
    if accumulate {
        op.push_str(" accumulate");
    }
    let shape = format!("a{:?} b{:?}", a.shape(), b.shape());
    compare(op, shape, &out.to_vec(), &want, TOL)
}

fn linear_checks(
    gpu: &Gpu,
    rng: &mut Rng,
    v: Variant,
    lead: &[usize],
    fan_in: usize,
    fan_out: usize,
) -> Vec<Check> {
    let rows: usize = lead.iter().product();
    let mut xs = lead.to_vec();
    xs.push(fan_in);
    let mut ys = lead.to_vec();
    ys.push(fan_out);
    let (x, xv) = random_tensor(gpu, rng, &xs);
    let (w, wv) = random_tensor(gpu, rng, &[fan_out, fan_in]);
    let (b, bv) = random_tensor(gpu, rng, &[fan_out]);
    let (dy, dyv) = random_tensor(gpu, rng, &ys);
    // Gradients accumulate into pre-filled buffers.
    let (dw, dw0) = random_tensor(gpu, rng, &[fan_out, fan_in]);
    let (db, db0) = random_tensor(gpu, rng, &[fan_out]);
    let shape = format!("x{xs:?} w[{fan_out}, {fan_in}]");
    let tag = v.name();
    let y = mm::linear_with(v, &x, &w, Some(&b));
    assert_eq!(y.shape(), &ys[..], "linear output shape");
    let y_ref = reference::linear(&xv, &wv, Some(&bv), rows, fan_in, fan_out);
    let dx = mm::linear_backward_with(v, &dy, &x, &w, &dw, Some(&db));
    assert_eq!(dx.shape(), x.shape(), "linear_backward dx shape");
    let (dx_ref, dw_ref, db_ref) =
        reference::linear_backward(&dyv, &xv, &wv, rows, fan_in, fan_out);
    let dw_want: Vec<f64> = dw_ref.iter().zip(&dw0).map(|(g, o)| g + o).collect();
    let db_want: Vec<f64> = db_ref.iter().zip(&db0).map(|(g, o)| g + o).collect();
    vec![
        compare(
            format!("linear[{tag}]"),
            shape.clone(),
            &y.to_vec(),
            &y_ref,
            TOL,
        ),
        compare(
            format!("linear_backward dx[{tag}]"),
            shape.clone(),
            &dx.to_vec(),
            &dx_ref,
            TOL,
        ),
        compare(
            format!("linear_backward dw+=[{tag}]"),
            shape.clone(),
            &dw.to_vec(),
            &dw_want,
            TOL,
        ),
        compare(
            format!("linear_backward db+=[{tag}]"),
            shape,
            &db.to_vec(),
            &db_want,
            TOL,
        ),
    ]
}

/// The variants this adapter can run (`CpuSubgroup` only with 8-wide subgroups; elsewhere it
/// would silently fall back to `Cpu`, which is checked anyway).
pub fn variants(gpu: &Gpu) -> Vec<Variant> {
    Variant::ALL
        .into_iter()
        .filter(|&v| v != Variant::CpuSubgroup || mm::subgroup_kernel_available(gpu))
        .collect()
}

pub fn checks(gpu: &Gpu) -> Vec<Check> {
    let mut rng = Rng::new(0x6d61_746d);
    let rng = &mut rng;
    let mut out = Vec::new();
    let combos = [(false, false), (false, true), (true, false), (true, true)];
    for v in variants(gpu) {
        for t in combos {
            // Odd sizes (every kernel's edges; mm_cpu_sg falls back to mm_cpu here), then sizes
            // mm_cpu_sg takes but that are not multiples of its 32 x 64 tile.
            out.push(product(
                gpu,
                rng,
                v,
                (37, 53, 29),
                (None, None),
                t,
                None,
                false,
            ));
            out.push(product(
                gpu,
                rng,
                v,
                (44, 36, 76),
                (None, None),
                t,
                None,
                false,
            ));
        }
        // mm_cpu_sg with ta and K % 4 != 0 (its zero-filled K tail).
        out.push(product(
            gpu,
            rng,
            v,
            (40, 37, 68),
            (None, None),
            (true, false),
            None,
            false,
        ));
        // A weight-gradient-like product (dW += X^T dY: few output tiles, long K), where
        // tiled_splitk splits K into 63 ranges of 16 and sums them after.
        out.push(product(
            gpu,
            rng,
            v,
            (68, 1000, 36),
            (None, None),
            (true, false),
            None,
            true,
        ));
        // Batched, and each operand broadcast over the other's batch.
        out.push(product(
            gpu,
            rng,
            v,
            (21, 12, 36),
            (Some(3), Some(3)),
            (false, false),
            None,
            false,
        ));
        out.push(product(
            gpu,
            rng,
            v,
            (20, 12, 36),
            (Some(3), Some(3)),
            (true, true),
            None,
            false,
        ));
        out.push(product(
            gpu,
            rng,
            v,
            (21, 16, 40),
            (None, Some(3)),
            (false, true),
            None,
            false,
        ));
        out.push(product(
            gpu,
            rng,
            v,
            (24, 13, 36),
            (Some(3), None),
            (true, false),
            None,
            false,
        ));
        // Accumulation into random contents, and fused bias along N and M.
        out.push(product(
            gpu,
            rng,
            v,
            (37, 53, 29),
            (None, None),
            (false, true),
            None,
            true,
        ));
        out.push(product(
            gpu,
            rng,
            v,
            (44, 36, 76),
            (None, None),
            (true, false),
            None,
            true,
        ));
        out.push(product(
            gpu,
            rng,
            v,
            (37, 53, 29),
            (None, None),
            (false, false),
            Some(BiasAlong::N),
            false,
        ));
        out.push(product(
            gpu,
            rng,
            v,
            (44, 36, 76),
            (None, None),
            (false, true),
            Some(BiasAlong::N),
            false,
        ));
        out.push(product(
            gpu,
            rng,
            v,
            (37, 53, 29),
            (None, None),
            (true, false),
            Some(BiasAlong::M),
            true,
        ));
        out.push(product(
            gpu,
            rng,
            v,
            (44, 36, 76),
            (Some(2), None),
            (false, false),
            Some(BiasAlong::M),
            false,
        ));
        // Bigger than one tile in every direction.
        out.push(product(
            gpu,
            rng,
            v,
            (129, 65, 131),
            (None, None),
            (false, false),
            None,
            false,
        ));
        out.push(product(
            gpu,
            rng,
            v,
            (132, 68, 136),
            (None, None),
            (false, true),
            None,
            false,
        ));
        // linear and its backward (leading dims flattened into rows).
        out.extend(linear_checks(gpu, rng, v, &[3, 7], 36, 20));
        out.extend(linear_checks(gpu, rng, v, &[2, 5], 33, 19));
    }
    out
}
