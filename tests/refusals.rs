//! Inputs that cannot be right are refused with the reason, never turned into numbers: a
//! trace in the wrong time unit, a simulation driven past any sensible horizon, a profile of
//! another engine, records whose times are impossible, a concurrency of 0 in an imported run,
//! a step model that costs nothing, simulated results offered as measurements, shards of
//! different studies, a prompt search that walks past the engine's context or over a trace.
//! Each case prints what capsim said before asserting on it.

mod common;

use common::cli::{arg, capsim, scratch, write, Ran, MISTRAL_4090};

/// Asserts `capsim ARGS` exits 2 (bad input) and says every one of `words`.
fn refused(args: &[&str], words: &[&str]) -> Ran {
    let r = capsim(args);
    println!(
        "capsim {}\n  exit {}: {}",
        args.join(" "),
        r.code,
        r.stderr.trim()
    );
    assert_eq!(
        r.code, 2,
        "refused as bad input: {}\n{}",
        r.stdout, r.stderr
    );
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    for w in words {
        assert!(r.stderr.contains(w), "the reason names '{w}': {}", r.stderr);
    }
    r
}

fn closed(users: u32, requests: u32) -> String {
    format!(
        "{MISTRAL_4090}[workload]\narrival = \"closed\"\nconcurrency = {users}\nnum_requests = {requests}\ninput_tokens = 200\noutput_tokens = 64\nseed = 1\n"
    )
}

#[test]
fn a_trace_whose_timestamps_span_more_than_a_year_is_read_in_the_wrong_unit() {
    let d = scratch("trace-unit");
    // Epoch milliseconds read as seconds: 50 requests a day apart look like 137 years.
    let rows: String = (0..50)
        .map(|i| format!("{},300,40\n", 1_700_000_000_000u64 + i * 86_400_000))
        .collect();
    write(
        &d,
        "ms.csv",
        &format!("TIMESTAMP,ContextTokens,GeneratedTokens\n{rows}"),
    );
    let sc = write(
        &d,
        "trace.toml",
        &format!("{MISTRAL_4090}[workload]\narrival = \"trace\"\ntrace = \"ms.csv\"\n"),
    );
    refused(
        &["simulate", arg(&sc)],
        &["ms.csv", "line 3", "days after the first", "milliseconds"],
    );
    // The same rows in seconds are a 49-day trace, and report charts it per hour.
    let rows: String = (0..50)
        .map(|i| format!("{},300,40\n", 1_700_000_000u64 + i * 86_400))
        .collect();
    let s = write(
        &d,
        "s.csv",
        &format!("TIMESTAMP,ContextTokens,GeneratedTokens\n{rows}"),
    );
    let out = d.join("report");
    let r = capsim(&["report", arg(&s), "--out", arg(&out)]);
    assert!(r.ok(), "{}", r.stderr);
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        md.contains("per h"),
        "a 49-day trace is binned by the hour:\n{md}"
    );
}

#[test]
fn a_simulation_that_would_run_past_a_hundred_years_is_refused_not_counted_as_failures() {
    let d = scratch("horizon");
    let sc = write(&d, "s.toml", &closed(1, 10));
    for set in [
        vec!["workload.arrival=\"poisson\"", "workload.rate=1e-12"],
        vec![
            "calibration.flops_efficiency=1e-300",
            "calibration.bw_efficiency=1e-300",
        ],
    ] {
        let mut args = vec!["simulate", arg(&sc)];
        for s in &set {
            args.extend(["--set", s]);
        }
        refused(&args, &["100 years of simulated time", "far out of range"]);
    }
}

#[test]
fn a_profile_measured_on_llama_cpp_is_not_applied_to_a_vllm_scenario() {
    let d = scratch("engine-mismatch");
    let profile = common::cli::repo().join("calibration/h100-llamacpp-cuda.json");
    let sc = write(
        &d,
        "s.toml",
        &format!(
            "[model]\npreset = \"llama-3.1-8b\"\n[hardware]\ngpu = \"h100-sxm\"\n[engine]\nkind = \"vllm\"\n[calibration]\nprofile = \"{}\"\n[workload]\narrival = \"closed\"\nconcurrency = 1\nnum_requests = 4\ninput_tokens = 100\noutput_tokens = 10\n",
            profile.display()
        ),
    );
    refused(
        &["simulate", arg(&sc)],
        &["measured on llama.cpp", "engine is vllm"],
    );
}

