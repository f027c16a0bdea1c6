//! The engine physics show in the directions people measured, with the shipped priors (no
//! calibration): on RTX 3090s, tensor parallelism without vLLM's custom all-reduce is no
//! faster than one GPU at batch 1 (a dense 32B AWQ model in eager mode; a 4-bit 30B-A3B MoE
//! with CUDA graphs), over an NVLink bridge or PCIe; eager mode slows batch-1 decode; a 4-bit
//! MoE loses more per-user speed on llama.cpp from 1 to 5 slots than on vLLM from 1 to 4
//! sequences; vLLM's V0 scheduler trades ITL for TTFT under load as vLLM's docs say; and closed
//! loops of identical requests desynchronise instead of prefilling in lockstep.

use capsim::metrics::Summary;
use capsim::spec::{self, parse_set};
use capsim::study::simulate::{simulate_keeping, Keep};
use std::path::Path;

fn run(text: &str, sets: &[&str]) -> Vec<Summary> {
    let sets: Vec<_> = sets.iter().map(|s| parse_set(s).unwrap()).collect();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/physics.toml");
    spec::from_str(text, &path, &sets)
        .unwrap()
        .iter()
        .map(|p| simulate_keeping(p, Keep::Summary).summary)
        .collect()
}

fn tok_s(s: &Summary) -> f64 {
    1000.0 / s.mean_tpot_ms
}

const DENSE_32B_AWQ_EAGER: &str = r#"
[model]
preset = "qwen2.5-coder-32b"
weight_dtype = "awq"
[hardware]
gpu = "rtx3090"
[engine]
kind = "vllm"
max_model_len = 4096
enforce_eager = true
disable_custom_all_reduce = true
[workload]
arrival = "closed"
concurrency = 1
num_requests = 4
input_tokens = 256
output_tokens = 256
[sweep]
"hardware.gpus_per_replica" = [1, 2]
"#;

const MOE_30B_A3B_GRAPHS: &str = r#"
[model]
preset = "qwen3-30b-a3b"
weight_dtype = "awq"
[hardware]
gpu = "rtx3090"
[engine]
kind = "vllm"
max_model_len = 4096
disable_custom_all_reduce = true
[workload]
arrival = "closed"
concurrency = 1
num_requests = 4
input_tokens = 256
output_tokens = 256
[sweep]
"hardware.gpus_per_replica" = [1, 2]
"#;

#[test]
fn tensor_parallel_without_custom_all_reduce_is_no_faster_at_batch_1_on_3090s() {
    for (what, text) in [
        ("dense 32B AWQ, eager", DENSE_32B_AWQ_EAGER),
        ("4-bit 30B-A3B MoE, CUDA graphs", MOE_30B_A3B_GRAPHS),
    ] {
        for link in ["pcie", "nvlink"] {
            let s = run(text, &[&format!("hardware.interconnect=\"{link}\"")]);
            let (tp1, tp2) = (tok_s(&s[0]), tok_s(&s[1]));
            println!("{what} over {link}: TP=1 {tp1:.1} tok/s, TP=2 {tp2:.1} tok/s");
            assert!(
                tp2 <= tp1,
                "{what} over {link}: TP=2 ({tp2:.1} tok/s) must not beat TP=1 ({tp1:.1})"
            );
        }
    }
}

#[test]
fn eager_mode_slows_batch_1_decode() {
    let graphs = run(DENSE_32B_AWQ_EAGER, &["engine.enforce_eager=false"]);
    let eager = run(DENSE_32B_AWQ_EAGER, &[]);
    println!(
        "TP=1: CUDA graphs {:.1} tok/s, eager {:.1} tok/s",
        tok_s(&graphs[0]),
        tok_s(&eager[0])
    );
    assert!(tok_s(&eager[0]) < tok_s(&graphs[0]) * 0.95);
}

