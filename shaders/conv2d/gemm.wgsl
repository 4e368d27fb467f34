#include "conv2d/parts/params"

// ---------------------------------------------------------------------------------------------
// Implicit-GEMM kernels (real GPUs). Shared-memory tiles of 64 x 64 outputs, K in chunks of
// 16, 256 invocations each computing a 4 x 4 register block. The im2col matrix is never
// stored: B[k, pix] with k = (ci*KH + ky)*KW + kx and pix = (n*Hout + oy)*Wout + ox reads
//   x[n, ci, oy*S + ky - pad_top, ox*S + kx - pad_left]  (zero outside the image).

var<workgroup> t_a: array<vec4<f32>, 256>; // [16 k][64 m] as vec4 along m
var<workgroup> t_b: array<vec4<f32>, 256>; // [16 k][64 n] as vec4 along n

// Index into x of im2col element (k, pixel (n, oy, ox)), or -1 where it reads zero padding.
fn im2col_index(k: u32, n: u32, oy: u32, ox: u32) -> i32 {
    let kk = p.kh * p.kw;
    let ci = k / kk;
    let tap = k % kk;
    let ky = tap / p.kw;
    let kx = tap % p.kw;
    let iy = i32(oy * p.stride + ky) - i32(p.pad_top);
    let ix = i32(ox * p.stride + kx) - i32(p.pad_left);
    if (ci >= p.cin || iy < 0 || ix < 0 || iy >= i32(p.h) || ix >= i32(p.w)) {
        return -1;
    }
    return i32(((n * p.cin + ci) * p.h + u32(iy)) * p.w + u32(ix));
}

// The 4x4 register-block product of one K chunk held in t_a / t_b.
fn gemm_chunk(acc4: ptr<function, array<vec4<f32>, 4>>, ty: u32, tx: u32) {
    for (var k = 0u; k < 16u; k++) {
        let a = t_a[k * 16u + ty];
        let b = t_b[k * 16u + tx];
        (*acc4)[0] = fma(vec4<f32>(a.x), b, (*acc4)[0]);
        (*acc4)[1] = fma(vec4<f32>(a.y), b, (*acc4)[1]);
        (*acc4)[2] = fma(vec4<f32>(a.z), b, (*acc4)[2]);
        (*acc4)[3] = fma(vec4<f32>(a.w), b, (*acc4)[3]);
    }
}

// gemm_conv: y[n, co, oy, ox] = bias[co] + sum_k wp[k, co] * B[k, pix], K = Cin*KH*KW.
// Bindings: 1 x [N, Cin, H, W] (f32), 2 wp [K, CoutP] (f32), 3 bias (read only if has_bias),
// 4 y (f32). Params: all geometry fields (pad as u32), args: `ForwardArgs` (no quads).
// Dispatch: [gx, ceil(Cout / 64), gz] with gx * gz >= ceil(N*Hout*Wout / 64) pixel tiles (tile
// wid.x + wid.z * gx; folded into z past 65,535 tiles); workgroup 256 = 16 x 16 threads,
// thread (ty, tx) computes channels co0 + 4*ty .. +3 and pixels pix0 + 4*tx .. +3.
@group(0) @binding(1) var<storage, read> m_x: array<f32>;
@group(0) @binding(2) var<storage, read> m_w: array<f32>;
@group(0) @binding(3) var<storage, read> m_bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> m_y: array<f32>;

@compute @workgroup_size(256)
fn gemm_conv(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let tx = lid % 16u;
    let ty = lid / 16u;
    let hw = p.hout * p.wout;
    let npix = p.n * hw;
    let kdim = p.cin * p.kh * p.kw;
    let cout_padded = forward_args().cout_padded;
    let co0 = wid.y * 64u;
    let pix0 = (wid.x + wid.z * nwg.x) * 64u;
    if (pix0 >= npix) {
        return; // a spare workgroup of the folded grid (uniform: the whole workgroup leaves)
    }
    // This thread loads B column j = lid % 64 (fixed pixel) for rows lid / 64 + 4r.
    let j = lid % 64u;
    let pix = min(pix0 + j, npix - 1u);
    let bn = pix / hw;
    let boy = (pix % hw) / p.wout;
    let box = pix % p.wout;
    let pix_ok = pix0 + j < npix;
    var acc4 = array<vec4<f32>, 4>();
    for (var k0 = 0u; k0 < kdim; k0 += 16u) {
        for (var r = 0u; r < 4u; r++) {
            let e = lid + 256u * r;
            let kl = e / 64u;
            let m = e % 64u;
            let k = k0 + kl;
            let co = co0 + m;
            var a = 0.0;
            if (k < kdim && co < cout_padded) {
                a = m_w[k * cout_padded + co];
            }
            t_a[kl * 16u + m / 4u][m % 4u] = a;
            var b = 0.0;
            if (k < kdim && pix_ok) {
                let xi = im2col_index(k, bn, boy, box);
                if (xi >= 0) {
                    b = m_x[u32(xi)];
                }
            }
            t_b[kl * 16u + j / 4u][j % 4u] = b;
        }
        workgroupBarrier();
        gemm_chunk(&acc4, ty, tx);
        workgroupBarrier();
    }
    for (var i = 0u; i < 4u; i++) {
        let co = co0 + ty * 4u + i;
        if (co >= p.cout) {
            continue;
        }
        var bias = 0.0;
        if (forward_args().has_bias != 0u) {
            bias = m_bias[co];
        }
        for (var jj = 0u; jj < 4u; jj++) {
            let q = pix0 + tx * 4u + jj;
            if (q < npix) {
                let n = q / hw;
                m_y[(n * p.cout + co) * hw + q % hw] = acc4[i][jj] + bias;
            }
        }
    }
}

