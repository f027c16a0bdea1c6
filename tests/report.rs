//! `capsim report`, `--shard` and `capsim merge` through the command line: reports render
//! (PNG files decode, with labelled axes, units and legends), measured points appear next to
//! predictions, shards merge into exactly the unsharded sweep, and bad inputs are clear errors.

use resvg::tiny_skia::Pixmap;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn capsim(args: &[&str]) -> (i32, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_capsim"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn work(test: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("capsim-report-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A small concurrency sweep on a 4090, with the shipped profile (so predictions carry bands).
const SWEEP: &str = r#"
name = "sweep"
[model]
preset = "mistral-7b"
[hardware]
gpu = "rtx4090"
[engine]
kind = "vllm"
[calibration]
profile = "calibration/rtx4090-vllm-datasheet.json"
[workload]
arrival = "closed"
concurrency = 1
num_requests = 300
input_tokens = 1024
output_tokens = 256
seed = 5
[sweep]
"workload.concurrency" = [1, 4, 16, 32, 48, 64, 96]
"#;

fn sweep_file(dir: &Path) -> PathBuf {
    let p = dir.join("sweep.toml");
    let profile =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("calibration/rtx4090-vllm-datasheet.json");
    std::fs::write(
        &p,
        SWEEP.replace("calibration/rtx4090-vllm-datasheet.json", s(&profile)),
    )
    .unwrap();
    p
}

#[test]
fn a_report_renders_predictions_with_bands_and_measured_points() {
    let dir = work("render");
    // The shipped H100 scenario: a measured profile (so predictions carry bands), a sweep
    // through the knee to the plateau.
    let sim = dir.join("sim");
    let (code, _, err) = capsim(&[
        "simulate",
        "scenarios/h100-llamacpp-validation.toml",
        "--out",
        s(&sim),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(sim.join("capacity.json").is_file());
    // "Measured" points: the simulation's summaries marked as measured and 10% slower.
    let mut summaries: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(sim.join("summary.json")).unwrap()).unwrap();
    for v in &mut summaries {
        v["source"] = "measured".into();
        v.as_object_mut().unwrap().remove("band");
        let t = v["output_throughput"].as_f64().unwrap();
        v["output_throughput"] = (t * 0.9).into();
    }
    let measured = dir.join("measured.json");
    std::fs::write(&measured, serde_json::to_string(&summaries).unwrap()).unwrap();

    let out = dir.join("report");
    let (code, stdout, err) = capsim(&[
        "report",
        s(&sim),
        s(&measured),
        "--out",
        s(&out),
        "--title",
        "Mistral 7B on a 4090",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("report.md"), "{stdout}");
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.starts_with("# Mistral 7B on a 4090"));
    for stem in [
        "throughput-vs-concurrency",
        "ttft-vs-concurrency",
        "tpot-vs-concurrency",
        "user-speed-vs-concurrency",
        "latency-vs-throughput",
    ] {
        assert!(md.contains(&format!("]({stem}.png)")), "{stem} not linked");
        let png = std::fs::read(out.join(format!("{stem}.png"))).unwrap();
        let image = Pixmap::decode_png(&png).expect("the PNG decodes");
        assert!(image.width() >= 900 && image.height() >= 500);
        // Something is drawn: plenty of pixels are not white.
        let inked = image
            .pixels()
            .iter()
            .filter(|p| p.red() < 200 || p.green() < 200 || p.blue() < 200)
            .count();
        assert!(inked > 5_000, "{stem}: only {inked} inked pixels");
        let svg = std::fs::read_to_string(out.join(format!("{stem}.svg"))).unwrap();
        assert!(
            svg.contains("sim") && svg.contains("measured"),
            "{stem}: legend"
        );
    }
    let tput = std::fs::read_to_string(out.join("throughput-vs-concurrency.svg")).unwrap();
    assert!(
        tput.contains("output throughput (tok/s)"),
        "y axis with units"
    );
    assert!(tput.contains("concurrency (requests in flight)"), "x axis");
    assert!(tput.contains("plateau"), "plateau line");
    assert!(tput.contains("<polygon"), "the prediction band is shaded");
    assert!(tput.contains("<circle"), "measured points");
    let lat = std::fs::read_to_string(out.join("latency-vs-throughput.svg")).unwrap();
    assert!(lat.contains("knee: concurrency"), "knee marked");
    assert!(md.contains("knee at concurrency"), "{md}");
    assert!(md.contains("plateau from concurrency"), "{md}");
    assert!(md.contains("slots 8: 8 at once"), "capacity facts: {md}");
}

#[test]
fn shards_merge_into_the_unsharded_sweep() {
    let dir = work("shards");
    let sc = sweep_file(&dir);
    let whole = dir.join("whole");
    assert_eq!(capsim(&["simulate", s(&sc), "--out", s(&whole)]).0, 0);
    let mut parts = Vec::new();
    for k in 1..=3 {
        let part = dir.join(format!("part{k}"));
        let (code, _, err) = capsim(&[
            "simulate",
            s(&sc),
            "--shard",
            &format!("{k}/3"),
            "--out",
            s(&part),
        ]);
        assert_eq!(code, 0, "{err}");
        assert!(part.join("shard.json").is_file());
        parts.push(part);
    }
    // A missing shard is named.
    let merged = dir.join("merged");
    let (code, _, err) = capsim(&["merge", s(&parts[0]), s(&parts[2]), "--out", s(&merged)]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("missing shard(s) {2}"), "{err}");
    let (code, stdout, err) = capsim(&[
        "merge",
        s(&parts[2]),
        s(&parts[0]),
        s(&parts[1]),
        "--out",
        s(&merged),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("knee"), "{stdout}");
    for file in [
        "summary.json",
        "analysis.json",
        "records-000.jsonl",
        "records-006.jsonl",
    ] {
        let read = |d: &Path| std::fs::read_to_string(d.join(file)).unwrap();
        assert!(read(&whole) == read(&merged), "{file} differs");
    }
    // Plans over a sweep shard and merge the same way.
    let plan_sc = dir.join("plan.toml");
    std::fs::write(
        &plan_sc,
        std::fs::read_to_string(&sc).unwrap().replace(
            "\"workload.concurrency\" = [1, 4, 16, 32, 48, 64, 96]",
            "\"workload.input_tokens\" = [512, 2048, 8000]",
        ),
    )
    .unwrap();
    let plan = |shard: Option<&str>| -> Value {
        let mut args = vec![
            "plan",
            s(&plan_sc),
            "--find",
            "concurrency",
            "--slo",
            "p99_ttft_ms<=2000",
            "--seeds",
            "1",
            "--json",
        ];
        if let Some(sh) = shard {
            args.extend(["--shard", sh]);
        }
        let (code, out, err) = capsim(&args);
        assert_eq!(code, 0, "{err}");
        serde_json::from_str(&out).unwrap()
    };
    let all = plan(None);
    let answers: Vec<i64> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["answer"].as_i64().unwrap())
        .collect();
    assert_eq!(answers.len(), 3);
    assert!(
        answers[0] >= answers[1] && answers[1] >= answers[2],
        "longer prompts allow fewer users: {answers:?}"
    );
    let (a, b) = (dir.join("plan-1.json"), dir.join("plan-2.json"));
    std::fs::write(&a, plan(Some("1/2")).to_string()).unwrap();
    std::fs::write(&b, plan(Some("2/2")).to_string()).unwrap();
    let merged_plan = dir.join("plan.json");
    let (code, _, err) = capsim(&["merge", s(&b), s(&a), "--out", s(&merged_plan)]);
    assert_eq!(code, 0, "{err}");
    let merged: Value =
        serde_json::from_str(&std::fs::read_to_string(&merged_plan).unwrap()).unwrap();
    assert_eq!(merged, all);
}

#[test]
fn bad_report_and_shard_inputs_are_clear_errors() {
    let dir = work("bad");
    let sc = sweep_file(&dir);
    let junk = dir.join("junk.json");
    std::fs::write(&junk, "{\"hello\": 1}").unwrap();
    let out = dir.join("r");
    for (args, needle) in [
        (vec!["report", s(&junk), "--out", s(&out)], "junk.json"),
        (
            vec!["report", "/no/such/results", "--out", s(&out)],
            "no such file",
        ),
        (vec!["simulate", s(&sc), "--shard", "4/3"], "--shard"),
        (
            vec!["simulate", s(&sc), "--shard", "8/9"],
            "holds no points",
        ),
    ] {
        let (code, _, err) = capsim(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    }
}

#[test]
fn the_context_growth_report_names_the_mechanism() {
    let dir = work("context");
    let sim = dir.join("sim");
    let (code, _, err) = capsim(&[
        "simulate",
        "scenarios/rtx4090-long-context.toml",
        "--out",
        s(&sim),
    ]);
    assert_eq!(code, 0, "{err}");
    let out = dir.join("report");
    assert_eq!(capsim(&["report", s(&sim), "--out", s(&out)]).0, 0);
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("sustainable req/s falls"), "{md}");
    assert!(
        md.contains("prefill compute") && md.contains("KV capacity"),
        "{md}"
    );
    assert!(out.join("throughput-vs-prompt-length.png").is_file());
}

#[test]
fn a_trace_report_shows_its_arrivals_and_lengths() {
    let dir = work("trace");
    let out = dir.join("report");
    let started = std::time::Instant::now();
    let sim = dir.join("sim");
    let (code, _, err) = capsim(&[
        "simulate",
        "scenarios/azure-conv-replay.toml",
        "--set",
        "sweep={}",
        "--set",
        "cluster.replicas=8",
        "--out",
        s(&sim),
    ]);
    assert_eq!(code, 0, "{err}");
    eprintln!(
        "the whole Azure conv trace on 8 replicas: {:.2} s",
        started.elapsed().as_secs_f64()
    );
    let (code, _, err) = capsim(&["report", "builtin:azure-conv", s(&sim), "--out", s(&out)]);
    assert_eq!(code, 0, "{err}");
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("## Traces"), "{md}");
    assert!(md.contains("19366 requests"), "{md}");
    for stem in ["trace-azure-conv-arrivals", "trace-azure-conv-lengths"] {
        let png = std::fs::read(out.join(format!("{stem}.png"))).unwrap();
        assert!(Pixmap::decode_png(&png).is_ok(), "{stem}");
        assert!(md.contains(&format!("]({stem}.png)")), "{stem} linked");
    }
    let svg = std::fs::read_to_string(out.join("trace-azure-conv-arrivals.svg")).unwrap();
    assert!(svg.contains("requests per min"), "rate axis");
}

#[test]
fn swarm_and_session_reports_show_tasks_classes_and_turns() {
    let dir = work("agents");
    for (scenario, needles, chart) in [
        (
            "scenarios/swarm-3090-llamacpp.toml",
            vec!["contention", "one after another, alone"],
            Some("tasks-throughput-vs-concurrency"),
        ),
        (
            "scenarios/agent-session-side-tasks.toml",
            vec!["By class and turn", "session", "side", "prefix cache"],
            None,
        ),
    ] {
        let sim = dir.join("sim");
        let _ = std::fs::remove_dir_all(&sim);
        let (code, _, err) = capsim(&["simulate", scenario, "--out", s(&sim)]);
        assert_eq!(code, 0, "{err}");
        assert!(sim.join("breakdown.json").is_file() && sim.join("tasks.json").is_file());
        let out = dir.join("report");
        let _ = std::fs::remove_dir_all(&out);
        assert_eq!(capsim(&["report", s(&sim), "--out", s(&out)]).0, 0);
        let md = std::fs::read_to_string(out.join("report.md")).unwrap();
        for n in needles {
            assert!(md.contains(n), "{scenario}: {n} missing");
        }
        if let Some(stem) = chart {
            assert!(md.contains(&format!("]({stem}.png)")));
            let png = std::fs::read(out.join(format!("{stem}.png"))).unwrap();
            assert!(Pixmap::decode_png(&png).is_ok());
        }
    }
}
