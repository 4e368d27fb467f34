//! Checks of the optimiser kernels (see the module doc of `selftest`): Adam(W) over three
//! consecutive steps (bias correction at steps 1..3, moments starting at zero) with clipping
//! active, inactive and off, weight decay on and off; the EMA at two decays; every variant, and
//! the chunked path (one dispatch per slice of the flat buffers) that very large models take.

use crate::ops::optim::{self as ops, AdamConfig, Variant};
use crate::reference::optim as reference;
use crate::reference::random::Rng;
use crate::{Gpu, Tensor};

use super::tolerance::{ADAM_UPDATE, EMA_CHANGE, FEW_ROUNDINGS};
use super::{compare, random_tensor, Check};

fn to64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// Sum of squares of f32 data in f64, rounded to f32 as a GPU reduction would deliver it.
fn sumsq_f32(g: &[f64]) -> f32 {
    reference::sum_sq(g) as f32
}

pub fn checks(gpu: &Gpu) -> Vec<Check> {
    // 1000003 elements: prime, not a multiple of any workgroup or chunk size.
    checks_sized(gpu, 1_000_003)
}

/// The same checks on `n` elements.
pub fn checks_sized(gpu: &Gpu, n: usize) -> Vec<Check> {
    let mut out = Vec::new();
    let mut rng = Rng::new(5);
    let shape = format!("[{n}]");
    // The gradient norm of n N(0,1) values is ~sqrt(n) ~ 1000: max_grad_norm 1 clips (factor
    // ~1e-3), 1e6 does not, 0 turns clipping off.
    let configs = [
        (
            "adam clip",
            AdamConfig {
                lr: 1e-2,
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                weight_decay: 0.0,
                max_grad_norm: 1.0,
            },
        ),
        (
            "adamw noclip",
            AdamConfig {
                lr: 2e-2,
                beta1: 0.8,
                beta2: 0.99,
                eps: 1e-6,
                weight_decay: 0.1,
                max_grad_norm: 1e6,
            },
        ),
        (
            "adamw clip-off",
            AdamConfig {
                lr: 1e-2,
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                weight_decay: 0.01,
                max_grad_norm: 0.0,
            },
        ),
    ];
    // vec4 variants split 1000003 into 1000000 elements of vec4 and a scalar tail of 3. The
    // chunked run makes 140 dispatch pairs: 139 chunks of 7168 (all vec4) and a last chunk of
    // 3651 = 3648 vec4 + 3 scalar, all through views at offsets multiple of 256 bytes.
    // (variant, chunk elements or None = one dispatch here, configs, steps): every config and
    // 3 steps for both kernels; the chunked path (same kernel code) with one config, 2 steps.
    let runs = [
        (Variant::GPU, None, &configs[..], 3u64),
        (Variant::SCALAR, None, &configs[..], 3),
        (Variant::GPU, Some(7 * 1024), &configs[1..2], 2),
    ];
    for (var, chunk, configs, steps) in runs {
        let tag = |op: &str| {
            let c = chunk.map_or(String::new(), |c| format!(" chunk={c}"));
            let w = if var.vec4 { " vec4" } else { "" };
            format!("{op} {}x{}{w}{c}", var.workgroup, var.per_invocation)
        };
        for &(name, cfg) in configs {
            let (params, _) = random_tensor(gpu, &mut rng, &[n]);
            let m = Tensor::zeros(gpu, &[n]);
            let v = Tensor::zeros(gpu, &[n]);
            for step in 1..=steps {
                // Restart the reference from the GPU's state each step, so each check measures
                // one step's kernel error.
                let p0 = to64(&params.to_vec());
                let (mut p_ref, mut m_ref, mut v_ref) =
                    (p0.clone(), to64(&m.to_vec()), to64(&v.to_vec()));
                let (grads, g64) = random_tensor(gpu, &mut rng, &[n]);
                let ss = sumsq_f32(&g64);
                let sumsq = Tensor::from_slice(gpu, &[1], &[ss]);
                match chunk {
                    None => ops::adam_step_with(var, &params, &grads, &m, &v, &sumsq, &cfg, step),
                    Some(c) => {
                        ops::adam_step_chunked(var, c, &params, &grads, &m, &v, &sumsq, &cfg, step)
                    }
                }
                reference::adam_step(
                    &mut p_ref,
                    &g64,
                    &mut m_ref,
                    &mut v_ref,
                    ss as f64,
                    &cfg.to_reference(),
                    step,
                );
                let p_gpu = params.to_vec();
                let label = |what: &str| tag(&format!("{name} {what} step {step}"));
                out.push(compare(
                    label("params"),
                    &shape,
                    &p_gpu,
                    &p_ref,
                    FEW_ROUNDINGS,
                ));
                let d_gpu: Vec<f32> = p_gpu
                    .iter()
                    .zip(&p0)
                    .map(|(&a, &b)| (a as f64 - b) as f32)
                    .collect();
                let d_ref: Vec<f64> = p_ref.iter().zip(&p0).map(|(a, b)| a - b).collect();
                out.push(compare(
                    label("update"),
                    &shape,
                    &d_gpu,
                    &d_ref,
                    ADAM_UPDATE,
                ));
                out.push(compare(
                    label("m"),
                    &shape,
                    &m.to_vec(),
                    &m_ref,
                    FEW_ROUNDINGS,
                ));
                out.push(compare(
                    label("v"),
                    &shape,
                    &v.to_vec(),
                    &v_ref,
                    FEW_ROUNDINGS,
                ));
            }
        }

        for decay in [0.9999f32, 0.9] {
            let (ema, ema64) = random_tensor(gpu, &mut rng, &[n]);
            let (params, p64) = random_tensor(gpu, &mut rng, &[n]);
            match chunk {
                None => ops::ema_update_with(var, &ema, &params, decay),
                Some(c) => ops::ema_update_chunked(var, c, &ema, &params, decay),
            }
            let mut want = ema64.clone();
            reference::ema_update(&mut want, &p64, decay as f64);
            let got = ema.to_vec();
            out.push(compare(
                tag(&format!("ema decay={decay}")),
                &shape,
                &got,
                &want,
                FEW_ROUNDINGS,
            ));
            if decay == 0.9 {
                let d_gpu: Vec<f32> = got
                    .iter()
                    .zip(&ema64)
                    .map(|(&a, &b)| (a as f64 - b) as f32)
                    .collect();
                let d_ref: Vec<f64> = want.iter().zip(&ema64).map(|(a, b)| a - b).collect();
                out.push(compare(
                    tag("ema change decay=0.9"),
                    &shape,
                    &d_gpu,
                    &d_ref,
                    EMA_CHANGE,
                ));
            }
        }
    }
    out
}
