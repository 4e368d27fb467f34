// Optimiser kernels over flat parameter buffers: one Adam(W) step with bias correction and
// global-norm gradient clipping, and the EMA of the parameters. Reference: src/reference/optim.rs.
//
// Geometry: elementwise; one invocation handles EPI items, item = (group * EPI + k) * WG + lid
// (neighbouring invocations on neighbouring items), group = wid.x + wid.y * nwg.x. An item is one
// f32 in `adam` / `ema`, one vec4<f32> in `adam4` / `ema4` (n a multiple of 4; on lavapipe one
// vec4 access costs about what one scalar access does, so these move ~2x the bytes per second).
// Launched with `grid_1d(items, WG * EPI)`.
//
// Bindings (each entry point uses a prefix; the vec4 entry points see the same buffers as
// arrays of vec4<f32>, declared as separate variables with the same binding numbers: naga
// validates bindings per entry point and wgpu translates one entry point per pipeline):
//   0: uniform Params
//   1: dst, read_write array<f32>: adam: the parameters; ema: the EMA
//   2: src, read array<f32>: adam: the gradients; ema: the parameters
//   3: m, read_write array<f32>: adam first moment
//   4: v, read_write array<f32>: adam second moment
//   5: sumsq, read array<f32>: adam: [1], sum of squares of ALL gradients (for the clip factor)

override WG: u32 = 256u;
override EPI: u32 = 1u;

struct Params {
    n: u32,
    clip_on: u32,        // adam: 1 = clip the gradient to global norm max_norm
    max_norm: f32,       // adam
    beta1: f32,          // adam
    one_m_beta1: f32,    // adam: 1 - beta1 (f64 on the CPU, rounded)
    beta2: f32,          // adam
    one_m_beta2: f32,    // adam: 1 - beta2
    step_size: f32,      // adam: lr / (1 - beta1^step) (f64 on the CPU, rounded)
    inv_sqrt_bc2: f32,   // adam: 1 / sqrt(1 - beta2^step)
    eps: f32,            // adam
    lr_wd: f32,          // adam: lr * weight_decay (decoupled; 0 = plain Adam)
    one_m_decay: f32,    // ema: 1 - decay
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<storage, read> src: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;
@group(0) @binding(5) var<storage, read> sumsq: array<f32>;

fn element(wid: vec3<u32>, nwg: vec3<u32>, lid: u32, k: u32) -> u32 {
    return ((wid.x + wid.y * nwg.x) * EPI + k) * WG + lid;
}

// The vec4 views of the same buffers (for adam4, ema4).
@group(0) @binding(1) var<storage, read_write> dst4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> src4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> m4: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> v4: array<vec4<f32>>;

#include "optim/parts/steps" S= W=1
#include "optim/parts/steps" S=4 W=4
