//! The loss curve as a PNG: raw loss (light) and its moving average (dark), log-scale y axis.

use std::path::Path;

use anyhow::Result;

use super::font::{draw_text, line, text_width};

const W: i64 = 720;
const H: i64 = 420;
const LEFT: i64 = 70;
const RIGHT: i64 = 20;
const TOP: i64 = 30;
const BOTTOM: i64 = 50;

fn label(v: f64) -> String {
    if v >= 0.01 {
        format!("{v:.3}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    } else {
        format!("{v:.0e}")
    }
}

/// Plots `(step, loss)` points. Non-positive or non-finite losses are skipped.
pub fn loss_plot(points: &[(u64, f64)]) -> image::RgbImage {
    let mut img = image::RgbImage::from_pixel(W as u32, H as u32, image::Rgb([255, 255, 255]));
    let pts: Vec<(u64, f64)> = points
        .iter()
        .copied()
        .filter(|(_, l)| l.is_finite() && *l > 0.0)
        .collect();
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    line(&mut img, (LEFT, TOP), (LEFT, TOP + ph), [0, 0, 0]);
    line(&mut img, (LEFT, TOP + ph), (LEFT + pw, TOP + ph), [0, 0, 0]);
    draw_text(&mut img, LEFT, 8, "loss (log)", 2, [0, 0, 0]);
    draw_text(
        &mut img,
        LEFT + pw - text_width("step", 2),
        H - 16,
        "step",
        2,
        [0, 0, 0],
    );
    if pts.is_empty() {
        return img;
    }
    let (s0, s1) = (
        pts[0].0 as f64,
        pts.last().unwrap().0.max(pts[0].0 + 1) as f64,
    );
    let lmin = pts
        .iter()
        .map(|p| p.1)
        .fold(f64::INFINITY, f64::min)
        .log10()
        .floor();
    let lmax = pts
        .iter()
        .map(|p| p.1)
        .fold(0.0, f64::max)
        .log10()
        .ceil()
        .max(lmin + 1.0);
    let to_xy = |s: f64, l: f64| {
        let x = LEFT + ((s - s0) / (s1 - s0) * pw as f64) as i64;
        let y = TOP + ph - ((l.log10() - lmin) / (lmax - lmin) * ph as f64) as i64;
        (x, y)
    };
    // Decade grid lines and labels.
    let mut d = lmin;
    while d <= lmax + 1e-9 {
        let (_, y) = to_xy(s0, 10f64.powf(d));
        line(&mut img, (LEFT + 1, y), (LEFT + pw, y), [225, 225, 225]);
        let text = label(10f64.powf(d));
        draw_text(
            &mut img,
            LEFT - 6 - text_width(&text, 2),
            y - 5,
            &text,
            2,
            [0, 0, 0],
        );
        d += 1.0;
    }
    for k in 0..=4 {
        let s = s0 + (s1 - s0) * k as f64 / 4.0;
        let (x, _) = to_xy(s, 10f64.powf(lmin));
        line(&mut img, (x, TOP + ph), (x, TOP + ph + 4), [0, 0, 0]);
        let text = format!("{}", s.round() as u64);
        draw_text(
            &mut img,
            x - text_width(&text, 2) / 2,
            TOP + ph + 8,
            &text,
            2,
            [0, 0, 0],
        );
    }
    let mut prev = None;
    for &(s, l) in &pts {
        let p = to_xy(s as f64, l);
        if let Some(q) = prev {
            line(&mut img, q, p, [160, 190, 235]);
        }
        prev = Some(p);
    }
    // Moving average over ~1/50 of the run (at least 1 point).
    let window = (pts.len() / 50).max(1);
    let mut prev = None;
    let mut sum = 0.0;
    for (i, &(s, l)) in pts.iter().enumerate() {
        sum += l;
        if i >= window {
            sum -= pts[i - window].1;
        }
        let avg = sum / (i + 1).min(window) as f64;
        let p = to_xy(s as f64, avg);
        if let Some(q) = prev {
            line(&mut img, q, p, [20, 60, 160]);
        }
        prev = Some(p);
    }
    img
}

pub fn save_loss_plot(points: &[(u64, f64)], path: &Path) -> Result<()> {
    super::grid::save_png(&loss_plot(points), path)
}
