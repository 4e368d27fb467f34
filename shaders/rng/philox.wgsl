// Counter-based random numbers: Philox 4x32-10 (Salmon et al. 2011, as in Random123 / curand /
// JAX) and the transforms built on it. The reference is `src/reference/rng.rs`; the layout of the
// stream (key, counter, which word each element takes) is documented there.
//
// key = (seed lo, seed hi); block b's counter = (b, stream lo, stream hi, 0); element i takes
// word i % 4 of block i / 4. Every entry point gives one invocation one block (4 consecutive
// elements) per loop trip, PER trips per invocation: block = (group * PER + k) * WG + lid, so a
// workgroup covers WG * PER blocks = 4 * WG * PER elements and neighbouring invocations touch
// neighbouring blocks. Launched with `grid_1d(ceil(n / 4), WG * PER)` (group = wid.x + wid.y * nwg.x).
//
// Bindings (shared by all entry points; each uses a prefix of them):
//   0: uniform Params
//   1: dst, read_write array<u32> (float results are stored as their bits)
//   2: x, read array<f32> (dropout input only)

override WG: u32 = 256u;
override PER: u32 = 1u;

struct Params {
    n: u32,        // number of elements
    key0: u32,     // seed, low 32 bits
    key1: u32,     // seed, high 32 bits
    stream0: u32,  // stream, low 32 bits
    stream1: u32,  // stream, high 32 bits
    arg_u: u32,    // randint: high; dropout: keep threshold round(p 2^32)
    arg_f: f32,    // dropout: 1 / (1 - p)
    block0: u32,   // dropout: Philox block of element 0 (a slice of a larger tensor's mask)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dst: array<u32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;

#include "common/philox_blocks"

// dst[i] = word i (raw Philox output, as u32). Bindings 0, 1.
@compute @workgroup_size(WG)
fn rand_bits(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    for (var k = 0u; k < PER; k++) {
        let b = block_index(wid, nwg, lid, k);
        if (4u * b >= p.n) { return; }
        let w = philox_block(b);
        for (var j = 0u; j < 4u; j++) {
            let i = 4u * b + j;
            if (i < p.n) { dst[i] = w[j]; }
        }
    }
}

// dst[i] = unit(word i), f32 bits: uniform in (0, 1). Bindings 0, 1.
@compute @workgroup_size(WG)
fn rand_uniform(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    for (var k = 0u; k < PER; k++) {
        let b = block_index(wid, nwg, lid, k);
        if (4u * b >= p.n) { return; }
        let w = philox_block(b);
        for (var j = 0u; j < 4u; j++) {
            let i = 4u * b + j;
            if (i < p.n) { dst[i] = bitcast<u32>(unit(w[j])); }
        }
    }
}

// dst[4b..4b+3] = box_muller(w0, w1), box_muller(w2, w3), f32 bits: N(0, 1). Bindings 0, 1.
@compute @workgroup_size(WG)
fn rand_normal(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    for (var k = 0u; k < PER; k++) {
        let b = block_index(wid, nwg, lid, k);
        if (4u * b >= p.n) { return; }
        let w = philox_block(b);
        let z = vec4<f32>(box_muller(w.x, w.y), box_muller(w.z, w.w));
        for (var j = 0u; j < 4u; j++) {
            let i = 4u * b + j;
            if (i < p.n) { dst[i] = bitcast<u32>(z[j]); }
        }
    }
}

// dst[i] = floor(word_i * high / 2^32) in 0..high (high = arg_u), as u32. Bindings 0, 1.
@compute @workgroup_size(WG)
fn rand_int(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    for (var k = 0u; k < PER; k++) {
        let b = block_index(wid, nwg, lid, k);
        if (4u * b >= p.n) { return; }
        let w = philox_block(b);
        for (var j = 0u; j < 4u; j++) {
            let i = 4u * b + j;
            if (i < p.n) { dst[i] = mulhi(w[j], p.arg_u); }
        }
    }
}

// Inverted dropout (also its backward, with dy as x): dst[i] = word_(4 block0 + i) >= arg_u ?
// x[i] * arg_f : 0, f32 bits. Bindings 0, 1 (dst), 2 (x).
@compute @workgroup_size(WG)
fn dropout(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    for (var k = 0u; k < PER; k++) {
        let b = block_index(wid, nwg, lid, k);
        if (4u * b >= p.n) { return; }
        let w = philox_block(p.block0 + b);
        for (var j = 0u; j < 4u; j++) {
            let i = 4u * b + j;
            if (i < p.n) { dst[i] = bitcast<u32>(select(0.0, x[i] * p.arg_f, w[j] >= p.arg_u)); }
        }
    }
}
