//! The recorder: one command encoder per step, one compute pass kept open across dispatches,
//! and a staging arena for kernel parameters and small uploads.
//!
//! Ordering rule: nothing may overtake recorded work. `queue.write_buffer` runs before the
//! whole next command buffer, so writing a tensor that way could overtake dispatches recorded
//! earlier that read the buffer's previous contents. Instead, small uploads are staged in the
//! arena and copied by a command recorded in order; the arena itself is written with
//! `write_buffer` once per submit, before the command buffer that reads it. Large uploads
//! submit the pending work first and then use `write_buffer`, which is ordered after it.

use super::pipelines::Pipeline;
use crate::Tensor;

/// Uploads above this size bypass the arena (so the arena stays small).
const LARGE_UPLOAD: usize = 4 << 20;
const CHUNK: u64 = 1 << 20;

struct Chunk {
    buffer: wgpu::Buffer,
    bytes: Vec<u8>,
}

pub(crate) struct Recorder {
    encoder: Option<wgpu::CommandEncoder>,
    pass: Option<wgpu::ComputePass<'static>>,
    arena: Vec<Chunk>,
    current: usize,
    uniform_align: u64,
    submits: u64,
}

impl Recorder {
    pub fn new(uniform_align: u64) -> Self {
        Recorder {
            encoder: None,
            pass: None,
            arena: Vec::new(),
            current: 0,
            uniform_align,
            submits: 0,
        }
    }

    pub fn submits(&self) -> u64 {
        self.submits
    }

