//! The scenario parser never panics: random text, and random values at every key of a valid
//! scenario, give either a scenario or an input error. Scenarios that parse also simulate
//! without panicking.

use capsim::spec::{self, parse_set, Override};
use capsim::study::simulate::simulate;
use proptest::prelude::*;
use std::path::Path;

const BASE: &str = r#"
[model]
preset = "llama-3.1-8b"
[hardware]
gpu = "rtx4090"
[engine]
kind = "vllm"
max_model_len = 4096
[workload]
arrival = "poisson"
rate = 5.0
concurrency = 8
num_requests = 20
input_tokens = 200
output_tokens = 20
"#;

const KEYS: &[&str] = &[
    "name",
    "model.preset",
    "model.config",
    "model.weight_dtype",
    "model.kv_dtype",
    "hardware.gpu",
    "hardware.gpus_per_replica",
    "hardware.interconnect",
    "hardware.memory_gib",
    "hardware.bandwidth_gb_s",
    "hardware.tflops_16bit",
    "hardware.tflops_8bit",
    "hardware.nvlink_gb_s",
    "hardware.pcie_gen",
    "engine.kind",
    "engine.max_num_seqs",
    "engine.max_num_batched_tokens",
    "engine.max_model_len",
    "engine.gpu_memory_utilization",
    "engine.enable_chunked_prefill",
    "engine.block_size",
    "engine.kv_cache_tokens",
    "engine.parallel",
    "engine.ctx_size",
    "engine.n_batch",
    "engine.n_ubatch",
    "calibration.profile",
    "calibration.overhead_ms",
    "calibration.per_seq_ms",
    "calibration.bw_efficiency",
    "calibration.flops_efficiency",
    "cluster.replicas",
    "cluster.router",
    "workload.arrival",
    "workload.concurrency",
    "workload.rate",
    "workload.burstiness",
    "workload.num_requests",
    "workload.input_tokens",
    "workload.output_tokens",
    "workload.think_time_s",
    "workload.trace",
    "workload.time_scale",
    "workload.token_scale",
    "workload.seed",
    "workload.timeout_s",
    "sweep",
    "workload.bogus",
];

fn value_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|i| i.to_string()),
        (-5i64..5000).prop_map(|i| i.to_string()),
        any::<f64>().prop_map(|f| if f.is_finite() {
            format!("{f:e}")
        } else {
            "nan".into()
        }),
        Just("inf".to_string()),
        Just("-0.0".to_string()),
        any::<bool>().prop_map(|b| b.to_string()),
        "[a-z0-9.:_-]{0,12}",
        prop_oneof![
            Just("vllm"),
            Just("llamacpp"),
            Just("sglang"),
            Just("tgi"),
            Just("closed"),
            Just("gamma"),
            Just("constant"),
            Just("trace"),
            Just("custom"),
            Just("nvlink"),
            Just("int4"),
            Just("fp8"),
            Just("random"),
            Just("builtin:azure-code"),
        ]
        .prop_map(str::to_string),
        (0u32..3, 0.0f64..5000.0, 0.0f64..3000.0).prop_map(|(k, a, b)| match k {
            0 => format!("{{ dist = \"lognormal\", mean = {a}, stddev = {b} }}"),
            1 => format!("{{ dist = \"uniform\", min = {b}, max = {a} }}"),
            _ => format!("{{ dist = \"exponential\", mean = {a}, max = {b} }}"),
        }),
        prop::collection::vec(0i64..100, 0..4).prop_map(|v| format!("{v:?}")),
        Just(r#"{ "workload.rate" = [1, 2] }"#.to_string()),
    ]
}

fn check(sets: &[Override]) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz.toml");
    if let Ok(points) = spec::from_str(BASE, &path, sets) {
        for p in points.iter().take(2) {
            let mut p = p.clone();
            p.workload.num_requests = p.workload.num_requests.min(30);
            let r = simulate(&p);
            assert_eq!(
                r.summary.completed + r.summary.failed,
                r.records.len() as u64
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn random_text_never_panics(text in "\\PC{0,300}") {
        let _ = spec::from_str(&text, Path::new("fuzz.toml"), &[]);
    }

    #[test]
    fn random_tomlish_text_never_panics(lines in prop::collection::vec(
        ("[a-z_.]{1,12}", value_text()).prop_map(|(k, v)| format!("{k} = {v}")), 0..8)
    ) {
        let text = format!("{BASE}\n{}", lines.join("\n"));
        let _ = spec::from_str(&text, Path::new("fuzz.toml"), &[]);
    }

    #[test]
    fn random_values_at_every_key_never_panic(
        edits in prop::collection::vec((0..KEYS.len(), value_text()), 1..4)
    ) {
        let sets: Vec<Override> = edits
            .iter()
            .filter_map(|(k, v)| parse_set(&format!("{}={v}", KEYS[*k])).ok())
            .collect();
        check(&sets);
    }
}
