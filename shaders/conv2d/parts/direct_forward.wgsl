// ---------------------------------------------------------------------------------------------
// Direct forward kernels (CPU adapters).
//   y[n, co, oy, ox] = bias[co]
//       + sum_{ci,ky,kx} wp[(ci*KH + ky)*KW + kx, co] * xp[n, ci, oy*S + ky, ox*S + kx]
// xp: the input already padded (`pad`) to [N, Cin, Hp, Wp], Wp % 4 == 0, with the convolution's
// padding applied, so no bounds checks are needed. Outputs are grouped in quads (4 consecutive
// pixels of one output row; QW = ceil(Wout/4) quads per row) in the flat order
// q = (n*Hout + oy)*QW + qx. One invocation computes CB output channels x the 8 quads
// q = 8i .. 8i+7 (ACC = 8 CB vec4 accumulators), which may span rows and images, so small images
// waste nothing. For `direct_k3`, QW is even (the caller rounds it up; the extra quads are not
// stored), so the 8 quads form 8/SEG runs
// of SEG consecutive quads of one row, SEG = 4 if QW % 4 == 0 else 2, and neighbouring quads
// share input vec4s: per input row 8/SEG * (SEG*S + 1) vec4 loads instead of 8 * (S + 1).
// Per input channel the kernel first loads all 9 taps' input windows and weights into private
// arrays, then updates each accumulator with its 9 FMAs in a row (two at a time, see `macg`): the accumulators live in
// memory (far more than the registers), and this loads/stores each once per 9 FMAs (measured
// on lavapipe: 1.6x faster than updating all accumulators tap by tap).
// Output: y [N, Cout, Hout, Wout] (f32), stored element by element, skipping the columns past
// Wout (on lavapipe a vec4 store is a per-lane, per-component loop too, so this costs about the
// same as vec4 stores and saves a separate crop pass over the output).
// Bindings: 1 xp (vec4), 2 wp [Cin*KH*KW, CoutP] (vec4), 3 bias [Cout] (read only if e1 != 0;
// bind any read-only buffer otherwise), 4 y (f32).
// Params: n, cin, h = Hp, w = Wp, cout, hout, wout, args: `ForwardArgs` (CoutP, has_bias, QW).
// Dispatch: workgroup_size 32, [gx, CoutP/CB, gz], gx * gz >= ceil(ceil(N*Hout*QW / 8) / 32)
// (folded into z past 65,535); invocation lid of workgroup (x, b, z) computes quad block
// i = 32 (x + z gx) + lid (quads 8i .. 8i+7) for channel block b (co0 = CB b). Per input
// channel (3x3) or 9 input channels (1x1) the WV = 9 NG weight vec4s of the block (NG = CB/4
// groups of 4 channels) are loaded by `load_w9` (conv2d/parts/weights_*): by every lane, or
// with 8-wide subgroups ceil(WV/8) loads per lane shared by broadcasts.
// Template values: CB (the channel block: 8, 16, 24 or 32; src/ops/conv.rs picks it per Cout),
// NG = CB/4, ACC = 8 CB, WV = 9 NG. Larger blocks feed each input load (a per-lane loop on
// lavapipe, about half the kernel's time at CB = 16) to more FMAs, and 24 or 48 channels need
// no padding to a multiple of 16 (measured on lavapipe: BENCHMARKS.md, "Wider output-channel
// blocks"). Compile time grows fast with CB: lavapipe took ~0.4, 0.8, 1.8 and 3.4-7 s per
// pipeline at 16, 24, 32 and 48, so there is no 48.
// `direct_k3`: 3x3, stride STRIDE (1 or 2); Wp >= 4*QW*STRIDE + 4. QW = e2 (even) here.
// `direct_k1`: 1x1, stride 1; Wp >= 4*QW; 9 input channels per accumulator update, so wp must
// have a multiple of 9 rows (zero past Cin).
// Every private array below is indexed with constants only (helpers are called with literal
// arguments, short constant loops unroll): lavapipe keeps such arrays out of indexable memory.

@group(0) @binding(1) var<storage, read> d_x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> d_w: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> d_bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> d_y: array<f32>;

override STRIDE: u32 = 1u;
override SEG: u32 = 2u;

