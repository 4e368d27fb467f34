//! Adam(W)'s hyper-parameters, shared by the GPU optimiser (`ops::optim`) and its reference.

/// Adam(W) hyper-parameters as f64 (the fields of `ops::optim::AdamConfig`).
#[derive(Clone, Copy, Debug)]
pub struct Adam {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// Decoupled weight decay (AdamW, Loshchilov & Hutter); 0 = Adam.
    pub weight_decay: f64,
    /// Clip the gradient to this global L2 norm; 0 = no clipping.
    pub max_grad_norm: f64,
}
