// Row groups of the `*_rows` and `*_sg` kernels: one invocation owns the 4 rows 4g .. 4g + 3,
// held as the lanes of a vec4.

// The 4 rows of row group g (clamped to L - 1; `rows_valid` says which are real).
fn rows_of(g: u32) -> vec4<u32> {
    let r0 = g * 4u;
    let last = p.l - 1u;
    return vec4<u32>(min(r0, last), min(r0 + 1u, last), min(r0 + 2u, last), min(r0 + 3u, last));
}

fn rows_valid(g: u32) -> vec4<bool> {
    let r0 = g * 4u;
    return vec4<bool>(r0 < p.l, r0 + 1u < p.l, r0 + 2u < p.l, r0 + 3u < p.l);
}


#include "attention/parts/store_rows" NAME=o BUF=o_out
#include "attention/parts/store_rows" NAME=lse BUF=lse_out
#include "attention/parts/store_rows" NAME=dq BUF=dq_out
#include "attention/parts/store_rows" NAME=dv BUF=dv_out
