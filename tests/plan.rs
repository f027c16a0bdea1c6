//! `capsim plan` answers are consistent and explain themselves: a looser SLO never needs more
//! replicas, the rate found meets the SLO and 5% more does not; the margin reads as headroom or
//! "over"; failed requests count by default; a throughput floor searches for the least load;
//! an answer on a cliff shows its neighbour; every seed's own answer is shown; malformed SLOs
//! exit 2 and SLOs no candidate meets exit 3 with the closest candidate.

mod common;

use capsim::analysis::slo::Slo;
use capsim::spec::{self, parse_set};
use capsim::study::plan::{plan, Find, PlanOptions};
use capsim::study::simulate::simulate;
use std::path::{Path, PathBuf};

fn scenario(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("capsim-plan-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

const OPEN: &str = r#"
[model]
preset = "llama-3.1-8b"
[hardware]
gpu = "rtx4090"
[engine]
kind = "vllm"
max_model_len = 8192
[workload]
arrival = "poisson"
rate = 1.0
num_requests = 600
input_tokens = { dist = "lognormal", mean = 800, stddev = 400, max = 4000 }
output_tokens = { dist = "uniform", min = 32, max = 256 }
seed = 11
"#;

fn opts(find: Find, seeds: u32) -> PlanOptions {
    PlanOptions {
        find,
        seeds,
        allow_failures: false,
    }
}

fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let r = common::cli::capsim(args);
    (Some(r.code), r.stdout, r.stderr)
}

fn slos(list: &[&str]) -> Vec<Slo> {
    list.iter().map(|s| Slo::parse(s).unwrap()).collect()
}

#[test]
fn a_looser_slo_never_needs_more_replicas() {
    let p = scenario("replicas.toml", &OPEN.replace("rate = 1.0", "rate = 12.0"));
    let mut last = u64::MAX;
    for limit in [600, 1200, 2500, 10000] {
        let r = plan(
            &p,
            &[],
            &slos(&[&format!("p99_ttft_ms<={limit}")]),
            &opts(Find::Replicas, 2),
        )
        .unwrap();
        let n = r.answer.unwrap().as_u64().unwrap();
        eprintln!("p99 TTFT <= {limit} ms: {n} replicas");
        assert!(n <= last, "looser SLO {limit} needs {n} > {last}");
        assert!(
            r.notes.iter().all(|n| !n.contains("not monotone")),
            "{:?}",
            r.notes
        );
        last = n;
    }
}

#[test]
fn the_rate_found_meets_the_slo_and_five_percent_more_does_not() {
    let p = scenario("rate.toml", OPEN);
    let slo = slos(&["p99_ttft_ms<=1500"]);
    let r = plan(&p, &[], &slo, &opts(Find::Rate, 3)).unwrap();
    let rate = r.answer.unwrap().as_f64().unwrap();
    assert_eq!(r.binding.map(|m| m.name()), Some("p99_ttft_ms"));
    assert!(r.margin_pct.unwrap() >= 0.0);
    let at = |x: f64| -> Vec<bool> {
        (0..3)
            .map(|s| {
                let sets = vec![
                    parse_set(&format!("workload.rate={x}")).unwrap(),
                    parse_set(&format!("workload.seed={}", 11 + s)).unwrap(),
                ];
                let sc = spec::load(&p, &sets).unwrap().remove(0);
                slo[0].met(&simulate(&sc).summary)
            })
            .collect()
    };
    assert!(
        at(rate).iter().all(|ok| *ok),
        "the answer {rate} meets the SLO at every seed"
    );
    assert!(
        at(rate * 1.05).iter().any(|ok| !ok),
        "5% more than {rate} misses it at some seed"
    );
}

#[test]
fn malformed_slos_exit_2_and_unmeetable_ones_exit_3_with_the_closest_candidate() {
    let p = scenario("bad.toml", OPEN);
    let f = p.to_str().unwrap();
    // Before: an SLO nothing meets exited 2, as if the input were malformed.
    let (code, out, err) = run(&["plan", f, "--slo", "p99_ttft_ms<=1", "--find", "rate"]);
    println!("{out}{err}");
    assert_eq!(code, Some(3), "{err}");
    assert!(
        err.contains("cannot be met") && err.contains("closest is workload.rate = 0.01"),
        "{err}"
    );
    assert!(out.contains("over by"), "{out}");
    let (code, _, err) = run(&["plan", f, "--slo", "p99_ttft_ms<=10", "--find", "replicas"]);
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("cluster.replicas = 4096"), "{err}");
    let (code, _, err) = run(&["plan", f, "--slo", "p99_ttft_ms", "--find", "rate"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("is not METRIC"), "{err}");
    let (code, _, err) = run(&["plan", f, "--slo", "p99_ttfb_ms<=5", "--find", "rate"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("unknown metric"), "{err}");
    let (code, _, err) = run(&["plan", f, "--slo", "p99_ttft_ms<=500", "--find", "gpus"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("unknown target"), "{err}");
    let (code, _, err) = run(&[
        "plan",
        f,
        "--slo",
        "p99_ttft_ms<=500",
        "--find",
        "concurrency",
    ]);
    assert_eq!(code, Some(2));
    assert!(err.contains("closed"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1);
}

#[test]
fn the_margin_reads_as_headroom_and_the_mechanism_is_named() {
    let p = scenario("margin.toml", &OPEN.replace("rate = 1.0", "rate = 12.0"));
    let (code, out, err) = run(&[
        "plan",
        p.to_str().unwrap(),
        "--slo",
        "p99_ttft_ms<=2500",
        "--find",
        "replicas",
    ]);
    println!("{out}");
    assert_eq!(code, Some(0), "{err}");
    // Before: "+47.9% from its limit", which reads as over the limit.
    assert!(
        out.contains("headroom") && !out.contains("from its limit"),
        "{out}"
    );
    assert!(out.contains("binding SLO: p99_ttft_ms = "), "{out}");
    assert!(out.contains("what binds: "), "{out}");
    assert!(out.contains("seeds: "), "{out}");
}

#[test]
fn failed_requests_count_by_default() {
    // Prompts up to 6000 tokens with max_model_len 4096: some requests are refused.
    let text = OPEN
        .replace("max_model_len = 8192", "max_model_len = 4096")
        .replace(
            "{ dist = \"lognormal\", mean = 800, stddev = 400, max = 4000 }",
            "{ dist = \"lognormal\", mean = 2000, stddev = 1200, max = 6000 }",
        );
    assert!(text.contains("max = 6000"));
    let p = scenario("failures.toml", &text);
    let f = p.to_str().unwrap();
    // Before: failures were ignored unless --slo failed==0 was given.
    let (code, out, err) = run(&["plan", f, "--slo", "p99_ttft_ms<=3000", "--find", "rate"]);
    println!("{out}{err}");
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("requests failed"), "{err}");
    let (code, out, err) = run(&[
        "plan",
        f,
        "--slo",
        "p99_ttft_ms<=3000",
        "--find",
        "rate",
        "--allow-failures",
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("failed requests allowed"), "{out}");
}

#[test]
fn a_throughput_floor_searches_for_the_least_load() {
    let closed = r#"
[model]
preset = "llama-3.1-8b"
[hardware]
gpu = "rtx4090"
[engine]
kind = "vllm"
max_model_len = 4096
[workload]
arrival = "closed"
concurrency = 1
num_requests = 200
input_tokens = 256
output_tokens = 128
seed = 3
"#;
    let p = scenario("floor.toml", closed);
    // Before: the search went the wrong way and called the floor impossible at 1 user.
    let (code, out, err) = run(&[
        "plan",
        p.to_str().unwrap(),
        "--slo",
        "output_throughput>=300",
        "--find",
        "concurrency",
        "--json",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    println!("{err}");
    assert_eq!(v["direction"], "least");
    let n = v["answer"].as_u64().unwrap();
    assert!(n > 1, "one user cannot reach 300 tok/s");
    // One user fewer misses the floor.
    let below = spec::load(
        &p,
        &[parse_set(&format!("workload.concurrency={}", n - 1)).unwrap()],
    )
    .unwrap()
    .remove(0);
    assert!(simulate(&below).summary.output_throughput < 300.0);
}

#[test]
fn plan_json_has_the_contract_fields() {
    let p = scenario("json.toml", OPEN);
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_capsim"))
        .args([
            "plan",
            p.to_str().unwrap(),
            "--slo",
            "p99_ttft_ms<=2000",
            "--slo",
            "failed==0",
            "--find",
            "rate",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for k in [
        "find",
        "direction",
        "answer",
        "binding",
        "margin_pct",
        "binding_value",
        "binding_limit",
        "mechanism",
        "seed_answers",
        "failures_allowed",
        "slo",
        "evaluated",
    ] {
        assert!(v.get(k).is_some(), "{k}");
    }
    assert_eq!(v["find"], "rate");
    assert_eq!(v["slo"].as_array().unwrap().len(), 2);
    assert!(!v["evaluated"].as_array().unwrap().is_empty());
    let _ = Path::new("");
}
