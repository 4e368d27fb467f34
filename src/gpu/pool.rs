//! Buffer pool: GPU buffers are recycled by size class, so a training step in steady state
//! creates no new buffers. A tensor returns its buffer here when its last handle drops.

use std::collections::HashMap;

use super::context::MemoryStats;

/// Storage buffers are rounded up to a size class so they can be reused by tensors of similar
/// size: powers of two and 1.5x powers of two for small buffers (at most a third slack), and
/// multiples of 1/16 of the power of two above 1 MiB (at most 12.5% slack on big tensors such
/// as the flat parameter buffers).
pub(crate) fn size_class(bytes: u64) -> u64 {
    let bytes = bytes.max(256);
    let p = bytes.next_power_of_two();
    if bytes > 1 << 20 {
        return bytes.next_multiple_of(p / 16);
    }
    let three_quarters = p / 4 * 3;
    if bytes <= three_quarters && p >= 1024 {
        three_quarters
    } else {
        p
    }
}

pub(crate) const STORAGE_USAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);

#[derive(Default)]
pub(crate) struct BufferPool {
    free: HashMap<u64, Vec<wgpu::Buffer>>,
    readback: HashMap<u64, Vec<wgpu::Buffer>>,
    stats: MemoryStats,
}

impl BufferPool {
    /// A storage buffer of at least `bytes`, reused if one of its class is free.
    pub fn take(&mut self, device: &wgpu::Device, bytes: u64) -> wgpu::Buffer {
        let class = size_class(bytes);
        let buffer = match self.free.get_mut(&class).and_then(Vec::pop) {
            Some(b) => b,
            None => {
                self.stats.buffers_created += 1;
                self.stats.bytes_allocated += class;
                device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("tensor"),
                    size: class,
                    usage: STORAGE_USAGE,
                    mapped_at_creation: false,
                })
            }
        };
        self.stats.bytes_in_use += class;
        self.stats.peak_bytes_in_use = self.stats.peak_bytes_in_use.max(self.stats.bytes_in_use);
        buffer
    }

    pub fn give_back(&mut self, buffer: wgpu::Buffer) {
        let class = buffer.size();
        self.stats.bytes_in_use -= class;
        self.free.entry(class).or_default().push(buffer);
    }

    /// A mappable buffer for reading results back.
    pub fn take_readback(&mut self, device: &wgpu::Device, bytes: u64) -> wgpu::Buffer {
        let class = size_class(bytes);
        self.readback
            .get_mut(&class)
            .and_then(Vec::pop)
            .unwrap_or_else(|| {
                self.stats.buffers_created += 1;
                device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("readback"),
                    size: class,
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                })
            })
    }

    pub fn give_back_readback(&mut self, buffer: wgpu::Buffer) {
        self.readback.entry(buffer.size()).or_default().push(buffer);
    }

    pub fn stats(&self) -> MemoryStats {
        self.stats
    }
    pub fn reset_peak(&mut self) {
        self.stats.peak_bytes_in_use = self.stats.bytes_in_use;
    }
    pub fn trim(&mut self) {
        for (class, list) in self.free.drain() {
            self.stats.bytes_allocated -= class * list.len() as u64;
        }
        self.readback.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::size_class;

    #[test]
    fn size_classes_cover_request_with_bounded_slack() {
        for bytes in [
            1u64,
            255,
            256,
            257,
            1000,
            1024,
            1025,
            1536,
            1537,
            3 << 20,
            (3 << 20) + 1,
        ] {
            let c = size_class(bytes);
            assert!(c >= bytes && c >= 256);
            assert!(c < bytes.max(256) * 2, "{bytes} -> {c}");
            if bytes > 1 << 20 {
                assert!(c as f64 <= bytes as f64 * 1.125, "{bytes} -> {c}");
            }
        }
    }
}
