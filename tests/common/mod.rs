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

/// For a check that cannot run on this adapter (e.g. the 8-wide subgroup kernels on a GPU):
/// returns false after saying so on stderr, in a line the test log shows with `--nocapture`.
/// Where `DDPM_REQUIRE_CPU_VARIANTS=1` (set by `.ci/run`, whose lavapipe adapter runs every CPU
/// variant), it fails the test instead, so CI can never pass by skipping.
pub fn runs_here(available: bool, what: &str) -> bool {
    if available {
        return true;
    }
    let required = std::env::var("DDPM_REQUIRE_CPU_VARIANTS").is_ok_and(|v| v == "1");
    assert!(
        !required,
        "DDPM_REQUIRE_CPU_VARIANTS=1 but this adapter cannot run {what}"
    );
    eprintln!("SKIPPED on this adapter: {what}");
    false
}
