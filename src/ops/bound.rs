//! The variational bound's per-timestep kernel (`shaders/bound.wgsl`): from x_0, x_t and the
//! network's eps prediction, each image's bound term (KL, or the decoder NLL at t = 0) in
//! bits/dim and the MSE of its clipped x_0 prediction, in one dispatch with the reduction over
//! the image's dimensions on the device. The float64 reference is
//! [`crate::reference::bound::vb_terms_bpd`].

use std::f64::consts::LN_2;

use crate::gpu::{grid_1d, Shader};
use crate::maths::bound::VbCoefs;
use crate::Tensor;

const SHADER: Shader = crate::shader!("bound");

/// Workgroup sizes the kernel is built for (a power of two, at most 256), for checks.
pub const WORKGROUPS: [u32; 2] = [64, 256];

/// One image per workgroup: 64 invocations cover a 28x28 digit in ~12 serial steps each, which
/// suits lavapipe's few cores; GPUs take 256 (more loads in flight per image).
pub fn workgroup(gpu: &crate::Gpu) -> u32 {
    gpu.by_class(64, 256)
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    per_image: u32,
    images: u32,
    off: u32,
    decoder: u32,
    a: f32,
    b: f32,
    coef1: f32,
    coef2: f32,
    kl_const: f32,
    inv_var: f32,
    inv_std: f32,
    scale: f32,
    mse_scale: f32,
    pad: [u32; 3],
}

/// The f32 constants of one term, derived in float64 from [`VbCoefs`] and rounded once.
#[derive(Clone, Copy, Debug)]
pub struct VbStep {
    pub sqrt_recip_abar: f32,
    pub sqrt_recipm1_abar: f32,
    pub coef1: f32,
    pub coef2: f32,
    /// -1 + log sigma^2 - log beta~ + beta~ / sigma^2: the KL's constant part, exactly 0 when
    /// the model variance is the posterior's (fixed-small).
    pub kl_const: f32,
    pub inv_var: f32,
    pub inv_std: f32,
    pub decoder: bool,
}

impl VbStep {
    pub fn from_coefs(c: &VbCoefs) -> VbStep {
        let (lv1, lv2) = (c.true_logvar, c.model_logvar);
        VbStep {
            sqrt_recip_abar: c.sqrt_recip_abar as f32,
            sqrt_recipm1_abar: c.sqrt_recipm1_abar as f32,
            coef1: c.coef1 as f32,
            coef2: c.coef2 as f32,
            kl_const: (-1.0 + lv2 - lv1 + (lv1 - lv2).exp()) as f32,
            inv_var: (-lv2).exp() as f32,
            inv_std: (-0.5 * lv2).exp() as f32,
            decoder: c.decoder,
        }
    }
}

/// Writes row `row` of `out` (`[rows, B, 2]`: per image, the term in bits/dim and the x_0 MSE)
/// for `x0`, `x_t`, `eps` of shape `[B, ...]`. Rows are independent, so one `out` collects all
/// timesteps of a batch and is read back once.
pub fn vb_terms(x0: &Tensor, x_t: &Tensor, eps: &Tensor, step: &VbStep, out: &Tensor, row: usize) {
    vb_terms_with(workgroup(x0.gpu()), x0, x_t, eps, step, out, row)
}

pub fn vb_terms_with(
    wg: u32,
    x0: &Tensor,
    x_t: &Tensor,
    eps: &Tensor,
    step: &VbStep,
    out: &Tensor,
    row: usize,
) {
    assert!(
        x0.shape() == x_t.shape() && x0.shape() == eps.shape(),
        "vb_terms: x0 {:?}, x_t {:?} and eps {:?} differ",
        x0.shape(),
        x_t.shape(),
        eps.shape()
    );
    assert!(
        wg.is_power_of_two() && wg <= 256,
        "vb_terms: workgroup {wg}"
    );
    let images = x0.dim(0);
    let per_image = x0.numel() / images.max(1);
    assert!(
        out.shape().len() == 3 && out.dim(1) == images && out.dim(2) == 2 && row < out.dim(0),
        "vb_terms: out must be [rows, {images}, 2] with row {row} < rows, got {:?}",
        out.shape()
    );
    assert!(
        x0.numel() <= u32::MAX as usize && out.numel() <= u32::MAX as usize,
        "vb_terms: tensors exceed the u32 index range"
    );
    let params = Params {
        per_image: per_image as u32,
        images: images as u32,
        off: (row * images) as u32,
        decoder: step.decoder as u32,
        a: step.sqrt_recip_abar,
        b: step.sqrt_recipm1_abar,
        coef1: step.coef1,
        coef2: step.coef2,
        kl_const: step.kl_const,
        inv_var: step.inv_var,
        inv_std: step.inv_std,
        scale: (1.0 / (per_image as f64 * LN_2)) as f32,
        mse_scale: (1.0 / per_image as f64) as f32,
        pad: [0; 3],
    };
    x0.gpu().launch(
        &SHADER,
        "vb_terms",
        &[("WG", wg as f64)],
        &params,
        &[out, x0, x_t, eps],
        grid_1d(images, 1),
    );
}
