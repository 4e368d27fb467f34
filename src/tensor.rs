//! [`Tensor`]: an f32 GPU storage buffer plus a shape (NCHW, row-major). Cloning is cheap
//! (a shared handle); the buffer goes back to the pool when the last handle drops.
//!
//! A tensor may be a view into a larger buffer (a byte offset), which is how all parameters
//! of a model live in one buffer so that the optimiser updates them in one dispatch.

use std::sync::Arc;

use crate::gpu::Gpu;

struct Storage {
    gpu: Gpu,
    buffer: Option<wgpu::Buffer>,
}

impl Drop for Storage {
    fn drop(&mut self) {
        if let Some(b) = self.buffer.take() {
            self.gpu.0.pool.lock().unwrap().give_back(b);
        }
    }
}

#[derive(Clone)]
pub struct Tensor {
    storage: Arc<Storage>,
    /// Offset of element 0 in the buffer, in bytes (a multiple of the storage-offset alignment).
    offset: u64,
    shape: Vec<usize>,
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tensor{:?}", self.shape)
    }
}

pub fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

impl Tensor {
    /// A tensor whose contents are undefined (NaN when the device's poison mode is on).
    /// Use it for outputs a kernel writes completely.
    pub fn uninit(gpu: &Gpu, shape: &[usize]) -> Tensor {
        let n = numel(shape);
        assert!(n > 0, "empty tensor {shape:?}");
        let buffer = gpu.0.pool.lock().unwrap().take(&gpu.0.device, n as u64 * 4);
        let t = Tensor {
            storage: Arc::new(Storage {
                gpu: gpu.clone(),
                buffer: Some(buffer),
            }),
            offset: 0,
            shape: shape.to_vec(),
        };
        if gpu.poison() {
            t.write(&vec![f32::NAN; n]);
        }
        t
    }

    pub fn zeros(gpu: &Gpu, shape: &[usize]) -> Tensor {
        let t = Tensor::uninit(gpu, shape);
        t.fill_zero();
        t
    }

    pub fn from_slice(gpu: &Gpu, shape: &[usize], data: &[f32]) -> Tensor {
        assert_eq!(
            numel(shape),
            data.len(),
            "data length does not match shape {shape:?}"
        );
        let t = Tensor::uninit(gpu, shape);
        t.write(data);
        t
    }

    /// A tensor of u32 values (timesteps, indices) stored in the same kind of buffer.
    pub fn from_u32(gpu: &Gpu, shape: &[usize], data: &[u32]) -> Tensor {
        assert_eq!(
            numel(shape),
            data.len(),
            "data length does not match shape {shape:?}"
        );
        let t = Tensor::uninit(gpu, shape);
        t.write_bytes(bytemuck::cast_slice(data));
        t
    }

    /// Overwrites the contents (recorded in order with the GPU work).
    pub fn write(&self, data: &[f32]) {
        self.write_bytes(bytemuck::cast_slice(data));
    }

    pub fn write_bytes(&self, data: &[u8]) {
        let g = &self.storage.gpu.0;
        g.recorder
            .lock()
            .unwrap()
            .upload(&g.device, &g.queue, self, data);
    }

    pub fn fill_zero(&self) {
        let g = &self.storage.gpu.0;
        g.recorder.lock().unwrap().clear(&g.device, self);
    }

    /// Records a copy of `src` into `self` (same number of elements).
    pub fn copy_from(&self, src: &Tensor) {
        let g = &self.storage.gpu.0;
        g.recorder.lock().unwrap().copy(&g.device, src, self);
    }

    /// Records a copy of all of `self` into `dst` starting at element `element_offset`
    /// (no alignment needed beyond 4 bytes; used to log scalars into a metrics buffer).
    pub fn copy_into_at(&self, dst: &Tensor, element_offset: usize) {
        assert!(
            element_offset + self.numel() <= dst.numel(),
            "copy out of range"
        );
        let target = Tensor {
            storage: dst.storage.clone(),
            offset: dst.offset + element_offset as u64 * 4,
            shape: self.shape.clone(),
        };
        target.copy_from(self);
    }

    /// A new tensor of `shape` holding a copy of elements `element_offset..` of this one (no
    /// alignment needed beyond 4 bytes, unlike [`Tensor::view`]).
    pub fn copy_of_range(&self, element_offset: usize, shape: &[usize]) -> Tensor {
        assert!(
            element_offset + numel(shape) <= self.numel(),
            "copy out of range"
        );
        let source = Tensor {
            storage: self.storage.clone(),
            offset: self.offset + element_offset as u64 * 4,
            shape: shape.to_vec(),
        };
        source.duplicate()
    }

