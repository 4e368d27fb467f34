// Arithmetic ceiling probe: how many FLOP/s this adapter's compiler and hardware give a WGSL
// kernel that does nothing but multiply-adds on values held in registers (no memory traffic in
// the loop). Every real kernel runs below it; `benches/peak.rs` and `ddpm info --peak` report
// it, so that the kernels' rates can be read as a fraction of what is reachable at all.
//
// Each invocation keeps 8 independent vec4 chains a_k (on lavapipe, which maps 8 invocations
// onto one 256-bit register and each vec4 component onto its own register: 32 independent
// SIMD chains, enough to hide the latency of a multiply-add) and applies
//   a_k <- fma(a_k, m, c)
// R times per loop iteration, `iters` iterations: 64 R FLOP per invocation and iteration.
// `peak_1` updates each chain once per iteration, as a kernel that stores an accumulator every
// loop iteration does; `peak_16` sixteen times, so the loop's own cost nearly vanishes.
// Output: y[i] = the sum of all chains' components, so no chain is dead code.
// Bindings: 1 x [n] (start values), 2 y [n].
// Params: n invocations, iters, m, c. Dispatch: ceil(n / 64) workgroups of 64.

struct Params { n: u32, iters: u32, m: f32, c: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

// Chain k starts at x[i] + (k, k + 1/4, k + 1/2, k + 3/4).
fn start(k: f32, i: u32) -> vec4<f32> {
    return vec4<f32>(x[i]) + vec4<f32>(k, k + 0.25, k + 0.5, k + 0.75);
}

#include "peak/parts/entry" R=1
#include "peak/parts/entry" R=16
