//! Layout changes: the batched transpose that turns NCHW activations `[B, C, H*W]` into the
//! token-major `[B, L, C]` rows the attention projections multiply, and back.

use crate::gpu::Shader;
use crate::Tensor;

const SHADER: Shader = crate::shader!("layout");

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    batch: u32,
    rows: u32,
    cols: u32,
    pad: u32,
}

/// `[B, R, C] -> [B, C, R]` (a 2-D input is a batch of one). Its own backward is the
/// transpose of the gradient.
pub fn transpose(x: &Tensor) -> Tensor {
    let s = x.shape();
    assert!(s.len() >= 2, "transpose needs at least 2 dims, got {s:?}");
    let (rows, cols) = (s[s.len() - 2], s[s.len() - 1]);
    let batch = x.numel() / (rows * cols);
    let mut out_shape = s.to_vec();
    let n = out_shape.len();
    out_shape.swap(n - 2, n - 1);
    let y = Tensor::uninit(x.gpu(), &out_shape);
    let p = Params {
        batch: batch as u32,
        rows: rows as u32,
        cols: cols as u32,
        pad: 0,
    };
    // 4x4 blocks of vec4s where rows and columns allow (`transpose4`), else 16x16 elements.
    let (entry, tile) = if rows.is_multiple_of(4) && cols.is_multiple_of(4) {
        ("transpose4", 32)
    } else {
        ("transpose", 16)
    };
    let groups = [
        rows.div_ceil(tile) as u32,
        cols.div_ceil(tile) as u32,
        batch as u32,
    ];
    x.gpu().launch(&SHADER, entry, &[], &p, &[x, &y], groups);
    y
}
