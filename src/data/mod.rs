//! Training data: the bundled MNIST digits or a folder of images, held in memory as 8-bit
//! pixels at the model's resolution, and batches prepared on a CPU thread.

pub mod folder;
pub mod loader;
pub mod mnist;

use crate::maths::random::Rng;

/// Images at the model's resolution and channel count, 8-bit, NCHW.
pub struct Dataset {
    pub pixels: Vec<u8>,
    pub count: usize,
    pub channels: usize,
    pub size: usize,
    /// Where the images came from, for messages.
    pub source: String,
}

impl Dataset {
    pub fn image_len(&self) -> usize {
        self.channels * self.size * self.size
    }

    /// The order of epoch `epoch`: a shuffle that is a pure function of (seed, epoch).
    fn epoch_order(&self, seed: u64, epoch: u64) -> Vec<u32> {
        let mut order: Vec<u32> = (0..self.count as u32).collect();
        Rng::new(seed ^ epoch.wrapping_mul(0xA24B_AED4_963E_E407)).shuffle(&mut order);
        order
    }

    /// Batch number `step` (0-based) as floats in [-1, 1], [batch, C, H, W]. A pure function of
    /// (seed, step), so a resumed run sees exactly the batches an uninterrupted one would.
    pub fn batch(&self, step: u64, batch_size: usize, seed: u64, flip: bool) -> Vec<f32> {
        let len = self.image_len();
        let mut out = Vec::with_capacity(batch_size * len);
        let mut flips =
            Rng::new(seed.wrapping_add(step).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xF11D);
        let mut current_epoch = u64::MAX;
        let mut order = Vec::new();
        for i in 0..batch_size as u64 {
            let global = step * batch_size as u64 + i;
            let (epoch, pos) = (
                global / self.count as u64,
                (global % self.count as u64) as usize,
            );
            if epoch != current_epoch {
                order = self.epoch_order(seed, epoch);
                current_epoch = epoch;
            }
            let img = &self.pixels[order[pos] as usize * len..][..len];
            let mirror = flip && flips.uniform() < 0.5;
            for c in 0..self.channels {
                for y in 0..self.size {
                    for x in 0..self.size {
                        let sx = if mirror { self.size - 1 - x } else { x };
                        let v = img[(c * self.size + y) * self.size + sx];
                        out.push(v as f32 / 127.5 - 1.0);
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> Dataset {
        let pixels: Vec<u8> = (0..5 * 4).map(|i| (i * 12) as u8).collect();
        Dataset {
            pixels,
            count: 5,
            channels: 1,
            size: 2,
            source: "toy".into(),
        }
    }

    #[test]
    fn batches_are_reproducible_and_cover_each_epoch() {
        let d = toy();
        assert_eq!(d.batch(3, 4, 9, true), d.batch(3, 4, 9, true));
        // Five batches of one image: one epoch, each image exactly once.
        let mut firsts: Vec<i32> = (0..5)
            .map(|s| (d.batch(s, 1, 9, false)[0] * 1000.0) as i32)
            .collect();
        firsts.sort();
        firsts.dedup();
        assert_eq!(firsts.len(), 5);
    }

    #[test]
    fn values_are_scaled_to_unit_range() {
        let b = toy().batch(0, 5, 1, false);
        assert!(b.iter().all(|v| (-1.0..=1.0).contains(v)));
    }
}
