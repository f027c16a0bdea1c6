//! Batching behaves physically: decode is bandwidth-bound, so batching raises aggregate tok/s
//! sub-linearly while each user slows down; prefill is compute-bound, so TTFT grows about
//! linearly with the prompt; MoE models read more experts as the batch grows; an exhausted KV
//! cache preempts.

use capsim::metrics::Summary;
use capsim::spec::{self, parse_set};
use std::path::Path;

fn simulate(text: &str, sets: &[String]) -> Vec<Summary> {
    let sets: Vec<_> = sets.iter().map(|s| parse_set(s).unwrap()).collect();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/batching.toml");
    spec::from_str(text, &path, &sets)
        .unwrap()
        .iter()
        .map(|p| capsim::study::simulate::simulate(p).summary)
        .collect()
}

const MISTRAL_4090: &str = r#"
[model]
preset = "mistral-7b"
[hardware]
gpu = "rtx4090"
[engine]
kind = "vllm"
max_model_len = 8192
[workload]
arrival = "closed"
concurrency = 1
num_requests = 400
input_tokens = 256
output_tokens = 256
"#;

#[test]
fn decode_bound_throughput_rises_sublinearly_while_users_slow_down() {
    let s = simulate(
        MISTRAL_4090,
        &[r#"sweep."workload.concurrency"=[1, 2, 4, 8, 16, 32, 64]"#.into()],
    );
    for pair in s.windows(2) {
        assert!(
            pair[1].output_throughput > pair[0].output_throughput,
            "aggregate tok/s must rise with concurrency: {} then {}",
            pair[0].output_throughput,
            pair[1].output_throughput
        );
        assert!(
            pair[1].mean_user_output_throughput < pair[0].mean_user_output_throughput,
            "per-user tok/s must fall with concurrency"
        );
    }
    let gain = s.last().unwrap().output_throughput / s[0].output_throughput;
    assert!(
        gain > 8.0 && gain < 64.0,
        "64 users give {gain:.1}x the tok/s of one: sub-linear"
    );
    // A lone user on a 4090 sees about 1008 GB/s / 14.5 GB ≈ 55-60 tok/s.
    let solo = s[0].mean_user_output_throughput;
    assert!(solo > 45.0 && solo < 65.0, "{solo}");
}

#[test]
fn doubling_the_prompt_roughly_doubles_ttft() {
    let s = simulate(
        MISTRAL_4090,
        &[
            "workload.output_tokens=16".into(),
            "engine.max_num_batched_tokens=8192".into(),
            r#"sweep."workload.input_tokens"=[1000, 2000, 4000]"#.into(),
        ],
    );
    for pair in s.windows(2) {
        let ratio = pair[1].mean_ttft_ms / pair[0].mean_ttft_ms;
        assert!(
            ratio > 1.7 && ratio < 2.3,
            "TTFT ratio for 2x prompt: {ratio:.2}"
        );
    }
}

#[test]
fn moe_loses_more_per_user_speed_with_concurrency_than_dense_of_equal_active_size() {
    let slowdown = |model_lines: &str| {
        let text = format!(
            "[model]\n{model_lines}\n[hardware]\ngpu = \"rtx4090\"\n[engine]\nkind = \"vllm\"\nmax_model_len = 8192\n[workload]\narrival = \"closed\"\nconcurrency = 1\nnum_requests = 200\ninput_tokens = 128\noutput_tokens = 256\n[sweep]\n\"workload.concurrency\" = [1, 8]\n"
        );
        let s = simulate(&text, &[]);
        s[0].mean_user_output_throughput / s[1].mean_user_output_throughput
    };
    let moe = slowdown("preset = \"qwen3-coder-30b-a3b\"\nweight_dtype = \"int4\"");
    let dense =
        slowdown("config = \"fixtures/dense-3b-like-qwen3-moe.json\"\nweight_dtype = \"int4\"");
    assert!(
        moe > dense * 1.5,
        "per-user slowdown from 1 to 8 users: MoE {moe:.2}x vs dense {dense:.2}x"
    );
    assert!(
        dense < 1.3,
        "a dense decode is weight-bound: 8 users barely slow it ({dense:.2}x)"
    );
}

#[test]
fn exhausted_kv_cache_preempts_and_the_summary_counts_it() {
    let roomy = simulate(MISTRAL_4090, &["workload.concurrency=8".into()]);
    assert_eq!(roomy[0].preemptions, 0);
    let tight = simulate(
        MISTRAL_4090,
        &[
            "workload.concurrency=64".into(),
            "workload.input_tokens=1500".into(),
            "workload.output_tokens=500".into(),
            "engine.kv_cache_tokens=40000".into(),
        ],
    );
    let s = &tight[0];
    assert!(
        s.preemptions > 0,
        "64 x 2000 tokens cannot fit 40000 KV tokens"
    );
    assert_eq!(
        s.completed, 400,
        "preempted requests are recomputed, not lost"
    );
}

#[test]
fn a_preempted_request_recomputes_from_its_cached_blocks_which_are_not_counted_as_hits() {
    let tight = |caching: &str| {
        simulate(
            MISTRAL_4090,
            &[
                "workload.concurrency=64".into(),
                "workload.input_tokens=1500".into(),
                "workload.output_tokens=500".into(),
                "engine.kv_cache_tokens=40000".into(),
                format!("engine.enable_prefix_caching={caching}"),
            ],
        )
        .remove(0)
    };
    let (cached, uncached) = (tight("true"), tight("false"));
    println!(
        "preemptions {} / {}, mean E2E {:.0} / {:.0} ms, prefix-cache hit tokens {} / {}",
        cached.preemptions,
        uncached.preemptions,
        cached.mean_e2el_ms,
        uncached.mean_e2el_ms,
        cached.prefix_cache_hit_tokens,
        uncached.prefix_cache_hit_tokens
    );
    assert!(cached.preemptions > 0 && uncached.preemptions > 0);
    assert!(
        cached.mean_e2el_ms < uncached.mean_e2el_ms,
        "recomputing from the prefix cache is cheaper than from scratch"
    );
    assert_eq!(
        cached.prefix_cache_hit_tokens, 0,
        "vLLM counts a preempted request's hits apart from prefix_cache_hits_total"
    );
}

#[test]
fn tensor_parallel_nvlink_beats_pcie_and_single_gpu_for_a_32b_model() {
    let text = r#"
[model]
preset = "qwen2.5-coder-32b"
weight_dtype = "int4"
[hardware]
gpu = "rtx3090"
[engine]
kind = "vllm"
max_model_len = 3000
[workload]
arrival = "closed"
concurrency = 4
num_requests = 100
input_tokens = 1000
output_tokens = 256
"#;
    let tpot = |sets: &[&str]| {
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        simulate(text, &sets)[0].mean_tpot_ms
    };
    let single = tpot(&[]);
    let nvlink = tpot(&[
        "hardware.gpus_per_replica=2",
        "hardware.interconnect=nvlink",
    ]);
    let pcie = tpot(&["hardware.gpus_per_replica=2", "hardware.interconnect=pcie"]);
    assert!(
        nvlink < pcie && pcie < single,
        "TPOT ms: 1 GPU {single:.1}, NVLink {nvlink:.1}, PCIe {pcie:.1}"
    );
}

#[test]
fn replicas_behind_a_router_share_the_load() {
    let text = r#"
[model]
preset = "llama-3.1-8b"
[hardware]
gpu = "rtx4090"
[engine]
kind = "vllm"
max_model_len = 8192
[workload]
arrival = "poisson"
rate = 6.0
num_requests = 2000
input_tokens = 1000
output_tokens = 200
"#;
    for router in ["round-robin", "least-outstanding", "least-kv", "random"] {
        let sets = vec![
            format!("cluster.router={router}"),
            r#"sweep."cluster.replicas"=[1, 4]"#.into(),
        ];
        let s = simulate(text, &sets);
        assert!(
            s[1].p99_ttft_ms < s[0].p99_ttft_ms / 2.0,
            "{router}: 4 replicas must cut p99 TTFT ({} vs {})",
            s[1].p99_ttft_ms,
            s[0].p99_ttft_ms
        );
        assert_eq!(s[1].completed, 2000);
    }
}

#[test]
fn llamacpp_queues_beyond_its_slots_and_cuts_output_at_the_slot_context() {
    let text = r#"
[model]
preset = "llama-3.1-8b"
weight_dtype = "q4_k_m"
[hardware]
gpu = "rtx3090"
[engine]
kind = "llamacpp"
parallel = 4
ctx_size = 8192
[workload]
arrival = "closed"
concurrency = 4
num_requests = 200
input_tokens = 1000
output_tokens = 200
"#;
    let s = simulate(text, &[r#"sweep."workload.concurrency"=[4, 8]"#.into()]);
    assert!(
        s[1].median_ttft_ms > 3.0 * s[0].median_ttft_ms,
        "8 users on 4 slots wait for a slot"
    );
    assert!(
        (s[1].output_throughput / s[0].output_throughput - 1.0).abs() < 0.1,
        "slots cap throughput"
    );
    // 2048-token slots: a 1000-token prompt can produce at most 1048 tokens.
    let cut = simulate(text, &["workload.output_tokens=3000".into()]);
    assert_eq!(cut[0].total_output_tokens, 200 * 1048);
    // A prompt longer than the slot is refused like llama-server's HTTP 400.
    let refused = simulate(
        text,
        &[r#"workload.input_tokens={ dist = "uniform", min = 1000, max = 3000 }"#.into()],
    );
    assert!(refused[0].failed > 0 && refused[0].completed > 0);
    assert!(refused[0]
        .failed_by_reason
        .keys()
        .any(|k| k.contains("HTTP 400")));
}

#[test]
fn llamacpp_slots_that_are_not_consecutive_cost_a_forward_pass_each() {
    // llama-server with an explicit --parallel keeps one KV stream per slot, and a decode step
    // over slots that are not consecutive runs as several forward passes, each reading the
    // weights. Two users on a fresh server alternate between slots {2, 3} and {0, 1}: one pass;
    // three users rotate through {1, 2, 3}, {0, 2, 3}, {0, 1, 3}, ..., mostly split (a real
    // server measured 65% of the time).
    let text = r#"
[model]
preset = "llama-3.1-8b"
weight_dtype = "q4_k_m"
[hardware]
gpu = "rtx3090"
[engine]
kind = "llamacpp"
parallel = 4
ctx_size = 16384
[workload]
arrival = "closed"
concurrency = 2
num_requests = 120
input_tokens = 64
output_tokens = 256
"#;
    let sweep = r#"sweep."workload.concurrency"=[2, 3]"#.to_string();
    let split = simulate(text, std::slice::from_ref(&sweep));
    let unified = simulate(text, &[sweep, "engine.kv_unified=true".into()]);
    let slowdown = |i: usize| unified[i].output_throughput / split[i].output_throughput;
    eprintln!(
        "unified / split tok/s: 2 users {:.3}, 3 users {:.3}",
        slowdown(0),
        slowdown(1)
    );
    assert!(
        slowdown(0) < 1.03,
        "two users keep consecutive slots: {:.3}",
        slowdown(0)
    );
    assert!(
        slowdown(1) > 1.2,
        "three users mostly split their steps: {:.3}",
        slowdown(1)
    );
}

#[test]
fn a_burst_spreads_over_replicas_while_requests_are_in_transit() {
    // 40 agents send at t = 0 to 32 replicas. Each request reaches its engine after the API
    // server's 2 ms: the router must count requests it has forwarded but the engine has not
    // yet seen, or every one of them lands on replica 0 (a 7 s TTFT was predicted so).
    let text = r#"
[model]
preset = "llama-3.1-8b"
[hardware]
gpu = "rtx4090"
[engine]
kind = "vllm"
max_model_len = 8192
[calibration]
request_ms = 2.0
[cluster]
replicas = 32
router = "least-outstanding"
[workload]
arrival = "closed"
concurrency = 40
num_requests = 400
input_tokens = 1000
output_tokens = 100
think_time_s = 1.0
"#;
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/batching.toml");
    let spec = &spec::from_str(text, &path, &[]).unwrap()[0];
    let r = capsim::study::simulate::simulate(spec);
    let mut first_wave = vec![0u32; 32];
    for rec in r.records.iter().filter(|r| r.sent_s == 0.0) {
        first_wave[rec.replica.unwrap() as usize] += 1;
    }
    println!(
        "first wave per replica: {first_wave:?}; p99 TTFT {:.0} ms",
        r.summary.p99_ttft_ms
    );
    assert!(
        first_wave.iter().all(|&n| n <= 2),
        "40 requests over 32 replicas: at most 2 each"
    );
    // And the latency is what the same cluster gives with requests delivered at once.
    let now = &spec::from_str(
        &text.replace("request_ms = 2.0", "request_ms = 0.0"),
        &path,
        &[],
    )
    .unwrap()[0];
    let at_once = capsim::study::simulate::simulate(now).summary.p99_ttft_ms;
    println!("p99 TTFT delivered at once: {at_once:.0} ms");
    assert!(r.summary.p99_ttft_ms < 1.2 * at_once);
}
