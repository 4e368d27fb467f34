//! What a user can get wrong or run into comes back as a typed `ddpm::Error` of the right kind
//! (printed as one line by the command line), not as a panic or an untyped message.

mod common;

use ddpm::model::UNetConfig;
use ddpm::Error;

fn kind(e: &anyhow::Error) -> &'static str {
    match e.downcast_ref::<Error>() {
        Some(Error::Adapter(_)) => "adapter",
        Some(Error::Limit(_)) => "limit",
        Some(Error::Config(_)) => "config",
        Some(Error::File(_)) => "file",
        Some(Error::Diverged(_)) => "diverged",
        None => "untyped",
    }
}

#[test]
fn configs_that_cannot_be_built_are_config_errors() {
    let e = UNetConfig::preset("imagenet").unwrap_err();
    assert_eq!(kind(&e), "config", "{e}");
    let e = UNetConfig::from_json(r#"{"block_out_channels": []}"#).unwrap_err();
    assert_eq!(kind(&e), "config", "{e}");
    let e = UNetConfig::from_json("[1, 2]").unwrap_err();
    assert_eq!(kind(&e), "config", "{e}");
}

#[test]
fn a_missing_adapter_is_an_adapter_error() {
    let options = ddpm::gpu::GpuOptions {
        adapter: Some("no adapter is called this".into()),
        ..Default::default()
    };
    let e = ddpm::Gpu::new(&options).err().expect("no such adapter");
    assert_eq!(kind(&e), "adapter", "{e}");
    assert!(e.to_string().contains("ddpm info"), "{e}");
}

#[test]
fn a_batch_beyond_the_binding_limit_is_a_limit_error() {
    let gpu = common::gpu();
    let e = ddpm::train::check_fits(&gpu, &UNetConfig::cifar10(), 1 << 20).unwrap_err();
    assert_eq!(kind(&e), "limit", "{e}");
    assert!(e.to_string().contains("batch size of at most"), "{e}");
}

#[test]
fn missing_or_foreign_files_are_file_errors() {
    let dir = std::env::temp_dir().join(format!("ddpm-errors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let e = ddpm::data::folder::load(&dir.join("nowhere"), 28, 1)
        .err()
        .expect("no folder");
    assert_eq!(kind(&e), "file", "{e}");
    let e = ddpm::data::folder::load(&dir, 28, 1)
        .err()
        .expect("no images");
    assert_eq!(kind(&e), "file", "{e}");
    let e =
        ddpm::checkpoint::load_model(&dir.join("none.safetensors"), true, ddpm::train::layout_of)
            .err()
            .expect("no such model");
    assert_eq!(kind(&e), "file", "{e}");
}
