// Elementwise kernels: activations, sums, scaling, per-channel broadcasts, channel copies
// (concat / split), nearest 2x upsampling and its backward, and the sinusoidal timestep
// embedding. Rust side: src/ops/elementwise.rs.
//
// Common geometry ("flat" launch): the Rust side launches gpu::grid_1d(p.n, WG * EPI)
// workgroups. Workgroup g (linear index wid.x + wid.y * nwg.x) covers items
// [g * WG * EPI, (g + 1) * WG * EPI); invocation `lid` handles items g * WG * EPI + k * WG + lid
// for k in 0..EPI (adjacent invocations touch adjacent items: coalesced on a GPU, contiguous
// SIMD lanes on a CPU). An "item" is one f32 in the scalar entry points and one vec4<f32>
// (4 consecutive elements) in the entry points suffixed `4`; p.n counts items.
//
// Bindings (group 0): binding 0 is the uniform Params; storage buffers follow in the order the
// Rust op passes its tensors. Entry points use one of these patterns, so a binding number is
// declared several times with different types, each variable used by different entry points:
//   unary     : 1 = x (read),  2 = y (read_write)                 y = f(x)
//   binary    : 1 = x (read),  2 = b (read), 3 = z (read_write)   z = f(x, b)
//   in place  : 1 = io (read_write), 2 = b (read)                 io = f(io, b)

struct Params {
    n: u32,      // items this dispatch covers
    d1: u32,     // entry-specific sizes, documented per entry point
    d2: u32,
    d3: u32,
    d4: u32,
    d5: u32,
    alpha: f32,  // entry-specific scalar
    pad: f32,    // (the struct is 32 bytes)
}

override WG: u32 = 256u;  // invocations per workgroup (a power of two, <= 256)
override EPI: u32 = 4u;   // items per invocation

@group(0) @binding(0) var<uniform> p: Params;

@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> tsteps: array<u32>;
@group(0) @binding(1) var<storage, read_write> io: array<f32>;
@group(0) @binding(1) var<storage, read_write> io4: array<vec4<f32>>;

@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> y4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read> b4: array<vec4<f32>>;

@group(0) @binding(3) var<storage, read_write> z: array<f32>;
@group(0) @binding(3) var<storage, read_write> z4: array<vec4<f32>>;

fn first_item(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return (wid.x + wid.y * nwg.x) * WG * EPI;
}

fn sigmoid(v: f32) -> f32 {
    return 1.0 / (1.0 + exp(-v));
}
fn sigmoid4(v: vec4<f32>) -> vec4<f32> {
    return 1.0 / (1.0 + exp(-v));
}

// ---------------------------------------------------------------------------------------------
// silu: y = x * sigmoid(x). Unary; p.n items.
@compute @workgroup_size(WG)
fn silu(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let base = first_item(wid, nwg) + lid;
    for (var k = 0u; k < EPI; k++) {
        let i = base + k * WG;
        if (i < p.n) { let v = x[i]; y[i] = v * sigmoid(v); }
    }
}
@compute @workgroup_size(WG)
fn silu4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
    let base = first_item(wid, nwg) + lid;
    for (var k = 0u; k < EPI; k++) {
        let i = base + k * WG;
        if (i < p.n) { let v = x4[i]; y4[i] = v * sigmoid4(v); }
    }
}

// silu_backward: z = b * (s + x s (1 - s)), s = sigmoid(x); x = forward input, b = dy.
// Binary; p.n items.
@compute @workgroup_size(WG)
fn silu_bwd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    let base = first_item(wid, nwg) + lid;
    for (var k = 0u; k < EPI; k++) {
        let i = base + k * WG;
        if (i < p.n) { let v = x[i]; let s = sigmoid(v); z[i] = b[i] * s * (1.0 + v * (1.0 - s)); }
    }
}
@compute @workgroup_size(WG)
fn silu_bwd4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let base = first_item(wid, nwg) + lid;
    for (var k = 0u; k < EPI; k++) {
        let i = base + k * WG;
        if (i < p.n) { let v = x4[i]; let s = sigmoid4(v); z4[i] = b4[i] * s * (1.0 + v * (1.0 - s)); }
    }
}

