// Arithmetic ceiling probe: how many FLOP/s this adapter's shader compiler and hardware give a
// WGSL kernel that does nothing but multiply-adds on values held in registers (no memory
// traffic in the loop). Every real kernel runs below it; `ddpm bench`, `ddpm profile` and
// `cargo bench --bench peak` report it, so that the kernels' rates can be read as a fraction of
// what is reachable at all.
//
// Entry `peak_C` keeps C independent vec4 chains a_k per invocation and applies
//   a_k <- fma(a_k, m, c)
// 16 times per chain and loop iteration, `iters` iterations: 128 C FLOP per invocation and
// iteration. On lavapipe 8 invocations share one 256-bit register and each vec4 component gets
// its own, so C chains are 4 C SIMD chains: too few and the multiply-add's latency shows, too
// many and they spill out of the 16 vector registers; the host code takes the best C.
// Output: y[i] = the sum of all chains' components, so no chain is dead code.
// Bindings: 1 x [n] (start values), 2 y [n].
// Params: n invocations, iters, m, c. Dispatch: grid_1d(n, 64); invocation i = linear
// workgroup index * 64 + local index (past n: nothing).

struct Params { n: u32, iters: u32, m: f32, c: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

// Chain k starts at x[i] + (k, k + 1/4, k + 1/2, k + 3/4).
fn start(k: f32, i: u32) -> vec4<f32> {
    return vec4<f32>(x[i]) + vec4<f32>(k, k + 0.25, k + 0.5, k + 0.75);
}

#include "peak/parts/entry" C=1
#include "peak/parts/entry" C=2
#include "peak/parts/entry" C=3
#include "peak/parts/entry" C=4
#include "peak/parts/entry" C=8
