//! The runtime itself: dispatch with parameters, recorded ordering of uploads, pool reuse,
//! views, one submit per flush.

mod common;

use ddpm::gpu::Shader;
use ddpm::Tensor;

const AFFINE: Shader = Shader {
    name: "test_affine",
    source: r#"
struct Params { scale: f32, shift: f32, n: u32, _pad: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = (wid.x + wid.y * nwg.x) * 64u + lid;
    if (i < p.n) { y[i] = x[i] * p.scale + p.shift; }
}
"#,
};

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    scale: f32,
    shift: f32,
    n: u32,
    pad: u32,
}

fn affine(x: &Tensor, y: &Tensor, scale: f32, shift: f32) {
    let n = x.numel();
    let p = Params {
        scale,
        shift,
        n: n as u32,
        pad: 0,
    };
    x.gpu()
        .launch(&AFFINE, "main", &[], &p, &[x, y], ddpm::gpu::grid_1d(n, 64));
}

#[test]
fn dispatch_computes_and_reads_back() {
    let gpu = common::gpu();
    let data: Vec<f32> = (0..1000).map(|i| i as f32 * 0.5 - 3.0).collect();
    let x = Tensor::from_slice(&gpu, &[10, 100], &data);
    let y = Tensor::uninit(&gpu, &[10, 100]);
    affine(&x, &y, 2.0, 1.0);
    let out = y.to_vec();
    for (o, d) in out.iter().zip(&data) {
        assert_eq!(*o, d * 2.0 + 1.0);
    }
}

#[test]
fn uploads_stay_in_recorded_order() {
    // Write x, use it, overwrite x, use it again, all before one submit: each use must see the
    // value written just before it.
    let gpu = common::gpu();
    let x = Tensor::from_slice(&gpu, &[77], &[1.0; 77]);
    let y1 = Tensor::uninit(&gpu, &[77]);
    let y2 = Tensor::uninit(&gpu, &[77]);
    affine(&x, &y1, 1.0, 0.0);
    x.write(&[5.0; 77]);
    affine(&x, &y2, 1.0, 0.0);
    assert!(y1.to_vec().iter().all(|&v| v == 1.0));
    assert!(y2.to_vec().iter().all(|&v| v == 5.0));
}

#[test]
fn pool_reuses_buffers_in_steady_state() {
    let gpu = ddpm::Gpu::new(&Default::default()).unwrap();
    let step = || {
        let x = Tensor::from_slice(&gpu, &[300], &[1.0; 300]);
        let y = Tensor::uninit(&gpu, &[300]);
        affine(&x, &y, 3.0, 0.0);
        gpu.flush();
    };
    step();
    let before = gpu.memory_stats().buffers_created;
    for _ in 0..5 {
        step();
    }
    assert_eq!(gpu.memory_stats().buffers_created, before);
}

#[test]
fn views_address_their_slice_and_flush_is_one_submit() {
    let gpu = common::gpu();
    let whole = Tensor::from_slice(
        &gpu,
        &[128],
        &(0..128).map(|i| i as f32).collect::<Vec<_>>(),
    );
    let second = whole.view(64, &[64]);
    let y = Tensor::uninit(&gpu, &[64]);
    let submits = gpu.submit_count();
    affine(&second, &y, 1.0, 0.0);
    affine(&second, &y, 1.0, 0.0);
    gpu.flush();
    assert_eq!(gpu.submit_count(), submits + 1);
    assert_eq!(y.to_vec(), (64..128).map(|i| i as f32).collect::<Vec<_>>());
}
