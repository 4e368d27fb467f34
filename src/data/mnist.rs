//! The bundled data set: 10,000 real MNIST digits (IDX format, gzip), embedded in the binary.
//! Source and licence: see README ("Data").

use std::io::Read as _;

use anyhow::{Context as _, Result};

use super::Dataset;

const IMAGES_GZ: &[u8] = include_bytes!("../../assets/mnist10k-images-idx3-ubyte.gz");

/// Parses an IDX3 image file (big-endian header: magic 0x803, count, rows, cols; u8 pixels).
pub fn parse_idx_images(bytes: &[u8]) -> Result<(usize, usize, usize, &[u8])> {
    if bytes.len() < 16 {
        crate::fail!(File, "IDX image file too short");
    }
    let word = |i: usize| u32::from_be_bytes(bytes[4 * i..4 * i + 4].try_into().unwrap()) as usize;
    if word(0) != 0x0803 {
        crate::fail!(File, "not an IDX3 image file (magic {:#x})", word(0));
    }
    let (count, rows, cols) = (word(1), word(2), word(3));
    let data = &bytes[16..];
    if data.len() != count * rows * cols {
        crate::fail!(
            File,
            "IDX image file truncated: {} bytes for {count}x{rows}x{cols}",
            data.len()
        );
    }
    Ok((count, rows, cols, data))
}

/// The digits at `size` x `size`: padded with background (0) when `size` >= 28 (32 for the
/// mnist preset: a 2-pixel border), resized when smaller; one channel, or repeated over
/// `channels` for a model that wants colour.
/// The bundled file's first 9,000 digits are the training split; the last 1,000 are held out
/// (never trained on) for evaluation and sample-quality checks.
pub const TRAIN_DIGITS: usize = 9000;

/// The training split, fitted to `size` x `size` with `channels` channels.
pub fn load(size: usize, channels: usize) -> Result<Dataset> {
    load_range(size, channels, 0..TRAIN_DIGITS, "training digits")
}

/// The held-out split (the last 1,000 digits).
pub fn load_held_out(size: usize, channels: usize) -> Result<Dataset> {
    load_range(size, channels, TRAIN_DIGITS..usize::MAX, "held-out digits")
}

fn load_range(
    size: usize,
    channels: usize,
    range: std::ops::Range<usize>,
    what: &str,
) -> Result<Dataset> {
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(IMAGES_GZ)
        .read_to_end(&mut raw)
        .context("decompressing the bundled MNIST")?;
    let (total, rows, cols, data) = parse_idx_images(&raw)?;
    let range = range.start.min(total)..range.end.min(total);
    let data = &data[range.start * rows * cols..range.end * rows * cols];
    let count = range.len();
    let plane = size * size;
    let mut pixels = vec![0u8; count * channels * plane];
    for n in 0..count {
        let digit = &data[n * rows * cols..(n + 1) * rows * cols];
        let fitted = fit(digit, rows, cols, size);
        for c in 0..channels {
            pixels[(n * channels + c) * plane..][..plane].copy_from_slice(&fitted);
        }
    }
    Ok(Dataset {
        pixels,
        count,
        channels,
        size,
        source: format!("bundled MNIST ({count} {what})"),
    })
}

fn fit(digit: &[u8], rows: usize, cols: usize, size: usize) -> Vec<u8> {
    if size >= rows && size >= cols {
        let (top, left) = ((size - rows) / 2, (size - cols) / 2);
        let mut out = vec![0u8; size * size];
        for y in 0..rows {
            out[(top + y) * size + left..][..cols]
                .copy_from_slice(&digit[y * cols..(y + 1) * cols]);
        }
        out
    } else {
        let img = image::GrayImage::from_raw(cols as u32, rows as u32, digit.to_vec())
            .expect("digit size");
        image::imageops::resize(
            &img,
            size as u32,
            size as u32,
            image::imageops::FilterType::Triangle,
        )
        .into_raw()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn bundled_digits_load_and_are_not_blank() {
        let d = super::load(32, 1).unwrap();
        assert_eq!(d.count, super::TRAIN_DIGITS);
        let held_out = super::load_held_out(28, 1).unwrap();
        assert_eq!(held_out.count, 10_000 - super::TRAIN_DIGITS);
        let mean = d.pixels.iter().map(|&p| p as f64).sum::<f64>() / d.pixels.len() as f64;
        // MNIST's mean pixel is ~33/255 at 28x28; padding to 32x32 lowers it to ~26.
        assert!(mean > 15.0 && mean < 40.0, "{mean}");
        // The border added by the padding is background.
        assert!(d.pixels[..32].iter().all(|&p| p == 0));
    }
}