// add: z = x + b. Binary; p.n items.
@compute @workgroup_size(WG)
fn add(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
       @builtin(local_invocation_index) lid: u32) {
    let base = first_item(wid, nwg) + lid;
    for (var k = 0u; k < EPI; k++) {
        let i = base + k * WG;
        if (i < p.n) { z[i] = x[i] + b[i]; }
    }
}
@compute @workgroup_size(WG)
fn add4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let base = first_item(wid, nwg) + lid;
    for (var k = 0u; k < EPI; k++) {
        let i = base + k * WG;
        if (i < p.n) { z4[i] = x4[i] + b4[i]; }
    }
}

// axpy: io = io + alpha * b (add_assign is alpha = 1). In place; p.n items.
@compute @workgroup_size(WG)
fn axpy(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let base = first_item(wid, nwg) + lid;
    for (var k = 0u; k < EPI; k++) {
        let i = base + k * WG;
        if (i < p.n) { io[i] = io[i] + p.alpha * b[i]; }
    }
}
@compute @workgroup_size(WG)
fn axpy4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
    let base = first_item(wid, nwg) + lid;
    for (var k = 0u; k < EPI; k++) {
        let i = base + k * WG;
        if (i < p.n) { io4[i] = io4[i] + p.alpha * b4[i]; }
    }
}

// scale: y = alpha * x. Unary; p.n items.
@compute @workgroup_size(WG)
fn scale(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
    let base = first_item(wid, nwg) + lid;
    for (var k = 0u; k < EPI; k++) {
        let i = base + k * WG;
        if (i < p.n) { y[i] = p.alpha * x[i]; }
    }
}
@compute @workgroup_size(WG)
fn scale4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let base = first_item(wid, nwg) + lid;
    for (var k = 0u; k < EPI; k++) {
        let i = base + k * WG;
        if (i < p.n) { y4[i] = p.alpha * x4[i]; }
    }
}

// fill: io = alpha. Binding 1 only (read_write); p.n items.
@compute @workgroup_size(WG)
fn fill(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let base = first_item(wid, nwg) + lid;
    for (var k = 0u; k < EPI; k++) {
        let i = base + k * WG;
        if (i < p.n) { io[i] = p.alpha; }
    }
}
@compute @workgroup_size(WG)
fn fill4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
    let base = first_item(wid, nwg) + lid;
    for (var k = 0u; k < EPI; k++) {
        let i = base + k * WG;
        if (i < p.n) { io4[i] = vec4<f32>(p.alpha); }
    }
}

// add_channel: z[n,c,s] = x[n,c,s] + b[v(n,c)] with x [N, C, S] flattened; p.d1 = C,
// p.d2 = S (in items: S/4 in the vec4 entry, which needs S % 4 == 0 so a vec4 lies in one
// channel), p.d3 = 1 if b is per sample ([N, C], v = n*C + c) else 0 ([C], v = c).
// Since n*C + c = item / S, the per-sample index is a single division. Binary; p.n items.
fn channel_index(i: u32) -> u32 {
    let nc = i / p.d2;
    return select(nc % p.d1, nc, p.d3 == 1u);
}
@compute @workgroup_size(WG)
fn add_channel(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let base = first_item(wid, nwg) + lid;
    for (var k = 0u; k < EPI; k++) {
        let i = base + k * WG;
        if (i < p.n) { z[i] = x[i] + b[channel_index(i)]; }
    }
}
@compute @workgroup_size(WG)
fn add_channel4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let base = first_item(wid, nwg) + lid;
    for (var k = 0u; k < EPI; k++) {
        let i = base + k * WG;
        if (i < p.n) { z4[i] = x4[i] + b[channel_index(i)]; }
    }
}

