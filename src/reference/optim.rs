//! Reference of the optimiser kernels (`shaders/optim.wgsl`, `ops::optim`) in float64: one
//! Adam(W) step with bias correction and global-norm gradient clipping, and the parameter EMA.

pub use crate::maths::optim::Adam;

/// The gradient scale of global-norm clipping: `min(1, max_norm / (sqrt(sumsq) + 1e-6))`, 1 when
/// `max_norm == 0` (as `torch.nn.utils.clip_grad_norm_`).
pub fn clip_factor(sumsq: f64, max_norm: f64) -> f64 {
    if max_norm > 0.0 {
        (max_norm / (sumsq.sqrt() + 1e-6)).min(1.0)
    } else {
        1.0
    }
}

/// One Adam(W) step number `step` (1-based), in place on `params`, `m`, `v`:
///
/// ```text
/// g = c grad,  c = clip_factor(sum(grad^2) over `grad_sumsq`, max_grad_norm)
/// m = beta1 m + (1 - beta1) g
/// v = beta2 v + (1 - beta2) g^2
/// p = p - lr wd p - lr (m / (1 - beta1^step)) / (sqrt(v / (1 - beta2^step)) + eps)
/// ```
///
/// `grad_sumsq` is the sum of squares over ALL gradients of the model (`params` may be a part
/// of them); pass `sum_sq(grads)` when it is the whole.
pub fn adam_step(
    params: &mut [f64],
    grads: &[f64],
    m: &mut [f64],
    v: &mut [f64],
    grad_sumsq: f64,
    cfg: &Adam,
    step: u64,
) {
    assert!(step >= 1, "Adam steps are 1-based");
    let n = params.len();
    assert!(grads.len() == n && m.len() == n && v.len() == n);
    let c = clip_factor(grad_sumsq, cfg.max_grad_norm);
    let bc1 = 1.0 - cfg.beta1.powi(step as i32);
    let bc2 = 1.0 - cfg.beta2.powi(step as i32);
    for i in 0..n {
        let g = c * grads[i];
        m[i] = cfg.beta1 * m[i] + (1.0 - cfg.beta1) * g;
        v[i] = cfg.beta2 * v[i] + (1.0 - cfg.beta2) * g * g;
        let mhat = m[i] / bc1;
        let vhat = v[i] / bc2;
        params[i] = params[i]
            - cfg.lr * cfg.weight_decay * params[i]
            - cfg.lr * mhat / (vhat.sqrt() + cfg.eps);
    }
}

/// Sum of squares (the input of the clip factor).
pub fn sum_sq(x: &[f64]) -> f64 {
    x.iter().map(|g| g * g).sum()
}

/// EMA of the parameters, in place: `ema = decay ema + (1 - decay) params`.
pub fn ema_update(ema: &mut [f64], params: &[f64], decay: f64) {
    assert_eq!(ema.len(), params.len());
    for (e, &p) in ema.iter_mut().zip(params) {
        *e = decay * *e + (1.0 - decay) * p;
    }
}