#[test]
fn records_with_impossible_times_are_refused_wherever_they_are_read() {
    let d = scratch("impossible");
    let sc = write(&d, "s.toml", &closed(1, 2));
    let good = r#"{"id":0,"scheduled_s":0.0,"sent_s":0.0,"first_token_s":0.05,"end_s":0.5,"input_tokens":200,"output_tokens":64,"error":null}"#;
    for (name, bad, says) in [
        (
            "first-after-end",
            r#"{"id":1,"scheduled_s":0.5,"sent_s":0.5,"first_token_s":2.0,"end_s":1.0,"input_tokens":200,"output_tokens":64,"error":null}"#,
            "end_s 1 comes before first_token_s 2",
        ),
        (
            "end-before-sent",
            r#"{"id":1,"scheduled_s":0.5,"sent_s":0.5,"first_token_s":null,"end_s":0.2,"input_tokens":200,"output_tokens":64,"error":"HTTP 500"}"#,
            "end_s 0.2 comes before sent_s 0.5",
        ),
        (
            "negative-gap",
            r#"{"id":1,"scheduled_s":0.5,"sent_s":0.5,"first_token_s":0.6,"end_s":1.0,"input_tokens":200,"output_tokens":3,"itl_s":[0.2,-0.1],"error":null}"#,
            "an inter-token gap is -0.1 s",
        ),
    ] {
        let f = write(&d, &format!("{name}.jsonl"), &format!("{good}\n{bad}\n"));
        refused(
            &["validate", arg(&sc), "--runs", arg(&f)],
            &[says, "request 1 (the 2nd record)"],
        );
        refused(
            &[
                "calibrate",
                "--from",
                arg(&f),
                "--out",
                arg(&d.join("p.json")),
            ],
            &[says],
        );
    }
    // vllm bench: a TTFT longer than the request's whole latency.
    let fixture = common::cli::repo().join("tests/fixtures/imports/vllm-bench-detailed.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
    v["ttfts"][0] = serde_json::json!(50.0);
    let f = write(&d, "vbench.json", &v.to_string());
    refused(
        &["validate", arg(&sc), "--runs", arg(&f)],
        &["comes before first_token_s 50"],
    );
}

#[test]
fn an_imported_run_with_a_concurrency_of_zero_or_past_u32_is_refused() {
    let d = scratch("import-concurrency");
    let sc = write(&d, "s.toml", &closed(1, 2));
    let fixture = common::cli::repo().join("tests/fixtures/imports/vllm-bench-detailed.json");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
    for c in [serde_json::json!(0), serde_json::json!(4_294_967_297u64)] {
        let mut v = v.clone();
        v["max_concurrency"] = c.clone();
        let f = write(&d, "vbench.json", &v.to_string());
        refused(
            &["validate", arg(&sc), "--runs", arg(&f)],
            &["vbench.json", &format!("max_concurrency is {c}")],
        );
    }
}

#[test]
fn a_step_model_in_which_decoding_costs_nothing_is_not_a_profile() {
    let d = scratch("zero-step");
    let src = common::cli::repo().join("calibration/h100-llamacpp-cuda.json");
    let mut p: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(src).unwrap()).unwrap();
    for k in [
        "overhead_ms",
        "per_seq_ms",
        "weights_ms_per_pass",
        "compute_us_per_token",
    ] {
        p["step"][k] = serde_json::json!(0.0);
    }
    let f = write(&d, "zero.json", &p.to_string());
    let sc = common::cli::repo().join("scenarios/h100-llamacpp-validation.toml");
    refused(
        &[
            "simulate",
            arg(&sc),
            "--set",
            &format!("calibration.profile={:?}", arg(&f)),
        ],
        &["decode step would take no time"],
    );
}

#[test]
fn simulated_results_are_not_accepted_as_measured_runs() {
    let d = scratch("simulated-runs");
    let sc = write(&d, "s.toml", &closed(2, 20));
    let out = d.join("sim");
    capsim(&["simulate", arg(&sc), "--out", arg(&out)]).expect_ok("simulate --out");
    refused(
        &["validate", arg(&sc), "--runs", arg(&out)],
        &["holds simulated results"],
    );
    refused(
        &[
            "calibrate",
            "--from",
            arg(&out),
            "--out",
            arg(&d.join("p.json")),
        ],
        &["predictions, not runs measured"],
    );
    // Without its summary, the folder is still recognisably a simulation's.
    std::fs::remove_file(out.join("summary.json")).unwrap();
    refused(
        &["report", arg(&out), "--out", arg(&d.join("rep"))],
        &["summary.json missing"],
    );
}

