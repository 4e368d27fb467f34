//! The GPU runtime: one [`Gpu`] context (adapter, device, queue), a pipeline cache, a buffer
//! pool, and a recorder that batches every dispatch of a step into one command encoder.
//!
//! Everything above this layer (tensors, ops, layers) talks to the GPU through
//! [`Gpu::launch`] (record one compute dispatch), [`Gpu::flush`] (submit what was recorded)
//! and [`crate::Tensor::to_vec`] (read back, the only call that waits for the GPU).

mod capabilities;
mod context;
mod pipelines;
mod pool;
pub mod profile;
mod recorder;
pub mod tuning;
pub mod wgsl;

pub use capabilities::{Capabilities, OPTIONAL_FEATURES};
pub use context::{list_adapters, AdapterSummary, DeviceClass, Gpu, GpuOptions, MemoryStats};
pub use pipelines::Shader;
pub use tuning::TuneMode;

/// Workgroups needed to cover `n` items with `per_group` items each, laid out as a 2-D grid so
/// that no dimension exceeds the 65,535 limit. Kernels launched with it recover the linear
/// workgroup index as `wid.x + wid.y * nwg.x` (see `shaders/README.md`).
pub fn grid_1d(n: usize, per_group: usize) -> [u32; 3] {
    let groups = n.div_ceil(per_group).max(1);
    const MAX: usize = 65_535;
    if groups <= MAX {
        [groups as u32, 1, 1]
    } else {
        let y = groups.div_ceil(MAX);
        let x = groups.div_ceil(y);
        [x as u32, y as u32, 1]
    }
}

/// Declares a [`Shader`] for the kernel module `shaders/<name>.wgsl` (e.g. `"conv2d/direct_cpu"`),
/// embedded in the binary at compile time; its `#include`s are resolved by [`wgsl::compose`].
#[macro_export]
macro_rules! shader {
    ($name:literal) => {
        $crate::gpu::Shader {
            name: $name,
            source: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/shaders/",
                $name,
                ".wgsl"
            )),
        }
    };
}

#[cfg(test)]
mod tests {
    use super::grid_1d;

    #[test]
    fn grid_covers_and_respects_limit() {
        for n in [
            1usize,
            255,
            256,
            257,
            65_535 * 256,
            65_536 * 256 + 3,
            400_000_000,
        ] {
            let [x, y, z] = grid_1d(n, 256);
            assert!(x <= 65_535 && y <= 65_535 && z == 1);
            assert!((x as usize) * (y as usize) * 256 >= n);
        }
    }
}
