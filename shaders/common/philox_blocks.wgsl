// The per-element stream layout of every kernel that draws Philox numbers (`rng/`,
// `diffusion/`): one invocation handles PER blocks of 4 consecutive elements, block
// (group * PER + k) * WG + lid with group = wid.x + wid.y * nwg.x, and block b's 4 words are
// Philox block b of the dispatch's (seed, stream). The including module declares the overrides
// WG and PER and a uniform `p` with fields key0, key1 (seed) and stream0, stream1.

#include "common/philox"

// Philox block `b` of this dispatch's (seed, stream).
fn philox_block(b: u32) -> vec4<u32> {
    return philox(b, vec2<u32>(p.key0, p.key1), vec2<u32>(p.stream0, p.stream1));
}

// The k-th block (k < PER) of invocation lid of workgroup wid.
fn block_index(wid: vec3<u32>, nwg: vec3<u32>, lid: u32, k: u32) -> u32 {
    return ((wid.x + wid.y * nwg.x) * PER + k) * WG + lid;
}
