//! What the opened device can do, decided once when it opens: the optional features requested
//! and granted, the subgroup sizes, the limits the kernels depend on, and the device class.
//! Every kernel family reads its variant's prerequisites from here (`ops::*::variant`), and
//! `ddpm info` prints it.

use super::DeviceClass;

/// Optional features the engine uses when the adapter offers them: subgroup kernel variants
/// (matmul, attention, convolution on CPU adapters) and timestamps for `ddpm profile`.
pub const OPTIONAL_FEATURES: wgpu::Features = wgpu::Features::TIMESTAMP_QUERY
    .union(wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS)
    .union(wgpu::Features::SUBGROUP);

/// The capability table of one device.
#[derive(Clone, Debug)]
pub struct Capabilities {
    /// Which kernel families' variants apply (CPU adapters: barrier-free kernels).
    pub class: DeviceClass,
    /// The optional features the engine asked for.
    pub requested: wgpu::Features,
    /// The ones the device has enabled (requested and offered by the adapter).
    pub granted: wgpu::Features,
    /// Smallest and largest subgroup size the adapter reports.
    pub subgroup_sizes: (u32, u32),
    /// Largest storage-buffer binding in bytes (bounds the largest tensor a kernel can bind).
    pub max_storage_binding: u64,
    /// Workgroups per dispatch dimension (65,535 on most adapters).
    pub max_workgroups_per_dimension: u32,
    /// Workgroup (shared) memory in bytes.
    pub workgroup_memory: u32,
    /// The Mesa release (major, minor) of a Mesa driver (lavapipe, RADV, ANV...), from the
    /// driver string; None for other drivers.
    pub mesa_version: Option<(u32, u32)>,
}

impl Capabilities {
    /// The table for a device opened on `info`'s adapter with `granted` optional features.
    pub fn new(
        class: DeviceClass,
        info: &wgpu::AdapterInfo,
        granted: wgpu::Features,
        limits: &wgpu::Limits,
    ) -> Capabilities {
        Capabilities {
            class,
            requested: OPTIONAL_FEATURES,
            granted: granted & OPTIONAL_FEATURES,
            subgroup_sizes: (info.subgroup_min_size, info.subgroup_max_size),
            max_storage_binding: limits.max_storage_buffer_binding_size,
            max_workgroups_per_dimension: limits.max_compute_workgroups_per_dimension,
            workgroup_memory: limits.max_compute_workgroup_storage_size,
            mesa_version: mesa_version(&info.driver_info),
        }
    }

    /// A CPU adapter whose first compile of our convolution kernels takes minutes: Mesa 25's
    /// lavapipe (measured: 25.0.7) expands every storage-buffer access of a kernel into
    /// bounds-checked branches per SIMD lane and component, and LLVM's passes grow faster than
    /// linearly with the resulting code (BENCHMARKS.md, "Mesa 25 lavapipe"). Mesa keeps the
    /// compiled kernels in its disk cache, so only the first run pays. 22.3 compiles them in
    /// seconds; releases between were not measured.
    pub fn slow_first_compile(&self) -> bool {
        self.class == DeviceClass::Cpu && self.mesa_version.is_some_and(|(major, _)| major >= 25)
    }

    /// Subgroup operations are enabled.
    pub fn subgroups(&self) -> bool {
        self.granted.contains(wgpu::Features::SUBGROUP)
    }

    /// Subgroups are enabled and exactly 8 wide: what the CPU subgroup kernels (`mm_cpu_sg`,
    /// `*_sg` attention, `conv2d/direct_subgroup`) are written for.
    pub fn subgroups_of_8(&self) -> bool {
        self.subgroups() && self.subgroup_sizes == (8, 8)
    }

    /// GPU timestamps can be written (the profiler's clock).
    pub fn timestamps(&self) -> bool {
        self.granted.contains(wgpu::Features::TIMESTAMP_QUERY)
    }

    /// The table as (name, value) rows, for `ddpm info`.
    pub fn rows(&self) -> Vec<(&'static str, String)> {
        let yes_no = |f: wgpu::Features| {
            if self.granted.contains(f) {
                "granted"
            } else {
                "not offered"
            }
        };
        vec![
            ("device class", format!("{:?}", self.class)),
            (
                "subgroups",
                format!(
                    "{} (sizes {}..{}{})",
                    yes_no(wgpu::Features::SUBGROUP),
                    self.subgroup_sizes.0,
                    self.subgroup_sizes.1,
                    if self.subgroups_of_8() {
                        ", 8-wide kernels run"
                    } else {
                        ""
                    }
                ),
            ),
            ("timestamps", yes_no(wgpu::Features::TIMESTAMP_QUERY).into()),
            (
                "max binding",
                format!("{} MiB", self.max_storage_binding >> 20),
            ),
            (
                "workgroups",
                format!(
                    "{} per dimension, {} KiB shared memory",
                    self.max_workgroups_per_dimension,
                    self.workgroup_memory >> 10
                ),
            ),
        ]
    }
}

/// (major, minor) from a driver string such as "Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6)".
fn mesa_version(driver_info: &str) -> Option<(u32, u32)> {
    let rest = &driver_info[driver_info.find("Mesa ")? + 5..];
    let mut parts = rest.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

#[cfg(test)]
mod tests {
    use super::mesa_version;

    #[test]
    fn mesa_versions_from_driver_strings() {
        assert_eq!(mesa_version("Mesa 22.3.6 (LLVM 15.0.6)"), Some((22, 3)));
        assert_eq!(
            mesa_version("Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6)"),
            Some((25, 0))
        );
        assert_eq!(mesa_version("Mesa 24.2.8-1ubuntu1~24.04.1"), Some((24, 2)));
        assert_eq!(mesa_version("565.57.01"), None);
        assert_eq!(mesa_version("Mesa"), None);
        assert_eq!(mesa_version(""), None);
    }
}
