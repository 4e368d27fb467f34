// Registers and helpers of the *_sg kernels (see attention/subgroup.wgsl): vec4 views of the
// buffers, the 4 x 8 score `Tile`, the own rows of an invocation and their stores.

@group(0) @binding(1) var<storage, read> q4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> k4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> v4: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> o4: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> do4: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> dq4: array<vec4<f32>>;  // dq, or dk
@group(0) @binding(8) var<storage, read_write> dv4: array<vec4<f32>>;

// Scores (or probabilities) of the 4 own rows (lanes of each vec4) against 8 rows of the other
// side (columns lo[0..3], hi[0..3]).
struct Tile {
    lo: mat4x4<f32>,
    hi: mat4x4<f32>,
}

fn zero_tile() -> Tile {
    return Tile(mat4x4<f32>(), mat4x4<f32>());
}

// (a_r . x) for the 4 own rows a_r (the columns of a: one channel quad each).
fn dot4(a: mat4x4<f32>, x: vec4<f32>) -> vec4<f32> {
    return vec4<f32>(dot(a[0], x), dot(a[1], x), dot(a[2], x), dot(a[3], x));
}

// t[., j] += a . x_j for the 8 rows x_j whose channel quad lane j of the subgroup holds in xl.
fn dots8(t: Tile, a: mat4x4<f32>, xl: vec4<f32>) -> Tile {
    var r = t;
    #for V in 0..4
    r.lo[{{V}}] += dot4(a, subgroupShuffle(xl, {{V}}u));
    #end
    r.hi[0] += dot4(a, subgroupShuffle(xl, 4u));
    r.hi[1] += dot4(a, subgroupShuffle(xl, 5u));
    r.hi[2] += dot4(a, subgroupShuffle(xl, 6u));
    r.hi[3] += dot4(a, subgroupShuffle(xl, 7u));
    return r;
}

// Rank-1 update: acc[r] += w[r] x (rows r = columns of acc).
fn outer4(acc: mat4x4<f32>, x: vec4<f32>, w: vec4<f32>) -> mat4x4<f32> {
    return mat4x4<f32>(acc[0] + w.x * x, acc[1] + w.y * x, acc[2] + w.z * x, acc[3] + w.w * x);
}

// acc[r] += sum_j t[r][j] x_j for the 8 rows x_j whose channel quad lane j holds in xl.
fn combine8(acc: mat4x4<f32>, t: Tile, xl: vec4<f32>) -> mat4x4<f32> {
    var r = acc;
    #for V in 0..4
    r = outer4(r, subgroupShuffle(xl, {{V}}u), t.lo[{{V}}]);
    #end
    r = outer4(r, subgroupShuffle(xl, 4u), t.hi[0]);
    r = outer4(r, subgroupShuffle(xl, 5u), t.hi[1]);
    r = outer4(r, subgroupShuffle(xl, 6u), t.hi[2]);
    r = outer4(r, subgroupShuffle(xl, 7u), t.hi[3]);
    return r;
}

// Scaled scores, with columns j0 + j >= L set to NEG_BIG (probability 0).
fn tile_scale_mask(t: Tile, j0: u32) -> Tile {
    let big = vec4<f32>(NEG_BIG);
    var r: Tile;
    r.lo[0] = select(t.lo[0] * p.scale, big, j0 >= p.l);
    r.lo[1] = select(t.lo[1] * p.scale, big, j0 + 1u >= p.l);
    r.lo[2] = select(t.lo[2] * p.scale, big, j0 + 2u >= p.l);
    r.lo[3] = select(t.lo[3] * p.scale, big, j0 + 3u >= p.l);
    r.hi[0] = select(t.hi[0] * p.scale, big, j0 + 4u >= p.l);
    r.hi[1] = select(t.hi[1] * p.scale, big, j0 + 5u >= p.l);
    r.hi[2] = select(t.hi[2] * p.scale, big, j0 + 6u >= p.l);
    r.hi[3] = select(t.hi[3] * p.scale, big, j0 + 7u >= p.l);
    return r;
}

fn tile_max(t: Tile) -> vec4<f32> {
    return max(max(max(t.lo[0], t.lo[1]), max(t.lo[2], t.lo[3])),
               max(max(t.hi[0], t.hi[1]), max(t.hi[2], t.hi[3])));
}

fn tile_sum(t: Tile) -> vec4<f32> {
    return ((t.lo[0] + t.lo[1]) + (t.lo[2] + t.lo[3])) + ((t.hi[0] + t.hi[1]) + (t.hi[2] + t.hi[3]));
}

