//! The README cannot drift from the binary: every `capsim …` command in its fenced code blocks
//! that needs neither a live server nor a placeholder (SCENARIO.toml, DIR, URL, …) is run here
//! on the shipped scenarios and must succeed (or exit as the README says it does). Output
//! folders are redirected to a scratch folder, consistently, so a `report` of an earlier
//! `--out` reads it.

mod common;

use common::cli::scratch;
use std::collections::BTreeMap;

/// Every command line of the README's code blocks (continuation lines joined).
fn commands(readme: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_block = false;
    let mut pending = String::new();
    for line in readme.lines() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
            continue;
        }
        if !in_block {
            continue;
        }
        let line = line.split(" # ").next().unwrap_or(line).trim();
        let joined = format!("{pending}{line}");
        if let Some(head) = joined.strip_suffix('\\') {
            pending = head.to_string();
            continue;
        }
        pending.clear();
        let cmd = joined
            .strip_prefix("cargo run --release -- ")
            .map(|r| format!("capsim {r}"))
            .unwrap_or(joined);
        if cmd.starts_with("capsim ") {
            out.push(cmd);
        }
    }
    out
}

/// Why a command cannot run here, if it cannot.
fn skip(cmd: &str) -> Option<&'static str> {
    let placeholder = cmd.split_whitespace().any(|w| {
        let w = w.trim_matches(|c: char| "[]|.,'\"".contains(c));
        w.len() > 1
            && w.chars().any(|c| c.is_ascii_uppercase())
            && w.chars()
                .all(|c| c.is_ascii_uppercase() || "_-./:".contains(c) || c.is_ascii_digit())
    });
    if cmd.contains("--url") {
        Some("needs a live server")
    } else if placeholder || cmd.contains('[') || cmd.contains("${") || cmd.contains("$((") {
        Some("a synopsis with placeholders")
    } else if cmd.contains("study.toml")
        || cmd.contains("shards/")
        || cmd.contains("plans/")
        || cmd.split_whitespace().any(|w| w == "study")
    {
        Some("the shard walkthrough's own study")
    } else {
        None
    }
}

#[test]
fn every_runnable_readme_command_runs() {
    let root = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let dir = scratch("readme");
    let mut outs: BTreeMap<String, String> = BTreeMap::new();
    let (mut ran, mut skipped) = (0, 0);
    for cmd in commands(&readme) {
        if let Some(why) = skip(&cmd) {
            println!("skip ({why}): {cmd}");
            skipped += 1;
            continue;
        }
        // Split like a shell would for these simple lines (single quotes group).
        let mut args: Vec<String> = Vec::new();
        let mut cur = String::new();
        let mut quoted = false;
        for c in cmd.chars() {
            match c {
                '\'' => quoted = !quoted,
                ' ' if !quoted => {
                    if !cur.is_empty() {
                        args.push(std::mem::take(&mut cur));
                    }
                }
                _ => cur.push(c),
            }
        }
        if !cur.is_empty() {
            args.push(cur);
        }
        // Outputs go to the scratch folder; later commands reading them follow.
        for i in 1..args.len() {
            if matches!(
                args[i - 1].as_str(),
                "--out" | "--csv" | "--write" | "--report"
            ) {
                let to = dir
                    .join(format!("out-{}", outs.len()))
                    .display()
                    .to_string();
                let to = outs.entry(args[i].clone()).or_insert(to).clone();
                let _ = std::fs::remove_dir_all(&to);
                args[i] = to;
            } else if let Some(to) = outs.get(&args[i]) {
                args[i] = to.clone();
            }
        }
        let expected: i32 = if cmd.contains("p99_ttft_ms<=1 ") {
            3
        } else {
            0
        };
        let argv: Vec<&str> = args[1..].iter().map(String::as_str).collect();
        let o = common::cli::capsim(&argv);
        println!("ran (exit {}): {cmd}", o.code);
        assert_eq!(o.code, expected, "{cmd}\n{}", o.stderr);
        ran += 1;
    }
    println!("{ran} README commands ran, {skipped} skipped");
    assert!(ran >= 10, "the README shows runnable examples");
}
