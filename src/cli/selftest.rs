//! `ddpm selftest`: every kernel (forward and backward) against the float64 reference on the
//! chosen adapter, as a table; non-zero exit on any failure.

use anyhow::{bail, Result};

use super::DeviceArgs;

pub fn run(device: &DeviceArgs) -> Result<()> {
    let gpu = device.open()?;
    println!(
        "adapter: {} ({:?}, {:?})",
        gpu.info().name,
        gpu.info().backend,
        gpu.info().device_type
    );
    let checks = crate::selftest::all_checks(&gpu);
    println!(
        "{:<48} {:<26} {:>12} {:>9}  result",
        "op", "shape", "max rel err", "tol"
    );
    for c in &checks {
        let verdict = if c.passed() { "pass" } else { "FAIL" };
        println!(
            "{:<48} {:<26} {:>12.3e} {:>9.1e}  {verdict}",
            c.op, c.shape, c.max_rel_err, c.tolerance
        );
    }
    let failed = checks.iter().filter(|c| !c.passed()).count();
    if failed > 0 {
        bail!("{failed} of {} checks failed", checks.len());
    }
    println!("all {} checks passed", checks.len());
    Ok(())
}
