//! The layer map in `src/lib.rs`, checked: a module may use its own folder
//! and the folders before it, never one after. A total order has no cycles,
//! so this also fails on any import cycle between folders, and on a pure
//! layer reaching into `platform` (which is last).
//!
//! It reads every `crate::` path in the source, imports and inline paths
//! alike; lines that are comments (doc links included) do not count.

use std::fs;
use std::path::{Path, PathBuf};

/// The folders of `src/`, in the order `src/lib.rs` gives.
const LAYERS: [&str; 9] = [
    "settings", "wire", "access", "store", "room", "send", "http", "hooks", "platform",
];

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// The first path segment after each `crate::` in `code`, including each
/// name of a grouped `use crate::{a::x, b::y}`.
fn crate_paths(code: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                names.push(first_segment(item.trim()));
            }
        } else {
            names.push(first_segment(rest));
        }
    }
    names
}

fn first_segment(path: &str) -> String {
    path.chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

/// The code of `source` without its comment lines, joined so that a
/// grouped `use` spanning lines reads as one.
fn code_of(source: &str) -> String {
    source
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every use of a later layer, as `file: layer -> later layer`.
fn back_edges(src: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for (rank, layer) in LAYERS.iter().enumerate() {
        let mut files = Vec::new();
        rust_files(&src.join(layer), &mut files);
        files.sort();
        for file in files {
            let source = fs::read_to_string(&file).expect("a readable source file");
            for used in crate_paths(&code_of(&source)) {
                let Some(used_rank) = LAYERS.iter().position(|l| *l == used) else {
                    continue;
                };
                if used_rank > rank {
                    let shown = file.strip_prefix(src).unwrap_or(&file).display();
                    found.push(format!("src/{shown}: {layer} uses {used}"));
                }
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

#[test]
fn every_folder_uses_only_the_layers_before_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let edges = back_edges(&src);
    assert!(
        edges.is_empty(),
        "the layer order in src/lib.rs is broken:\n{}",
        edges.join("\n")
    );
}

#[test]
fn every_folder_of_src_is_a_layer_in_the_map() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = fs::read_to_string(src.join("lib.rs")).expect("src/lib.rs");
    for entry in fs::read_dir(&src).expect("src/") {
        let path = entry.expect("an entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if path.is_dir() && name != "bin" {
            assert!(LAYERS.contains(&name), "src/{name} is not in LAYERS");
            assert!(lib.contains(&format!("mod {name};")), "lib.rs lacks {name}");
        }
    }
}

#[test]
fn the_reader_sees_inline_paths_grouped_imports_and_skips_comments() {
    let code = code_of(
        "use crate::wire::error::Close;\n\
         /// See [`crate::platform`].\n\
         use crate::{room::Ctx,\n    send::flow};\n\
         let x = crate::http::api::route(head);\n",
    );
    assert_eq!(crate_paths(&code), ["wire", "room", "send", "http"]);
}