// gemm_wgrad: dW[co, k] (+)= sum over pixels pix of split s of dy[n, co, pix] * B[k, pix].
// M = Cout (tile 64), N = K = Cin*KH*KW (tile 64), reduced over pixels in chunks of 16.
// Bindings: 1 dy [N, Cout, Hout, Wout] (f32), 2 x [N, Cin, H, W] (f32), 3 out (f32, rw):
//   partials = 0: out = dw [Cout, K], sums are added into it; 1: out = partials [S, Cout, K].
// Params: geometry, args: `WgradArgs`.
// Dispatch: [ceil(K / 64), ceil(Cout / 64), S]; workgroup 256; thread (ty, tx) computes
// channels co0 + 4*ty .. +3 and columns k0 + 4*tx .. +3.
@group(0) @binding(1) var<storage, read> v_dy: array<f32>;
@group(0) @binding(2) var<storage, read> v_x: array<f32>;
@group(0) @binding(3) var<storage, read_write> v_out: array<f32>;
struct WgradArgs {
    per_split: u32, // pixels per split (a multiple of 16)
    partials: u32,  // 1: write partial sums (see above)
}
fn wgrad_args() -> WgradArgs {
    return WgradArgs(p.args.x, p.args.y);
}

@compute @workgroup_size(256)
fn gemm_wgrad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let tx = lid % 16u;
    let ty = lid / 16u;
    let hw = p.hout * p.wout;
    let npix = p.n * hw;
    let kdim = p.cin * p.kh * p.kw;
    let kc0 = wid.x * 64u;
    let co0 = wid.y * 64u;
    let per = wgrad_args().per_split;
    let p0 = wid.z * per;
    let p1 = min(p0 + per, npix);
    var acc4 = array<vec4<f32>, 4>();
    for (var q0 = p0; q0 < p1; q0 += 16u) {
        for (var r = 0u; r < 4u; r++) {
            // Element e of the 16 x 64 chunk: pixel e % 16, row (channel / column) e / 16.
            let e = lid + 256u * r;
            let pl = e % 16u;
            let m = e / 16u;
            let q = q0 + pl;
            let n = q / hw;
            let pp = q % hw;
            var a = 0.0;
            let co = co0 + m;
            if (q < p1 && co < p.cout) {
                a = v_dy[(n * p.cout + co) * hw + pp];
            }
            t_a[pl * 16u + m / 4u][m % 4u] = a;
            var b = 0.0;
            let k = kc0 + m;
            if (q < p1 && k < kdim) {
                let xi = im2col_index(k, n, pp / p.wout, pp % p.wout);
                if (xi >= 0) {
                    b = v_x[u32(xi)];
                }
            }
            t_b[pl * 16u + m / 4u][m % 4u] = b;
        }
        workgroupBarrier();
        gemm_chunk(&acc4, ty, tx);
        workgroupBarrier();
    }
    let total = p.cout * kdim;
    for (var i = 0u; i < 4u; i++) {
        let co = co0 + ty * 4u + i;
        for (var jj = 0u; jj < 4u; jj++) {
            let k = kc0 + tx * 4u + jj;
            if (co < p.cout && k < kdim) {
                let idx = co * kdim + k;
                if (wgrad_args().partials == 0u) {
                    v_out[idx] += acc4[i][jj];
                } else {
                    v_out[wid.z * total + idx] = acc4[i][jj];
                }
            }
        }
    }
}
