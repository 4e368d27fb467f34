//! Random-stream numbering, in one place: every use of the GPU generator draws from
//! (seed, stream), and no two uses may share a stream. The top bits name the purpose.

const PURPOSE: u32 = 56;

/// Dropout mask of residual block `layer` at training step `step`.
pub fn dropout(step: u64, layer: usize) -> u64 {
    (1 << PURPOSE) | (step << 16) | layer as u64
}
/// Timesteps of training step `step`.
pub fn timesteps(step: u64) -> u64 {
    (2 << PURPOSE) | step
}
/// Noise eps of training step `step`.
pub fn noise(step: u64) -> u64 {
    (3 << PURPOSE) | step
}
/// Sampling: initial noise of batch `batch` (`t` = None) or the step noise at timestep `t`.
pub fn sampling(batch: u64, t: Option<usize>) -> u64 {
    (4 << PURPOSE) | (batch << 20) | t.map_or(0, |t| t as u64 + 1)
}
/// The variational bound (`ddpm eval`): the noise of the x_t drawn for term `t` of batch `batch`.
pub fn bound(batch: u64, t: usize) -> u64 {
    (5 << PURPOSE) | (batch << 20) | t as u64
}
