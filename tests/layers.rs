//! The architecture holds: every module of `src/` uses only modules of lower layers (the rule
//! written in docs/ARCHITECTURE.md), found by scanning each source file for `crate::MODULE`
//! paths; and `src/main.rs` stays a thin command line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Layers, lowest first: a module may use its own layer's module and lower layers only.
const LAYERS: &[&[&str]] = &[
    &["units", "error", "http"],
    &["model", "hardware"],
    &["cost", "workload", "metrics"],
    &["engine", "analysis"],
    &["sim"],
    &["spec"],
    &["results"],
    &["live"],
    &["calibrate"],
    &["study"],
    &["render"],
];

fn layer(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module a file of `src/` belongs to (`src/spec/engine.rs` → `spec`).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    Some(first.trim_end_matches(".rs").to_string())
}

/// Every `crate::NAME` a file refers to (in `use` lines and inline paths, comments excluded).
fn uses(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            let after = &rest[i + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            // `use crate::{a, b}` lists several modules.
            if name.is_empty() && after.starts_with('{') {
                let inner = &after[1..after.find('}').unwrap_or(after.len())];
                for part in inner.split(',') {
                    let n: String = part
                        .trim()
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    if !n.is_empty() {
                        out.push(n);
                    }
                }
            } else if !name.is_empty() {
                out.push(name);
            }
            rest = after;
        }
    }
    out
}

#[test]
fn no_module_uses_a_layer_above_it() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let src = root.join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut edges: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    let mut unknown = Vec::new();
    for f in &files {
        let Some(m) = module_of(&src, f) else {
            continue;
        };
        if matches!(m.as_str(), "main" | "cli" | "commands" | "lib") {
            continue; // the binary and the crate root sit above every layer
        }
        let Some(own) = layer(&m) else {
            unknown.push(m);
            continue;
        };
        for used in uses(&std::fs::read_to_string(f).unwrap()) {
            if used == m || used == "keyword_deserialize" {
                continue;
            }
            match layer(&used) {
                Some(l) if l < own => {}
                _ => edges
                    .entry((m.clone(), used))
                    .or_default()
                    .push(f.strip_prefix(&root).unwrap().display().to_string()),
            }
        }
    }
    for ((from, to), files) in &edges {
        println!(
            "{from} (layer {:?}) uses {to} (layer {:?}) in {files:?}",
            layer(from),
            layer(to)
        );
    }
    assert!(
        unknown.is_empty(),
        "modules without a layer: {unknown:?} (add them to LAYERS and docs/ARCHITECTURE.md)"
    );
    assert!(edges.is_empty(), "{} uses of a layer above", edges.len());
}

#[test]
fn main_rs_is_a_thin_command_line() {
    let main =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/main.rs")).unwrap();
    let lines = main.lines().count();
    println!("src/main.rs: {lines} lines");
    assert!(lines <= 300, "src/main.rs has {lines} lines");
}

#[test]
fn the_scanner_sees_grouped_and_inline_uses() {
    let found =
        uses("use crate::{spec, metrics::Point};\nlet x = crate::sim::run(); // crate::render\n");
    assert_eq!(found, vec!["spec", "metrics", "sim"]);
}
