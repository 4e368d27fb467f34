// 2-D convolution (NCHW, weights [Cout, Cin, KH, KW]) with stride and per-side zero padding,
// and its backward passes. Direct loops: one invocation per output element of each pass.
//
//   y[n,co,oy,ox] = b[co] + sum_{ci,ky,kx} x[n,ci,oy*s+ky-pt, ox*s+kx-pl] * w[co,ci,ky,kx]
//
// Dispatch (all entry points): grid_1d(total outputs, 64); index = (wid.x + wid.y*nwg.x)*64 + lid.

struct Params {
    n: u32, cin: u32, h: u32, w: u32,
    cout: u32, ho: u32, wo: u32, kh: u32,
    kw: u32, stride: u32, pad_top: u32, pad_left: u32,
    has_bias: u32, accumulate: u32, total: u32, _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

fn linear_index(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * 64u + lid;
}

// ---- forward: bindings 1 = x, 2 = w, 3 = bias ([Cout]; a dummy when has_bias = 0), 4 = y.
@group(0) @binding(1) var<storage, read> fx: array<f32>;
@group(0) @binding(2) var<storage, read> fw: array<f32>;
@group(0) @binding(3) var<storage, read> fb: array<f32>;
@group(0) @binding(4) var<storage, read_write> fy: array<f32>;

@compute @workgroup_size(64)
fn forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wid, nwg, lid);
    if (i >= p.total) { return; }
    let ox = i % p.wo;
    let oy = (i / p.wo) % p.ho;
    let co = (i / (p.wo * p.ho)) % p.cout;
    let n = i / (p.wo * p.ho * p.cout);
    var acc = 0.0;
    if (p.has_bias != 0u) { acc = fb[co]; }
    let iy0 = i32(oy * p.stride) - i32(p.pad_top);
    let ix0 = i32(ox * p.stride) - i32(p.pad_left);
    for (var ci = 0u; ci < p.cin; ci++) {
        let xbase = (n * p.cin + ci) * p.h * p.w;
        let wbase = (co * p.cin + ci) * p.kh * p.kw;
        for (var ky = 0u; ky < p.kh; ky++) {
            let iy = iy0 + i32(ky);
            if (iy < 0 || iy >= i32(p.h)) { continue; }
            for (var kx = 0u; kx < p.kw; kx++) {
                let ix = ix0 + i32(kx);
                if (ix < 0 || ix >= i32(p.w)) { continue; }
                acc += fx[xbase + u32(iy) * p.w + u32(ix)] * fw[wbase + ky * p.kw + kx];
            }
        }
    }
    fy[i] = acc;
}

// ---- backward input: dx[n,ci,iy,ix] = sum over (co,ky,kx) with oy*s = iy+pt-ky (and the same
// for x) inside the output of dy[n,co,oy,ox] * w[co,ci,ky,kx].
// Bindings 1 = dy, 2 = w, 3 = dx.
@group(0) @binding(1) var<storage, read> idy: array<f32>;
@group(0) @binding(2) var<storage, read> iw: array<f32>;
@group(0) @binding(3) var<storage, read_write> idx: array<f32>;

@compute @workgroup_size(64)
fn backward_input(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wid, nwg, lid);
    if (i >= p.total) { return; }
    let ix = i % p.w;
    let iy = (i / p.w) % p.h;
    let ci = (i / (p.w * p.h)) % p.cin;
    let n = i / (p.w * p.h * p.cin);
    var acc = 0.0;
    for (var ky = 0u; ky < p.kh; ky++) {
        let ty = i32(iy + p.pad_top) - i32(ky);
        if (ty < 0 || ty % i32(p.stride) != 0) { continue; }
        let oy = u32(ty) / p.stride;
        if (oy >= p.ho) { continue; }
        for (var kx = 0u; kx < p.kw; kx++) {
            let tx = i32(ix + p.pad_left) - i32(kx);
            if (tx < 0 || tx % i32(p.stride) != 0) { continue; }
            let ox = u32(tx) / p.stride;
            if (ox >= p.wo) { continue; }
            for (var co = 0u; co < p.cout; co++) {
                acc += idy[((n * p.cout + co) * p.ho + oy) * p.wo + ox]
                     * iw[((co * p.cin + ci) * p.kh + ky) * p.kw + kx];
            }
        }
    }
    idx[i] = acc;
}

// ---- backward weight: dw[co,ci,ky,kx] (+)= sum_{n,oy,ox} dy[n,co,oy,ox] * x[n,ci,iy,ix].
// Bindings 1 = dy, 2 = x, 3 = dw.
@group(0) @binding(1) var<storage, read> wdy: array<f32>;
@group(0) @binding(2) var<storage, read> wx: array<f32>;
@group(0) @binding(3) var<storage, read_write> wdw: array<f32>;

@compute @workgroup_size(64)
fn backward_weight(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wid, nwg, lid);
    if (i >= p.total) { return; }
    let kx = i % p.kw;
    let ky = (i / p.kw) % p.kh;
    let ci = (i / (p.kw * p.kh)) % p.cin;
    let co = i / (p.kw * p.kh * p.cin);
    var acc = 0.0;
    for (var n = 0u; n < p.n; n++) {
        let dbase = (n * p.cout + co) * p.ho * p.wo;
        let xbase = (n * p.cin + ci) * p.h * p.w;
        for (var oy = 0u; oy < p.ho; oy++) {
            let iy = i32(oy * p.stride + ky) - i32(p.pad_top);
            if (iy < 0 || iy >= i32(p.h)) { continue; }
            for (var ox = 0u; ox < p.wo; ox++) {
                let ix = i32(ox * p.stride + kx) - i32(p.pad_left);
                if (ix < 0 || ix >= i32(p.w)) { continue; }
                acc += wdy[dbase + oy * p.wo + ox] * wx[xbase + u32(iy) * p.w + u32(ix)];
            }
        }
    }
    if (p.accumulate != 0u) { acc += wdw[i]; }
    wdw[i] = acc;
}

// ---- backward bias: db[co] (+)= sum_{n,oy,ox} dy[n,co,oy,ox]. Bindings 1 = dy, 2 = db.
@group(0) @binding(1) var<storage, read> bdy: array<f32>;
@group(0) @binding(2) var<storage, read_write> bdb: array<f32>;

@compute @workgroup_size(64)
fn backward_bias(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
    let co = linear_index(wid, nwg, lid);
    if (co >= p.total) { return; }
    var acc = 0.0;
    let plane = p.ho * p.wo;
    for (var n = 0u; n < p.n; n++) {
        let base = (n * p.cout + co) * plane;
        for (var j = 0u; j < plane; j++) {
            acc += bdy[base + j];
        }
    }
    if (p.accumulate != 0u) { acc += bdb[co]; }
    bdb[co] = acc;
}
