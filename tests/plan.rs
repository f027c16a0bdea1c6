//! `capsim plan` answers are consistent: a looser SLO never needs more replicas, the rate found
//! meets the SLO and 5% more does not, and impossible or malformed SLOs are clear errors.

use capsim::analysis::slo::Slo;
use capsim::spec::{self, parse_set};
use capsim::study::plan::{plan, Find};
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
            Find::Replicas,
            2,
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
    let r = plan(&p, &[], &slo, Find::Rate, 3).unwrap();
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
fn impossible_and_malformed_slos_exit_2_with_the_reason() {
    let p = scenario("bad.toml", OPEN);
    let run = |args: &[&str]| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_capsim"))
            .args(args)
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let f = p.to_str().unwrap();
    let (code, err) = run(&["plan", f, "--slo", "p99_ttft_ms<=1", "--find", "rate"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("cannot be met even") && err.contains("p99_ttft_ms"),
        "{err}"
    );
    let (code, err) = run(&["plan", f, "--slo", "p99_ttft_ms<=10", "--find", "replicas"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("cannot be met even at cluster.replicas = 4096"),
        "{err}"
    );
    let (code, err) = run(&["plan", f, "--slo", "p99_ttft_ms", "--find", "rate"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("is not METRIC"), "{err}");
    let (code, err) = run(&["plan", f, "--slo", "p99_ttfb_ms<=5", "--find", "rate"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("unknown metric"), "{err}");
    let (code, err) = run(&["plan", f, "--slo", "p99_ttft_ms<=500", "--find", "gpus"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("unknown target"), "{err}");
    let (code, err) = run(&[
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
        "answer",
        "binding",
        "margin_pct",
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
