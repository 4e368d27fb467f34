//! Composes WGSL kernel modules from parts, so that shared code exists once.
//!
//! Every file under `shaders/` is embedded at build time (`build.rs`), named by its path below
//! `shaders/` without `.wgsl`. A line of the form
//!
//! ```text
//! #include "common/philox"
//! #include "elementwise/parts/map" NAME=silu4 T=vec4<f32>
//! ```
//!
//! is replaced by that file's text, composed in turn, with each `{{KEY}}` in it replaced by the
//! value given on the line (a value has no spaces and may be empty). An include without values is inserted once
//! per module however often it is asked for (shared functions, bindings); one with values is
//! a template instance, inserted once per distinct set of values (scalar/vec4 twins, unrolled
//! blocks). Values reach nested includes only if passed on: `#include "x" K={{K}}`.
//!
//! Unrolled blocks are generated rather than written out: the lines between
//!
//! ```text
//! #for V in 0..8
//!     sw[t * 8u + {{V}}u] = xa[{{V}}];
//! #end
//! ```
//!
//! are repeated for V = 0, 1, ..., 7 (loops nest; the range may use placeholders), which keeps
//! the code a driver sees straight-line (lavapipe keeps constant-indexed private arrays in
//! registers) without writing it out by hand.
//!
//! WGSL has no use for `#`, so the directive cannot clash with kernel code. Composition runs
//! when a pipeline's module is first built; the result is validated by naga inside wgpu, and
//! every module is composed and validated on every test run (`tests/shaders.rs`).

use std::collections::HashSet;

include!(concat!(env!("OUT_DIR"), "/shader_files.rs"));

/// A composition error: an unknown file, a cycle, a malformed directive or an unfilled
/// placeholder. All of them are mistakes in `shaders/`, caught by the tests.
#[derive(Debug, thiserror::Error)]
#[error("WGSL composition of {module}: {message}")]
pub struct ComposeError {
    module: String,
    message: String,
}

/// The source of the embedded file `name` (e.g. `conv2d/direct_cpu`), not composed.
pub fn file(name: &str) -> Option<&'static str> {
    SHADER_FILES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, source)| *source)
}

/// The names of the kernel modules: every embedded file except the parts (files under
/// `shaders/common/` and under a `parts/` folder of a family), which exist to be included.
pub fn modules() -> impl Iterator<Item = &'static str> {
    SHADER_FILES
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| !is_part(name))
}

fn is_part(name: &str) -> bool {
    name.starts_with("common/") || name.split('/').any(|dir| dir == "parts")
}

/// `source` with its `#include` directives resolved; `name` labels errors.
pub fn compose(name: &str, source: &str) -> Result<String, ComposeError> {
    let mut state = State {
        out: String::with_capacity(source.len() * 2),
        done: HashSet::new(),
        stack: vec![name.to_string()],
    };
    state.expand(source, &[]).map_err(|message| ComposeError {
        module: name.to_string(),
        message,
    })?;
    Ok(state.out)
}

/// The composed source of the embedded module `name`.
pub fn compose_file(name: &str) -> Result<String, ComposeError> {
    let source = file(name).ok_or_else(|| ComposeError {
        module: name.to_string(),
        message: "no such file under shaders/".into(),
    })?;
    compose(name, source)
}

struct State {
    out: String,
    /// Includes already inserted: the name followed by its values.
    done: HashSet<String>,
    /// The chain of files being expanded, to report cycles.
    stack: Vec<String>,
}

impl State {
    fn expand(&mut self, source: &str, values: &[(String, String)]) -> Result<(), String> {
        let lines: Vec<&str> = source.lines().collect();
        let mut i = 0;
        while i < lines.len() {
            let line = substitute(lines[i], values)?;
            let directive = line.trim_start();
            if let Some(rest) = directive.strip_prefix("#include") {
                self.include(rest)?;
            } else if let Some(rest) = directive.strip_prefix("#for") {
                let end = matching_end(&lines, i)?;
                let (name, range) = parse_for(rest)?;
                let body = lines[i + 1..end].join("\n");
                for k in range {
                    let mut inner = values.to_vec();
                    inner.push((name.clone(), k.to_string()));
                    self.expand(&body, &inner)?;
                }
                i = end;
            } else if directive.starts_with("#end") {
                return Err("#end without #for".into());
            } else {
                self.out.push_str(&line);
                self.out.push('\n');
            }
            i += 1;
        }
        Ok(())
    }

    fn include(&mut self, directive: &str) -> Result<(), String> {
        let (name, values) = parse_include(directive)?;
        let key = std::iter::once(name.clone())
            .chain(values.iter().map(|(k, v)| format!("{k}={v}")))
            .collect::<Vec<_>>()
            .join(" ");
        if self.stack.contains(&name) {
            return Err(format!(
                "include cycle: {} -> {name}",
                self.stack.join(" -> ")
            ));
        }
        if !self.done.insert(key.clone()) {
            return Ok(());
        }
        let text = file(&name).ok_or_else(|| format!("#include of unknown file \"{name}\""))?;
        self.out.push_str(&format!("// ---- {key}\n"));
        self.stack.push(name);
        self.expand(text, &values)?;
        self.stack.pop();
        Ok(())
    }
}

