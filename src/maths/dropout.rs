//! How a dropout probability becomes the kernel's integer threshold and scale (shared by
//! `ops::rng::dropout` and `reference::rng`).

/// The word threshold below which an element is dropped: round(p 2^32), clamped to u32.
pub fn dropout_threshold(p: f32) -> u32 {
    assert!(
        (0.0..1.0).contains(&p),
        "dropout probability must be in [0, 1), got {p}"
    );
    (p as f64 * 4_294_967_296.0).round().min(u32::MAX as f64) as u32
}

/// The scale of kept elements, as the kernel uses it (1 / (1 - p) rounded to f32).
pub fn dropout_scale(p: f32) -> f32 {
    (1.0 / (1.0 - p as f64)) as f32
}
