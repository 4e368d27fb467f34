// Scaled dot-product attention over tokens, forward and backward, flash-attention style: the
// softmax is computed online over blocks of keys and never stored as an L x L matrix.
//
// Tensors q, k, v, o, dout, dq, dk, dv are [B, L, C] token-major; head h of `heads` uses channels
// h*d .. h*d + d - 1 (d = C / heads). Per batch n and head h (bh = n * heads + h):
//   s_ij = scale * q_i . k_j,   lse_i = log sum_j exp(s_ij),   p_ij = exp(s_ij - lse_i),
//   o_i = sum_j p_ij v_j.
// Backward (dd_i = D_i = dout_i . o_i):
//   dv_j = sum_i p_ij dout_i,  ds_ij = p_ij (dout_i . v_j - D_i),
//   dq_i = scale sum_j ds_ij k_j,  dk_j = scale sum_i ds_ij q_i.
// lse and dd are [B, heads, L].
//
// Three kernel families, one module each (`rows`, `subgroup`, `tiled`; the Rust side,
// src/ops/attention.rs, picks one per adapter), `prep` for the backward pass of all of them, and
// `dense`: the row steps of the variant that stores the L x L matrices and leaves the products
// to the batched matmul (the CPU backward pass for long rows):
// - `*_rows` (CPU adapters without subgroups, or d not a multiple of 4): no barriers, no
//   workgroup memory, scalar loads. One invocation owns 4 rows (query rows forward and for dq,
//   key rows for dk/dv), held as the 4 lanes of a vec4; the other side is walked in blocks of KB
//   rows at addresses uniform across the workgroup. Accumulators over channels live in the output
//   buffer itself (read-modify-write once per block), so neither d nor L is limited.
// - `*_sg` (CPU adapters with subgroups of exactly 8, d a multiple of 4; a module of its own,
//   compiled only on adapters with subgroups):
//   like `*_rows`, but with vec4 loads, and the other side's rows are loaded once per subgroup
//   (lane i loads row 8t + i of a block of 64) and handed to all 8 lanes with subgroupShuffle.
//   On lavapipe every storage load is a loop over the 8 lanes, so loads dominate; a shuffle is
//   a cheap register operation. The 4 x 64 score block lives in registers as 8 `Tile`s.
// - `*_tiled` (real GPUs): a workgroup of 128 invocations owns 32 rows; blocks of 32 rows of the
//   other side are staged through workgroup memory 32 channels at a time; accumulators are
//   registers (up to 256 channels per workgroup; wider heads are split over grid z).

struct Params {
    l: u32,        // tokens
    c: u32,        // channels of the [B, L, C] tensors
    d: u32,        // channels per head
    heads: u32,
    scale: f32,    // 1 / sqrt(d)
    groups: u32,   // *_rows, *_sg: row groups of 4 per (batch, head)
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

// Binding layout shared by the forward, dq and dk/dv kernels (each entry point uses 1..n).
@group(0) @binding(1) var<storage, read> q_in: array<f32>;
@group(0) @binding(2) var<storage, read> k_in: array<f32>;
@group(0) @binding(3) var<storage, read> v_in: array<f32>;
// forward outputs
@group(0) @binding(4) var<storage, read_write> o_out: array<f32>;
@group(0) @binding(5) var<storage, read_write> lse_out: array<f32>;
// backward inputs and outputs
@group(0) @binding(4) var<storage, read> do_in: array<f32>;
@group(0) @binding(5) var<storage, read> lse_in: array<f32>;
@group(0) @binding(6) var<storage, read> dd_in: array<f32>;
@group(0) @binding(7) var<storage, read_write> dq_out: array<f32>;  // dq, or dk for dk/dv
@group(0) @binding(8) var<storage, read_write> dv_out: array<f32>;

override WG: u32 = 16u;
const KB: u32 = 8u;           // *_rows: keys (queries for dk/dv) per block
const NEG_BIG: f32 = -3.0e38; // "minus infinity" that stays finite through exp and subtraction

// Element offset of channel 0 of head h of token t of batch n.
fn tok(n: u32, h: u32, t: u32) -> u32 {
    return (n * p.l + t) * p.c + h * p.d;
}

