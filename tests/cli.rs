//! The command line as users meet it: determinism of `--json`, the `--out` folder, `--set`,
//! sweeps, and one clear line with exit status 2 for every kind of bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn capsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_capsim"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("capsim runs")
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("capsim-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const GOOD: &str = r#"
name = "cli-test"
[model]
preset = "mistral-7b"
[hardware]
gpu = "rtx4090"
[engine]
kind = "vllm"
max_model_len = 4096
[workload]
arrival = "poisson"
rate = 2.0
concurrency = 16
num_requests = 300
input_tokens = { dist = "lognormal", mean = 800, stddev = 400, max = 3000 }
output_tokens = { dist = "uniform", min = 16, max = 256 }
seed = 3
"#;

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_string_lossy().into_owned()
}

#[test]
fn same_scenario_and_seed_give_byte_identical_json() {
    let dir = temp_dir("determinism");
    let f = write(&dir, "s.toml", GOOD);
    let sweep = r#"sweep."workload.rate"=[1, 2, 4, 8]"#;
    let a = capsim(&["simulate", &f, "--json", "--set", sweep]);
    let b = capsim(&["simulate", &f, "--json", "--set", sweep]);
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    assert!(!a.stdout.is_empty());
    assert_eq!(a.stdout, b.stdout, "two runs differ");
    let v: serde_json::Value =
        serde_json::from_slice(&a.stdout).expect("stdout is one JSON document");
    let arr = v.as_array().unwrap();
    assert_eq!(arr.len(), 4);
    assert_eq!(arr[2]["point"]["workload.rate"], 4);
    assert_eq!(arr[0]["source"], "simulated");
    for field in [
        "completed",
        "failed",
        "duration",
        "request_throughput",
        "output_throughput",
        "total_token_throughput",
        "mean_ttft_ms",
        "median_ttft_ms",
        "p90_ttft_ms",
        "p99_ttft_ms",
        "mean_tpot_ms",
        "p99_tpot_ms",
        "mean_itl_ms",
        "p99_itl_ms",
        "mean_e2el_ms",
        "p99_e2el_ms",
    ] {
        assert!(arr[0][field].is_number(), "{field} missing");
    }
    // A different seed changes the result.
    let c = capsim(&[
        "simulate",
        &f,
        "--json",
        "--set",
        sweep,
        "--set",
        "workload.seed=4",
    ]);
    assert_ne!(a.stdout, c.stdout);
}

