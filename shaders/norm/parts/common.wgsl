// Group normalisation (torch.nn.GroupNorm) with an optional fused SiLU, forward and backward.
//
// x is [N, C, S] row-major (NCHW with S = H*W). Group g of sample n covers channels
// [g*cpg, (g+1)*cpg) (cpg = C / G), i.e. the K = cpg*S contiguous elements starting at
// (n*G + g) * K. "gi" below is that linear group index n*G + g.
//
// Statistics use the corrected two-pass algorithm: pass 1 gives a shift m0 ~ mean, pass 2
// sums d = x - m0 and d^2, then mean = m0 + sum(d)/K, var = sum(d^2)/K - (sum(d)/K)^2. The
// correction term is tiny, so there is no E[x^2]-E[x]^2 cancellation for large means.
//
// Modules: `forward`, `backward`, `param_grad` (the dgamma/dbeta sums), each with two variants
// per kernel (chosen in src/ops/norm.rs by adapter class):
//   *_wg:     one workgroup of WG invocations per group, strided loops + tree reductions in
//             workgroup memory (real GPUs, WG = 256).
//   *_serial: one invocation per group, plain loops, no barriers (CPU adapters: lavapipe
//             runs invocations as SIMD lanes and barriers are costly there).

struct Params {
    n: u32,       // samples
    c: u32,       // channels
    s: u32,       // spatial size H*W (1 for [N, C] inputs)
    groups: u32,  // G
    cpg: u32,     // channels per group C / G
    eps: f32,
    offset: u32,  // param_grad: element offset of the partial sums it reduces
    _pad: u32,
    // forward_serial*_pad: y goes to a zero-padded layout (a direct convolution's input):
    width: u32,      // W (S = H * W)
    out_w: u32,      // padded row length
    out_plane: u32,  // padded plane size (rows * out_w)
    out_origin: u32, // where pixel (0, 0) lies in its padded plane: top * out_w + left
}

// Workgroup size (a power of two <= 256 for the *_wg tree reductions).
override WG: u32 = 256u;
// Fuse SiLU after the affine transform.
override SILU: bool = false;

@group(0) @binding(0) var<uniform> p: Params;

fn sigmoid(v: f32) -> f32 {
    return 1.0 / (1.0 + exp(-v));
}

// The forward output from the pre-activation.
fn act(pre: f32) -> f32 {
    if (SILU) {
        return pre * sigmoid(pre);
    }
    return pre;
}

// dL/dpre from dL/dy: d/dpre [pre * sigmoid(pre)] = sig * (1 + pre * (1 - sig)).
fn grad_pre(dy: f32, xhat: f32, gamma: f32, beta: f32) -> f32 {
    if (SILU) {
        let pre = xhat * gamma + beta;
        let sg = sigmoid(pre);
        return dy * sg * (1.0 + pre * (1.0 - sg));
    }
    return dy;
}

var<workgroup> red: array<vec2<f32>, 256>;

// Sum of v over the workgroup (every invocation gets the total). Call in uniform control flow.
fn reduce2(lid: u32, v: vec2<f32>) -> vec2<f32> {
    red[lid] = v;
    workgroupBarrier();
    for (var k = WG / 2u; k > 0u; k = k / 2u) {
        if (lid < k) {
            red[lid] = red[lid] + red[lid + k];
        }
        workgroupBarrier();
    }
    let r = red[0];
    workgroupBarrier();
    return r;
}

// ---------------------------------------------------------------------------------------------
// vec4 forms of the serial kernels, used when S % 4 == 0 (every U-Net shape). On lavapipe each
// load or store instruction is a loop over the SIMD lanes, so a vec4 access costs about what a
// scalar one does: 4x fewer memory instructions. The statistics come from one pass of
// Welford/Chan updates, one vec4 at a time (merge of (n, mean, M2) with the vec4's
// (4, m4, sum (v - m4)^2)), instead of two passes.

fn act4(pre: vec4<f32>) -> vec4<f32> {
    if (SILU) {
        return pre / (vec4<f32>(1.0) + exp(-pre));
    }
    return pre;
}

fn grad_pre4(dy: vec4<f32>, xhat: vec4<f32>, gamma: f32, beta: f32) -> vec4<f32> {
    if (SILU) {
        let pre = xhat * gamma + beta;
        let sg = vec4<f32>(1.0) / (vec4<f32>(1.0) + exp(-pre));
        return dy * sg * (vec4<f32>(1.0) + pre * (vec4<f32>(1.0) - sg));
    }
    return dy;
}

// Forward bindings as forward_wg, with x and y as vec4 arrays.
