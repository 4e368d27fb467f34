mod common;

#[test]
fn conv_kernels_match_reference() {
    common::assert_all_pass(ddpm::selftest::conv::checks(&common::gpu()));
}
