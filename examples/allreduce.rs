//! Time of the gradient all-reduce of each preset (`train::distributed::Group::all_reduce_mean`,
//! the host part of a data-parallel step) for BENCHMARKS.md:
//!
//! ```sh
//! cargo build --release --features mpi --example allreduce
//! mpirun --allow-run-as-root -np 2 --bind-to core target/release/examples/allreduce
//! ```

use std::time::Instant;

use ddpm::model::UNetConfig;
use ddpm::train::distributed::Group;
use ddpm::train::layout_of;

fn main() -> anyhow::Result<()> {
    let group = Group::join()?;
    for preset in ["tiny", "mnist-cpu", "mnist-small", "mnist", "cifar10"] {
        let params = layout_of(&UNetConfig::preset(preset)?).total;
        let mut grads = vec![1.0f32; params];
        // The first calls set up the transport's buffers; time the steady state.
        for _ in 0..2 {
            group.all_reduce_mean(&mut grads);
        }
        let reps = 10;
        group.barrier();
        let start = Instant::now();
        for _ in 0..reps {
            group.all_reduce_mean(&mut grads);
        }
        let ms = start.elapsed().as_secs_f64() * 1e3 / reps as f64;
        if group.is_root() {
            let mib = params as f64 * 4.0 / (1 << 20) as f64;
            println!(
                "| {preset} | {params} | {mib:.1} MiB | {ms:.2} ms | {:.2} GB/s |",
                params as f64 * 4.0 / ms / 1e6
            );
        }
    }
    Ok(())
}
