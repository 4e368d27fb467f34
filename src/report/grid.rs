//! Sample grids: a batch of images [N, C, H, W] in [-1, 1] tiled into one PNG.

use std::path::Path;

use anyhow::Result;

/// Converts a model-space value in [-1, 1] to a pixel (diffusers: clamp(x/2 + 0.5, 0, 1)).
pub fn to_pixel(v: f32) -> u8 {
    ((v * 0.5 + 0.5).clamp(0.0, 1.0) * 255.0).round() as u8
}

/// Tiles `n` images into a near-square RGB grid, 2-pixel gaps, each image scaled up by an
/// integer factor so 32x32 samples are legible.
pub fn grid_image(images: &[f32], n: usize, channels: usize, size: usize) -> image::RgbImage {
    let cols = (n as f64).sqrt().ceil() as usize;
    let rows = n.div_ceil(cols);
    let zoom = (64 / size).max(1);
    let cell = size * zoom + 2;
    let mut img = image::RgbImage::from_pixel(
        (cols * cell + 2) as u32,
        (rows * cell + 2) as u32,
        image::Rgb([255, 255, 255]),
    );
    let plane = size * size;
    for k in 0..n {
        let (gx, gy) = (2 + (k % cols) * cell, 2 + (k / cols) * cell);
        for y in 0..size * zoom {
            for x in 0..size * zoom {
                let p = (y / zoom) * size + x / zoom;
                let base = k * channels * plane;
                let rgb = if channels >= 3 {
                    [0, 1, 2].map(|c| to_pixel(images[base + c * plane + p]))
                } else {
                    [to_pixel(images[base + p]); 3]
                };
                img.put_pixel((gx + x) as u32, (gy + y) as u32, image::Rgb(rgb));
            }
        }
    }
    img
}

pub fn save_png(img: &image::RgbImage, path: &Path) -> Result<()> {
    let mut bytes = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    )?;
    crate::checkpoint::write_atomic(path, &bytes)
}

/// Writes one PNG per image into `dir` (`sample_0000.png`, ...), at the model's resolution.
pub fn save_each(images: &[f32], n: usize, channels: usize, size: usize, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let plane = size * size;
    for k in 0..n {
        let base = k * channels * plane;
        let img = image::RgbImage::from_fn(size as u32, size as u32, |x, y| {
            let p = y as usize * size + x as usize;
            image::Rgb(if channels >= 3 {
                [0, 1, 2].map(|c| to_pixel(images[base + c * plane + p]))
            } else {
                [to_pixel(images[base + p]); 3]
            })
        });
        save_png(&img, &dir.join(format!("sample_{k:04}.png")))?;
    }
    Ok(())
}
