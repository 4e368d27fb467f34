//! A user's folder of PNG/JPEG images, searched recursively: each image converted to the
//! model's channels, resized (shorter side to the model's resolution) and centre-cropped.

use std::path::{Path, PathBuf};

use anyhow::Result;
use image::imageops::FilterType;

use super::Dataset;

fn is_image(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg"))
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if is_image(&path) {
            out.push(path);
        }
    }
    Ok(())
}

/// Loads every image under `dir`. Unreadable images are skipped and counted (one warning).
pub fn load(dir: &Path, size: usize, channels: usize) -> Result<Dataset> {
    if !dir.is_dir() {
        crate::fail!(File, "data folder not found: {}", dir.display());
    }
    let mut files = Vec::new();
    if let Err(e) = collect(dir, &mut files) {
        crate::fail!(File, "cannot list {}: {e}", dir.display());
    }
    files.sort();
    if files.is_empty() {
        crate::fail!(File, "no PNG or JPEG images in {}", dir.display());
    }
    let mut pixels = Vec::new();
    let mut skipped = Vec::new();
    for f in &files {
        match image::open(f) {
            Ok(img) => pixels.extend(to_model_pixels(&img, size, channels)),
            Err(e) => skipped.push(format!("{}: {e}", f.display())),
        }
    }
    let count = files.len() - skipped.len();
    if !skipped.is_empty() {
        eprintln!(
            "warning: skipped {} unreadable image(s) of {} (first: {})",
            skipped.len(),
            files.len(),
            skipped[0]
        );
    }
    if count == 0 {
        crate::fail!(
            File,
            "none of the {} image files in {} could be read",
            files.len(),
            dir.display()
        );
    }
    Ok(Dataset {
        pixels,
        count,
        channels,
        size,
        source: format!("{} ({count} images)", dir.display()),
    })
}

/// Resize so the shorter side is `size`, crop the centre square, and lay out as CHW bytes.
pub fn to_model_pixels(img: &image::DynamicImage, size: usize, channels: usize) -> Vec<u8> {
    let (w, h) = (img.width() as f64, img.height() as f64);
    let scale = size as f64 / w.min(h);
    let (nw, nh) = (
        ((w * scale).round() as u32).max(size as u32),
        ((h * scale).round() as u32).max(size as u32),
    );
    let resized = img.resize_exact(nw, nh, FilterType::Triangle);
    let cropped = resized.crop_imm(
        (nw - size as u32) / 2,
        (nh - size as u32) / 2,
        size as u32,
        size as u32,
    );
    let mut out = vec![0u8; channels * size * size];
    if channels == 1 {
        let g = cropped.to_luma8();
        out.copy_from_slice(g.as_raw());
    } else {
        let rgb = cropped.to_rgb8();
        for (i, p) in rgb.pixels().enumerate() {
            for c in 0..channels {
                out[c * size * size + i] = p.0[c.min(2)];
            }
        }
    }
    out
}
