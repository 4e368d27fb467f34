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
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dst: array<u32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;

const PHILOX_M0: u32 = 0xD2511F53u;
const PHILOX_M1: u32 = 0xCD9E8D57u;
const PHILOX_W0: u32 = 0x9E3779B9u;
const PHILOX_W1: u32 = 0xBB67AE85u;

// High 32 bits of the 64-bit product a * b, from 16-bit halves (WGSL has no 64-bit integers).
fn mulhi(a: u32, b: u32) -> u32 {
    let al = a & 0xffffu;
    let ah = a >> 16u;
    let bl = b & 0xffffu;
    let bh = b >> 16u;
    let lh = al * bh;
    let hl = ah * bl;
    let mid = ((al * bl) >> 16u) + (lh & 0xffffu) + (hl & 0xffffu);
    return ah * bh + (lh >> 16u) + (hl >> 16u) + (mid >> 16u);
}

// Philox 4x32-10 of block `b` of this dispatch's (seed, stream).
fn philox_block(b: u32) -> vec4<u32> {
    var c = vec4<u32>(b, p.stream0, p.stream1, 0u);
    var k = vec2<u32>(p.key0, p.key1);
    for (var r = 0u; r < 10u; r++) {
        let hi0 = mulhi(PHILOX_M0, c.x);
        let lo0 = PHILOX_M0 * c.x;
        let hi1 = mulhi(PHILOX_M1, c.z);
        let lo1 = PHILOX_M1 * c.z;
        c = vec4<u32>(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
        k = k + vec2<u32>(PHILOX_W0, PHILOX_W1);
    }
    return c;
}

// (floor(w / 2^9) + 1/2) / 2^23: an odd multiple of 2^-24 in (0, 1), exact in f32.
fn unit(w: u32) -> f32 {
    return (f32(w >> 9u) + 0.5) * (1.0 / 8388608.0);
}

// Natural log of u > 0, to a few ulp relative error even near u = 1 (the builtin `log` only
// promises an absolute error there, which sqrt(-2 ln u) would amplify for u near 1):
// u = m 2^e with m in [sqrt(1/2), sqrt(2)), ln m = 2 atanh(s), s = (m - 1)/(m + 1), |s| < 0.172,
// series to s^9 (truncation < 2e-9 relative), ln 2 split in two parts (Cody-Waite).
fn ln_pos(u: f32) -> f32 {
    let fr = frexp(u);
    var m = fr.fract;
    var e = f32(fr.exp);
    if (m < 0.70710678) {
        m = m * 2.0;
        e = e - 1.0;
    }
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let series = 2.0 * s * (1.0 + s2 * (0.33333333 + s2 * (0.2 + s2 * (0.14285714 + s2 * 0.11111111))));
    return e * 0.693145751953125 + (series + e * 1.4286068203094173e-06);
}

// Box-Muller: the normal pair of words (a, b): r = sqrt(-2 ln u(a)), theta = pi (2 u(b) - 1).
fn box_muller(a: u32, b: u32) -> vec2<f32> {
    let r = sqrt(-2.0 * ln_pos(unit(a)));
    let theta = 3.14159265358979 * (2.0 * unit(b) - 1.0);
    return r * vec2<f32>(cos(theta), sin(theta));
}

fn block_index(wid: vec3<u32>, nwg: vec3<u32>, lid: u32, k: u32) -> u32 {
    return ((wid.x + wid.y * nwg.x) * PER + k) * WG + lid;
}

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

// Inverted dropout (also its backward, with dy as x): dst[i] = word_i >= arg_u ? x[i] * arg_f : 0,
// f32 bits. Bindings 0, 1 (dst), 2 (x).
@compute @workgroup_size(WG)
fn dropout(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    for (var k = 0u; k < PER; k++) {
        let b = block_index(wid, nwg, lid, k);
        if (4u * b >= p.n) { return; }
        let w = philox_block(b);
        for (var j = 0u; j < 4u; j++) {
            let i = 4u * b + j;
            if (i < p.n) { dst[i] = bitcast<u32>(select(0.0, x[i] * p.arg_f, w[j] >= p.arg_u)); }
        }
    }
}
