//! What a server says about itself: llama-server's `/props`, `/slots` and `/v1/models` meta
//! (context, slot count, vocabulary), vLLM's `/v1/models` (`max_model_len`) and `/version`,
//! and whether `/metrics` and `/tokenize` exist. Everything is optional: a plain OpenAI-style
//! server answers only `/v1/models`, and a silent one still gets a spot run.

use crate::results::ServerInfo;
use std::time::Duration;

/// Sends a request and reads a JSON answer; None on any failure or non-2xx status.
async fn read_json(
    request: reqwest::RequestBuilder,
    timeout: Duration,
) -> Option<serde_json::Value> {
    let r = request.timeout(timeout).send().await.ok()?;
    if !r.status().is_success() {
        return None;
    }
    r.json().await.ok()
}

async fn get_json(http: &reqwest::Client, url: &str) -> Option<serde_json::Value> {
    read_json(http.get(url), Duration::from_secs(5)).await
}

fn as_u32(v: Option<&serde_json::Value>) -> Option<u32> {
    v.and_then(|x| x.as_u64()).map(|x| x as u32)
}

/// Asks the server at `base` about itself.
pub async fn discover(http: &reqwest::Client, base: &str) -> ServerInfo {
    let mut info = ServerInfo {
        kind: "unknown".into(),
        ..ServerInfo::default()
    };
    if let Some(models) = get_json(http, &format!("{base}/v1/models")).await {
        if let Some(data) = models.get("data").and_then(|d| d.as_array()) {
            for m in data {
                if let Some(id) = m.get("id").and_then(|i| i.as_str()) {
                    info.models.push(id.to_string());
                }
                if info.max_model_len.is_none() {
                    info.max_model_len = as_u32(m.get("max_model_len"));
                }
                if let Some(meta) = m.get("meta") {
                    info.vocab_size = as_u32(meta.get("n_vocab"));
                }
                if m.get("owned_by").and_then(|o| o.as_str()) == Some("vllm") {
                    info.kind = "vllm".into();
                }
            }
        }
        info.raw.insert("v1_models".into(), models);
    }
    if let Some(props) = get_json(http, &format!("{base}/props")).await {
        info.kind = "llama.cpp".into();
        info.slots = as_u32(props.get("total_slots"));
        let slot_ctx = as_u32(props.pointer("/default_generation_settings/n_ctx"));
        info.n_ctx_slot = slot_ctx;
        info.version = props
            .get("build_info")
            .and_then(|b| b.as_str())
            .map(str::to_string);
        info.raw.insert("props".into(), props);
    }
    if info.kind == "llama.cpp" {
        if let Some(slots) = get_json(http, &format!("{base}/slots")).await {
            if let Some(arr) = slots.as_array() {
                info.slots = info.slots.or(Some(arr.len() as u32));
                let per_slot = arr.first().and_then(|s| as_u32(s.get("n_ctx")));
                info.n_ctx_slot = info.n_ctx_slot.or(per_slot);
            }
            info.raw.insert("slots".into(), slots);
        }
        if let (Some(s), Some(c)) = (info.slots, info.n_ctx_slot) {
            info.n_ctx = Some(s * c);
        }
    } else if let Some(v) = get_json(http, &format!("{base}/version")).await {
        info.version = v
            .get("version")
            .and_then(|x| x.as_str())
            .map(str::to_string);
        if info.version.is_some() && info.kind == "unknown" {
            info.kind = "vllm".into();
        }
    }
    let metrics = match http
        .get(format!("{base}/metrics"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
    {
        Ok(r) if r.status().is_success() => r.text().await.ok(),
        _ => None,
    };
    info.has_metrics = metrics.is_some();
    if let Some(c) = metrics.as_deref().and_then(super::prometheus::cache_config) {
        let num = |k: &str| c.get(k).and_then(|v| v.parse::<u64>().ok());
        info.block_size = num("block_size").map(|b| b as u32);
        info.kv_cache_tokens = num("kv_cache_size_tokens")
            .or_else(|| Some(num("num_gpu_blocks")? * info.block_size? as u64));
        info.prefix_caching = c
            .get("enable_prefix_caching")
            .map(|v| v.eq_ignore_ascii_case("true"));
        info.raw.insert(
            "cache_config".into(),
            serde_json::to_value(&c).unwrap_or_default(),
        );
    }
    info.has_tokenize = tokenize(http, base, "hello world", false).await.is_some();
    if info.vocab_size.is_none() {
        info.vocab_size = vocab_by_detokenize(http, base).await;
    }
    info
}

/// The vocabulary size of a server that does not state it (vLLM): the largest token id
/// `/detokenize` turns into text (vLLM answers an unknown id with empty text, others refuse
/// it), found by bisection over ids from 1,000 (about 20 requests), plus one.
async fn vocab_by_detokenize(http: &reqwest::Client, base: &str) -> Option<u32> {
    let known = |text: Option<String>| text.is_some_and(|t| !t.is_empty());
    let (mut lo, mut hi) = (1000u32, 1u32 << 22); // lo known, hi not
    if !known(detokenize(http, base, &[lo]).await) || known(detokenize(http, base, &[hi]).await) {
        return None;
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if known(detokenize(http, base, &[mid]).await) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Some(lo + 1)
}

/// POSTs JSON and reads a JSON answer; None on any failure.
async fn post_json(
    http: &reqwest::Client,
    url: &str,
    body: &serde_json::Value,
) -> Option<serde_json::Value> {
    read_json(http.post(url).json(body), Duration::from_secs(10)).await
}

/// Token ids of `text` through the server's `/tokenize` (llama-server and vLLM have one).
pub async fn tokenize(
    http: &reqwest::Client,
    base: &str,
    text: &str,
    add_special: bool,
) -> Option<Vec<u32>> {
    let v = post_json(
        http,
        &format!("{base}/tokenize"),
        &serde_json::json!({ "content": text, "prompt": text, "add_special": add_special }),
    )
    .await?;
    let tokens = v.get("tokens")?.as_array()?;
    tokens
        .iter()
        .map(|t| {
            t.as_u64()
                .or_else(|| t.get("id").and_then(|i| i.as_u64()))
                .map(|x| x as u32)
        })
        .collect()
}

/// Text of token ids through `/detokenize`.
pub async fn detokenize(http: &reqwest::Client, base: &str, ids: &[u32]) -> Option<String> {
    let v = post_json(
        http,
        &format!("{base}/detokenize"),
        &serde_json::json!({ "tokens": ids }),
    )
    .await?;
    v.get("content")
        .or_else(|| v.get("prompt"))
        .and_then(|c| c.as_str())
        .map(str::to_string)
}