#[test]
fn out_dir_holds_summary_and_one_record_per_request() {
    let dir = temp_dir("out");
    let f = write(&dir, "s.toml", GOOD);
    let out = dir.join("results");
    let o = capsim(&["simulate", &f, "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(
        table.contains("TTFT p99") && table.contains("datasheet projection"),
        "{table}"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary[0]["completed"], 300);
    let records = std::fs::read_to_string(out.join("records.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = records
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 300);
    for r in &lines {
        for key in [
            "id",
            "scheduled_s",
            "sent_s",
            "first_token_s",
            "end_s",
            "input_tokens",
            "output_tokens",
            "error",
        ] {
            assert!(r.get(key).is_some(), "record lacks {key}");
        }
        assert!(r["first_token_s"].as_f64().unwrap() <= r["end_s"].as_f64().unwrap());
        assert!(r["scheduled_s"].as_f64().unwrap() <= r["sent_s"].as_f64().unwrap());
    }
}

#[test]
fn shipped_scenarios_all_run() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let o = capsim(&["simulate", path.to_str().unwrap(), "--json"]);
        assert!(
            o.status.success(),
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&o.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert!(v.as_array().is_some_and(|a| !a.is_empty()));
        n += 1;
    }
    assert!(n >= 5);
}

#[test]
fn hardware_list_names_every_required_gpu() {
    let o = capsim(&["hardware", "list"]);
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    for gpu in [
        "rtx2080ti",
        "rtx3090",
        "rtx4090",
        "rtx5090",
        "l40s",
        "a100-80g",
        "h100-sxm",
        "h200",
    ] {
        assert!(text.contains(gpu), "{gpu}");
    }
}

/// (what is wrong, scenario text or edit, expected words in the one-line error)
fn bad_inputs(dir: &Path) -> Vec<(&'static str, String, Vec<String>, &'static str)> {
    let bad_trace = write(
        dir,
        "bad-trace.csv",
        "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.1,10,5\n2023-11-16 18:15:47.1,-3,5\n",
    );
    let _ = bad_trace;
    let set = |s: &str| vec!["--set".to_string(), s.to_string()];
    vec![
        (
            "unknown key",
            GOOD.replace("seed = 3", "seed = 3\nsede = 4"),
            vec![],
            "sede",
        ),
        (
            "wrong type",
            GOOD.replace("rate = 2.0", "rate = \"fast\""),
            vec![],
            "workload.rate",
        ),
        (
            "negative rate",
            GOOD.to_string(),
            set("workload.rate=-1"),
            "workload.rate",
        ),
        (
            "missing trace file",
            GOOD.replace(
                "arrival = \"poisson\"",
                "arrival = \"trace\"\ntrace = \"nope.csv\"",
            ),
            vec![],
            "nope.csv",
        ),
        (
            "malformed trace row",
            GOOD.replace(
                "arrival = \"poisson\"",
                "arrival = \"trace\"\ntrace = \"bad-trace.csv\"",
            ),
            vec![],
            "line 3",
        ),
        (
            "model too big",
            GOOD.to_string(),
            set("model.preset=qwen2.5-coder-32b"),
            "does not fit",
        ),
        (
            "max_model_len below the request",
            GOOD.replace(
                "input_tokens = { dist = \"lognormal\", mean = 800, stddev = 400, max = 3000 }",
                "input_tokens = 4000",
            )
            .replace(
                "output_tokens = { dist = \"uniform\", min = 16, max = 256 }",
                "output_tokens = 200",
            ),
            vec![],
            "max_model_len",
        ),
        (
            "unknown gpu",
            GOOD.to_string(),
            set("hardware.gpu=rtx9090"),
            "hardware.gpu",
        ),
        (
            "toml syntax",
            GOOD.replace("[workload]", "[workload"),
            vec![],
            "line",
        ),
        (
            "bad --set",
            GOOD.to_string(),
            set("workload.rate"),
            "KEY=VALUE",
        ),
        (
            "nvlink on a 4090",
            GOOD.to_string(),
            vec![
                "--set".into(),
                "hardware.gpus_per_replica=2".into(),
                "--set".into(),
                "hardware.interconnect=nvlink".into(),
            ],
            "NVLink",
        ),
        (
            "bad distribution",
            GOOD.to_string(),
            set(r#"workload.output_tokens={ dist = "zipf" }"#),
            "workload.output_tokens",
        ),
        (
            "bad sweep",
            GOOD.to_string(),
            set(r#"sweep."workload.rate"=5"#),
            "sweep",
        ),
        (
            "sweep point invalid",
            GOOD.to_string(),
            set(r#"sweep."workload.concurrency"=[4, 0]"#),
            "workload.concurrency=0",
        ),
        (
            "engine key for another engine",
            GOOD.to_string(),
            set("engine.parallel=4"),
            "engine.parallel",
        ),
        (
            "llama.cpp prompt beyond the slot",
            GOOD.replace(
                "kind = \"vllm\"\nmax_model_len = 4096",
                "kind = \"llamacpp\"\nparallel = 4\nctx_size = 4096",
            )
            .replace(
                "input_tokens = { dist = \"lognormal\", mean = 800, stddev = 400, max = 3000 }",
                "input_tokens = 2000",
            ),
            vec![],
            "slot",
        ),
        (
            "missing profile",
            GOOD.replace(
                "[workload]",
                "[calibration]\nprofile = \"missing.json\"\n[workload]",
            ),
            vec![],
            "missing.json",
        ),
        ("empty file", String::new(), vec![], "model"),
    ]
}

#[test]
fn every_bad_input_exits_2_with_one_line_naming_file_and_key() {
    let dir = temp_dir("bad");
    for (what, text, extra, needle) in bad_inputs(&dir) {
        let f = write(&dir, "bad.toml", &text);
        let mut args = vec!["simulate".to_string(), f.clone(), "--json".to_string()];
        args.extend(extra);
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = capsim(&argv);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(
            o.status.code(),
            Some(2),
            "{what}: expected exit 2, got {:?}: {err}",
            o.status
        );
        assert!(o.stdout.is_empty(), "{what}: nothing on stdout");
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{what}: one line, got: {err}"
        );
        assert!(
            err.contains("bad.toml") || err.contains("bad-trace.csv") || what == "bad --set",
            "{what}: names the file: {err}"
        );
        assert!(
            err.contains(needle),
            "{what}: expected '{needle}' in: {err}"
        );
        assert!(!err.contains("panicked"), "{what}: {err}");
    }
}

#[test]
fn missing_scenario_file_is_bad_input() {
    let o = capsim(&["simulate", "no/such/scenario.toml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no/such/scenario.toml"));
}

#[test]
fn a_sweep_with_out_writes_its_knee_and_plateau() {
    let dir = temp_dir("analysis");
    let out = dir.join("sweep");
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/llamacpp-5-slots.toml");
    let o = capsim(&[
        "simulate",
        scenario.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("knee: workload.concurrency = 5"), "{text}");
    let a: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("analysis.json")).unwrap()).unwrap();
    assert_eq!(a["knee"]["key"], "workload.concurrency");
    assert_eq!(a["knee"]["value"], 5, "the knee is at the slot count");
    assert!(a["knee"]["method"]
        .as_str()
        .unwrap()
        .starts_with("elasticity"));
    assert_eq!(
        a["kneedle"]["key"], "workload.concurrency",
        "the second reading is kept"
    );
    assert_eq!(a["plateau"]["key"], "workload.concurrency");
    assert!(a["plateau"]["request_throughput"].as_f64().unwrap() > 0.0);
}

#[test]
fn bad_trace_rows_stop_the_run_or_are_skipped_when_asked() {
    let dir = temp_dir("trace");
    let trace = dir.join("t.csv");
    std::fs::write(
        &trace,
        "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46,100,50\n2023-11-16 18:15:47,200,-3\n2023-11-16 18:15:45,100,20\n2023-11-16 18:15:49,300,40\n",
    )
    .unwrap();
    let text = GOOD
        .replace(
            "arrival = \"poisson\"\nrate = 2.0\n",
            "arrival = \"trace\"\ntrace = \"t.csv\"\n",
        )
        .replace("num_requests = 300\n", "");
    let sc = write(&dir, "trace.toml", &text);
    let o = capsim(&["simulate", &sc]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("t.csv") && err.contains("line 3") && err.contains("negative"),
        "{err}"
    );
    let sc = write(
        &dir,
        "skip.toml",
        &text.replace(
            "trace = \"t.csv\"\n",
            "trace = \"t.csv\"\nskip_bad_rows = true\n",
        ),
    );
    let o = capsim(&["simulate", &sc, "--json"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("skipped 2 bad row(s) (first: line 3"), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["completed"], 2);
}

/// A measured llama.cpp profile of Qwen3-8B Q4_K_M on an RTX 4090 with its probe steps, as
/// `capsim calibrate --scenario` records them.
const MEASURED_PROFILE: &str = r#"{
  "capsim_profile": 1, "name": "home-4090",
  "provenance": {"kind": "measured", "server": "llama.cpp", "server_version": "b6500", "date": "2026-12-01"},
  "measured_on": {"hardware": "rtx4090", "model": "Qwen3-8B-Q4_K_M.gguf", "engine": "llama.cpp",
    "weight_dtype": "q4_k_m",
    "shape": {"layers": 36, "hidden": 4096, "heads": 32, "kv_heads": 8, "head_dim": 128,
      "intermediate": 12288, "vocab": 151936, "experts": 0, "experts_per_token": 0,
      "weight_dtype": "q4_k_m", "kv_dtype": "fp16"}},
  "coefficients": {"overhead_ms": {"value": 1.0, "stderr": null}, "per_seq_ms": {"value": 0.1, "stderr": null},
    "bw_efficiency": {"value": 0.7, "stderr": null}, "flops_efficiency": {"value": 0.5, "stderr": null}},
  "fit": {"observations": 3, "r2": 0.99, "rms_residual_ms": 0.5, "notes": [], "residuals": [
    {"probe": "decode B=1 L=64", "measured_ms": 8.0, "fitted_ms": 8.1,
     "step": {"seqs": 1, "tokens": 1, "kv_read_tokens": 64, "decode": true, "includes_latency": false}},
    {"probe": "decode B=1 L=64", "measured_ms": 8.2, "fitted_ms": 8.1,
     "step": {"seqs": 1, "tokens": 1, "kv_read_tokens": 64, "decode": true, "includes_latency": false}},
    {"probe": "prefill 1024", "measured_ms": 120.0, "fitted_ms": 118.0,
     "step": {"seqs": 1, "tokens": 1024, "kv_read_tokens": 1024, "decode": false, "includes_latency": false}}]}
}"#;

#[test]
fn a_measured_profile_is_added_to_the_corpus_once_and_shown_beside_the_shipped_priors() {
    let dir = temp_dir("add-profile");
    let profile = write(&dir, "home-4090.json", MEASURED_PROFILE);
    let to = dir.join("measured.csv").to_string_lossy().into_owned();
    let add = |extra: &[&str]| {
        let mut args = vec!["priors", "--add-profile", &profile, "--to", &to];
        args.extend_from_slice(extra);
        let out = capsim(&args);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        println!("{text}");
        (out.status.code(), text)
    };
    let (code, text) = add(&["--preset", "qwen3-8b"]);
    assert_eq!(code, Some(0));
    assert!(text.contains("ms-home-4090-01") && text.contains("ms-home-4090-02"));
    assert!(text.contains("appended 2 row(s)"));
    let csv = std::fs::read_to_string(&to).unwrap();
    assert_eq!(csv.lines().count(), 3, "a header and two rows: {csv}");
    assert!(
        csv.contains(",decode_tok_s_single,123.457,rtx4090,"),
        "{csv}"
    );
    assert!(csv.contains(",prefill_tok_s,8533.333,rtx4090,"), "{csv}");

    let (code, text) = add(&["--preset", "qwen3-8b"]);
    assert_eq!(code, Some(2), "a second add is bad input");
    assert!(text.contains("added once"));
    assert_eq!(
        std::fs::read_to_string(&to).unwrap(),
        csv,
        "the file is untouched"
    );

    let (code, text) = add(&["--preset", "llama-3.1-8b"]);
    assert_eq!(code, Some(2));
    assert!(text.contains("not preset 'llama-3.1-8b'"));
    let (code, text) = add(&[]);
    assert_ne!(code, Some(0));
    assert!(text.contains("--preset"), "the missing flag is named");
}

#[test]
fn output_into_a_reader_that_stops_early_ends_quietly_without_a_panic() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_capsim"))
        .args([
            "priors",
            "--write",
            &std::env::temp_dir()
                .join(format!("capsim-cli-{}-pipe.json", std::process::id()))
                .to_string_lossy(),
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read one line, as `| head -1` does, and close the pipe.
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    println!("first line: {first}");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("status {:?}, stderr: {stderr}", out.status);
    assert!(first.starts_with("corpus:"));
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_default_max_model_len_that_does_not_fit_the_kv_cache_is_said() {
    // Qwen3-8B in bf16 on one RTX 4090: its 40,960-token context needs more KV cache than the
    // card has left, and `vllm serve Qwen/Qwen3-8B` refuses to start ("To serve at least one
    // request with the models's max seq len (40960), (5.62 GiB KV cache is needed …").
    let dir = temp_dir("max-model-len");
    let scenario = |engine: &str| {
        format!(
            "name = \"fit\"\n[model]\npreset = \"qwen3-8b\"\n[hardware]\ngpu = \"rtx4090\"\n[engine]\nkind = \"vllm\"\n{engine}\n[workload]\narrival = \"closed\"\nconcurrency = 2\nnum_requests = 4\ninput_tokens = 512\noutput_tokens = 16\n"
        )
    };
    let default = write(&dir, "default.toml", &scenario(""));
    let out = capsim(&["simulate", &default]);
    let text = String::from_utf8_lossy(&out.stdout);
    println!("{text}");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let note = text
        .lines()
        .find(|l| l.starts_with("note: engine.max_model_len is not set"))
        .expect("the capped default is said");
    assert!(note.contains("40960") && note.contains("vLLM would refuse to start"));
    let set = write(&dir, "set.toml", &scenario("max_model_len = 16384"));
    let out = capsim(&["simulate", &set]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(!text.contains("max_model_len is not set"), "{text}");
}
