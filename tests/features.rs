//! The engine uses what the adapter offers: every optional feature a kernel variant or the
//! profiler needs is requested when the adapter has it, and the variant choice then picks the
//! fast variants. A variant the adapter could run but the engine does not select fails here
//! instead of being skipped quietly (issue: SUBGROUP was once never requested).

mod common;

use ddpm::ops::conv::{self, ConvGeometry, ConvVariant};
use ddpm::ops::{attention, matmul};

#[test]
fn optional_features_offered_are_enabled() {
    let gpu = common::gpu();
    let wanted = wgpu::Features::SUBGROUP | wgpu::Features::TIMESTAMP_QUERY;
    let offered = gpu.adapter_features() & wanted;
    let enabled = gpu.device().features() & wanted;
    assert_eq!(
        offered, enabled,
        "offered {offered:?} but enabled only {enabled:?}"
    );
}

#[test]
fn subgroup_variants_are_selected_where_they_can_run() {
    let gpu = common::gpu();
    let info = gpu.info();
    let eight_wide = gpu.adapter_features().contains(wgpu::Features::SUBGROUP)
        && info.subgroup_min_size == 8
        && info.subgroup_max_size == 8;
    if !common::runs_here(
        gpu.is_cpu() && eight_wide,
        "the subgroup variants (a CPU adapter with 8-wide subgroups)",
    ) {
        return;
    }
    assert_eq!(matmul::variant(&gpu), matmul::Variant::CpuSubgroup);
    assert_eq!(
        attention::variant(&gpu, 64, 1),
        attention::Variant::RowsSubgroup
    );
    // The backward pass of the digit presets' 14x14 attention (196 tokens) is dense; at 7x7
    // (49 tokens) it stays with the subgroup kernels.
    assert_eq!(
        attention::backward_variant(&gpu, &[64, 196, 48], 1),
        attention::Variant::Dense
    );
    assert_eq!(
        attention::backward_variant(&gpu, &[64, 49, 48], 1),
        attention::Variant::RowsSubgroup
    );
    assert_eq!(
        conv::variant(&gpu, 3, 3, ConvGeometry::same3x3()),
        ConvVariant::DirectSubgroup
    );
}
