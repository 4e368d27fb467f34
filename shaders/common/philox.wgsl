// Counter-based random numbers shared by every kernel that draws them (`rng/`, `diffusion/`):
// Philox 4x32-10 (Salmon et al. 2011, as in Random123 / curand / JAX), its uniform and normal
// transforms. The CPU twin is `src/reference/rng.rs`, which documents the stream layout: block
// b's counter is (b, stream lo, stream hi, 0) and the key is (seed lo, seed hi).

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

// Philox 4x32-10 of block `b` of the stream (key = seed, stream): counter (b, stream, 0).
fn philox(b: u32, key: vec2<u32>, stream: vec2<u32>) -> vec4<u32> {
    var c = vec4<u32>(b, stream.x, stream.y, 0u);
    var k = key;
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
