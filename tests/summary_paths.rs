//! One definition of duration, throughput and requests in flight: the same request records
//! fed through every path capsim has — the simulation's streaming summary, a spot run's
//! summary of measured records, a capsim records file read back, and a `vllm bench` file
//! written from them and imported — give the same summary.

mod common;

use capsim::metrics::{summarize_measured, Metric, RequestRecord, RunFacts, Summary};
use capsim::results::runs::load;
use capsim::spec::from_str;
use capsim::study::simulate::simulate;
use common::cli::{scratch, MISTRAL_4090};
use std::path::Path;

/// Open loop with a cap (requests wait at the client), long prompts some of which exceed
/// max_model_len (refused at once), so duration, in-flight and failures all matter.
const WORKLOAD: &str = r#"
[workload]
arrival = "poisson"
rate = 6.0
concurrency = 8
num_requests = 400
input_tokens = { dist = "lognormal", mean = 1500, stddev = 1200, max = 6000 }
output_tokens = { dist = "uniform", min = 1, max = 300 }
seed = 4
"#;

/// Fields the records determine (ITL needs per-token gaps, which simulated records do not
/// carry: the simulation's comes from its engine steps).
fn fields(s: &Summary) -> Vec<(&'static str, f64)> {
    let mut v = vec![
        ("completed", s.completed as f64),
        ("failed", s.failed as f64),
        ("duration", s.duration),
        ("mean_in_flight", s.mean_in_flight),
        ("total_input_tokens", s.total_input_tokens as f64),
        ("total_output_tokens", s.total_output_tokens as f64),
    ];
    for m in Metric::banded_metrics().filter(|m| !m.name().ends_with("_itl_ms")) {
        v.push((m.name(), s.metric(m)));
    }
    v
}

/// A `vllm bench serve --save-result --save-detailed` file of these records.
fn vllm_bench_file(records: &[RequestRecord], duration: f64, path: &Path) {
    let ok = |r: &RequestRecord| r.succeeded();
    let doc = serde_json::json!({
        "backend": "vllm",
        "duration": duration,
        "completed": records.iter().filter(|r| ok(r)).count(),
        "request_throughput": 0.0,
        "request_rate": 6.0,
        "max_concurrency": 8,
        "input_lens": records.iter().map(|r| r.input_tokens).collect::<Vec<_>>(),
        "output_lens": records.iter().map(|r| if ok(r) { r.output_tokens } else { 0 }).collect::<Vec<_>>(),
        "ttfts": records.iter().map(|r| r.ttft_s().filter(|_| ok(r)).unwrap_or(0.0)).collect::<Vec<_>>(),
        "itls": records.iter().map(|_| Vec::<f64>::new()).collect::<Vec<_>>(),
        "latencies": records.iter().map(|r| r.e2el_s().filter(|_| ok(r)).unwrap_or(0.0)).collect::<Vec<_>>(),
        "start_times": records.iter().map(|r| 1000.0 + r.sent_s).collect::<Vec<_>>(),
        "errors": records.iter().map(|r| r.error.as_deref().unwrap_or("").to_string()).collect::<Vec<_>>(),
    });
    std::fs::write(path, doc.to_string()).unwrap();
}

#[test]
fn every_path_gives_the_same_duration_throughput_and_in_flight() {
    let dir = scratch("summary-paths");
    // No API server in front: a refused request then takes no time, as a vllm bench file
    // (which records no timing for failures) implies.
    let sc = from_str(
        &format!("{MISTRAL_4090}{WORKLOAD}"),
        &dir.join("s.toml"),
        &[capsim::spec::parse_set("engine.api_server=false").unwrap()],
    )
    .unwrap()
    .remove(0);
    let sim = simulate(&sc);
    let records = sim.records;
    assert!(sim.summary.failed > 0, "some requests exceed max_model_len");

    // A spot run's summary of its records.
    let spot = summarize_measured(sc.point.clone(), &records, RunFacts::default());
    // The records written as a capsim records file and read back.
    let file = dir.join("records.jsonl");
    let text: String = records
        .iter()
        .map(|r| serde_json::to_string(r).unwrap() + "\n")
        .collect();
    std::fs::write(&file, text).unwrap();
    let read = load(&[file]).unwrap()[0].measured();
    // A vllm bench file with the same requests and the simulation's duration.
    let bench = dir.join("bench.json");
    // vllm bench starts at the first request: the simulation's first is sent at t = 0.
    assert_eq!(
        records
            .iter()
            .map(|r| r.sent_s)
            .fold(f64::INFINITY, f64::min),
        0.0
    );
    vllm_bench_file(&records, sim.summary.duration, &bench);
    let imported = load(&[bench]).unwrap()[0].measured();

    let paths = [
        ("simulation", &sim.summary),
        ("spot run", &spot),
        ("records file", &read),
        ("vllm bench", &imported),
    ];
    println!(
        "{:<28} {:>16} {:>16} {:>16} {:>16}",
        "field", paths[0].0, paths[1].0, paths[2].0, paths[3].0
    );
    let rows: Vec<Vec<(&str, f64)>> = paths.iter().map(|(_, s)| fields(s)).collect();
    for (i, (name, sim)) in rows[0].iter().enumerate() {
        println!(
            "{name:<28} {sim:>16.6} {:>16.6} {:>16.6} {:>16.6}",
            rows[1][i].1, rows[2][i].1, rows[3][i].1
        );
    }
    for i in 0..rows[0].len() {
        let (name, want) = rows[0][i];
        // capsim's own paths agree to the bit.
        for (p, row) in rows.iter().enumerate().take(3).skip(1) {
            assert!(
                row[i].1 == want || (row[i].1.is_nan() && want.is_nan()),
                "{name}: {} gives {} where the simulation gives {want}",
                paths[p].0,
                row[i].1
            );
        }
        // The vllm bench file holds times relative to its own start: the last bits may move.
        let got = rows[3][i].1;
        assert!(
            (got - want).abs() <= 1e-9 * want.abs().max(1.0) || (got.is_nan() && want.is_nan()),
            "{name}: vllm bench import gives {got} where the simulation gives {want}"
        );
    }
}
