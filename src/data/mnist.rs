//! The bundled data set: 10,000 real MNIST digits (IDX format, gzip), embedded in the binary.
//! Source and licence: see README ("Data").

use std::io::Read as _;

use anyhow::{bail, Context as _, Result};

use super::Dataset;

const IMAGES_GZ: &[u8] = include_bytes!("../../assets/mnist10k-images-idx3-ubyte.gz");

/// Parses an IDX3 image file (big-endian header: magic 0x803, count, rows, cols; u8 pixels).
pub fn parse_idx_images(bytes: &[u8]) -> Result<(usize, usize, usize, &[u8])> {
    if bytes.len() < 16 {
        bail!("IDX image file too short");
    }
    let word = |i: usize| u32::from_be_bytes(bytes[4 * i..4 * i + 4].try_into().unwrap()) as usize;
    if word(0) != 0x0803 {
        bail!("not an IDX3 image file (magic {:#x})", word(0));
    }
    let (count, rows, cols) = (word(1), word(2), word(3));
    let data = &bytes[16..];
    if data.len() != count * rows * cols {
        bail!("IDX image file truncated: {} bytes for {count}x{rows}x{cols}", data.len());
    }
    Ok((count, rows, cols, data))
}

/// The digits, padded with background (0) to `size` x `size` (32 for the mnist preset), one
/// channel, or repeated over `channels` for a model that wants colour.
pub fn load(size: usize, channels: usize) -> Result<Dataset> {
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(IMAGES_GZ).read_to_end(&mut raw).context("decompressing the bundled MNIST")?;
    let (count, rows, cols, data) = parse_idx_images(&raw)?;
    if size < rows || size < cols {
        bail!("the bundled digits are {rows}x{cols}; the model's sample_size {size} is smaller");
    }
    let (top, left) = ((size - rows) / 2, (size - cols) / 2);
    let mut pixels = vec![0u8; count * channels * size * size];
    for n in 0..count {
        for c in 0..channels {
            for y in 0..rows {
                for x in 0..cols {
                    pixels[((n * channels + c) * size + top + y) * size + left + x] = data[(n * rows + y) * cols + x];
                }
            }
        }
    }
    Ok(Dataset { pixels, count, channels, size, source: format!("bundled MNIST ({count} digits)") })
}

#[cfg(test)]
mod tests {
    #[test]
    fn bundled_digits_load_and_are_not_blank() {
        let d = super::load(32, 1).unwrap();
        assert_eq!(d.count, 10_000);
        let mean = d.pixels.iter().map(|&p| p as f64).sum::<f64>() / d.pixels.len() as f64;
        // MNIST's mean pixel is ~33/255 at 28x28; padding to 32x32 lowers it to ~26.
        assert!(mean > 15.0 && mean < 40.0, "{mean}");
        // The border added by the padding is background.
        assert!(d.pixels[..32].iter().all(|&p| p == 0));
    }
}
