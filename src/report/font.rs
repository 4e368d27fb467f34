//! A 3x5 pixel font for plot labels (digits and the few letters the plots use) and the pixel
//! and line primitives of the plots, so they need no font files or plotting library.

const GLYPHS: &[(char, [u8; 5])] = &[
    ('0', [0b111, 0b101, 0b101, 0b101, 0b111]),
    ('1', [0b010, 0b110, 0b010, 0b010, 0b111]),
    ('2', [0b111, 0b001, 0b111, 0b100, 0b111]),
    ('3', [0b111, 0b001, 0b111, 0b001, 0b111]),
    ('4', [0b101, 0b101, 0b111, 0b001, 0b001]),
    ('5', [0b111, 0b100, 0b111, 0b001, 0b111]),
    ('6', [0b111, 0b100, 0b111, 0b101, 0b111]),
    ('7', [0b111, 0b001, 0b001, 0b001, 0b001]),
    ('8', [0b111, 0b101, 0b111, 0b101, 0b111]),
    ('9', [0b111, 0b101, 0b111, 0b001, 0b111]),
    ('.', [0b000, 0b000, 0b000, 0b000, 0b010]),
    ('-', [0b000, 0b000, 0b111, 0b000, 0b000]),
    ('e', [0b111, 0b101, 0b111, 0b100, 0b111]),
    ('s', [0b011, 0b100, 0b010, 0b001, 0b110]),
    ('t', [0b010, 0b111, 0b010, 0b010, 0b011]),
    ('p', [0b110, 0b101, 0b110, 0b100, 0b100]),
    ('l', [0b100, 0b100, 0b100, 0b100, 0b111]),
    ('o', [0b000, 0b111, 0b101, 0b101, 0b111]),
    ('g', [0b111, 0b101, 0b111, 0b001, 0b111]),
    ('a', [0b111, 0b001, 0b111, 0b101, 0b111]),
    ('v', [0b000, 0b101, 0b101, 0b101, 0b010]),
    ('r', [0b000, 0b111, 0b100, 0b100, 0b100]),
    ('m', [0b000, 0b111, 0b111, 0b101, 0b101]),
    ('(', [0b010, 0b100, 0b100, 0b100, 0b010]),
    (')', [0b010, 0b001, 0b001, 0b001, 0b010]),
    (',', [0b000, 0b000, 0b000, 0b010, 0b100]),
    ('b', [0b100, 0b100, 0b111, 0b101, 0b111]),
    ('c', [0b000, 0b111, 0b100, 0b100, 0b111]),
    ('d', [0b001, 0b001, 0b111, 0b101, 0b111]),
    ('h', [0b100, 0b100, 0b111, 0b101, 0b101]),
    ('i', [0b010, 0b000, 0b010, 0b010, 0b010]),
    ('n', [0b000, 0b110, 0b101, 0b101, 0b101]),
    ('u', [0b000, 0b101, 0b101, 0b101, 0b111]),
    ('/', [0b001, 0b001, 0b010, 0b100, 0b100]),
    ('_', [0b000, 0b000, 0b000, 0b000, 0b111]),
];

/// Draws `text` with its top-left corner at (x, y), each font pixel `scale` x `scale`.
/// Characters without a glyph are left blank.
pub fn draw_text(
    img: &mut image::RgbImage,
    x: i64,
    y: i64,
    text: &str,
    scale: i64,
    color: [u8; 3],
) {
    for (i, ch) in text.chars().enumerate() {
        let Some((_, rows)) = GLYPHS.iter().find(|(c, _)| *c == ch) else {
            continue;
        };
        let ox = x + i as i64 * 4 * scale;
        for (r, bits) in rows.iter().enumerate() {
            for c in 0..3 {
                if bits & (0b100 >> c) != 0 {
                    for dy in 0..scale {
                        for dx in 0..scale {
                            put(img, ox + c * scale + dx, y + r as i64 * scale + dy, color);
                        }
                    }
                }
            }
        }
    }
}

/// Width in pixels of `text` drawn at `scale`.
pub fn text_width(text: &str, scale: i64) -> i64 {
    text.chars().count() as i64 * 4 * scale
}

pub fn put(img: &mut image::RgbImage, x: i64, y: i64, color: [u8; 3]) {
    if x >= 0 && y >= 0 && (x as u32) < img.width() && (y as u32) < img.height() {
        img.put_pixel(x as u32, y as u32, image::Rgb(color));
    }
}

/// A straight line from one pixel to another (clipped to the image).
pub fn line(img: &mut image::RgbImage, (x0, y0): (i64, i64), (x1, y1): (i64, i64), color: [u8; 3]) {
    let steps = (x1 - x0).abs().max((y1 - y0).abs()).max(1);
    for i in 0..=steps {
        put(
            img,
            x0 + (x1 - x0) * i / steps,
            y0 + (y1 - y0) * i / steps,
            color,
        );
    }
}
