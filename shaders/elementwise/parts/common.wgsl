// Shared by the elementwise kernel modules (`pointwise`, `resample`, `time_embedding`):
// activations, sums, scaling, per-channel broadcasts, channel copies (concat / split), nearest
// 2x upsampling and its backward, and the sinusoidal timestep embedding. Rust side:
// src/ops/elementwise.rs.
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
    a0: u32,     // five words of the kernel's own, named by its `*Args` struct (mirrored by
    a1: u32,     // the struct of the same name in src/ops/elementwise.rs)
    a2: u32,
    a3: u32,
    a4: u32,
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
