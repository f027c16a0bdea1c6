//! Queueing theory pins the discrete-event simulation. With one sequence at a time the server is
//! a single FIFO queue, so Poisson arrivals must reproduce M/D/1 (Pollaczek–Khinchine) and
//! M/M/1 mean waits; Little's law must hold on every run; a closed loop must obey the
//! interactive response-time law X = N / (R + Z).

use capsim::cost::StepShape;
use capsim::spec::{self, parse_set, Spec};
use capsim::study::simulate::simulate;
use std::path::Path;

/// A model whose step time is linear in prompt tokens (10 µs per token with the hardware
/// below), with negligible memory traffic and attention: service time = 10 µs · prompt tokens.
/// No API server in front: the engine is the only queue.
const LINEAR_SERVER: &str = r#"
name = "queueing"
[model]
config = "fixtures/mlp-heavy-model.json"
[hardware]
gpu = "custom"
memory_gib = 1000
bandwidth_gb_s = 1e9
tflops_16bit = 2457.6
[engine]
api_server = false
[calibration]
overhead_ms = 0
per_seq_ms = 0
bw_efficiency = 1.0
flops_efficiency = 1.0
[workload]
arrival = "poisson"
rate = 1.0
input_tokens = 1000
output_tokens = 1
seed = 42
"#;

fn scenario_with(sets: &[&str]) -> Spec {
    let sets: Vec<_> = sets.iter().map(|s| parse_set(s).unwrap()).collect();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/queueing.toml");
    let mut points = spec::from_str(LINEAR_SERVER, &path, &sets).unwrap();
    assert_eq!(points.len(), 1);
    points.remove(0)
}

/// Service time of one request of `tokens` prompt tokens, from the cost model itself.
fn service_s(sc: &Spec, tokens: u64) -> f64 {
    sc.cost
        .step_time(&StepShape::prefill(tokens, u32::MAX))
        .as_secs_f64()
}

struct Run {
    mean_wait_s: f64,
    mean_e2e_s: f64,
    throughput: f64,
    mean_in_flight: f64,
    completed: u64,
}

fn run(sc: &Spec) -> Run {
    let r = simulate(sc);
    let ok: Vec<_> = r.records.iter().filter(|r| r.succeeded()).collect();
    assert_eq!(ok.len(), r.records.len(), "no request may fail here");
    let n = ok.len() as f64;
    // One output token: the first token ends service, so wait = TTFT - own service time.
    let mean_e2e_s = ok.iter().map(|r| r.e2el_s().unwrap()).sum::<f64>() / n;
    let mean_service = ok
        .iter()
        .map(|r| service_s(sc, r.input_tokens as u64))
        .sum::<f64>()
        / n;
    let run = Run {
        mean_wait_s: mean_e2e_s - mean_service,
        mean_e2e_s,
        throughput: r.summary.request_throughput,
        mean_in_flight: r.summary.mean_in_flight,
        completed: r.summary.completed,
    };
    assert_littles_law(&run);
    run
}

fn assert_littles_law(run: &Run) {
    let l = run.throughput * run.mean_e2e_s;
    assert!(
        (run.mean_in_flight / l - 1.0).abs() < 1e-6,
        "Little's law: time-average in flight {} vs X*W {}",
        run.mean_in_flight,
        l
    );
}

fn tolerance(load: f64) -> f64 {
    if load >= 0.9 {
        0.05
    } else {
        0.03
    }
}

fn check_md1(engine_sets: &[&str]) {
    for load in [0.5, 0.8, 0.9] {
        let probe = scenario_with(engine_sets);
        let s = service_s(&probe, 1000);
        let rate = format!("workload.rate={}", load / s);
        let mut sets = engine_sets.to_vec();
        sets.extend([rate.as_str(), "workload.num_requests=1000000"]);
        let sc = scenario_with(&sets);
        let got = run(&sc);
        assert_eq!(got.completed, 1_000_000);
        // Pollaczek–Khinchine for deterministic service: Wq = ρ S / (2 (1 − ρ)).
        let theory = load * s / (2.0 * (1.0 - load));
        let err = got.mean_wait_s / theory - 1.0;
        eprintln!(
            "M/D/1 {engine_sets:?} load {load}: wait {:.6} s vs {theory:.6} s ({:+.2}%)",
            got.mean_wait_s,
            err * 100.0
        );
        assert!(
            err.abs() < tolerance(load),
            "M/D/1 at load {load}: mean wait {:.6} s vs theory {:.6} s ({:+.2}%)",
            got.mean_wait_s,
            theory,
            err * 100.0
        );
    }
}

#[test]
fn md1_mean_wait_matches_pollaczek_khinchine_vllm() {
    check_md1(&[
        "engine.kind=vllm",
        "engine.max_num_seqs=1",
        "engine.max_num_batched_tokens=2000",
        "engine.max_model_len=100000",
    ]);
}

#[test]
fn md1_mean_wait_matches_pollaczek_khinchine_llamacpp() {
    check_md1(&[
        "engine.kind=llamacpp",
        "engine.parallel=1",
        "engine.ctx_size=100000",
        "engine.n_batch=2048",
        "engine.n_ubatch=2048",
    ]);
}

