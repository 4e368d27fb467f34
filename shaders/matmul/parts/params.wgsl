// Matrix products: out[p] = op(A[p]) @ op(B[p]) (+ bias) (+ out[p] when accumulating), for
// every batch index p, with op(X) = X^T when the override TA / TB is set. Transposes are read
// through strides, never materialised. Sizes come from Params; the Rust side is
// src/ops/matmul.rs. Shared by every product kernel of `shaders/matmul/`.
//
// Storage layouts (row-major, per batch index):
//   A: [M, K] (TA = false) or [K, M] (TA = true); batch stride p.a_bs (0 = broadcast)
//   B: [K, N] (TB = false) or [N, K] (TB = true); batch stride p.b_bs (0 = broadcast)
//   out: [M, N]; batch stride M * N
// Bindings (all product kernels): 0 params, 1 out (read_write), 2 A, 3 B, 4 bias ([N] or [M];
// a 1-element dummy when unused). out, A and B are declared by the including module, as f32
// (matmul/parts/scalar_buffers.wgsl) or vec4 (cpu_subgroup.wgsl).
//
// Grid for the product kernels: x = row tiles (folded: row tile = wid.x + (wid.z % zsplit) * gx,
// so more than 65,535 row tiles fit), y = column tiles, z = batch * zsplit (mm_tiled:
// ksplit * batch * zsplit, see `kchunk`).

struct Params {
    m: u32,
    n: u32,
    k: u32,
    flags: u32,   // bit 0: accumulate into out; bit 1: bias along N; bit 2: bias along M
    a_bs: u32,    // batch stride of A in elements (0: broadcast)
    b_bs: u32,    // batch stride of B in elements (0: broadcast)
    zsplit: u32,  // row-tile groups folded into z (>= 1)
    gx: u32,      // workgroups along x
    batches: u32, // batch count of the result
    kchunk: u32,  // mm_tiled only: K range per split (a multiple of 16; >= K when not split);
                  // split s sums k in [s kchunk, (s + 1) kchunk) into result matrix
                  // s * batches + batch of out (partial sums, added up by the caller)
    _pad0: u32,
    _pad1: u32,
}

const ACCUMULATE: u32 = 1u;
const BIAS_N: u32 = 2u;
const BIAS_M: u32 = 4u;

override TA: bool = false;
override TB: bool = false;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(4) var<storage, read> bias: array<f32>;
