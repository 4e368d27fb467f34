//! Elementwise kernels against the float64 reference (every variant), and finite-difference
//! checks of the reference backward passes against the reference forwards.

mod common;

use ddpm::reference::elementwise as r;
use ddpm::reference::random::Rng;
use ddpm::reference::reduce as rr;

#[test]
fn kernels_match_reference() {
    common::assert_all_pass(ddpm::selftest::elementwise::checks(&common::gpu()));
}

/// Central differences of a scalar function, step h.
fn fd_grad(f: impl Fn(&[f64]) -> f64, x: &[f64], h: f64) -> Vec<f64> {
    let mut x = x.to_vec();
    (0..x.len())
        .map(|i| {
            let v = x[i];
            x[i] = v + h;
            let up = f(&x);
            x[i] = v - h;
            let down = f(&x);
            x[i] = v;
            (up - down) / (2.0 * h)
        })
        .collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// max |a - b| / max |b|.
fn rel(a: &[f64], b: &[f64]) -> f64 {
    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    a.iter()
        .zip(b)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()))
        / scale
}

const H: f64 = 1e-6;
// Central differences with h = 1e-6 on O(1) inputs: truncation error ~h^2 |f'''| ~ 1e-12,
// cancellation ~1e-16 |L| / h ~ 1e-9: 1e-6 relative is far above both.
const TOL: f64 = 1e-6;

#[test]
fn silu_backward_is_the_gradient_of_silu() {
    let mut rng = Rng::new(1);
    let x: Vec<f64> = (0..50).map(|_| 3.0 * rng.normal()).collect();
    let w = rng.normal_vec(50);
    let fd = fd_grad(|x| dot(&w, &r::silu(x)), &x, H);
    let an = r::silu_backward(&x, &w);
    assert!(
        rel(&an, &fd) < TOL,
        "silu_backward vs finite differences: {}",
        rel(&an, &fd)
    );
}

#[test]
fn split_is_the_gradient_of_concat() {
    let mut rng = Rng::new(2);
    let (n, ca, cb, s) = (2, 3, 2, 5);
    let a = rng.normal_vec(n * ca * s);
    let b = rng.normal_vec(n * cb * s);
    let w = rng.normal_vec(n * (ca + cb) * s);
    let (ga, gb) = r::split_channels(&w, n, ca, cb, s);
    let fa = fd_grad(|a| dot(&w, &r::concat_channels(a, &b, n, ca, cb, s)), &a, H);
    let fb = fd_grad(|b| dot(&w, &r::concat_channels(&a, b, n, ca, cb, s)), &b, H);
    assert!(
        rel(&ga, &fa) < TOL && rel(&gb, &fb) < TOL,
        "split vs concat finite differences"
    );
}

#[test]
fn upsample_backward_is_the_gradient_of_upsample() {
    let mut rng = Rng::new(3);
    let (m, h, w) = (3, 3, 5);
    let x = rng.normal_vec(m * h * w);
    let wt = rng.normal_vec(m * 4 * h * w);
    let fd = fd_grad(|x| dot(&wt, &r::upsample_nearest2x(x, m, h, w)), &x, H);
    let an = r::upsample_nearest2x_backward(&wt, m, h, w);
    assert!(
        rel(&an, &fd) < TOL,
        "upsample backward vs finite differences: {}",
        rel(&an, &fd)
    );
}

#[test]
fn add_channel_backward_is_a_channel_or_spatial_sum() {
    let mut rng = Rng::new(4);
    let (n, c, s) = (3, 4, 6);
    let x = rng.normal_vec(n * c * s);
    let w = rng.normal_vec(n * c * s);
    // v per channel: dv = sum_to_channels(dy); dx = dy.
    let v = rng.normal_vec(c);
    let fd = fd_grad(|v| dot(&w, &r::add_channel(&x, n, c, s, v, false)), &v, H);
    let an = rr::sum_to_channels(&w, n, c, s);
    assert!(rel(&an, &fd) < TOL, "add_channel [C] dv: {}", rel(&an, &fd));
    let fdx = fd_grad(|x| dot(&w, &r::add_channel(x, n, c, s, &v, false)), &x, H);
    assert!(rel(&w, &fdx) < TOL, "add_channel dx");
    // v per sample and channel: dv = sum_spatial(dy).
    let v = rng.normal_vec(n * c);
    let fd = fd_grad(|v| dot(&w, &r::add_channel(&x, n, c, s, v, true)), &v, H);
    let an = rr::sum_spatial(&w, n, c, s);
    assert!(
        rel(&an, &fd) < TOL,
        "add_channel [N, C] dv: {}",
        rel(&an, &fd)
    );
}

#[test]
fn embedding_reference_matches_known_values() {
    // t = 1, dim 4, shift 0: freqs 1 and 1e-2 -> [sin 1, sin 0.01, cos 1, cos 0.01].
    let e = r::timestep_embedding(&[1], 4, false, 0.0, r::EmbeddingArgument::Exact);
    let want = [1f64.sin(), 0.01f64.sin(), 1f64.cos(), 0.01f64.cos()];
    assert!(rel(&e, &want) < 1e-15, "{e:?}");
    let flipped = r::timestep_embedding(&[1], 5, true, 0.0, r::EmbeddingArgument::Exact);
    assert_eq!(flipped.len(), 5);
    assert!(rel(&flipped[..4], &[want[2], want[3], want[0], want[1]]) < 1e-15);
    assert_eq!(flipped[4], 0.0);
}

#[test]
#[should_panic(expected = "add_channel: v must be")]
fn add_channel_rejects_a_wrong_vector() {
    let gpu = common::gpu();
    let x = ddpm::Tensor::zeros(&gpu, &[2, 3, 4, 4]);
    let v = ddpm::Tensor::zeros(&gpu, &[4]);
    ddpm::ops::elementwise::add_channel(&x, &v);
}