    /// A new tensor with the same contents.
    pub fn duplicate(&self) -> Tensor {
        let t = Tensor::uninit(self.gpu(), &self.shape);
        t.copy_from(self);
        t
    }

    /// Reads the tensor back: submits pending work and waits for it. The only blocking call.
    pub fn to_vec(&self) -> Vec<f32> {
        bytemuck::cast_slice(&self.read_bytes()).to_vec()
    }

    pub fn to_u32_vec(&self) -> Vec<u32> {
        bytemuck::cast_slice(&self.read_bytes()).to_vec()
    }

    fn read_bytes(&self) -> Vec<u8> {
        let g = &self.storage.gpu.0;
        let staging = g
            .pool
            .lock()
            .unwrap()
            .take_readback(&g.device, self.byte_len());
        {
            let mut rec = g.recorder.lock().unwrap();
            rec.copy_to_readback(&g.device, self, &staging);
            rec.submit(&g.queue);
        }
        let len = self.byte_len();
        let (tx, rx) = std::sync::mpsc::channel();
        staging.map_async(wgpu::MapMode::Read, 0..len, move |r| {
            let _ = tx.send(r);
        });
        g.device
            .poll(wgpu::PollType::wait_indefinitely())
            .expect("device lost during readback");
        rx.recv()
            .expect("map callback dropped")
            .expect("buffer map failed");
        let bytes = staging
            .get_mapped_range(0..len)
            .expect("mapped range")
            .to_vec();
        staging.unmap();
        g.pool.lock().unwrap().give_back_readback(staging);
        bytes
    }

    /// The same buffer seen with another shape of equal size.
    pub fn reshape(&self, shape: &[usize]) -> Tensor {
        assert_eq!(
            numel(shape),
            self.numel(),
            "reshape {:?} -> {shape:?}",
            self.shape
        );
        Tensor {
            storage: self.storage.clone(),
            offset: self.offset,
            shape: shape.to_vec(),
        }
    }

    /// A view of `shape` starting `element_offset` elements into this tensor. The byte offset
    /// must respect the device's storage-offset alignment (256 bytes = 64 floats usually).
    pub fn view(&self, element_offset: usize, shape: &[usize]) -> Tensor {
        assert!(
            element_offset + numel(shape) <= self.numel(),
            "view out of range"
        );
        let offset = self.offset + element_offset as u64 * 4;
        let align = self.gpu().limits().min_storage_buffer_offset_alignment as u64;
        assert!(
            offset.is_multiple_of(align),
            "view offset {offset} is not a multiple of {align} bytes"
        );
        Tensor {
            storage: self.storage.clone(),
            offset,
            shape: shape.to_vec(),
        }
    }

    pub fn gpu(&self) -> &Gpu {
        &self.storage.gpu
    }
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
    pub fn numel(&self) -> usize {
        numel(&self.shape)
    }
    /// Size of dimension `i`; negative counts from the end.
    pub fn dim(&self, i: isize) -> usize {
        let i = if i < 0 {
            self.shape.len() as isize + i
        } else {
            i
        };
        self.shape[i as usize]
    }
    pub fn buffer(&self) -> &wgpu::Buffer {
        self.storage
            .buffer
            .as_ref()
            .expect("buffer present while tensor lives")
    }
    pub fn byte_offset(&self) -> u64 {
        self.offset
    }
    pub fn byte_len(&self) -> u64 {
        self.numel() as u64 * 4
    }

    /// Panics with a message naming `op` when this tensor exceeds the adapter's largest storage
    /// binding (the ops that cannot split their work into chunks check this first).
    pub(crate) fn assert_bindable(&self, op: &str) {
        let max = self.gpu().limits().max_storage_buffer_binding_size;
        assert!(
            self.byte_len() <= max,
            "{op}: tensor {:?} ({} bytes) exceeds this adapter's largest storage binding ({max} bytes)",
            self.shape(),
            self.byte_len()
        );
    }
    /// True if both tensors use the same GPU buffer (binding both in one dispatch would alias).
    pub fn same_buffer(&self, other: &Tensor) -> bool {
        Arc::ptr_eq(&self.storage, &other.storage)
    }
}