#[test]
fn mm1_mean_wait_matches_theory() {
    // Prompt tokens ~ ceil(Exp(mean 1000)): geometric, with CV² = e^(-1/1000) ≈ 0.999, so the
    // service time is exponential to within 0.1%.
    let m = 1000.0_f64;
    let q = 1.0 - (-1.0 / m).exp();
    let mean_tokens = 1.0 / q;
    let engine = [
        "engine.kind=vllm",
        "engine.max_num_seqs=1",
        "engine.max_num_batched_tokens=100000",
        "engine.max_model_len=200000",
        "workload.output_tokens=1",
        r#"workload.input_tokens={ dist = "exponential", mean = 1000, max = 99000 }"#,
    ];
    let probe = scenario_with(&engine);
    let per_token = service_s(&probe, 10_000) / 10_000.0;
    let s = per_token * mean_tokens;
    for load in [0.5, 0.8, 0.9] {
        let rate = format!("workload.rate={}", load / s);
        let mut sets = engine.to_vec();
        sets.extend([rate.as_str(), "workload.num_requests=1000000"]);
        let got = run(&scenario_with(&sets));
        // M/M/1: Wq = ρ S / (1 − ρ).
        let theory = load * s / (1.0 - load);
        let err = got.mean_wait_s / theory - 1.0;
        eprintln!(
            "M/M/1 load {load}: wait {:.6} s vs {theory:.6} s ({:+.2}%)",
            got.mean_wait_s,
            err * 100.0
        );
        assert!(
            err.abs() < tolerance(load),
            "M/M/1 at load {load}: mean wait {:.6} s vs theory {:.6} s ({:+.2}%)",
            got.mean_wait_s,
            theory,
            err * 100.0
        );
    }
}

#[test]
fn closed_loop_obeys_interactive_response_time_law() {
    for (users, think) in [(4, 0.05), (16, 0.02), (32, 0.0)] {
        let users_s = format!("workload.concurrency={users}");
        let think_s =
            format!(r#"workload.think_time_s={{ dist = "exponential", mean = {think} }}"#);
        let mut sets = vec![
            "workload.arrival=closed",
            "engine.kind=vllm",
            "engine.max_num_seqs=8",
            "engine.max_num_batched_tokens=8000",
            "engine.max_model_len=100000",
            "workload.num_requests=200000",
            users_s.as_str(),
        ];
        if think > 0.0 {
            sets.push(think_s.as_str());
        }
        let sc = scenario_with(&sets);
        let r = simulate(&sc);
        let s = &r.summary;
        let think_mean = if think > 0.0 { think } else { 0.0 };
        let law = users as f64 / (s.mean_e2el_ms / 1e3 + think_mean);
        let err = s.request_throughput / law - 1.0;
        eprintln!(
            "closed N={users} Z={think}: X {:.3}/s vs N/(R+Z) {law:.3}/s ({:+.3}%)",
            s.request_throughput,
            err * 100.0
        );
        assert!(
            err.abs() < 0.01,
            "N={users}, Z={think}: X = {:.3}/s vs N/(R+Z) = {:.3}/s ({:+.2}%)",
            s.request_throughput,
            law,
            err * 100.0
        );
        let l = s.request_throughput * s.mean_e2el_ms / 1e3;
        assert!(
            (s.mean_in_flight / l - 1.0).abs() < 1e-6,
            "Little's law in a closed loop"
        );
    }
}

/// On a CPU-only server the API server computes on the engine's cores: each request's work
/// (the request latency) is the engine's time too. A saturated closed loop then completes one
/// request per service time plus request work (here 10 + 5 ms: 66.7 req/s, 16 users keeping the
/// engine busy); with the API server on its own cores the request work only delays, and the
/// engine's 10 ms bind (100 req/s); with half the latency on the engine's cores, 10 + 2.5 ms
/// (80 req/s).
#[test]
fn request_work_on_the_engines_cores_takes_the_engines_time() {
    let throughput = |shares: &str| {
        let sc = scenario_with(&[
            "engine.api_server=true",
            "calibration.request_ms=5",
            &format!("engine.api_server_shares_cores={shares}"),
            "workload.arrival=\"closed\"",
            "workload.concurrency=16",
            "workload.num_requests=4000",
        ]);
        assert!((sc.cost.request_latency().as_secs_f64() - 0.005).abs() < 1e-9);
        run(&sc).throughput
    };
    let (own_cores, half, shared) = (throughput("false"), throughput("0.5"), throughput("true"));
    println!(
        "closed loop of 16: {own_cores:.2} req/s (own cores), {half:.2} (half the work on the engine's), {shared:.2} (shared)"
    );
    assert!((own_cores / 100.0 - 1.0).abs() < 0.02, "{own_cores}");
    assert!((half / 80.0 - 1.0).abs() < 0.02, "{half}");
    assert!((shared / (1.0 / 0.015) - 1.0).abs() < 0.02, "{shared}");
}