// exp(t - m) with m per own row.
fn tile_exp(t: Tile, m: vec4<f32>) -> Tile {
    return Tile(mat4x4<f32>(exp(t.lo[0] - m), exp(t.lo[1] - m), exp(t.lo[2] - m), exp(t.lo[3] - m)),
                mat4x4<f32>(exp(t.hi[0] - m), exp(t.hi[1] - m), exp(t.hi[2] - m), exp(t.hi[3] - m)));
}

// scale * pr * (dp - dd), dd per own row.
fn tile_ds(pr: Tile, dp: Tile, dd: vec4<f32>) -> Tile {
    let s = p.scale;
    return Tile(mat4x4<f32>(s * pr.lo[0] * (dp.lo[0] - dd), s * pr.lo[1] * (dp.lo[1] - dd),
                            s * pr.lo[2] * (dp.lo[2] - dd), s * pr.lo[3] * (dp.lo[3] - dd)),
                mat4x4<f32>(s * pr.hi[0] * (dp.hi[0] - dd), s * pr.hi[1] * (dp.hi[1] - dd),
                            s * pr.hi[2] * (dp.hi[2] - dd), s * pr.hi[3] * (dp.hi[3] - dd)));
}

// Column-wise variants for dk/dv, where the softmax statistics belong to the columns (queries):
// lane j of the subgroup holds lse (or dd) of column j in `xl`.
fn col(xl: f32, j: u32) -> vec4<f32> {
    return vec4<f32>(subgroupShuffle(xl, j));
}

// exp(scale * t - lse_j), zero for columns j0 + j >= L.
fn tile_prob_cols(t: Tile, lsel: f32, j0: u32) -> Tile {
    var r: Tile;
    let z = vec4<f32>(0.0);
    let s = p.scale;
    r.lo[0] = select(exp(s * t.lo[0] - col(lsel, 0u)), z, j0 >= p.l);
    r.lo[1] = select(exp(s * t.lo[1] - col(lsel, 1u)), z, j0 + 1u >= p.l);
    r.lo[2] = select(exp(s * t.lo[2] - col(lsel, 2u)), z, j0 + 2u >= p.l);
    r.lo[3] = select(exp(s * t.lo[3] - col(lsel, 3u)), z, j0 + 3u >= p.l);
    r.hi[0] = select(exp(s * t.hi[0] - col(lsel, 4u)), z, j0 + 4u >= p.l);
    r.hi[1] = select(exp(s * t.hi[1] - col(lsel, 5u)), z, j0 + 5u >= p.l);
    r.hi[2] = select(exp(s * t.hi[2] - col(lsel, 6u)), z, j0 + 6u >= p.l);
    r.hi[3] = select(exp(s * t.hi[3] - col(lsel, 7u)), z, j0 + 7u >= p.l);
    return r;
}

// scale * pr * (dp - dd_j), dd per column.
fn tile_ds_cols(pr: Tile, dp: Tile, ddl: f32) -> Tile {
    let s = p.scale;
    return Tile(mat4x4<f32>(s * pr.lo[0] * (dp.lo[0] - col(ddl, 0u)), s * pr.lo[1] * (dp.lo[1] - col(ddl, 1u)),
                            s * pr.lo[2] * (dp.lo[2] - col(ddl, 2u)), s * pr.lo[3] * (dp.lo[3] - col(ddl, 3u))),
                mat4x4<f32>(s * pr.hi[0] * (dp.hi[0] - col(ddl, 4u)), s * pr.hi[1] * (dp.hi[1] - col(ddl, 5u)),
                            s * pr.hi[2] * (dp.hi[2] - col(ddl, 6u)), s * pr.hi[3] * (dp.hi[3] - col(ddl, 7u))));
}

// Row offsets (in vec4 units) of the 4 own rows and which of them are real; lanes past the last
// group take the last group's rows (and store nothing).
struct Own {
    at: vec4<u32>,
    rows: vec4<u32>,
    valid: vec4<bool>,
}

fn own_rows(n: u32, h: u32, gx: u32, lid: u32) -> Own {
    let g0 = gx * WG + lid;
    let g = min(g0, p.groups - 1u);
    let rows = rows_of(g);
    let valid = rows_valid(g) & vec4<bool>(g0 < p.groups);
    let at = vec4<u32>(tok(n, h, rows.x), tok(n, h, rows.y), tok(n, h, rows.z), tok(n, h, rows.w)) / 4u;
    return Own(at, rows, valid);
}

// The vec4 offset of the row of block row j0 + 8t + lane that this lane loads (clamped).
fn other_row(n: u32, h: u32, j0: u32, t: u32, sl: u32) -> u32 {
    return tok(n, h, min(j0 + 8u * t + sl, p.l - 1u)) / 4u;
}


#include "attention/parts/store_own" NAME=o BUF=o4
#include "attention/parts/store_own" NAME=dq BUF=dq4
#include "attention/parts/store_own" NAME=dv BUF=dv4
