// Layout changes between the NCHW activations and token-major [B, L, C] attention inputs.

struct Params { batch: u32, rows: u32, cols: u32, _pad: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

// transpose: y[b, c, r] = x[b, r, c] for x of shape [batch, rows, cols].
// Bindings: 1 = x [batch*rows*cols], 2 = y [batch*cols*rows].
// Dispatch: (ceil(rows/16), ceil(cols/16), batch) workgroups of 16x16; invocation (i, j) of a
// workgroup handles row r = 16*wid.x + i and column c = 16*wid.y + j, so consecutive
// invocations write consecutive y elements.
@compute @workgroup_size(16, 16)
fn transpose(@builtin(global_invocation_id) gid: vec3<u32>) {
    let r = gid.x;
    let c = gid.y;
    let b = gid.z;
    if (r >= p.rows || c >= p.cols) {
        return;
    }
    let plane = p.rows * p.cols;
    y[b * plane + c * p.rows + r] = x[b * plane + r * p.cols + c];
}

// transpose4: `transpose` for rows % 4 == 0 and cols % 4 == 0 (the attention layers' [B, C, L]
// with L = 196 or 1024, C = 24..512), a 4x4 block per invocation: 4 vec4 loads of x's rows,
// 4 vec4 stores of y's rows, where `transpose` takes 16 scalar loads and 16 scalar stores (on
// lavapipe each access is a loop over the SIMD lanes, costing about the same at either width).
// Bindings: 1 = x as vec4, 2 = y as vec4. Dispatch: (ceil(rows/32), ceil(cols/32), batch)
// workgroups of 8x8; invocation (i, j) handles the block at row 4 (8 wid.x + i), column
// 4 (8 wid.y + j).
@group(0) @binding(1) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> y4: array<vec4<f32>>;

@compute @workgroup_size(8, 8)
fn transpose4(@builtin(global_invocation_id) gid: vec3<u32>) {
    let r = 4u * gid.x;
    let c = 4u * gid.y;
    if (r >= p.rows || c >= p.cols) {
        return;
    }
    let plane = gid.z * p.rows * p.cols;
    let a0 = x4[(plane + r * p.cols + c) / 4u];
    let a1 = x4[(plane + (r + 1u) * p.cols + c) / 4u];
    let a2 = x4[(plane + (r + 2u) * p.cols + c) / 4u];
    let a3 = x4[(plane + (r + 3u) * p.cols + c) / 4u];
    y4[(plane + c * p.rows + r) / 4u] = vec4<f32>(a0.x, a1.x, a2.x, a3.x);
    y4[(plane + (c + 1u) * p.rows + r) / 4u] = vec4<f32>(a0.y, a1.y, a2.y, a3.y);
    y4[(plane + (c + 2u) * p.rows + r) / 4u] = vec4<f32>(a0.z, a1.z, a2.z, a3.z);
    y4[(plane + (c + 3u) * p.rows + r) / 4u] = vec4<f32>(a0.w, a1.w, a2.w, a3.w);
}
