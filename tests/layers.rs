//! The layers of ARCHITECTURE.md only point down: a module may use the layers below it, never
//! one above, and nothing outside the tests and `selftest` uses the float64 `reference`.
//! Checked on the source text: every `crate::<layer>` path outside comments.

use std::path::{Path, PathBuf};

/// Bottom to top. A module of layer i may use layers 0..i.
const LAYERS: [&str; 9] = [
    "maths",
    "gpu",
    "tensor",
    "ops",
    "nn",
    "model",
    "diffusion",
    "train",
    "cli",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The layer a source file belongs to (`src/ops/conv.rs` -> ops, `src/tensor.rs` -> tensor).
fn layer_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel.components().next()?.as_os_str().to_string_lossy();
    Some(first.trim_end_matches(".rs").to_string())
}

/// The code of a line, without its `//` comment (doc comments included).
fn code(line: &str) -> &str {
    line.split("//").next().unwrap_or("")
}

#[test]
fn layers_only_point_down_and_reference_stays_in_tests() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(files.len() > 50, "found only {} source files", files.len());
    let mut wrong = Vec::new();
    for file in &files {
        let Some(layer) = layer_of(&src, file) else {
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        // A `#[cfg(test)]` module at the end of a file may use anything.
        let text = text.split("#[cfg(test)]").next().unwrap();
        let rank = LAYERS.iter().position(|l| *l == layer);
        for (n, line) in text.lines().enumerate() {
            let code = code(line);
            let place = format!("{}:{}", file.display(), n + 1);
            if !matches!(layer.as_str(), "reference" | "selftest")
                && code.contains("crate::reference")
            {
                wrong.push(format!("{place}: uses the float64 reference"));
            }
            let Some(rank) = rank else { continue };
            for above in &LAYERS[rank + 1..] {
                if code.contains(&format!("crate::{above}::"))
                    || code.contains(&format!("crate::{above};"))
                {
                    wrong.push(format!("{place}: {layer} uses {above}, a layer above it"));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_check_sees_a_violation() {
    // Guards the test above against passing vacuously.
    assert_eq!(
        code("use crate::train::x; // crate::cli"),
        "use crate::train::x; "
    );
    let src = Path::new("/r/src");
    assert_eq!(
        layer_of(src, Path::new("/r/src/ops/conv.rs")).as_deref(),
        Some("ops")
    );
    assert_eq!(
        layer_of(src, Path::new("/r/src/tensor.rs")).as_deref(),
        Some("tensor")
    );
}
