// The sinusoidal timestep embedding. Rust side: src/ops/elementwise.rs; geometry and bindings:
// elementwise/parts/common.wgsl.

#include "elementwise/parts/common"

// timestep_embedding (diffusers get_timestep_embedding): for t = tsteps[r] (u32) and the
// frequency table b[k] = exp(-ln(10000) k / (half - shift)) (f32, computed on the host as
// PyTorch does in float32), with x_k = f32(t) * b[k] rounded to f32:
//   z[r, j] = sin(x_j) for j < half, cos(x_{j-half}) for half <= j < 2 half  (flip: cos first),
//   z[r, dim - 1] = 0 when dim is odd.
// Launch words: `EmbeddingArgs`.
// Bindings 1 = tsteps (read, u32), 2 = b (read, f32), 3 = z (read_write, f32).
// Geometry: flat, p.n = rows * dim items, one output each.
//
// Accuracy: x reaches ~1000 rad, where a driver's sin may be poor (Vulkan only promises 2^-11
// absolute on [-pi, pi]), so sin and cos are computed here: Cody-Waite reduction by pi/2 with
// a two-constant split (C1 has 8 significant bits, so n * C1 is exact for |n| < 2^16 and
// x - n * C1 is exact by Sterbenz), then the Cephes single-precision minimax polynomials on
// [-pi/4, pi/4] (about 1 ulp). The product t * b[k] is forced to round to f32 (as in PyTorch)
// by passing it through an integer XOR with the runtime zero `zero`: a compiler cannot fuse it
// into the reduction's FMA then.
struct EmbeddingArgs {
    dim: u32,
    half: u32,
    flip: u32, // 1: cos first
    zero: u32, // 0, opaque to the compiler (see below)
}
fn embedding_args() -> EmbeddingArgs {
    return EmbeddingArgs(p.a0, p.a1, p.a2, p.a3);
}

const C1: f32 = 1.5703125;              // pi/2 high part (8 significant bits)
const C2: f32 = 4.8382679489660923e-4;  // f32(pi/2 - C1)
const TWO_OVER_PI: f32 = 0.63661977;

// sin(x + q_shift * pi/2) for |x| up to ~1e5.
fn sin_quadrant(xv: f32, q_shift: u32) -> f32 {
    let nf = round(xv * TWO_OVER_PI);
    let r = (xv - nf * C1) - nf * C2;
    let z2 = r * r;
    let s = ((-1.9515295891e-4 * z2 + 8.3321608736e-3) * z2 - 1.6666654611e-1) * z2 * r + r;
    let c = ((2.443315711809948e-5 * z2 - 1.388731625493765e-3) * z2 + 4.166664568298827e-2) * z2 * z2
        - 0.5 * z2 + 1.0;
    let q = (u32(i32(nf) & 3) + q_shift) & 3u;
    var v = s;
    if (q == 1u) { v = c; }
    if (q == 2u) { v = -s; }
    if (q == 3u) { v = -c; }
    return v;
}

fn timestep_embedding_item(o: u32) {
    let a = embedding_args();
    let r = o / a.dim;
    let j = o - r * a.dim;
    var v = 0.0;
    if (j < 2u * a.half) {
        let second = j >= a.half;
        let kk = select(j, j - a.half, second);
        let prod = f32(tsteps[r]) * b[kk];
        let xv = bitcast<f32>(bitcast<u32>(prod) ^ a.zero);
        // cos(x) = sin(x + pi/2): shift by one quadrant for the cosine half.
        let want_cos = second != (a.flip == 1u);
        v = sin_quadrant(xv, select(0u, 1u, want_cos));
    }
    z[o] = v;
}
#include "elementwise/parts/flat" NAME=timestep_embedding
