// Optimiser kernels over flat parameter buffers: one Adam(W) step with bias correction and
// global-norm gradient clipping, and the EMA of the parameters. Reference: src/reference/optim.rs.
//
// Geometry: elementwise; one invocation handles PER items, item = (group * PER + k) * WG + lid
// (neighbouring invocations on neighbouring items), group = wid.x + wid.y * nwg.x. An item is one
// f32 in `adam` / `ema`, one vec4<f32> in `adam4` / `ema4` (n a multiple of 4; on lavapipe one
// vec4 access costs about what one scalar access does, so these move ~2x the bytes per second).
// Launched with `grid_1d(items, WG * PER)`.
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
override PER: u32 = 1u;

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
    return ((wid.x + wid.y * nwg.x) * PER + k) * WG + lid;
}

// Adam(W) step, in place on dst (params), m, v:
//   c = clip_on ? min(1, max_norm / (sqrt(sumsq[0]) + 1e-6)) : 1;  g = c src[i]
//   m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2
//   param = param - lr_wd param - step_size m / (sqrt(v) inv_sqrt_bc2 + eps)
// (= p - lr wd p - lr mhat / (sqrt(vhat) + eps) with mhat = m/(1-beta1^t), vhat = v/(1-beta2^t)).
// Bindings 0..5.
@compute @workgroup_size(WG)
fn adam(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    var c = 1.0;
    if (p.clip_on != 0u) {
        c = min(1.0, p.max_norm / (sqrt(sumsq[0]) + 1e-6));
    }
    for (var k = 0u; k < PER; k++) {
        let i = element(wid, nwg, lid, k);
        if (i >= p.n) { return; }
        let g = c * src[i];
        let mi = p.beta1 * m[i] + p.one_m_beta1 * g;
        let vi = p.beta2 * v[i] + p.one_m_beta2 * (g * g);
        m[i] = mi;
        v[i] = vi;
        let w = dst[i];
        dst[i] = (w - p.lr_wd * w) - p.step_size * mi / (sqrt(vi) * p.inv_sqrt_bc2 + p.eps);
    }
}

// EMA, in place on dst: ema = ema + (1 - decay)(param - ema)  (= decay ema + (1 - decay) param).
// Bindings 0..2.
@compute @workgroup_size(WG)
fn ema(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
       @builtin(local_invocation_index) lid: u32) {
    for (var k = 0u; k < PER; k++) {
        let i = element(wid, nwg, lid, k);
        if (i >= p.n) { return; }
        let e = dst[i];
        dst[i] = e + p.one_m_decay * (src[i] - e);
    }
}

@group(0) @binding(1) var<storage, read_write> dst4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> src4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> m4: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> v4: array<vec4<f32>>;

// `adam` on vec4 items (p.n elements, a multiple of 4). Bindings 0..5 (1..4 as vec4 arrays).
@compute @workgroup_size(WG)
fn adam4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
    var c = 1.0;
    if (p.clip_on != 0u) {
        c = min(1.0, p.max_norm / (sqrt(sumsq[0]) + 1e-6));
    }
    let items = p.n / 4u;
    for (var k = 0u; k < PER; k++) {
        let i = element(wid, nwg, lid, k);
        if (i >= items) { return; }
        let g = c * src4[i];
        let mi = p.beta1 * m4[i] + p.one_m_beta1 * g;
        let vi = p.beta2 * v4[i] + p.one_m_beta2 * (g * g);
        m4[i] = mi;
        v4[i] = vi;
        let w = dst4[i];
        dst4[i] = (w - p.lr_wd * w) - p.step_size * mi / (sqrt(vi) * p.inv_sqrt_bc2 + p.eps);
    }
}

// `ema` on vec4 items (p.n elements, a multiple of 4). Bindings 0..2 (as vec4 arrays).
@compute @workgroup_size(WG)
fn ema4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let items = p.n / 4u;
    for (var k = 0u; k < PER; k++) {
        let i = element(wid, nwg, lid, k);
        if (i >= items) { return; }
        let e = dst4[i];
        dst4[i] = e + p.one_m_decay * (src4[i] - e);
    }
}
