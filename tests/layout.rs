mod common;

#[test]
fn layout_kernels_match_reference() {
    common::assert_all_pass(ddpm::selftest::layout::checks(&common::gpu()));
}