#[test]
fn shards_of_different_studies_or_with_records_missing_do_not_merge() {
    let d = scratch("merge");
    let sc = write(
        &d,
        "s.toml",
        &format!(
            "{}[sweep]\n\"workload.concurrency\" = [1, 2, 4]\n",
            closed(1, 12)
        ),
    );
    let shard = |k: &str, extra: &[&str]| {
        let out = d.join(format!("sh{}", k.replace('/', "-")));
        let mut args = vec![
            "simulate",
            arg(&sc),
            "--shard",
            k,
            "--out",
            arg(&out),
            "--force",
        ];
        args.extend(extra);
        capsim(&args).expect_ok("a shard");
        out
    };
    let (a, b) = (
        shard("1/2", &[]),
        shard("2/2", &["--set", "hardware.gpu=\"rtx3090\""]),
    );
    refused(
        &["merge", arg(&a), arg(&b), "--out", arg(&d.join("m"))],
        &["was simulated from another sweep"],
    );
    let b = shard("2/2", &[]);
    let r = capsim(&[
        "merge",
        arg(&a),
        arg(&b),
        "--out",
        arg(&d.join("m")),
        "--force",
    ]);
    assert!(r.ok(), "shards of one study merge: {}", r.stderr);
    std::fs::remove_file(a.join("records-002.jsonl")).unwrap();
    refused(
        &[
            "merge",
            arg(&a),
            arg(&b),
            "--out",
            arg(&d.join("m")),
            "--force",
        ],
        &["records-002.jsonl", "missing"],
    );
    // Plans: one SLO per shard is two plans.
    let plan = |k: &str, slo: &str| {
        let r = capsim(&[
            "plan",
            arg(&sc),
            "--find",
            "replicas",
            "--seeds",
            "1",
            "--slo",
            slo,
            "--shard",
            k,
            "--json",
        ]);
        write(&d, &format!("plan{}.json", k.replace('/', "-")), &r.stdout)
    };
    let (p1, p2) = (
        plan("1/2", "p99_ttft_ms<=3000"),
        plan("2/2", "p99_ttft_ms<=100"),
    );
    refused(
        &[
            "merge",
            arg(&p1),
            arg(&p2),
            "--out",
            arg(&d.join("plan.json")),
        ],
        &["was planned with slo"],
    );
}

#[test]
fn a_prompt_length_search_stops_at_the_engines_context_and_refuses_a_trace() {
    let d = scratch("plan-input");
    let sc = write(&d, "s.toml", &closed(1, 20));
    let r = capsim(&[
        "plan",
        arg(&sc),
        "--find",
        "input_tokens",
        "--seeds",
        "1",
        "--slo",
        "p99_ttft_ms<=100000",
        "--json",
    ]);
    println!("{}\n{}", r.stdout, r.stderr);
    assert!(r.ok(), "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    // max_model_len 4096 with 64-token answers: the longest prompt is 4032.
    assert_eq!(v["answer"], serde_json::json!(4032), "{}", r.stdout);
    let notes = v["notes"].to_string();
    assert!(
        notes.contains("the longest prompt the engine's context leaves room for"),
        "{notes}"
    );

    write(
        &d,
        "t.csv",
        "TIMESTAMP,ContextTokens,GeneratedTokens\n0,100,10\n1,200,10\n",
    );
    let tr = write(
        &d,
        "t.toml",
        &format!("{MISTRAL_4090}[workload]\narrival = \"trace\"\ntrace = \"t.csv\"\n"),
    );
    refused(
        &[
            "plan",
            arg(&tr),
            "--find",
            "input_tokens",
            "--seeds",
            "1",
            "--slo",
            "p99_ttft_ms<=2000",
        ],
        &["a trace gives each request its own"],
    );
}

#[test]
fn token_counts_a_request_cannot_have_and_counts_of_zero_are_refused() {
    let d = scratch("lengths");
    let sc = write(&d, "s.toml", &closed(1, 4));
    refused(
        &[
            "simulate",
            arg(&sc),
            "--set",
            "workload.input_tokens={ dist = \"empirical\", values = [0, 5] }",
        ],
        &["empirical token counts must be at least 1"],
    );
    refused(
        &["simulate", arg(&sc), "--set", "workload.input_tokens=5e9"],
        &["reaches 5000000000 tokens", "2^30"],
    );
    refused(
        &["simulate", arg(&sc), "--set", "calibration.overhead_ms=-5"],
        &["(got -5)"],
    );
    let r = capsim(&[
        "plan",
        arg(&sc),
        "--find",
        "replicas",
        "--seeds",
        "0",
        "--slo",
        "p99_ttft_ms<=500",
    ]);
    println!("plan --seeds 0: exit {}: {}", r.code, r.stderr.trim());
    assert_eq!(r.code, 2, "--seeds 0 is refused");
    // A key the arrival process does not use is said, not silently dropped.
    let r = capsim(&["simulate", arg(&sc), "--set", "workload.rate=3"]);
    assert!(r.ok(), "{}", r.stderr);
    assert!(
        r.stderr.contains("does not use rate: ignored"),
        "{}",
        r.stderr
    );
}
