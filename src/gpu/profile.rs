//! Per-dispatch GPU timing for `ddpm profile` and `ddpm bench`.
//!
//! While a [`Profiler`] is active, every dispatch is timed on its own:
//! - with `TIMESTAMP_QUERY`, each dispatch gets its own compute pass whose beginning and end
//!   write GPU timestamps (resolved in blocks of [`QUERIES`] / 2 dispatches);
//! - without it, the recorder submits and waits after every dispatch and the host clock times
//!   it (this includes one submit's overhead, tens of microseconds on lavapipe).
//!
//! Each record carries the layer scope it was launched in ([`scope`]: a thread-local stack the
//! model pushes names onto), the kernel (shader and entry point), the bytes of the buffers it
//! binds (each counted once: a lower bound of the traffic) and, for the FLOP-heavy families, the
//! FLOPs the op announced with [`flops`] just before launching.

use std::cell::{Cell, RefCell};
use std::time::Instant;

/// One timed dispatch.
#[derive(Clone, Debug)]
pub struct DispatchRecord {
    /// Layer path, e.g. `fwd/down1/resnet`.
    pub scope: String,
    /// Shader file (kernel family), e.g. `conv2d`.
    pub family: &'static str,
    /// Entry point.
    pub entry: String,
    pub flops: f64,
    pub bytes: f64,
    pub seconds: f64,
}

thread_local! {
    static SCOPES: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    static NEXT_FLOPS: Cell<f64> = const { Cell::new(0.0) };
}

/// Pops its scope when dropped.
pub struct ScopeGuard(());

impl Drop for ScopeGuard {
    fn drop(&mut self) {
        SCOPES.with(|s| s.borrow_mut().pop());
    }
}

/// Names the layer the following dispatches belong to (nested scopes join with `/`).
pub fn scope(name: impl Into<String>) -> ScopeGuard {
    SCOPES.with(|s| s.borrow_mut().push(name.into()));
    ScopeGuard(())
}

pub(crate) fn current_scope() -> String {
    SCOPES.with(|s| {
        let s = s.borrow();
        if s.is_empty() {
            "(other)".into()
        } else {
            s.join("/")
        }
    })
}

/// Announces the floating-point operations of the next dispatch (ops with a FLOP count call it).
pub fn flops(f: f64) {
    NEXT_FLOPS.with(|c| c.set(f));
}

pub(crate) fn take_flops() -> f64 {
    NEXT_FLOPS.with(|c| c.replace(0.0))
}

/// Timestamp queries per query set (wgpu's maximum); two per dispatch.
pub(crate) const QUERIES: u32 = 4096;

pub(crate) enum Clock {
    Timestamps {
        set: wgpu::QuerySet,
        resolve: wgpu::Buffer,
        readback: wgpu::Buffer,
        /// Nanoseconds per timestamp tick.
        period: f64,
        /// Records whose timestamps are not read yet (at most QUERIES / 2).
        pending: Vec<DispatchRecord>,
    },
    Host,
}

/// The state of an active profile; owned by the [`crate::Gpu`].
pub(crate) struct Profiler {
    pub clock: Clock,
    pub records: Vec<DispatchRecord>,
}

impl Profiler {
    pub fn new(device: &wgpu::Device, queue: &wgpu::Queue, timestamps: bool) -> Profiler {
        let clock = if timestamps {
            let bytes = QUERIES as u64 * 8;
            Clock::Timestamps {
                set: device.create_query_set(&wgpu::QuerySetDescriptor {
                    label: Some("profile"),
                    ty: wgpu::QueryType::Timestamp,
                    count: QUERIES,
                }),
                resolve: device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("profile resolve"),
                    size: bytes,
                    usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                    mapped_at_creation: false,
                }),
                readback: device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("profile readback"),
                    size: bytes,
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                }),
                period: queue.get_timestamp_period() as f64,
                pending: Vec::new(),
            }
        } else {
            Clock::Host
        };
        Profiler {
            clock,
            records: Vec::new(),
        }
    }
}

/// Reads the resolved timestamps of the pending records (the caller has submitted the copy into
/// `readback` and waits here for it).
pub(crate) fn read_timestamps(
    device: &wgpu::Device,
    readback: &wgpu::Buffer,
    period: f64,
    pending: &mut Vec<DispatchRecord>,
    records: &mut Vec<DispatchRecord>,
) {
    if pending.is_empty() {
        return;
    }
    let bytes = pending.len() as u64 * 16;
    let slice = readback.slice(0..bytes);
    slice.map_async(wgpu::MapMode::Read, |r| r.expect("mapping the timestamps"));
    device
        .poll(wgpu::PollType::wait_indefinitely())
        .expect("device lost while reading timestamps");
    {
        let data = slice.get_mapped_range().expect("mapped timestamp buffer");
        let ticks: &[u64] = bytemuck::cast_slice(&data);
        for (i, mut r) in pending.drain(..).enumerate() {
            let (begin, end) = (ticks[2 * i], ticks[2 * i + 1]);
            r.seconds = end.saturating_sub(begin) as f64 * period * 1e-9;
            records.push(r);
        }
    }
    readback.unmap();
}

/// A host stopwatch for the no-timestamp clock.
pub(crate) struct HostTimer(Instant);

impl HostTimer {
    pub fn start() -> Self {
        HostTimer(Instant::now())
    }
    pub fn seconds(&self) -> f64 {
        self.0.elapsed().as_secs_f64()
    }
}

/// Totals of a set of records, grouped by a key.
#[derive(Clone, Debug, Default)]
pub struct Group {
    pub key: String,
    pub dispatches: usize,
    pub seconds: f64,
    pub flops: f64,
    pub bytes: f64,
}

/// Groups `records` by `key`, largest time first.
pub fn group_by(records: &[DispatchRecord], key: impl Fn(&DispatchRecord) -> String) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    let mut index = std::collections::HashMap::new();
    for r in records {
        let k = key(r);
        let i = *index.entry(k.clone()).or_insert_with(|| {
            groups.push(Group {
                key: k,
                ..Default::default()
            });
            groups.len() - 1
        });
        let g = &mut groups[i];
        g.dispatches += 1;
        g.seconds += r.seconds;
        g.flops += r.flops;
        g.bytes += r.bytes;
    }
    groups.sort_by(|a, b| b.seconds.total_cmp(&a.seconds));
    groups
}
