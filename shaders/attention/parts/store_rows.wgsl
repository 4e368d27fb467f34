// Template: fn store_rows_{{NAME}}(at, valid, v) writes the 4 lanes of v to {{BUF}}[at.x..at.w],
// each only where `valid` says its row is real.
fn store_rows_{{NAME}}(at: vec4<u32>, valid: vec4<bool>, v: vec4<f32>) {
    if (valid.x) { {{BUF}}[at.x] = v.x; }
    if (valid.y) { {{BUF}}[at.y] = v.y; }
    if (valid.z) { {{BUF}}[at.z] = v.z; }
    if (valid.w) { {{BUF}}[at.w] = v.w; }
}
