//! Every tolerance of the kernel checks, with why it is what it is.
//!
//! The metric (see the module doc of `selftest`) is `max |gpu - ref| / max |ref|` against the
//! float64 reference; f32 rounds to 2^-24 ~ 6e-8 relative per operation. A tolerance sits well
//! above the rounding error its computation can accumulate (with a margin for adapters that
//! contract multiply-adds differently) and far below what a real mistake gives: a wrong index, a
//! skipped block, a wrong coefficient or branch move the result by 1e-2 .. 1.

/// Copies, sums of two terms, products by a scalar, the 4-term sums of the upsample backward,
/// the sampler's forward noising (one product pair and a sum), Adam's parameters and moments
/// (a short multiply-add chain per element): each one or a few f32 roundings of exact f32
/// inputs, <= 1.5 ulp of the largest value.
pub const FEW_ROUNDINGS: f64 = 1e-6;

/// SiLU and its backward: the adapter's f32 `exp` (a few ulp) and a division.
pub const TRANSCENDENTAL: f64 = 1e-5;

/// Matrix products: with N(0, 1) inputs an f32 dot product of K terms has a rounding error of
/// about sqrt(K) * 6e-8 * rms(term) (a few 1e-7 for the checked K <= 136), while max |ref| is
/// about 3 sqrt(K) * rms(term); even the worst-case bound K * 6e-8 of the sum of |terms| stays
/// below 1e-5.
pub const MATMUL: f64 = 1e-5;

/// Convolutions, forward and backward: each output sums K products of N(0, 1) values (K =
/// Cin*kh*kw <= 333 forward, Cout*kh*kw <= 297 for the input gradient, N*Hout*Wout <= 640 for
/// the weight and bias gradients, accumulated onto a pre-filled value); f32 error ~ sqrt(K) *
/// 6e-8 relative, ~2e-6 at most. The same bound covers the large single-shape checks.
pub const CONV: f64 = 2e-5;

/// Group norm, forward and backward: f32 sums over K <= 444 terms (~ sqrt(K) * 6e-8 ~ 1.3e-6),
/// the mean rounded to f32 (6e-6 of the mean at the checked offset of 100, <= 1e-5 of max |y|),
/// `exp` in the fused SiLU.
pub const GROUP_NORM: f64 = 2e-5;

/// Attention output o: f32 products over the d channels of a head and the L keys of a
/// block-wise online softmax, rounding ~ sqrt(L + d) * 6e-8 ~ 1e-6 (lavapipe measures <= 1.0e-6
/// for every variant); a 10x margin.
pub const ATTENTION_OUT: f64 = 1e-5;
/// The attention log-sum-exp (lavapipe measures <= 2.0e-7).
pub const ATTENTION_LSE: f64 = 2e-6;
/// Attention gradients dq, dk, dv: ds = p (dp - D) subtracts D_i = dout_i . o_i, computed from
/// the f32 forward output; that cancellation makes them the least accurate (lavapipe measures
/// <= 1.3e-6).
pub const ATTENTION_GRAD: f64 = 2e-5;

/// One fused DDPM or DDIM step: each coefficient product rounds within 0.5 ulp, a few ulp of the
/// largest term in all. With clipping, x0 is recomputed from (x_t, eps) at t = 999 (terms
/// ~ 600, cancelling, error ~1e-4) but multiplied by coef_x0 ~ 1e-4 (DDPM) or sqrt_abar_prev
/// ~ 8e-3 (DDIM), below 1e-6 of the output. The noise adds sigma (<= 0.15) times the normals'
/// own error ([`NORMALS`]).
pub const SAMPLER_STEP: f64 = 2e-6;

/// Normal draws: r = sqrt(-2 ln u) with our own few-ulp log, cos/sin of an argument in
/// (-pi, pi): a few f32 roundings of values up to 5.77, ~1e-7 relative to max |z|; the builtin
/// cos/sin add a small absolute error.
pub const NORMALS: f64 = 2e-6;

/// Statistics of 1M N(0, 1) draws: the standard error of the mean is 1e-3 and of the variance
/// sqrt(2 / N) = 1.4e-3, so these bounds are 5 and 7 standard errors.
pub const NORMAL_MEAN: f64 = 5e-3;
pub const NORMAL_VARIANCE: f64 = 1e-2;

/// The variational bound's terms: per-image sums of <= 784 f32 terms (serial runs of <= 13,
/// then a tree) and f32 constants, a few 1e-7 relative; the decoder's log of a probability known
/// to ~1e-7 relative adds ~1e-7 of each term.
pub const BOUND: f64 = 1e-5;

/// An Adam update (p_new - p_old) against the reference's: the f32 rounding of p_new
/// (<= 0.5 ulp of max |p| ~ 4, 2.4e-7 absolute) dominates, against updates ~ lr ~ 5e-3..2e-2:
/// <= 5e-5 relative. A wrong bias correction changes the update by percents.
pub const ADAM_UPDATE: f64 = 2e-4;

/// The timestep embedding against PyTorch's float32 arithmetic (values <= 1, so relative is
/// absolute): Cody-Waite reduction (~1e-8 for |x| < 1000) and Cephes polynomials (~1 ulp), about
/// 1e-7, plus a frequency that may differ from PyTorch's by one f32 ulp, which moves
/// t * freq by up to 999 * 2^-25 = 3e-5 (1.5e-5 typically).
pub const EMBEDDING: f64 = 2e-5;
/// The embedding against exact maths: the argument t * freq is itself only known to half an
/// f32 ulp (2^-15 = 3e-5 near 1000), so the values differ by up to ~6e-5.
pub const EMBEDDING_EXACT: f64 = 1e-4;

/// Group-norm gradients: two more f32 sums over K and a difference of terms of similar size
/// (dxhat - mean - xhat * mean2) that cancels ~10x; the parameter gradients sum N*S <= 162 terms
/// onto a random pre-fill.
pub const GROUP_NORM_BACKWARD: f64 = 1e-4;

/// The change of an EMA step (ema_new - ema_old) at decay 0.9 (~0.1 |p - ema|, up to ~0.5): the
/// rounding of ema_new (2.4e-7 absolute) is < 1e-6 of it.
pub const EMA_CHANGE: f64 = 5e-6;

/// Reductions of normal samples + 0.3 (so sums do not cancel to near zero): signed sums and
/// means, whose terms exceed the result by ~sqrt(K) / 0.3, and small sums (under ~1,000 terms).
/// A tree of short f32 sums has a relative error of a few 1e-8 * sqrt(levels) typically.
pub const SIGNED_SUM: f64 = 1e-5;
/// Sums of squares and the MSE loss (all terms positive, up to 1M of them).
pub const POSITIVE_SUM: f64 = 1e-6;

/// Statistics of 1M uniform draws: the mean 1/2 has a standard error of 2.9e-4 and the variance
/// 1/12 one of 7.5e-5, so these bounds are ~7 standard errors.
pub const UNIFORM_MEAN: f64 = 2e-3;
pub const UNIFORM_VARIANCE: f64 = 5e-4;

/// Dropout and its backward: one f32 multiply per kept element, <= 0.5 ulp of max |y|.
pub const ONE_PRODUCT: f64 = 1e-7;