#[test]
fn a_4bit_moe_loses_more_per_user_speed_on_llama_cpp_than_on_vllm() {
    let llama = run(
        r#"
[model]
preset = "qwen3-30b-a3b"
weight_dtype = "q4_k_m"
[hardware]
gpu = "rtx4090"
[engine]
kind = "llamacpp"
parallel = 5
ctx_size = 20480
[workload]
arrival = "closed"
concurrency = 1
num_requests = 20
input_tokens = 256
output_tokens = 256
[sweep]
"workload.concurrency" = [1, 5]
"#,
        &[],
    );
    let vllm = run(
        r#"
[model]
preset = "qwen3-30b-a3b"
weight_dtype = "awq"
[hardware]
gpu = "rtx4090"
[engine]
kind = "vllm"
max_model_len = 4096
[workload]
arrival = "closed"
concurrency = 1
num_requests = 20
input_tokens = 256
output_tokens = 256
[sweep]
"workload.concurrency" = [1, 4]
"#,
        &[],
    );
    let loss = |s: &[Summary]| s[0].mean_user_output_throughput / s[1].mean_user_output_throughput;
    let (l, v) = (loss(&llama), loss(&vllm));
    println!("per-user slowdown: llama.cpp 1→5 slots {l:.2}x, vLLM 1→4 sequences {v:.2}x");
    assert!(l > v, "llama.cpp {l:.2}x vs vLLM {v:.2}x");
}

#[test]
fn vllm_v0_trades_inter_token_latency_for_time_to_first_token_under_load() {
    let s = run(
        r#"
[model]
preset = "llama-3.1-8b"
[hardware]
gpu = "a100-80g"
[engine]
kind = "vllm"
max_model_len = 8192
[workload]
arrival = "poisson"
rate = 2.0
num_requests = 600
input_tokens = 3000
output_tokens = 256
seed = 3
[sweep]
"engine.version" = ["0.6.3", "0.10.1"]
"#,
        &[],
    );
    let (v0, v1) = (&s[0], &s[1]);
    println!(
        "V0 (0.6.3): TTFT p50 {:.0} ms, ITL p99 {:.0} ms; V1 (0.10.1): TTFT p50 {:.0} ms, ITL p99 {:.0} ms",
        v0.median_ttft_ms, v0.p99_itl_ms, v1.median_ttft_ms, v1.p99_itl_ms
    );
    // vLLM docs: V0 "prioritizes prefills ... optimizes the TTFT, but incurs slower ITL".
    assert!(v0.median_ttft_ms < v1.median_ttft_ms);
    assert!(v0.p99_itl_ms > 1.5 * v1.p99_itl_ms);
}

#[test]
fn closed_loops_of_identical_requests_desynchronise() {
    for engine in [
        "kind = \"vllm\"\nmax_model_len = 8192",
        "kind = \"llamacpp\"\nparallel = 8\nctx_size = 8192",
    ] {
        let s = run(
            &format!(
                "[model]\npreset = \"mistral-7b\"\n[hardware]\ngpu = \"rtx4090\"\n[engine]\n{engine}\n[workload]\narrival = \"closed\"\nconcurrency = 1\nnum_requests = 400\ninput_tokens = 512\noutput_tokens = 128\n[sweep]\n\"workload.concurrency\" = [1, 2, 4, 8]\n"
            ),
            &[],
        );
        let p50: Vec<f64> = s.iter().map(|x| x.median_ttft_ms).collect();
        let p99: Vec<f64> = s.iter().map(|x| x.p99_ttft_ms).collect();
        println!("{engine}: TTFT p50 {p50:.1?}, p99 {p99:.1?} at C = 1, 2, 4, 8");
        assert!(p50.windows(2).all(|w| w[1] >= w[0]), "p50 non-decreasing");
        for c in 1..4 {
            assert!(
                p99[c] > p50[c] * 1.02,
                "p99 > p50 at C ≥ 2: {p99:?} vs {p50:?}"
            );
        }
    }
}