var<private> acc: array<vec4<f32>, {{ACC}}>; // acc[c * 8 + v]: tile channel c, quad v
var<private> q_y: array<u32, 8>;         // index in y of (n, co = 0, oy, 4*qx)
var<private> q_n: array<u32, 8>;         // columns of the quad to store (0: none)
var<private> q_x: array<u32, 8>;         // vec4 index in xp of (n, ci = 0, oy*S, 4*qx*S)
var<private> xa: array<vec4<f32>, 8>;    // per quad: input vec4s at column 4*qx*S (+0, +4, +8)
var<private> xb: array<vec4<f32>, 8>;
var<private> xc: array<vec4<f32>, 8>;
var<private> sw: array<vec4<f32>, 72>;   // sw[t * 8 + v]: the 4 inputs of tap t for quad v
var<private> wv: array<vec4<f32>, {{WV}}>;   // wv[t * NG + g]: weights of tap t, channels 4g..4g+3

// acc[4g + j, v] += sum_{t < nt} wv[t*NG + g][j] * sw[t*8 + v]  (j = 0..3), two channels j
// at a time: on lavapipe each vec4 takes 4 SIMD registers, and two accumulators, the input
// window and two weight splats (14) fit in the 16 vector registers of a 256-bit x86 target,
// where four accumulators (24) spill; measured 3-5% faster on the digit models' 3x3 shapes
// (BENCHMARKS.md, "Two accumulators at a time").
fn macg(g: u32, v: u32, nt: u32) {
    #for H in 0..2
    {
        var a0 = acc[(4u * g + 2u * {{H}}u) * 8u + v];
        var a1 = acc[(4u * g + 2u * {{H}}u + 1u) * 8u + v];
        for (var t = 0u; t < 9u; t++) {
            if (t < nt) {
                let s = sw[t * 8u + v];
                let w = wv[t * {{NG}}u + g];
                a0 = fma(s, vec4<f32>(w[2u * {{H}}u]), a0);
                a1 = fma(s, vec4<f32>(w[2u * {{H}}u + 1u]), a1);
            }
        }
        acc[(4u * g + 2u * {{H}}u) * 8u + v] = a0;
        acc[(4u * g + 2u * {{H}}u + 1u) * 8u + v] = a1;
    }
    #end
}

fn mac_all(nt: u32) {
    #for G in 0..{{NG}}
    #for V in 0..8
    macg({{G}}u, {{V}}u, nt);
    #end
    #end
}