// add_channel_assign: io[n,c,s] += b[v(n,c)], sizes as in add_channel. In place; p.n items.
@compute @workgroup_size(WG)
fn add_channel_assign(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_index) lid: u32) {
    let base = first_item(wid, nwg) + lid;
    for (var k = 0u; k < EPI; k++) {
        let i = base + k * WG;
        if (i < p.n) { io[i] = io[i] + b[channel_index(i)]; }
    }
}
@compute @workgroup_size(WG)
fn add_channel_assign4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                       @builtin(local_invocation_index) lid: u32) {
    let base = first_item(wid, nwg) + lid;
    for (var k = 0u; k < EPI; k++) {
        let i = base + k * WG;
        if (i < p.n) { io4[i] = io4[i] + b[channel_index(i)]; }
    }
}

// copy_channels: copies a block of channels between two [N, *, S] tensors:
//   y[n, dst0 + c, s] = x[n, src0 + c, s]   for c < cnt, s < S.
// All sizes in items (S/4 per channel in the vec4 entry, which needs S % 4 == 0):
// p.d1 = cnt * S (block items per sample), p.d2 = Cx * S (x items per sample),
// p.d3 = src0 * S, p.d4 = dst0 * S, p.d5 = Cy * S (y items per sample).
// Concat is two of these (a, then b, into y), split is two as well (x into a, x into b).
// Unary; p.n = N * cnt * S items.
@compute @workgroup_size(WG)
fn copy_channels(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
    let base = first_item(wid, nwg) + lid;
    for (var k = 0u; k < EPI; k++) {
        let i = base + k * WG;
        if (i < p.n) {
            let n = i / p.d1;
            let r = i - n * p.d1;
            y[n * p.d5 + p.d4 + r] = x[n * p.d2 + p.d3 + r];
        }
    }
}
@compute @workgroup_size(WG)
fn copy_channels4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
    let base = first_item(wid, nwg) + lid;
    for (var k = 0u; k < EPI; k++) {
        let i = base + k * WG;
        if (i < p.n) {
            let n = i / p.d1;
            let r = i - n * p.d1;
            y4[n * p.d5 + p.d4 + r] = x4[n * p.d2 + p.d3 + r];
        }
    }
}

// upsample2x: nearest 2x upsampling, y[m, i, j] = x[m, i / 2, j / 2] for x [M = N*C, H, W] and
// y [M, 2H, 2W]; p.d1 = W, p.d2 = H. Unary; p.n = M * 2H * 2W items, one output each.
@compute @workgroup_size(WG)
fn upsample2x(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let base = first_item(wid, nwg) + lid;
    let w2 = 2u * p.d1;
    for (var k = 0u; k < EPI; k++) {
        let o = base + k * WG;
        if (o < p.n) {
            let j = o % w2;
            let row = o / w2;             // m * 2H + i
            let i = row % (2u * p.d2);
            let m = row / (2u * p.d2);
            y[o] = x[(m * p.d2 + i / 2u) * p.d1 + j / 2u];
        }
    }
}
// upsample2x4: the same with one output vec4 (outputs 4q..4q+3 of a row, from inputs 2q and
// 2q + 1) per item; needs W % 2 == 0 so that an output row is a whole number of vec4s.
// Bindings 1 = x (read, f32), 2 = y (read_write, vec4). p.n = M * 2H * 2W / 4 items.
@compute @workgroup_size(WG)
fn upsample2x4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let base = first_item(wid, nwg) + lid;
    let q_row = p.d1 / 2u;              // vec4 items per output row (2W / 4)
    for (var k = 0u; k < EPI; k++) {
        let o = base + k * WG;
        if (o < p.n) {
            let q = o % q_row;
            let row = o / q_row;
            let i = row % (2u * p.d2);
            let m = row / (2u * p.d2);
            let src = (m * p.d2 + i / 2u) * p.d1 + 2u * q;
            let a = x[src];
            let c = x[src + 1u];
            y4[o] = vec4<f32>(a, a, c, c);
        }
    }
}