    fn encoder(&mut self, device: &wgpu::Device) -> &mut wgpu::CommandEncoder {
        self.encoder.get_or_insert_with(|| {
            device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("step"),
            })
        })
    }

    fn end_pass(&mut self) {
        self.pass = None;
    }

    /// Copies `data` into the arena; returns (chunk, offset). Chunks are reused across submits.
    fn stage(&mut self, device: &wgpu::Device, data: &[u8], align: u64) -> (usize, u64) {
        let len = data.len() as u64;
        loop {
            if self.current == self.arena.len() {
                let size = CHUNK.max(len.next_multiple_of(align));
                let buffer = device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("staging arena"),
                    size,
                    usage: wgpu::BufferUsages::UNIFORM
                        | wgpu::BufferUsages::COPY_SRC
                        | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                });
                self.arena.push(Chunk {
                    buffer,
                    bytes: Vec::with_capacity(size as usize),
                });
            }
            let chunk = &mut self.arena[self.current];
            let offset = (chunk.bytes.len() as u64).next_multiple_of(align);
            if offset + len <= chunk.buffer.size() {
                chunk.bytes.resize(offset as usize, 0);
                chunk.bytes.extend_from_slice(data);
                return (self.current, offset);
            }
            self.current += 1;
        }
    }

    pub fn dispatch(
        &mut self,
        device: &wgpu::Device,
        pipeline: &Pipeline,
        params: &[u8],
        tensors: &[&Tensor],
        workgroups: [u32; 3],
        timestamps: Option<(&wgpu::QuerySet, u32)>,
    ) {
        // Uniform structs are multiples of 16 bytes in WGSL; pad so the binding is never short.
        let mut padded = params.to_vec();
        padded.resize(params.len().next_multiple_of(16).max(16), 0);
        let (chunk, offset) = self.stage(device, &padded, self.uniform_align);
        let mut entries = vec![wgpu::BindGroupEntry {
            binding: 0,
            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer: &self.arena[chunk].buffer,
                offset,
                size: wgpu::BufferSize::new(padded.len() as u64),
            }),
        }];
        for (i, t) in tensors.iter().enumerate() {
            entries.push(wgpu::BindGroupEntry {
                binding: i as u32 + 1,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: t.buffer(),
                    offset: t.byte_offset(),
                    size: wgpu::BufferSize::new(t.byte_len()),
                }),
            });
        }
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &pipeline.layout,
            entries: &entries,
        });
        // A timed dispatch gets a compute pass of its own, whose beginning and end write the
        // timestamps `index` and `index + 1` (profiling only).
        if timestamps.is_some() {
            self.end_pass();
        }
        if self.pass.is_none() {
            let timestamp_writes =
                timestamps.map(|(set, index)| wgpu::ComputePassTimestampWrites {
                    query_set: set,
                    beginning_of_pass_write_index: Some(index),
                    end_of_pass_write_index: Some(index + 1),
                });
            let pass = self
                .encoder(device)
                .begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: None,
                    timestamp_writes,
                })
                .forget_lifetime();
            self.pass = Some(pass);
        }
        let pass = self.pass.as_mut().unwrap();
        pass.set_pipeline(&pipeline.pipeline);
        pass.set_bind_group(0, &bind_group, &[]);
        let [x, y, z] = workgroups;
        pass.dispatch_workgroups(x, y, z);
        if timestamps.is_some() {
            self.end_pass();
        }
    }

    /// Records the resolution of the first `count` timestamps of `set` and their copy into the
    /// mappable `readback` (profiling only).
    pub fn resolve_timestamps(
        &mut self,
        device: &wgpu::Device,
        set: &wgpu::QuerySet,
        count: u32,
        resolve: &wgpu::Buffer,
        readback: &wgpu::Buffer,
    ) {
        self.end_pass();
        let encoder = self.encoder(device);
        encoder.resolve_query_set(set, 0..count, resolve, 0);
        encoder.copy_buffer_to_buffer(resolve, 0, readback, 0, count as u64 * 8);
    }

    /// Writes `data` into `dst` in recorded order.
    pub fn upload(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        dst: &Tensor,
        data: &[u8],
    ) {
        assert_eq!(
            data.len() as u64,
            dst.byte_len(),
            "upload size does not match the tensor"
        );
        if data.len() > LARGE_UPLOAD {
            self.submit(queue);
            queue.write_buffer(dst.buffer(), dst.byte_offset(), data);
            return;
        }
        let (chunk, offset) = self.stage(device, data, wgpu::COPY_BUFFER_ALIGNMENT);
        self.end_pass();
        let src = self.arena[chunk].buffer.clone();
        self.encoder(device).copy_buffer_to_buffer(
            &src,
            offset,
            dst.buffer(),
            dst.byte_offset(),
            data.len() as u64,
        );
    }

    /// Records a buffer-to-buffer copy.
    pub fn copy(&mut self, device: &wgpu::Device, src: &Tensor, dst: &Tensor) {
        assert_eq!(
            src.byte_len(),
            dst.byte_len(),
            "copy between tensors of different sizes"
        );
        self.end_pass();
        self.encoder(device).copy_buffer_to_buffer(
            src.buffer(),
            src.byte_offset(),
            dst.buffer(),
            dst.byte_offset(),
            src.byte_len(),
        );
    }

    /// Records a fill with zeros.
    pub fn clear(&mut self, device: &wgpu::Device, t: &Tensor) {
        self.end_pass();
        self.encoder(device)
            .clear_buffer(t.buffer(), t.byte_offset(), Some(t.byte_len()));
    }

    /// Records a copy of `src` into the mappable `dst` (offset 0).
    pub fn copy_to_readback(&mut self, device: &wgpu::Device, src: &Tensor, dst: &wgpu::Buffer) {
        self.end_pass();
        self.encoder(device).copy_buffer_to_buffer(
            src.buffer(),
            src.byte_offset(),
            dst,
            0,
            src.byte_len(),
        );
    }

    /// Forgets the pending encoder and staged bytes without submitting.
    pub fn discard(&mut self) {
        self.end_pass();
        self.encoder = None;
        for chunk in &mut self.arena {
            chunk.bytes.clear();
        }
        self.current = 0;
    }

    /// Finishes the encoder, writes the arena, submits. One command buffer per call.
    pub fn submit(&mut self, queue: &wgpu::Queue) {
        self.end_pass();
        let Some(encoder) = self.encoder.take() else {
            return;
        };
        for chunk in &mut self.arena {
            if !chunk.bytes.is_empty() {
                queue.write_buffer(&chunk.buffer, 0, &chunk.bytes);
                chunk.bytes.clear();
            }
        }
        self.current = 0;
        queue.submit([encoder.finish()]);
        self.submits += 1;
    }
}
