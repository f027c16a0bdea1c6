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
    pub has_tokenize: bool,
    pub has_metrics: bool,
    /// The raw answers, for the record.
    pub raw: serde_json::Map<String, serde_json::Value>,
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
}