// upsample2x_bwd: the backward of upsample2x, y[m, i, j] = sum of the 2x2 block
// x[m, 2i..2i+2, 2j..2j+2], for x = dy [M, 2H, 2W] and y = dx [M, H, W]; p.d1 = W, p.d2 = H.
// Unary; p.n = M * H * W items, one output each.
@compute @workgroup_size(WG)
fn upsample2x_bwd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
    let base = first_item(wid, nwg) + lid;
    for (var k = 0u; k < EPI; k++) {
        let o = base + k * WG;
        if (o < p.n) {
            let j = o % p.d1;
            let row = o / p.d1;           // m * H + i
            let top = (2u * row) * (2u * p.d1) + 2u * j;
            let bottom = top + 2u * p.d1;
            y[o] = (x[top] + x[top + 1u]) + (x[bottom] + x[bottom + 1u]);
        }
    }
}
// upsample2x_bwd4: the same with one output vec4 (outputs 4q..4q+3 of a row, from two vec4s
// of each of the two input rows) per item; needs W % 4 == 0. Bindings 1 = x (read, vec4),
// 2 = y (read_write, vec4). p.n = M * H * W / 4 items.
@compute @workgroup_size(WG)
fn upsample2x_bwd4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) lid: u32) {
    let base = first_item(wid, nwg) + lid;
    let q_row = p.d1 / 4u;              // vec4 items per output row
    for (var k = 0u; k < EPI; k++) {
        let o = base + k * WG;
        if (o < p.n) {
            let q = o % q_row;
            let row = o / q_row;          // m * H + i
            let top = (2u * row) * (p.d1 / 2u) + 2u * q;   // in vec4s of the input
            let bottom = top + p.d1 / 2u;
            let t0 = x4[top];
            let t1 = x4[top + 1u];
            let b0 = x4[bottom];
            let b1 = x4[bottom + 1u];
            let s0 = t0 + b0;
            let s1 = t1 + b1;
            y4[o] = vec4<f32>(s0.x + s0.y, s0.z + s0.w, s1.x + s1.y, s1.z + s1.w);
        }
    }
}

// timestep_embedding (diffusers get_timestep_embedding): for t = tsteps[r] (u32) and the
// frequency table b[k] = exp(-ln(10000) k / (half - shift)) (f32, computed on the host as
// PyTorch does in float32), with x_k = f32(t) * b[k] rounded to f32:
//   z[r, j] = sin(x_j) for j < half, cos(x_{j-half}) for half <= j < 2 half  (flip: cos first),
//   z[r, dim - 1] = 0 when dim is odd.
// p.d1 = dim, p.d2 = half, p.d3 = 1 to flip, p.d4 = 0 (an opaque zero, see below).
// Bindings 1 = tsteps (read, u32), 2 = b (read, f32), 3 = z (read_write, f32).
// Geometry: flat, p.n = rows * dim items, one output each.
//
// Accuracy: x reaches ~1000 rad, where a driver's sin may be poor (Vulkan only promises 2^-11
// absolute on [-pi, pi]), so sin and cos are computed here: Cody-Waite reduction by pi/2 with
// a two-constant split (C1 has 8 significant bits, so n * C1 is exact for |n| < 2^16 and
// x - n * C1 is exact by Sterbenz), then the Cephes single-precision minimax polynomials on
// [-pi/4, pi/4] (about 1 ulp). The product t * b[k] is forced to round to f32 (as in PyTorch)
// by passing it through an integer XOR with the runtime zero p.d4: a compiler cannot fuse it
// into the reduction's FMA then.
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

@compute @workgroup_size(WG)
fn timestep_embedding(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_index) lid: u32) {
    let base = first_item(wid, nwg) + lid;
    for (var k = 0u; k < EPI; k++) {
        let o = base + k * WG;
        if (o < p.n) {
            let r = o / p.d1;
            let j = o - r * p.d1;
            var v = 0.0;
            if (j < 2u * p.d2) {
                let second = j >= p.d2;
                let kk = select(j, j - p.d2, second);
                let prod = f32(tsteps[r]) * b[kk];
                let xv = bitcast<f32>(bitcast<u32>(prod) ^ p.d4);
                // cos(x) = sin(x + pi/2): shift by one quadrant for the cosine half.
                let want_cos = second != (p.d3 == 1u);
                v = sin_quadrant(xv, select(0u, 1u, want_cos));
            }
            z[o] = v;
        }
    }
}