/// The index of the `#end` closing the `#for` at `lines[start]` (loops nest).
fn matching_end(lines: &[&str], start: usize) -> Result<usize, String> {
    let mut depth = 0;
    for (i, line) in lines.iter().enumerate().skip(start) {
        let t = line.trim_start();
        if t.starts_with("#for") {
            depth += 1;
        } else if t.starts_with("#end") {
            depth -= 1;
            if depth == 0 {
                return Ok(i);
            }
        }
    }
    Err(format!("`{}` has no #end", lines[start].trim()))
}

/// `NAME in A..B` after `#for`: the loop variable and its (half-open) range.
fn parse_for(directive: &str) -> Result<(String, std::ops::Range<u32>), String> {
    let bad = || format!("malformed directive `#for{directive}` (expected `#for NAME in A..B`)");
    let words: Vec<&str> = directive.split_whitespace().collect();
    let [name, "in", range] = words[..] else {
        return Err(bad());
    };
    let (a, b) = range.split_once("..").ok_or_else(bad)?;
    let a: u32 = a.parse().map_err(|_| bad())?;
    let b: u32 = b.parse().map_err(|_| bad())?;
    Ok((name.to_string(), a..b))
}

/// `"name" K=V K=V` after `#include`.
fn parse_include(directive: &str) -> Result<(String, Vec<(String, String)>), String> {
    let bad = || format!("malformed directive `#include{directive}`");
    let rest = directive.trim();
    let rest = rest.strip_prefix('"').ok_or_else(bad)?;
    let end = rest.find('"').ok_or_else(bad)?;
    let name = rest[..end].to_string();
    let mut values = Vec::new();
    for word in rest[end + 1..].split_whitespace() {
        if word.starts_with("//") {
            break;
        }
        let (k, v) = word.split_once('=').ok_or_else(bad)?;
        if k.is_empty() {
            return Err(bad());
        }
        values.push((k.to_string(), v.to_string()));
    }
    Ok((name, values))
}

/// `line` with each `{{KEY}}` replaced by its value; an unknown key is an error.
fn substitute(line: &str, values: &[(String, String)]) -> Result<String, String> {
    if !line.contains("{{") {
        return Ok(line.to_string());
    }
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| format!("unclosed placeholder in `{line}`"))?;
        let key = &after[..end];
        let value = values
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
            .ok_or_else(|| format!("placeholder {{{{{key}}}}} has no value in `{line}`"))?;
        out.push_str(value);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_and_unknown_ones_rejected() {
        let v = vec![("T".to_string(), "vec4<f32>".to_string())];
        assert_eq!(
            substitute("var x: {{T}} = {{T}}(0.0);", &v).unwrap(),
            "var x: vec4<f32> = vec4<f32>(0.0);"
        );
        assert!(substitute("{{U}}", &v).is_err());
        assert!(substitute("{{T", &v).is_err());
    }

    #[test]
    fn directives_parse_names_and_values() {
        let (name, values) = parse_include(r#" "a/b" N=x T=vec4<f32> // why"#).unwrap();
        assert_eq!(name, "a/b");
        assert_eq!(values.len(), 2);
        assert_eq!(values[1], ("T".to_string(), "vec4<f32>".to_string()));
        assert!(parse_include(" a/b").is_err());
        assert!(parse_include(r#" "a/b" N"#).is_err());
    }

    #[test]
    fn for_loops_unroll_and_nest() {
        let src = "#for A in 0..2\n#for B in 1..3\nf({{A}}, {{B}});\n#end\n#end\n";
        assert_eq!(
            compose("m", src).unwrap(),
            "f(0, 1);\nf(0, 2);\nf(1, 1);\nf(1, 2);\n"
        );
        assert!(compose("m", "#for A in 0..2\nf();\n").is_err());
        assert!(compose("m", "#end\n").is_err());
        assert!(compose("m", "#for A 0..2\n#end\n").is_err());
    }

    #[test]
    fn unknown_includes_are_errors() {
        let e = compose("m", "#include \"no/such/file\"\n").unwrap_err();
        assert!(e.to_string().contains("no/such/file"), "{e}");
    }

    #[test]
    fn plain_includes_are_inserted_once() {
        let common = SHADER_FILES
            .iter()
            .find(|(n, _)| n.starts_with("common/"))
            .expect("a shared part under shaders/common/")
            .0;
        let src = format!("#include \"{common}\"\n#include \"{common}\"\nfn f() {{}}\n");
        let out = compose("m", &src).unwrap();
        assert_eq!(out.matches(&format!("// ---- {common}\n")).count(), 1);
        assert!(out.ends_with("fn f() {}\n"));
    }

    #[test]
    fn every_module_composes() {
        let mut n = 0;
        for name in modules() {
            let out = compose_file(name).unwrap_or_else(|e| panic!("{e}"));
            assert!(!out.contains("#include") && !out.contains("{{"), "{name}");
            n += 1;
        }
        assert!(n > 0);
    }
}