// Loads the input vec4s of every quad at vec4 offset `o` (channel plane + kernel row) from
// their first column: xa (and xb, xc as the stride and kernel width need). Runs of SEG
// consecutive quads load their shared vec4s once.
fn load_row(o: u32, nvec: u32) {
    if (SEG == 4u && nvec > 1u) {
        let b0 = q_x[0] + o;
        let b1 = q_x[4] + o;
        if (STRIDE == 1u) {
            #for V in 0..4
            xa[{{V}}] = d_x[b0 + {{V}}u];
            #end
            xb[0] = xa[1];
            xb[1] = xa[2];
            xb[2] = xa[3];
            xb[3] = d_x[b0 + 4u];
            xa[4] = d_x[b1 + 0u];
            xa[5] = d_x[b1 + 1u];
            xa[6] = d_x[b1 + 2u];
            xa[7] = d_x[b1 + 3u];
            xb[4] = xa[5];
            xb[5] = xa[6];
            xb[6] = xa[7];
            xb[7] = d_x[b1 + 4u];
        } else {
            xa[0] = d_x[b0 + 0u];
            xb[0] = d_x[b0 + 1u];
            xa[1] = d_x[b0 + 2u];
            xb[1] = d_x[b0 + 3u];
            xa[2] = d_x[b0 + 4u];
            xb[2] = d_x[b0 + 5u];
            xa[3] = d_x[b0 + 6u];
            xb[3] = d_x[b0 + 7u];
            xc[0] = xa[1];
            xc[1] = xa[2];
            xc[2] = xa[3];
            xc[3] = d_x[b0 + 8u];
            xa[4] = d_x[b1 + 0u];
            xb[4] = d_x[b1 + 1u];
            xa[5] = d_x[b1 + 2u];
            xb[5] = d_x[b1 + 3u];
            xa[6] = d_x[b1 + 4u];
            xb[6] = d_x[b1 + 5u];
            xa[7] = d_x[b1 + 6u];
            xb[7] = d_x[b1 + 7u];
            xc[4] = xa[5];
            xc[5] = xa[6];
            xc[6] = xa[7];
            xc[7] = d_x[b1 + 8u];
        }
        return;
    }
    if (SEG == 2u && nvec > 1u) {
        let b0 = q_x[0] + o;
        let b1 = q_x[2] + o;
        let b2 = q_x[4] + o;
        let b3 = q_x[6] + o;
        if (STRIDE == 1u) {
            xa[0] = d_x[b0 + 0u];
            xa[1] = d_x[b0 + 1u];
            xb[0] = xa[1];
            xb[1] = d_x[b0 + 2u];
            xa[2] = d_x[b1 + 0u];
            xa[3] = d_x[b1 + 1u];
            xb[2] = xa[3];
            xb[3] = d_x[b1 + 2u];
            xa[4] = d_x[b2 + 0u];
            xa[5] = d_x[b2 + 1u];
            xb[4] = xa[5];
            xb[5] = d_x[b2 + 2u];
            xa[6] = d_x[b3 + 0u];
            xa[7] = d_x[b3 + 1u];
            xb[6] = xa[7];
            xb[7] = d_x[b3 + 2u];
        } else {
            xa[0] = d_x[b0 + 0u];
            xb[0] = d_x[b0 + 1u];
            xa[1] = d_x[b0 + 2u];
            xb[1] = d_x[b0 + 3u];
            xc[0] = xa[1];
            xc[1] = d_x[b0 + 4u];
            xa[2] = d_x[b1 + 0u];
            xb[2] = d_x[b1 + 1u];
            xa[3] = d_x[b1 + 2u];
            xb[3] = d_x[b1 + 3u];
            xc[2] = xa[3];
            xc[3] = d_x[b1 + 4u];
            xa[4] = d_x[b2 + 0u];
            xb[4] = d_x[b2 + 1u];
            xa[5] = d_x[b2 + 2u];
            xb[5] = d_x[b2 + 3u];
            xc[4] = xa[5];
            xc[5] = d_x[b2 + 4u];
            xa[6] = d_x[b3 + 0u];
            xb[6] = d_x[b3 + 1u];
            xa[7] = d_x[b3 + 2u];
            xb[7] = d_x[b3 + 3u];
            xc[6] = xa[7];
            xc[7] = d_x[b3 + 4u];
        }
        return;
    }
    #for V in 0..8
    xa[{{V}}] = d_x[q_x[{{V}}] + o];
    #end
    if (nvec > 1u) {
        #for V in 0..8
        xb[{{V}}] = d_x[q_x[{{V}}] + o + 1u];
        #end
    }
    if (nvec > 2u) {
        #for V in 0..8
        xc[{{V}}] = vec4<f32>(d_x[q_x[{{V}}] + o + 2u].x, 0.0, 0.0, 0.0);
        #end
    }
}

// Input windows of tap slot t for kx = 0 (stride 1) or a 1x1 kernel.
fn win0(t: u32) {
    #for V in 0..8
    sw[t * 8u + {{V}}u] = xa[{{V}}];
    #end
}

// Input windows of tap slot t for stride 1, kx = 1.
fn win_s1_1(t: u32) {
    #for V in 0..8
    sw[t * 8u + {{V}}u] = vec4<f32>(xa[{{V}}].yzw, xb[{{V}}].x);
    #end
}

// Input windows of tap slot t for stride 1, kx = 2.
fn win_s1_2(t: u32) {
    #for V in 0..8
    sw[t * 8u + {{V}}u] = vec4<f32>(xa[{{V}}].zw, xb[{{V}}].xy);
    #end
}

// Input windows of tap slot t for stride 2, kx = 0: columns 0, 2, 4, 6.
fn win_s2_0(t: u32) {
    #for V in 0..8
    sw[t * 8u + {{V}}u] = vec4<f32>(xa[{{V}}].xz, xb[{{V}}].xz);
    #end
}

// Input windows of tap slot t for stride 2, kx = 1: columns 1, 3, 5, 7.
fn win_s2_1(t: u32) {
    #for V in 0..8
    sw[t * 8u + {{V}}u] = vec4<f32>(xa[{{V}}].yw, xb[{{V}}].yw);
    #end
}

// Input windows of tap slot t for stride 2, kx = 2: columns 2, 4, 6, 8.
fn win_s2_2(t: u32) {
    #for V in 0..8
    sw[t * 8u + {{V}}u] = vec4<f32>(xa[{{V}}].z, xb[{{V}}].xz, xc[{{V}}].x);
    #end
}

