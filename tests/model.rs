//! The architecture, without a device: parameter counts, names and shapes.

use std::collections::HashMap;

use ddpm::checkpoint::{modern_name, read_safetensors};
use ddpm::model::unet::UNet;
use ddpm::model::UNetConfig;

#[test]
fn presets_have_the_papers_parameter_counts() {
    // unet-spec.md: 35,746,307 in 328 tensors (cifar10), 6,469,889 in 268 tensors (mnist).
    let cifar = UNet::new(&UNetConfig::cifar10());
    assert_eq!(cifar.parameter_count(), 35_746_307);
    assert_eq!(cifar.registry.specs.len(), 328);
    let mnist = UNet::new(&UNetConfig::mnist());
    assert_eq!(mnist.parameter_count(), 6_469_889);
    assert_eq!(mnist.registry.specs.len(), 268);
    // The CPU-sized presets: the counts of tools/cpu-preset-study (diffusers agrees, see
    // tools/peer/torch_step.py's EXPECTED_PARAMS).
    assert_eq!(
        UNet::new(&UNetConfig::mnist_small()).parameter_count(),
        1_112_801
    );
    assert_eq!(
        UNet::new(&UNetConfig::mnist_cpu()).parameter_count(),
        627_433
    );
}

#[test]
fn cifar10_names_and_shapes_follow_the_spec() {
    let model = UNet::new(&UNetConfig::cifar10());
    let shapes: HashMap<&str, &[usize]> = model
        .registry
        .specs
        .iter()
        .map(|s| (s.name.as_str(), s.shape.as_slice()))
        .collect();
    let expect: &[(&str, &[usize])] = &[
        ("conv_in.weight", &[128, 3, 3, 3]),
        ("time_embedding.linear_1.weight", &[512, 128]),
        ("time_embedding.linear_2.weight", &[512, 512]),
        (
            "down_blocks.1.resnets.0.conv_shortcut.weight",
            &[256, 128, 1, 1],
        ),
        ("down_blocks.1.attentions.1.to_out.0.weight", &[256, 256]),
        (
            "down_blocks.2.downsamplers.0.conv.weight",
            &[256, 256, 3, 3],
        ),
        ("mid_block.attentions.0.to_q.bias", &[256]),
        (
            "up_blocks.0.resnets.0.conv_shortcut.weight",
            &[256, 512, 1, 1],
        ),
        ("up_blocks.2.resnets.2.conv1.weight", &[256, 384, 3, 3]),
        ("up_blocks.2.upsamplers.0.conv.weight", &[256, 256, 3, 3]),
        ("up_blocks.3.resnets.0.conv1.weight", &[128, 384, 3, 3]),
        ("up_blocks.3.resnets.2.time_emb_proj.weight", &[128, 512]),
        ("conv_norm_out.weight", &[128]),
        ("conv_out.weight", &[3, 128, 3, 3]),
    ];
    for (name, shape) in expect {
        assert_eq!(shapes.get(name).copied(), Some(*shape), "{name}");
    }
    assert!(!shapes.contains_key("down_blocks.3.downsamplers.0.conv.weight"));
    assert!(!shapes.contains_key("up_blocks.3.upsamplers.0.conv.weight"));
}

#[test]
fn golden_model_file_matches_our_names_and_shapes_exactly() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/unet-tiny");
    let cfg =
        UNetConfig::from_json(&std::fs::read_to_string(format!("{dir}/config.json")).unwrap())
            .unwrap();
    let model = UNet::new(&cfg);
    assert_eq!(model.parameter_count(), 665_059);
    let (named, _) = read_safetensors(std::path::Path::new(&format!(
        "{dir}/diffusion_pytorch_model.safetensors"
    )))
    .unwrap();
    let mut theirs: Vec<(String, Vec<usize>)> = named
        .into_iter()
        .map(|(k, (s, _))| (modern_name(&k), s))
        .collect();
    let mut ours: Vec<(String, Vec<usize>)> = model
        .registry
        .specs
        .iter()
        .map(|s| (s.name.clone(), s.shape.clone()))
        .collect();
    theirs.sort();
    ours.sort();
    assert_eq!(ours, theirs);
}
