//! Shared test set-up: one device per test binary, with poison mode on.
#![allow(dead_code)]

use std::sync::OnceLock;

use ddpm::selftest::Check;
use ddpm::Gpu;

pub fn gpu() -> Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| {
        let gpu = Gpu::new(&Default::default()).expect("a wgpu adapter (lavapipe on CI)");
        gpu.set_poison(true);
        gpu
    })
    .clone()
}

/// Fails the test with the table of failing checks; passes only if there was at least one check.
pub fn assert_all_pass(checks: Vec<Check>) {
    assert!(!checks.is_empty(), "no checks were run");
    let failed: Vec<String> = checks
        .iter()
        .filter(|c| !c.passed())
        .map(|c| {
            format!(
                "{} {}: err {:.3e} > tol {:.1e}",
                c.op, c.shape, c.max_rel_err, c.tolerance
            )
        })
        .collect();
    assert!(failed.is_empty(), "failing checks:\n{}", failed.join("\n"));
}
