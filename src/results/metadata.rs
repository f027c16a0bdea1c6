//! What a spot run records about itself (`metadata.json`): the scenario point and workload it
//! played, the server it measured and what that server said about itself.

use crate::metrics::Point;
use serde::{Deserialize, Serialize};

/// Facts about the server, stored with each spot run.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ServerInfo {
    /// "llama.cpp", "vllm" or "unknown".
    pub kind: String,
    pub version: Option<String>,
    pub models: Vec<String>,
    /// vLLM's max_model_len.
    pub max_model_len: Option<u32>,
    /// llama-server: total context and slots.
    pub n_ctx: Option<u32>,
    pub slots: Option<u32>,
    /// Context per slot.
    pub n_ctx_slot: Option<u32>,
    pub vocab_size: Option<u32>,
    /// vLLM (`vllm:cache_config_info`): KV-cache block size and capacity in tokens, and
    /// whether prefix caching is on.
    #[serde(default)]
    pub block_size: Option<u32>,
    #[serde(default)]
    pub kv_cache_tokens: Option<u64>,
    #[serde(default)]
    pub prefix_caching: Option<bool>,
    pub has_tokenize: bool,
    pub has_metrics: bool,
    /// The raw answers, for the record.
    pub raw: serde_json::Map<String, serde_json::Value>,
}

/// What the server's own `/metrics` said about a run: counter deltas from before to after,
/// and the peaks of its gauges, polled during the run. Absent where the server has no such
/// metric.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerCounters {
    pub preemptions: Option<u64>,
    /// Prompt tokens served from the prefix cache, and prompt tokens looked up in it.
    pub prefix_cache_hit_tokens: Option<u64>,
    pub prefix_cache_query_tokens: Option<u64>,
    pub peak_running: Option<u32>,
    pub peak_waiting: Option<u32>,
    /// Fraction of the KV cache in use, at its highest.
    pub peak_kv_usage: Option<f64>,
    /// How many times `/metrics` was read during the run.
    pub polls: u32,
}

/// Facts of a spot run, saved next to its records.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunMetadata {
    pub scenario: String,
    pub point: Point,
    /// The `[workload]` table the run played (validate simulates it again).
    pub workload: serde_json::Value,
    pub url: String,
    pub api: String,
    pub model: String,
    pub server: ServerInfo,
    pub started_unix_s: u64,
    pub warmup_requests: u32,
    pub planned_requests: u64,
    pub recorded_requests: u64,
    /// Requests whose generated token count differs from the one asked for.
    pub token_mismatches: u64,
    /// Chat: tokens the template adds around the content (measured).
    pub chat_template_tokens: Option<u32>,
    /// The server's own decode time per token (llama-server `timings`), mean over requests.
    pub server_ms_per_token: Option<f64>,
    /// Why the run stopped early, if it did.
    pub aborted: Option<String>,
    pub records_file: String,
    /// The server's own counters over the run (`/metrics`).
    #[serde(default)]
    pub server_counters: ServerCounters,
}
