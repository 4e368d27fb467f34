// Template: fn store_{{NAME}}4(o, ch, a) writes column r of a (own row r's channel quad ch) to
// {{BUF}}, for the real rows of o.
fn store_{{NAME}}4(o: Own, ch: u32, a: mat4x4<f32>) {
    if (o.valid.x) { {{BUF}}[o.at.x + ch] = a[0]; }
    if (o.valid.y) { {{BUF}}[o.at.y + ch] = a[1]; }
    if (o.valid.z) { {{BUF}}[o.at.z + ch] = a[2]; }
    if (o.valid.w) { {{BUF}}[o.at.w + ch] = a[3]; }
}
