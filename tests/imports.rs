//! Imported runs give the files' own numbers: a `vllm bench serve --save-result` file (with
//! and without `--save-detailed`, new and legacy layouts, appended results) summarised by
//! capsim's summary function states the same duration, counts, throughputs and latency
//! percentiles as the file itself, within 0.5%; GuideLLM reports and folders of any of these
//! are read wherever recorded runs are.

mod common;

use capsim::metrics::Metric;
use capsim::results::runs::load;
use common::cli::{arg, capsim, repo, scratch, write, MISTRAL_4090};
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    repo().join("tests/fixtures/imports").join(name)
}

fn file_json(name: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixture(name)).unwrap()).unwrap()
}

/// Every summary field the file states, against capsim's value for it.
fn compare(name: &str) -> Vec<(String, f64, f64)> {
    let v = file_json(name);
    let runs = load(&[fixture(name)]).unwrap();
    assert_eq!(runs.len(), 1);
    let s = runs[0].measured();
    let mut rows = vec![
        (
            "duration".to_string(),
            v["duration"].as_f64().unwrap(),
            s.duration,
        ),
        (
            "completed".to_string(),
            v["completed"].as_f64().unwrap(),
            s.completed as f64,
        ),
    ];
    for m in Metric::banded_metrics() {
        if let Some(x) = v.get(m.name()).and_then(|x| x.as_f64()) {
            rows.push((m.name().to_string(), x, s.metric(m)));
        }
    }
    for (file_key, m) in [
        ("total_input_tokens", s.total_input_tokens as f64),
        ("total_output_tokens", s.total_output_tokens as f64),
    ] {
        rows.push((file_key.to_string(), v[file_key].as_f64().unwrap(), m));
    }
    println!("{name}:");
    println!(
        "  {:<24} {:>14} {:>14} {:>9}",
        "field", "file", "capsim", "diff"
    );
    for (k, f, c) in &rows {
        println!(
            "  {k:<24} {f:>14.6} {c:>14.6} {:>8.4}%",
            (c - f) / f.abs().max(1e-12) * 100.0
        );
    }
    rows
}

fn assert_within(rows: &[(String, f64, f64)], pct: f64) {
    for (k, f, c) in rows {
        assert!(
            ((c - f) / f.abs().max(1e-12) * 100.0).abs() <= pct,
            "{k}: file {f}, capsim {c}"
        );
    }
}

#[test]
fn vllm_bench_detailed_file_summarises_to_its_own_numbers() {
    let rows = compare("vllm-bench-detailed.json");
    // Every stated field is compared: throughputs, and mean/median/p90/p99 of TTFT, TPOT,
    // ITL and E2EL (the fixture asks for all four percentile metrics).
    assert!(rows.len() >= 22, "{} fields compared", rows.len());
    assert_within(&rows, 0.5);
}

#[test]
fn legacy_benchmark_serving_file_without_start_times_is_read_the_same() {
    let rows = compare("vllm-bench-legacy-detailed.json");
    assert_within(&rows, 0.5);
}

#[test]
fn aggregate_only_file_is_its_own_summary() {
    let rows = compare("vllm-bench-aggregate.json");
    assert!(rows.len() >= 20);
    assert_within(&rows, 0.0);
    let runs = load(&[fixture("vllm-bench-aggregate.json")]).unwrap();
    assert!(runs[0].records.is_empty());
    assert_eq!(runs[0].max_concurrency, Some(4));
    // Its latencies give the time-average of requests in flight.
    let s = runs[0].measured();
    assert!(
        s.mean_in_flight > 1.0 && s.mean_in_flight <= 4.0,
        "{}",
        s.mean_in_flight
    );
}

#[test]
fn results_appended_to_one_file_are_runs_of_their_own() {
    let runs = load(&[fixture("vllm-bench-appended.jsonl")]).unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].max_concurrency, Some(4));
    assert_eq!(runs[1].request_rate, Some(4.0));
}

#[test]
fn guidellm_benchmarks_become_one_run_per_strategy() {
    for name in ["guidellm-benchmarks.json", "guidellm-benchmarks-v0.3.json"] {
        let v = file_json(name);
        let runs = load(&[fixture(name)]).unwrap();
        assert_eq!(runs.len(), 2, "{name}");
        for (run, b) in runs.iter().zip(v["benchmarks"].as_array().unwrap()) {
            let s = run.measured();
            let duration = b["duration"].as_f64().unwrap();
            let n = run.records.iter().filter(|r| r.succeeded()).count();
            println!(
                "{name} {}: {} requests, duration {:.3} s (file {duration:.3}), {:.2} req/s, TTFT p50 {:.1} ms, TPOT mean {:.2} ms",
                run.point.label(),
                n,
                s.duration,
                s.request_throughput,
                s.median_ttft_ms,
                s.mean_tpot_ms
            );
            assert_eq!(s.completed as usize, n);
            assert!((s.duration - duration).abs() <= duration * 1e-9);
            // Requests per second: GuideLLM's mean is completed / window as well.
            let rps = b
                .pointer("/metrics/requests_per_second/successful/mean")
                .and_then(|x| x.as_f64())
                .unwrap();
            assert!(
                (s.request_throughput - rps).abs() <= rps * 0.005,
                "{} vs {rps}",
                s.request_throughput
            );
            // Mean TTFT is a plain mean in both.
            let ttft = b
                .pointer("/metrics/time_to_first_token_ms/successful/mean")
                .and_then(|x| x.as_f64())
                .unwrap();
            assert!(
                (s.mean_ttft_ms - ttft).abs() <= ttft * 0.005,
                "{} vs {ttft}",
                s.mean_ttft_ms
            );
            assert!(run.max_concurrency.is_some());
        }
    }
}

#[test]
fn a_folder_of_vllm_bench_files_is_accepted_wherever_runs_are() {
    let dir = scratch("imports-folder");
    for name in ["vllm-bench-detailed.json", "vllm-bench-aggregate.json"] {
        std::fs::copy(fixture(name), dir.join(name)).unwrap();
    }
    // vllm bench writes a PyTorch-benchmark sidecar next to each result: not a run.
    std::fs::write(dir.join("vllm-bench-detailed.pytorch.json"), "[]").unwrap();
    let runs = load(std::slice::from_ref(&dir)).unwrap();
    assert_eq!(runs.len(), 2);
    let sc = write(
        &dir,
        "s.toml",
        &format!("{MISTRAL_4090}\n[workload]\narrival = \"closed\"\nconcurrency = 4\ninput_tokens = 100\noutput_tokens = 100\n"),
    );
    let v = capsim(&["validate", arg(&sc), "--runs", arg(&dir), "--json"]).expect_ok("validate");
    let points: serde_json::Value = serde_json::from_str(&v.stdout).unwrap();
    assert_eq!(points.as_array().unwrap().len(), 2);
    // The measured side of the detailed run is the file's own throughput.
    let measured = points[0]["measured"]["output_throughput"].as_f64().unwrap();
    let file = file_json("vllm-bench-detailed.json")["output_throughput"]
        .as_f64()
        .unwrap();
    assert!(
        (measured - file).abs() <= file * 0.005,
        "{measured} vs {file}"
    );
    let out = dir.join("report");
    capsim(&["report", arg(&dir), "--out", arg(&out)]).expect_ok("report");
    assert!(out.join("report.md").is_file());
}
