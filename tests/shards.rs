//! A study split over machines merges back to exactly what one machine writes: 1,000 sweep
//! points simulated as 8 shards in separate processes started by GNU parallel, then `capsim
//! merge`, give a folder byte-identical to the unsharded run's — summary, analysis, capacity,
//! per-class and per-turn breakdowns, agent tasks and every records file.

mod common;

use common::cli::{arg, capsim, scratch, write};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// Multi-turn sessions beside open-loop side requests, so breakdown.json and tasks.json are
/// written; 4 concurrencies × 250 seeds = 1,000 points.
fn scenario(dir: &Path) -> std::path::PathBuf {
    let seeds: Vec<String> = (0..250).map(|s| s.to_string()).collect();
    write(
        dir,
        "sweep.toml",
        &format!(
            r#"name = "shards-1000"
[model]
preset = "llama-3.1-8b"
[hardware]
gpu = "h100-sxm"
[engine]
kind = "vllm"
max_model_len = 8192
[workload]
name = "agents"
arrival = "closed"
concurrency = 2
turns = 2
num_requests = 6
input_tokens = {{ dist = "uniform", min = 100, max = 400 }}
output_tokens = 24
[[workload.class]]
name = "side"
arrival = "poisson"
rate = 4.0
num_requests = 4
input_tokens = 200
output_tokens = 16
[sweep]
"workload.concurrency" = [1, 2, 3, 4]
"workload.seed" = [{}]
"#,
            seeds.join(", ")
        ),
    )
}

fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_thousand_point_sweep_sharded_over_processes_merges_byte_identically() {
    let dir = scratch("shards-1000");
    let sc = scenario(&dir);
    let whole = dir.join("whole");
    capsim(&["simulate", arg(&sc), "--out", arg(&whole)]).expect_ok("unsharded run");

    // Eight shards, each its own process, two at a time (as on a 2-core machine).
    let shards = dir.join("shards");
    let status = Command::new("parallel")
        .args([
            "--halt",
            "now,fail=1",
            "-j",
            "2",
            env!("CARGO_BIN_EXE_capsim"),
            "simulate",
            arg(&sc),
            "--shard",
            "{}/8",
            "--out",
            &format!("{}/{{}}", shards.display()),
            ">",
            "/dev/null",
            "2>&1",
            ":::",
            "1",
            "2",
            "3",
            "4",
            "5",
            "6",
            "7",
            "8",
        ])
        .status()
        .expect("GNU parallel is installed (scripts/test installs it)");
    assert!(status.success(), "a shard failed");
    let parts: Vec<String> = (1..=8)
        .map(|k| shards.join(k.to_string()).display().to_string())
        .collect();
    // Shards in any order.
    let mut args = vec!["merge"];
    args.extend(parts.iter().rev().map(String::as_str));
    let merged = dir.join("merged");
    args.extend(["--out", arg(&merged)]);
    capsim(&args).expect_ok("merge");

    let (a, b) = (files(&whole), files(&merged));
    let names: Vec<&String> = a.keys().collect();
    println!("unsharded: {} files; merged: {} files", a.len(), b.len());
    for name in [
        "summary.json",
        "analysis.json",
        "capacity.json",
        "breakdown.json",
        "tasks.json",
    ] {
        println!(
            "  {name:<16} {:>10} bytes unsharded, {:>10} merged",
            a.get(name).map_or(0, Vec::len),
            b.get(name).map_or(0, Vec::len)
        );
        assert!(a.contains_key(name), "the unsharded run wrote {name}");
    }
    assert_eq!(names, b.keys().collect::<Vec<_>>(), "the same files");
    assert!(a.contains_key("records-999.jsonl"));
    for (name, bytes) in &a {
        assert!(bytes == &b[name], "{name} differs");
    }
}
