//! Embeds every WGSL file under `shaders/` in the binary: writes `$OUT_DIR/shader_files.rs`, a
//! table of (name, source) pairs that the WGSL composer (`src/gpu/wgsl.rs`) resolves
//! `#include` directives from. A name is the path below `shaders/` without `.wgsl`
//! (`conv2d/direct_cpu`, `common/philox`).

use std::path::{Path, PathBuf};

fn wgsl_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            wgsl_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "wgsl") {
            out.push(path);
        }
    }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    wgsl_files(&root, &mut files);
    let mut table = String::from("pub(crate) static SHADER_FILES: &[(&str, &str)] = &[\n");
    for path in &files {
        // Directories are watched by their modification time only; watch each file as well.
        println!("cargo:rerun-if-changed={}", path.display());
        let name = path
            .strip_prefix(&root)
            .expect("below shaders/")
            .with_extension("")
            .to_string_lossy()
            .replace('\\', "/");
        table.push_str(&format!(
            "    ({name:?}, include_str!({:?})),\n",
            path.display().to_string()
        ));
    }
    table.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("shader_files.rs");
    std::fs::write(out, table).expect("writing shader_files.rs");
}
