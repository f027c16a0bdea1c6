//! Shipped profiles are consistent: their efficiencies follow from their measured step model
//! and the scenario's datasheet, and projecting one to another GPU keeps them and says so.

use capsim::calibrate;
use capsim::cost::Profile;
use capsim::spec;
use capsim::study::simulate::simulate;
use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn shipped_gpu_profile_efficiencies_follow_from_its_step_model() {
    let profile = Profile::load(&root().join("calibration/h100-llamacpp-cuda.json")).unwrap();
    let sc = spec::load(&root().join("scenarios/h100-llamacpp-validation.toml"), &[])
        .unwrap()
        .remove(0);
    let derived =
        calibrate::efficiencies(profile.step.as_ref().unwrap(), &profile.step_stderr, &sc);
    let stored = profile.coefficients.as_ref().unwrap();
    eprintln!("derived {derived:?}");
    for (d, s) in [
        (derived.bw_efficiency.value, stored.bw_efficiency.value),
        (
            derived.flops_efficiency.value,
            stored.flops_efficiency.value,
        ),
        (derived.per_seq_ms.value, stored.per_seq_ms.value),
    ] {
        assert!((d / s - 1.0).abs() < 1e-3, "derived {d} vs stored {s}");
    }
}

#[test]
fn projection_keeps_efficiencies_and_marks_provenance() {
    let profile = Profile::load(&root().join("calibration/h100-llamacpp-cuda.json")).unwrap();
    let h200 = capsim::hardware::lookup("h200").unwrap();
    let p = calibrate::project(&profile, &h200).unwrap();
    assert_eq!(p.provenance.kind, "projected");
    assert_eq!(p.measured_on.hardware.as_deref(), Some("h200"));
    assert!(
        p.step.is_none(),
        "the measured step model belongs to the H100"
    );
    assert_eq!(p.coefficients, profile.coefficients);
    // A scenario on the H200 with the original profile projects too, and says so.
    let text = std::fs::read_to_string(root().join("scenarios/h100-llamacpp-validation.toml"))
        .unwrap()
        .replace("gpu = \"h100-sxm\"", "gpu = \"h200\"");
    let sc = spec::from_str(&text, &root().join("scenarios/x.toml"), &[])
        .unwrap()
        .remove(0);
    assert!(
        sc.cost_source
            .contains("projected from capsim-gpu-llama on h100-sxm to capsim-gpu-llama on h200"),
        "{}",
        sc.cost_source
    );
    let h100 = spec::load(&root().join("scenarios/h100-llamacpp-validation.toml"), &[])
        .unwrap()
        .remove(0);
    let (fast, slow) = (simulate(&sc).summary, simulate(&h100).summary);
    assert!(
        fast.mean_tpot_ms < slow.mean_tpot_ms,
        "more bandwidth, faster decode"
    );
}

/// The shipped H100 profile with `patch` merged into its step model, as a scenario of one
/// user streaming 256 tokens a request, with `sets` on top.
fn h100_with(dir: &Path, patch: serde_json::Value, sets: &[&str]) -> spec::Spec {
    let mut json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("calibration/h100-llamacpp-cuda.json")).unwrap(),
    )
    .unwrap();
    for (k, v) in patch.as_object().unwrap() {
        json["step"][k] = v.clone();
    }
    static WRITTEN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = WRITTEN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = format!("profile-{n}.json");
    std::fs::write(dir.join(&name), json.to_string()).unwrap();
    let text = std::fs::read_to_string(root().join("scenarios/h100-llamacpp-validation.toml"))
        .unwrap()
        .replace("../calibration/h100-llamacpp-cuda.json", &name)
        .replace(
            "../tests/fixtures/",
            &format!("{}/tests/fixtures/", root().display()),
        )
        .replace("num_requests = 32", "num_requests = 200")
        .replace("output_tokens = 128", "output_tokens = 256");
    let sets: Vec<_> = sets.iter().map(|s| spec::parse_set(s).unwrap()).collect();
    spec::from_str(&text, &dir.join("scenario.toml"), &sets)
        .unwrap()
        .remove(0)
}

/// The shipped H100 profile with the given step noise (see [`h100_with`]).
fn h100_with_noise(dir: &Path, cv: f64, stalls: Option<(f64, f64)>) -> spec::Spec {
    let mut patch = serde_json::json!({ "step_cv": cv });
    if let Some((fraction, mean_ms)) = stalls {
        patch["stalls"] = serde_json::json!({ "fraction": fraction, "mean_ms": mean_ms });
    }
    h100_with(dir, patch, &[])
}

