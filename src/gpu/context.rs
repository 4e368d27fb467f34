//! Adapter choice and the shared [`Gpu`] handle.

use std::sync::{Arc, Mutex};

use anyhow::{bail, Context as _, Result};

use super::pipelines::{PipelineCache, Shader};
use super::pool::BufferPool;
use super::profile::{self, Clock, DispatchRecord, HostTimer, Profiler};
use super::recorder::Recorder;
use super::tuning::{TuneMode, Tuner};
use super::Capabilities;

/// How to pick an adapter. Empty fields fall back to `WGPU_BACKEND` / `WGPU_ADAPTER_NAME`,
/// then to the highest-performance adapter found.
#[derive(Clone, Debug, Default)]
pub struct GpuOptions {
    /// `vulkan`, `metal`, `dx12` or `gl` (comma-separated list accepted).
    pub backend: Option<String>,
    /// Case-insensitive substring of the adapter name.
    pub adapter: Option<String>,
    /// Measured kernel choice (see [`super::tuning`]); None: `DDPM_TUNE`, else the default
    /// for the adapter's class.
    pub tune: Option<TuneMode>,
    /// Where the tuning cache lives; None: [`super::tuning::default_cache_dir`].
    pub cache_dir: Option<std::path::PathBuf>,
}

/// The class of adapter, which decides kernel variants (see `ops::*::variant`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceClass {
    /// A CPU implementation such as Mesa lavapipe: barriers are costly, invocations are SIMD lanes.
    Cpu,
    /// A real GPU: wants shared-memory tiling and many workgroups.
    Gpu,
}

/// One line per adapter, for `ddpm info`.
#[derive(Clone, Debug)]
pub struct AdapterSummary {
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    pub features: wgpu::Features,
}

/// Byte counts of the buffer pool, for memory reports and the "no allocation in steady state" test.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryStats {
    /// GPU buffers created so far (storage and readback).
    pub buffers_created: usize,
    /// Bytes held by live tensors now.
    pub bytes_in_use: u64,
    /// The most bytes ever held by live tensors at once.
    pub peak_bytes_in_use: u64,
    /// Bytes of all buffers the pool owns (in use or free).
    pub bytes_allocated: u64,
}

pub(crate) struct GpuShared {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    /// What the adapter offers (the device enables the optional ones we use).
    pub adapter_features: wgpu::Features,
    pub limits: wgpu::Limits,
    pub class: DeviceClass,
    pub caps: Capabilities,
    pub pipelines: PipelineCache,
    pub pool: Mutex<BufferPool>,
    pub recorder: Mutex<Recorder>,
    /// Some while `ddpm profile` / `bench` time dispatches one by one.
    pub profiler: Mutex<Option<Profiler>>,
    /// Test aid: fill every freshly taken buffer with NaN so unwritten outputs are caught.
    pub poison: std::sync::atomic::AtomicBool,
    pub tuner: Tuner,
}

/// A cheap, clonable handle to the device. All tensors keep one.
#[derive(Clone)]
pub struct Gpu(pub(crate) Arc<GpuShared>);

fn backends_from(options: &GpuOptions) -> Result<wgpu::Backends> {
    let Some(list) = &options.backend else {
        return Ok(wgpu::Backends::from_env().unwrap_or(wgpu::Backends::all()));
    };
    let mut backends = wgpu::Backends::empty();
    for name in list.split(',').map(|s| s.trim().to_ascii_lowercase()) {
        backends |= match name.as_str() {
            "vulkan" | "vk" => wgpu::Backends::VULKAN,
            "metal" | "mtl" => wgpu::Backends::METAL,
            "dx12" | "d3d12" => wgpu::Backends::DX12,
            "gl" | "gles" | "opengl" => wgpu::Backends::GL,
            other => crate::fail!(
                Adapter,
                "unknown backend '{other}' (expected vulkan, metal, dx12 or gl)"
            ),
        };
    }
    Ok(backends)
}

fn instance(backends: wgpu::Backends) -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    desc.backends = backends;
    wgpu::Instance::new(desc)
}

/// Every adapter the chosen backends expose.
pub fn list_adapters(options: &GpuOptions) -> Result<Vec<AdapterSummary>> {
    let instance = instance(backends_from(options)?);
    let adapters = pollster::block_on(instance.enumerate_adapters(backends_from(options)?));
    Ok(adapters
        .into_iter()
        .map(|a| AdapterSummary {
            info: a.get_info(),
            limits: a.limits(),
            features: a.features(),
        })
        .collect())
}

