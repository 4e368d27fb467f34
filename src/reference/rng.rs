//! Reference of the GPU random numbers (`shaders/rng/philox.wgsl`, `shaders/common/philox.wgsl`, `ops::rng`): the Philox 4x32-10
//! counter-based generator in exact u32 arithmetic, and the float64 transforms built on it.
//!
//! # The stream of numbers
//! Philox 4x32-10 (Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as easy as 1, 2, 3",
//! SC 2011; the generator of Random123, curand and JAX) maps a 128-bit counter and a 64-bit key
//! to 128 random bits in 10 rounds. This crate uses:
//!
//! - key = (seed low 32 bits, seed high 32 bits);
//! - counter of block `b` = (b, stream low 32 bits, stream high 32 bits, 0);
//! - element `i` of any random tensor takes word `i % 4` of block `i / 4`.
//!
//! So every value is a pure function of (seed, stream, element index): a tensor can be
//! regenerated instead of stored (dropout masks in backward), and two tensors drawn with
//! different streams are independent.
//!
//! # Transforms of a word `w`
//! - uniform: `u = (floor(w / 2^9) + 1/2) / 2^23`, an odd multiple of 2^-24, so
//!   `u ∈ [2^-24, 1 - 2^-24]` (never 0 or 1), exactly representable in f32, mean exactly 1/2;
//! - normal (Box-Muller on the word pairs (w0, w1) and (w2, w3) of a block):
//!   `r = sqrt(-2 ln u(w0))`, `θ = π (2 u(w1) - 1)` (in (-π, π)), element 4b+0 = `r cos θ`,
//!   4b+1 = `r sin θ`, and likewise 4b+2, 4b+3 from (w2, w3). |z| ≤ sqrt(48 ln 2) ≈ 5.77;
//! - randint below `high`: `floor(w * high / 2^32)` (multiply-high; the bias is below
//!   high / 2^32, 2.3e-7 for 1000 timesteps);
//! - dropout with probability `p`: keep when `w >= dropout_threshold(p)` (= round(p 2^32)),
//!   i.e. with probability 1 - p to within 2^-32; kept values are scaled by `1 / (1 - p)`.

pub use crate::maths::dropout::{dropout_scale, dropout_threshold};
/// Philox 4x32 multipliers and Weyl key increments (Random123 `philox.h`).
pub const PHILOX_M0: u32 = 0xD251_1F53;
pub const PHILOX_M1: u32 = 0xCD9E_8D57;
pub const PHILOX_W0: u32 = 0x9E37_79B9;
pub const PHILOX_W1: u32 = 0xBB67_AE85;

fn mulhilo(a: u32, b: u32) -> (u32, u32) {
    let p = a as u64 * b as u64;
    ((p >> 32) as u32, p as u32)
}

/// Philox 4x32 with `rounds` rounds (10 is the standard, "Philox4x32-10").
pub fn philox4x32_rounds(counter: [u32; 4], key: [u32; 2], rounds: u32) -> [u32; 4] {
    let mut c = counter;
    let mut k = key;
    for r in 0..rounds {
        if r > 0 {
            k = [k[0].wrapping_add(PHILOX_W0), k[1].wrapping_add(PHILOX_W1)];
        }
        let (hi0, lo0) = mulhilo(PHILOX_M0, c[0]);
        let (hi1, lo1) = mulhilo(PHILOX_M1, c[2]);
        c = [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0];
    }
    c
}

/// Philox 4x32-10.
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    philox4x32_rounds(counter, key, 10)
}

/// The key of `seed`.
pub fn key_of(seed: u64) -> [u32; 2] {
    [seed as u32, (seed >> 32) as u32]
}

/// The counter of block `block` in `stream`.
pub fn counter_of(block: u32, stream: u64) -> [u32; 4] {
    [block, stream as u32, (stream >> 32) as u32, 0]
}

/// The 4 words of block `block` (elements 4 block .. 4 block + 3).
pub fn block(seed: u64, stream: u64, block: u32) -> [u32; 4] {
    philox4x32_10(counter_of(block, stream), key_of(seed))
}

/// The random word of element `index`.
pub fn word(seed: u64, stream: u64, index: usize) -> u32 {
    block(seed, stream, (index / 4) as u32)[index % 4]
}

/// The first `n` random words (`ops::rng::random_bits`).
pub fn bits(n: usize, seed: u64, stream: u64) -> Vec<u32> {
    (0..n).map(|i| word(seed, stream, i)).collect()
}