#[test]
fn measured_stalls_set_the_itl_tail_not_the_typical_step() {
    let dir = std::env::temp_dir().join(format!("capsim-test-{}-stalls", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let steady = simulate(&h100_with_noise(&dir, 0.05, None)).summary;
    let none_seen = simulate(&h100_with_noise(&dir, 0.05, Some((0.0, 0.0)))).summary;
    let stalling = h100_with_noise(&dir, 0.05, Some((0.02, 10.0)));
    assert!(
        stalling.cost_source.contains("2.0% of steps stall 10.0 ms"),
        "{}",
        stalling.cost_source
    );
    let (a, b) = (simulate(&stalling).summary, simulate(&stalling).summary);
    for (what, s) in [
        ("steady", &steady),
        ("no stalls seen", &none_seen),
        ("2% stall 10 ms", &a),
    ] {
        println!(
            "{what}: ITL p50 {:.2} ms, p99 {:.2} ms; TPOT mean {:.3} ms; TTFT p99 {:.2} ms",
            s.median_itl_ms, s.p99_itl_ms, s.mean_tpot_ms, s.p99_ttft_ms
        );
    }
    assert_eq!(a, b, "a seed gives bit-identical results with stalls too");
    assert_eq!(
        none_seen, steady,
        "a measured share of 0 simulates no stalls"
    );
    // 2% of steps pause 10 ms on average (exponential): a step over its typical length by x
    // has probability 0.02·exp(−x/10 ms), 1% at x ≈ 6.9 ms.
    let rise = a.p99_itl_ms - steady.p99_itl_ms;
    assert!(
        (4.0..10.0).contains(&rise),
        "ITL p99 rises by about 7 ms: {rise:.2}"
    );
    assert!(
        (a.median_itl_ms / steady.median_itl_ms - 1.0).abs() < 0.02,
        "the typical step is the same"
    );
    // Their mean cost is 2% × 10 ms a step.
    let tpot = a.mean_tpot_ms - steady.mean_tpot_ms;
    assert!(
        (0.12..0.28).contains(&tpot),
        "TPOT rises by 0.2 ms: {tpot:.3}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_measured_idle_wakeup_delays_requests_to_an_idle_server_only() {
    let dir = std::env::temp_dir().join(format!("capsim-test-{}-wakeup", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // 2 ms after 10 ms of idling, 4 ms after 20 ms; linear between, flat beyond.
    let wakeup =
        serde_json::json!({ "idle_wakeup": { "after_ms": [10.0, 20.0], "extra_ms": [2.0, 4.0] } });
    let mean_ttft = |sc: &spec::Spec| {
        let r = simulate(sc);
        let t: Vec<f64> = r.records.iter().filter_map(|x| x.ttft_s()).collect();
        1e3 * t.iter().sum::<f64>() / t.len() as f64
    };
    // Closed loops: every request but the first (sent at 0, as the server starts) follows the
    // user's think time of idling.
    let after_think = |ms: f64| ms * 199.0 / 200.0;
    for (what, sets, extra) in [
        // Back to back: the server is never idle.
        ("closed loop, no think time", vec![], 0.0),
        (
            "closed loop, 5 ms think time",
            vec!["workload.think_time_s=0.005"],
            after_think(1.0),
        ),
        (
            "closed loop, 15 ms think time",
            vec!["workload.think_time_s=0.015"],
            after_think(3.0),
        ),
        (
            "closed loop, 50 ms think time",
            vec!["workload.think_time_s=0.050"],
            after_think(4.0),
        ),
        // A request arrives while the one before it streams (0.55 s) about 1% of the time.
        (
            "Poisson at 0.02 req/s",
            vec!["workload.arrival=\"poisson\"", "workload.rate=0.02"],
            4.0,
        ),
    ] {
        let plain = mean_ttft(&h100_with(&dir, serde_json::json!({}), &sets));
        let woken = mean_ttft(&h100_with(&dir, wakeup.clone(), &sets));
        println!("{what}: mean TTFT {plain:.3} ms, with the wake-up {woken:.3} ms");
        assert!(
            (woken - plain - extra).abs() < 0.03 * extra.max(1.0),
            "{what}: {extra} ms later ({plain:.3} -> {woken:.3})"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_bad_noise_entry_in_a_profile_is_an_error_naming_its_key() {
    let dir = std::env::temp_dir().join(format!("capsim-test-{}-badnoise", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("calibration/h100-llamacpp-cuda.json")).unwrap(),
    )
    .unwrap();
    for (key, value, says) in [
        (
            "stalls",
            serde_json::json!({ "fraction": 1.5, "mean_ms": 5.0 }),
            "step.stalls.fraction: must be a share from 0 to 1 (got 1.5)",
        ),
        (
            "idle_wakeup",
            serde_json::json!({ "after_ms": [200.0, 20.0], "extra_ms": [1.0, 2.0] }),
            "step.idle_wakeup: needs two pauses 0 < a < b",
        ),
    ] {
        json["step"][key] = value;
        let path = dir.join(format!("{key}.json"));
        std::fs::write(&path, json.to_string()).unwrap();
        let err = Profile::load(&path).unwrap_err();
        println!("{err}");
        assert!(err.to_string().contains(says), "{err}");
        json["step"].as_object_mut().unwrap().remove(key);
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_measured_slot_split_decides_the_kv_layout_and_the_scenario_does_otherwise() {
    let dir = std::env::temp_dir().join(format!("capsim-test-{}-slots", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let unified =
        |patch: serde_json::Value, sets: &[&str]| match h100_with(&dir, patch, sets).engine {
            spec::EngineSpec::LlamaCpp(c) => c.kv_unified,
            other => panic!("a llama.cpp scenario: {other:?}"),
        };
    // The probes saw the server split slots (or not): that is what the server does.
    let split = serde_json::json!({ "slot_split": true });
    assert!(!unified(split.clone(), &[]));
    assert!(!unified(split, &["engine.kv_unified=true"]));
    assert!(unified(serde_json::json!({ "slot_split": false }), &[]));
    // Not measured: the scenario says, else llama-server's default with --parallel (a KV
    // stream per slot).
    assert!(unified(serde_json::json!({}), &["engine.kv_unified=true"]));
    assert!(!unified(serde_json::json!({}), &[]));
}
