//! Pictures people look at: sample grids and the loss curve, as PNG.

pub mod curve;
pub mod font;
pub mod grid;
pub mod plot;
