//! A line through (x, y) points as a PNG, linear or log-scale y: the bound's terms against t and
//! the rate-distortion curve of `ddpm eval`.

use std::path::Path;

use anyhow::Result;

use super::font::{draw_text, line, put, text_width};

const W: i64 = 720;
const H: i64 = 420;
const LEFT: i64 = 80;
const RIGHT: i64 = 24;
const TOP: i64 = 30;
const BOTTOM: i64 = 50;

/// About 3 significant digits, without trailing zeros; exponent form for small or huge values.
fn label(v: f64) -> String {
    if v != 0.0 && (v.abs() < 0.01 || v.abs() >= 1e5) {
        return format!("{v:.0e}");
    }
    let decimals = match v.abs() {
        a if a >= 100.0 => 0,
        a if a >= 10.0 => 1,
        a if a >= 1.0 => 2,
        _ => 3,
    };
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Plots the points in order as one line. With `log_y`, non-positive y values are skipped and
/// the axis spans whole decades. Non-finite points are skipped.
pub fn xy_plot(
    points: &[(f64, f64)],
    x_label: &str,
    y_label: &str,
    log_y: bool,
) -> image::RgbImage {
    let mut img = image::RgbImage::from_pixel(W as u32, H as u32, image::Rgb([255, 255, 255]));
    let pts: Vec<(f64, f64)> = points
        .iter()
        .copied()
        .filter(|(x, y)| x.is_finite() && y.is_finite() && (!log_y || *y > 0.0))
        .collect();
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    line(&mut img, (LEFT, TOP), (LEFT, TOP + ph), [0, 0, 0]);
    line(&mut img, (LEFT, TOP + ph), (LEFT + pw, TOP + ph), [0, 0, 0]);
    draw_text(&mut img, LEFT, 8, y_label, 2, [0, 0, 0]);
    draw_text(
        &mut img,
        LEFT + pw - text_width(x_label, 2),
        H - 16,
        x_label,
        2,
        [0, 0, 0],
    );
    if pts.is_empty() {
        return img;
    }
    let fy = |y: f64| if log_y { y.log10() } else { y };
    let (mut x0, mut x1) = pts
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
            (a.min(p.0), b.max(p.0))
        });
    let (mut y0, mut y1) = pts
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
            (a.min(fy(p.1)), b.max(fy(p.1)))
        });
    if log_y {
        y0 = y0.floor();
        y1 = y1.ceil().max(y0 + 1.0);
    } else {
        y0 = y0.min(0.0);
        if y1 <= y0 {
            y1 = y0 + 1.0;
        }
    }
    if x1 <= x0 {
        x0 -= 0.5;
        x1 += 0.5;
    }
    let to_xy = |x: f64, y: f64| {
        (
            LEFT + ((x - x0) / (x1 - x0) * pw as f64) as i64,
            TOP + ph - ((fy(y) - y0) / (y1 - y0) * ph as f64) as i64,
        )
    };
    // Grid: decades on a log axis, quarters on a linear one.
    let ticks: Vec<f64> = if log_y {
        (y0 as i64..=y1 as i64)
            .map(|d| 10f64.powi(d as i32))
            .collect()
    } else {
        (0..=4).map(|k| y0 + (y1 - y0) * k as f64 / 4.0).collect()
    };
    for v in ticks {
        let (_, y) = to_xy(x0, v);
        line(&mut img, (LEFT + 1, y), (LEFT + pw, y), [225, 225, 225]);
        let text = label(v);
        draw_text(
            &mut img,
            LEFT - 6 - text_width(&text, 2),
            y - 5,
            &text,
            2,
            [0, 0, 0],
        );
    }
    for k in 0..=4 {
        let v = x0 + (x1 - x0) * k as f64 / 4.0;
        let x = LEFT + (pw as f64 * k as f64 / 4.0) as i64;
        line(&mut img, (x, TOP + ph), (x, TOP + ph + 4), [0, 0, 0]);
        let text = label(v);
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
    for &(x, y) in &pts {
        let p = to_xy(x, y);
        if let Some(q) = prev {
            line(&mut img, q, p, [20, 60, 160]);
        }
        put(&mut img, p.0, p.1, [20, 60, 160]);
        prev = Some(p);
    }
    img
}

pub fn save_xy_plot(
    points: &[(f64, f64)],
    x_label: &str,
    y_label: &str,
    log_y: bool,
    path: &Path,
) -> Result<()> {
    super::grid::save_png(&xy_plot(points, x_label, y_label, log_y), path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_short() {
        assert_eq!(label(249.75), "250");
        assert_eq!(label(46.473), "46.5");
        assert_eq!(label(2.094), "2.09");
        assert_eq!(label(0.5), "0.5");
        assert_eq!(label(10.0), "10");
        assert_eq!(label(0.0), "0");
        assert_eq!(label(1e-3), "1e-3");
    }

    #[test]
    fn degenerate_inputs_still_draw_axes() {
        // No points, one point, a constant line, non-finite and (log) non-positive values.
        for (pts, log_y) in [
            (vec![], false),
            (vec![(1.0, 2.0)], true),
            (vec![(0.0, 3.0), (1.0, 3.0)], false),
            (vec![(0.0, f64::NAN), (1.0, 0.0), (2.0, -1.0)], true),
        ] {
            let img = xy_plot(&pts, "x", "y", log_y);
            assert_eq!((img.width(), img.height()), (W as u32, H as u32));
        }
    }
}
