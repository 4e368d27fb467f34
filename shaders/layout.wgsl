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
