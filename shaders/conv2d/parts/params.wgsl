// 2-D convolution (cross-correlation, PyTorch semantics), forward and backward.
//
// Layouts: x [N, Cin, H, W]; weight [Cout, Cin, KH, KW]; y [N, Cout, Hout, Wout]; all f32.
// Two families of kernels (chosen per adapter in src/ops/conv.rs), one module each, with the
// data-layout passes and reductions they share in modules of their own:
//  - `direct_*` / `wgrad_direct_*` (`direct_cpu`, `direct_subgroup`): barrier-free register-blocked kernels for CPU adapters
//    (lavapipe), where every storage-buffer load costs a per-lane loop: they load vec4s only,
//    from a zero-padded copy of the input whose rows are multiples of 4 floats (`pad`), and
//    from weights repacked as [Cin*KH*KW, CoutP] (`pack_weights`), and keep a large block of
//    accumulators per invocation so that each load feeds many FMAs.
//  - `gemm_*` (`gemm`): implicit-GEMM kernels with shared-memory tiles for real GPUs (any kernel size,
//    stride and padding, bounds-checked im2col on the fly).
// The input gradient is computed as a stride-1 convolution of the zero-dilated, padded output
// gradient with the flipped, transposed weights (`pack_weights` with flip = 1), so every
// forward kernel also serves the backward-input pass; on CPU adapters the 3x3 stride-2 case
// has its own kernel (`direct_t2`) that skips the zeros of the dilation.

struct Params {
    n: u32,        // batch (or planes for `pad`)
    cin: u32,      // input channels of the convolution
    h: u32,        // input rows (padded rows Hp for direct kernels)
    w: u32,        // input columns (padded row length Wp for direct kernels)
    cout: u32,     // output channels
    hout: u32,
    wout: u32,
    kh: u32,
    kw: u32,
    stride: u32,
    pad_top: u32,  // i32 bit pattern where noted
    pad_left: u32, // i32 bit pattern where noted
    args: vec4<u32>, // four words of the kernel's own, named by its `*Args` struct (mirrored
                     // by the struct of the same name in src/ops/conv.rs)
}

@group(0) @binding(0) var<uniform> p: Params;

// The launch words of the forward kernels (`gemm_conv`, `direct_k3`, `direct_k1`).
struct ForwardArgs {
    cout_padded: u32,   // CoutP: columns of the packed weights (a multiple of 16)
    has_bias: u32,      // 1: add bias[co] (else the bias binding is not read)
    quads_per_row: u32, // QW (direct kernels only): quads of 4 output columns per row
}
fn forward_args() -> ForwardArgs {
    return ForwardArgs(p.args.x, p.args.y, p.args.z);
}