/// The uniform value of a word: an odd multiple of 2^-24 in (0, 1).
pub fn uniform_of(w: u32) -> f64 {
    ((w >> 9) as f64 + 0.5) / (1u64 << 23) as f64
}

/// The normal values of one block's words (Box-Muller on (w0, w1) and (w2, w3)).
pub fn normals_of(w: [u32; 4]) -> [f64; 4] {
    let pair = |a: u32, b: u32| {
        let r = (-2.0 * uniform_of(a).ln()).sqrt();
        let theta = std::f64::consts::PI * (2.0 * uniform_of(b) - 1.0);
        (r * theta.cos(), r * theta.sin())
    };
    let (z0, z1) = pair(w[0], w[1]);
    let (z2, z3) = pair(w[2], w[3]);
    [z0, z1, z2, z3]
}

/// `n` uniform values in (0, 1) (`ops::rng::uniform`).
pub fn uniform(n: usize, seed: u64, stream: u64) -> Vec<f64> {
    bits(n, seed, stream).into_iter().map(uniform_of).collect()
}

/// `n` standard normal values (`ops::rng::normal`).
pub fn normal(n: usize, seed: u64, stream: u64) -> Vec<f64> {
    (0..n)
        .map(|i| normals_of(block(seed, stream, (i / 4) as u32))[i % 4])
        .collect()
}

/// `n` integers in `0..high` (`ops::rng::randint`).
pub fn randint(n: usize, high: u32, seed: u64, stream: u64) -> Vec<u32> {
    assert!(high >= 1, "randint needs high >= 1");
    bits(n, seed, stream)
        .into_iter()
        .map(|w| ((w as u64 * high as u64) >> 32) as u32)
        .collect()
}

/// The keep mask of dropout (true = kept) for `n` elements.
pub fn dropout_mask(n: usize, p: f32, seed: u64, stream: u64) -> Vec<bool> {
    let thr = dropout_threshold(p);
    bits(n, seed, stream)
        .into_iter()
        .map(|w| w >= thr)
        .collect()
}

/// Inverted dropout forward: `y_i = x_i mask_i / (1 - p)`.
pub fn dropout(x: &[f64], p: f32, seed: u64, stream: u64) -> Vec<f64> {
    let scale = dropout_scale(p) as f64;
    let mask = dropout_mask(x.len(), p, seed, stream);
    x.iter()
        .zip(mask)
        .map(|(&v, keep)| if keep { v * scale } else { 0.0 })
        .collect()
}

/// Dropout of elements `first..first + x.len()` of a larger tensor (`ops::rng::dropout_at`);
/// also its backward.
pub fn dropout_at(x: &[f64], p: f32, seed: u64, stream: u64, first: usize) -> Vec<f64> {
    let (thr, scale) = (dropout_threshold(p), dropout_scale(p) as f64);
    x.iter()
        .enumerate()
        .map(|(i, &v)| {
            if word(seed, stream, first + i) >= thr {
                v * scale
            } else {
                0.0
            }
        })
        .collect()
}

/// Dropout backward: `dx_i = dy_i mask_i / (1 - p)` with the same (regenerated) mask.
pub fn dropout_backward(dy: &[f64], p: f32, seed: u64, stream: u64) -> Vec<f64> {
    let scale = dropout_scale(p) as f64;
    let mask = dropout_mask(dy.len(), p, seed, stream);
    dy.iter()
        .zip(mask)
        .map(|(&g, keep)| if keep { g * scale } else { 0.0 })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Random123 `tests/kat_vectors`, the three "philox4x32 10" lines (counter, key, output).
    #[test]
    fn philox_known_answers() {
        let kat: [([u32; 4], [u32; 2], [u32; 4]); 3] = [
            (
                [0; 4],
                [0; 2],
                [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8],
            ),
            (
                [u32::MAX; 4],
                [u32::MAX; 2],
                [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd],
            ),
            (
                [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
                [0xa4093822, 0x299f31d0],
                [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1],
            ),
        ];
        for (c, k, want) in kat {
            assert_eq!(philox4x32_10(c, k), want, "counter {c:08x?} key {k:08x?}");
        }
    }

    #[test]
    fn uniform_is_open_and_exact_in_f32() {
        for w in [0u32, 1, 511, 512, u32::MAX, 0x8000_0000] {
            let u = uniform_of(w);
            assert!(u > 0.0 && u < 1.0);
            assert_eq!(u as f32 as f64, u);
        }
    }
}