/// Higher is preferred: a discrete GPU first, a CPU rasteriser last.
fn preference(kind: wgpu::DeviceType) -> u8 {
    match kind {
        wgpu::DeviceType::DiscreteGpu => 4,
        wgpu::DeviceType::IntegratedGpu => 3,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Cpu => 1,
        wgpu::DeviceType::Other => 0,
    }
}

/// The tuner of one adapter: mode from the options, else `DDPM_TUNE`, else on for GPUs and off
/// for CPU adapters; choices keyed by everything that can change which kernel is fastest.
fn tuner_for(info: &wgpu::AdapterInfo, class: DeviceClass, options: &GpuOptions) -> Result<Tuner> {
    let mode = match (options.tune, std::env::var("DDPM_TUNE")) {
        (Some(m), _) => m,
        (None, Ok(text)) => TuneMode::parse(text.as_str()).context("DDPM_TUNE")?,
        (None, Err(_)) if class == DeviceClass::Cpu => TuneMode::Off,
        (None, Err(_)) => TuneMode::On,
    };
    let key = format!(
        "{} | {:?} | {} {} | ddpm {}",
        info.name,
        info.backend,
        info.driver,
        info.driver_info,
        env!("CARGO_PKG_VERSION")
    );
    let dir = options
        .cache_dir
        .clone()
        .or_else(super::tuning::default_cache_dir);
    Ok(Tuner::new(mode, dir, key))
}

const NO_ADAPTER_HELP: &str = "install a GPU driver, or Mesa's software Vulkan driver lavapipe \
(Debian/Ubuntu: apt-get install mesa-vulkan-drivers)";

impl Gpu {
    /// Opens the adapter chosen by `options` (see [`GpuOptions`]).
    pub fn new(options: &GpuOptions) -> Result<Gpu> {
        Self::new_nth(options, 0)
    }

    /// Like [`Gpu::new`], but the `nth` (modulo their count) of the most preferred matching
    /// adapters: each rank of a data-parallel job opens its own GPU of the machine.
    pub fn new_nth(options: &GpuOptions, nth: usize) -> Result<Gpu> {
        let backends = backends_from(options)?;
        // OpenGL is a last resort: initialising it (EGL) is slow and noisy, so it is tried only
        // when no Vulkan/Metal/DX12 adapter exists.
        let mut adapters = Vec::new();
        for set in [backends & wgpu::Backends::PRIMARY, backends] {
            if !set.is_empty() && adapters.is_empty() {
                adapters = pollster::block_on(instance(set).enumerate_adapters(set));
            }
        }
        if adapters.is_empty() {
            crate::fail!(Adapter, "no GPU adapter found: {NO_ADAPTER_HELP}");
        }
        let wanted = options
            .adapter
            .clone()
            .or_else(|| std::env::var("WGPU_ADAPTER_NAME").ok());
        if let Some(name) = &wanted {
            let needle = name.to_lowercase();
            adapters.retain(|a| a.get_info().name.to_lowercase().contains(&needle));
            if adapters.is_empty() {
                crate::fail!(
                    Adapter,
                    "no adapter's name contains '{name}' (run `ddpm info` to list them)"
                );
            }
        }
        adapters.sort_by_key(|a| std::cmp::Reverse(preference(a.get_info().device_type)));
        let best = preference(adapters[0].get_info().device_type);
        let equal = adapters
            .iter()
            .take_while(|a| preference(a.get_info().device_type) == best)
            .count();
        Self::open(adapters.swap_remove(nth % equal), options)
    }