// Sets up quad v of invocation `inv`: output and input locations.
fn quad_setup(v: u32, inv: u32) {
    let qw = forward_args().quads_per_row;
    let nq = p.n * p.hout * qw;
    let q = min(inv * 8u + v, nq - 1u);
    let qx = q % qw;
    let t = q / qw;
    let oy = t % p.hout;
    let n = t / p.hout;
    q_n[v] = select(0u, min(p.wout - min(4u * qx, p.wout), 4u), inv * 8u + v < nq);
    q_y[v] = (n * p.cout * p.hout + oy) * p.wout + 4u * qx;
    q_x[v] = ((n * p.cin * p.h + oy * STRIDE) * p.w + qx * 4u * STRIDE) / 4u;
}

// Sets up invocation inv = (wid.x + wid.z * nwg.x) * 32 + lid of channel block b = wid.y
// (uniform per workgroup, so the subgroup variant can share weight loads); returns b.
fn direct_setup(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    lane_setup();
    let inv = (wid.x + wid.z * nwg.x) * 32u + lid;
    let ninv = (p.n * p.hout * forward_args().quads_per_row + 7u) / 8u;
    let ic = min(inv, ninv - 1u);
    #for V in 0..8
    quad_setup({{V}}u, ic);
    #end
    #for V in 0..8
    q_n[{{V}}] = select(0u, q_n[{{V}}], inv < ninv);
    #end
    acc = array<vec4<f32>, {{ACC}}>();
    return wid.y;
}

fn put(v: u32, c: u32, o: u32, b: f32) {
    let a = acc[c * 8u + v] + vec4<f32>(b);
    let i = q_y[v] + o;
    let n = q_n[v];
    if (n > 0u) {
        d_y[i] = a.x;
    }
    if (n > 1u) {
        d_y[i + 1u] = a.y;
    }
    if (n > 2u) {
        d_y[i + 2u] = a.z;
    }
    if (n > 3u) {
        d_y[i + 3u] = a.w;
    }
}

// Stores tile channel c (output channel co0 + c) for the 8 quads.
fn store_ch(c: u32, co0: u32) {
    let co = co0 + c;
    if (co >= p.cout) {
        return;
    }
    var b = 0.0;
    if (forward_args().has_bias != 0u) {
        b = d_bias[co];
    }
    let o = co * p.hout * p.wout;
    #for V in 0..8
    put({{V}}u, c, o, b);
    #end
}

fn store_all(co0: u32) {
    #for V in 0..{{CB}}
    store_ch({{V}}u, co0);
    #end
}

// Input windows of kernel row ky of a 3x3 tap set: input row at vec4 offset o.
fn row3(ky: u32, o: u32) {
    load_row(o, STRIDE + 1u);
    if (STRIDE == 1u) {
        win0(3u * ky);
        win_s1_1(3u * ky + 1u);
        win_s1_2(3u * ky + 2u);
    } else {
        win_s2_0(3u * ky);
        win_s2_1(3u * ky + 1u);
        win_s2_2(3u * ky + 2u);
    }
}

@compute @workgroup_size(32)
fn direct_k3(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let cb = direct_setup(wid, nwg, lid);
    let wc = cb * {{NG}}u;      // vec4 column of channel co0 = CB * cb in wp
    let plane = p.h * p.w / 4u; // vec4s per input plane
    let row = p.w / 4u;         // vec4s per input row
    for (var ci = 0u; ci < p.cin; ci++) {
        let o = ci * plane;
        load_w9(ci * 9u, wc);
        row3(0u, o);
        row3(1u, o + row);
        row3(2u, o + 2u * row);
        mac_all(9u);
    }
    store_all(cb * {{CB}}u);
}

// Input channel ci + t of a 1x1 conv into tap slot t. Past Cin the packed weights are zero
// rows (see `pack_weights`, `rows`) and the input is read from channel Cin - 1 (a real value, so the
// zero product cannot create a NaN the true sum would not have).
fn chan1(t: u32, ci: u32, plane: u32) {
    load_row(min(ci + t, p.cin - 1u) * plane, 1u);
    win0(t);
}

@compute @workgroup_size(32)
fn direct_k1(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let cb = direct_setup(wid, nwg, lid);
    let wc = cb * {{NG}}u;
    let plane = p.h * p.w / 4u;
    for (var ci = 0u; ci < p.cin; ci += 9u) {
        load_w9(ci, wc);
        #for V in 0..9
        chan1({{V}}u, ci, plane);
        #end
        mac_all(9u);
    }
    store_all(cb * {{CB}}u);
}