    fn open(adapter: wgpu::Adapter, options: &GpuOptions) -> Result<Gpu> {
        let info = adapter.get_info();
        // Ask for everything the adapter offers: big activations need large bindings.
        let limits = adapter.limits();
        // Every optional feature a kernel variant or the profiler uses, when offered (see
        // `Capabilities`).
        let features = adapter.features() & super::OPTIONAL_FEATURES;
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("ddpm"),
            required_features: features,
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }))
        .with_context(|| format!("could not open device on adapter '{}'", info.name))?;
        // DDPM_KERNELS=cpu|gpu overrides the kernel family choice (a diagnostic: e.g. to run
        // the lavapipe-tuned kernels on a GPU whose own variants fail `ddpm selftest`).
        let class = match std::env::var("DDPM_KERNELS").as_deref() {
            Ok("cpu") => DeviceClass::Cpu,
            Ok("gpu") => DeviceClass::Gpu,
            Ok(other) => bail!("DDPM_KERNELS must be cpu or gpu, not '{other}'"),
            Err(_) if info.device_type == wgpu::DeviceType::Cpu => DeviceClass::Cpu,
            Err(_) => DeviceClass::Gpu,
        };
        let caps = Capabilities::new(class, &info, device.features(), &limits);
        let recorder = Recorder::new(limits.min_uniform_buffer_offset_alignment as u64);
        let tuner = tuner_for(&info, class, options)?;
        Ok(Gpu(Arc::new(GpuShared {
            device,
            queue,
            info,
            adapter_features: adapter.features(),
            limits,
            class,
            caps,
            pipelines: PipelineCache::default(),
            pool: Mutex::new(BufferPool::default()),
            recorder: Mutex::new(recorder),
            poison: Default::default(),
            profiler: Mutex::new(None),
            tuner,
        })))
    }

    /// Measured kernel choice on this adapter (see [`super::tuning`]).
    pub fn tuner(&self) -> &Tuner {
        &self.0.tuner
    }

    pub fn device(&self) -> &wgpu::Device {
        &self.0.device
    }
    pub fn queue(&self) -> &wgpu::Queue {
        &self.0.queue
    }
    pub fn info(&self) -> &wgpu::AdapterInfo {
        &self.0.info
    }
    /// The features the adapter offers (the device's own are `device().features()`).
    pub fn adapter_features(&self) -> wgpu::Features {
        self.0.adapter_features
    }
    pub fn limits(&self) -> &wgpu::Limits {
        &self.0.limits
    }
    pub fn class(&self) -> DeviceClass {
        self.0.class
    }
    pub fn is_cpu(&self) -> bool {
        self.0.class == DeviceClass::Cpu
    }
    /// `cpu` on a CPU adapter, else `gpu`: how a kernel family picks its launch geometry by
    /// device class.
    pub fn by_class<T>(&self, cpu: T, gpu: T) -> T {
        if self.is_cpu() {
            cpu
        } else {
            gpu
        }
    }
    /// True if the device can write GPU timestamps (used by the benchmarks).
    pub fn has_timestamps(&self) -> bool {
        self.0.caps.timestamps()
    }
    /// What the device can do (features, subgroup sizes, limits, class): where every kernel
    /// family reads its variants' prerequisites.
    pub fn caps(&self) -> &Capabilities {
        &self.0.caps
    }

    /// Test aid: when on, every tensor taken from the pool is filled with NaN first, so a kernel
    /// that leaves an output element unwritten produces a NaN the comparison catches.
    pub fn set_poison(&self, on: bool) {
        self.0
            .poison
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }
    pub fn poison(&self) -> bool {
        self.0.poison.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn memory_stats(&self) -> MemoryStats {
        self.0.pool.lock().unwrap().stats()
    }
    /// Resets the peak counter of [`MemoryStats`].
    pub fn reset_peak_memory(&self) {
        self.0.pool.lock().unwrap().reset_peak();
    }
    /// Frees every pooled buffer no tensor is using.
    pub fn trim_pool(&self) {
        self.0.pool.lock().unwrap().trim();
    }

    /// Records one compute dispatch of `shader`'s `entry` point.
    ///
    /// Binding convention for every kernel: `@binding(0)` is a `var<uniform>` holding `params`,
    /// `@binding(1..)` are the storage buffers of `tensors`, in order, all in `@group(0)`.
    /// `constants` sets WGSL `override` constants (a different pipeline per value set).
    pub fn launch<P: bytemuck::Pod>(
        &self,
        shader: &Shader,
        entry: &str,
        constants: &[(&str, f64)],
        params: &P,
        tensors: &[&crate::Tensor],
        workgroups: [u32; 3],
    ) {
        let pipeline = self
            .0
            .pipelines
            .get(&self.0.device, shader, entry, constants);
        let flops = profile::take_flops();
        let mut rec = self.0.recorder.lock().unwrap();
        let params = bytemuck::bytes_of(params);
        let mut profiler = self.0.profiler.lock().unwrap();
        let Some(prof) = profiler.as_mut() else {
            rec.dispatch(&self.0.device, &pipeline, params, tensors, workgroups, None);
            return;
        };
        let mut record = DispatchRecord {
            scope: profile::current_scope(),
            family: shader.name,
            entry: entry.to_string(),
            flops,
            bytes: tensors.iter().map(|t| t.byte_len() as f64).sum(),
            seconds: 0.0,
        };
        let device = &self.0.device;
        match &mut prof.clock {
            Clock::Timestamps {
                set,
                resolve,
                readback,
                period,
                pending,
            } => {
                let index = pending.len() as u32 * 2;
                rec.dispatch(
                    device,
                    &pipeline,
                    params,
                    tensors,
                    workgroups,
                    Some((set, index)),
                );
                pending.push(record);
                if index + 2 == profile::QUERIES {
                    rec.resolve_timestamps(device, set, index + 2, resolve, readback);
                    rec.submit(&self.0.queue);
                    profile::read_timestamps(device, readback, *period, pending, &mut prof.records);
                }
            }
            Clock::Host => {
                // Drain earlier work, then time this dispatch alone, submit included.
                rec.submit(&self.0.queue);
                self.wait();
                let timer = HostTimer::start();
                rec.dispatch(device, &pipeline, params, tensors, workgroups, None);
                rec.submit(&self.0.queue);
                self.wait();
                record.seconds = timer.seconds();
                prof.records.push(record);
            }
        }
    }

    fn wait(&self) {
        self.0
            .device
            .poll(wgpu::PollType::wait_indefinitely())
            .expect("device lost while waiting for the GPU");
    }

    /// Starts timing every dispatch (see [`profile`]); `use_timestamps: false` forces the host
    /// clock even where timestamp queries exist.
    pub fn profile_begin(&self, use_timestamps: bool) {
        self.sync();
        let p = Profiler::new(
            &self.0.device,
            &self.0.queue,
            use_timestamps && self.has_timestamps(),
        );
        *self.0.profiler.lock().unwrap() = Some(p);
    }

    /// Ends the profile: waits for the recorded work and returns one record per dispatch.
    pub fn profile_end(&self) -> Vec<DispatchRecord> {
        let mut rec = self.0.recorder.lock().unwrap();
        let Some(mut prof) = self.0.profiler.lock().unwrap().take() else {
            return Vec::new();
        };
        if let Clock::Timestamps {
            set,
            resolve,
            readback,
            period,
            pending,
        } = &mut prof.clock
        {
            if !pending.is_empty() {
                let count = pending.len() as u32 * 2;
                rec.resolve_timestamps(&self.0.device, set, count, resolve, readback);
            }
            rec.submit(&self.0.queue);
            profile::read_timestamps(
                &self.0.device,
                readback,
                *period,
                pending,
                &mut prof.records,
            );
        }
        rec.submit(&self.0.queue);
        drop(rec);
        self.wait();
        prof.records
    }

    /// The clock a profile uses on this device (`use_timestamps` as for [`Gpu::profile_begin`]).
    pub fn profile_clock_name(&self, use_timestamps: bool) -> &'static str {
        if use_timestamps && self.has_timestamps() {
            "GPU timestamp queries"
        } else {
            "host clock, one submit per dispatch"
        }
    }

    /// Compiles a pipeline now (tests and `selftest` use it to keep compile time out of timings).
    pub fn warm_up(&self, shader: &Shader, entry: &str, constants: &[(&str, f64)]) {
        self.0
            .pipelines
            .get(&self.0.device, shader, entry, constants);
    }

    /// Submits everything recorded so far as one command buffer. Does not wait.
    pub fn flush(&self) {
        self.0.recorder.lock().unwrap().submit(&self.0.queue);
    }

    /// Submits and waits until the GPU has finished all submitted work.
    pub fn sync(&self) {
        self.flush();
        self.wait();
    }

    /// Drops everything recorded since the last submit, unexecuted (memory planning records a
    /// step only to count the buffers it takes).
    pub fn discard_pending(&self) {
        self.0.recorder.lock().unwrap().discard();
    }

    /// Number of submits so far (tests check that a training step is one submit).
    pub fn submit_count(&self) -> u64 {
        self.0.recorder.lock().unwrap().submits()
    }
}
