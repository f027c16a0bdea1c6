//! What limits how many requests one replica holds at once, at a scenario point's request size:
//! KV-cache capacity against the scheduler's own limit (vLLM `max_num_seqs`, llama.cpp slots),
//! and, for MoE models, how much of the expert weights a decode step reads compared with dense.

use super::{EngineSpec, Spec};
use crate::workload::Arrival;
use serde::Serialize;

/// Capacity facts of one scenario point (one replica).
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct Capacity {
    pub point: crate::metrics::Point,
    /// Prompt + output tokens of a mean request.
    pub tokens_per_request: u64,
    /// KV-cache capacity of one replica, tokens.
    pub kv_cache_tokens: u64,
    /// Requests of that size whose KV fits at once.
    pub max_sequences_by_kv: u64,
    /// `max_num_seqs` (vLLM) or slots (llama.cpp).
    pub scheduler_limit: u64,
    /// The smaller of the two: requests one replica runs at once.
    pub max_concurrent: u64,
    /// "KV cache", "max_num_seqs", "slots" or "slot context" (requests too long for a slot).
    pub binding: String,
    /// MoE only: share of the expert weights read by a decode step at batch 1, 8 and 32.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub moe_expert_share: Vec<(u32, f64)>,
    /// One line for people.
    pub summary: String,
}

/// Mean prompt and output tokens of a request of the workload: every class, weighted by the
/// requests it sends.
fn mean_request(sc: &Spec) -> (f64, f64) {
    let (mut n, mut i, mut o) = (0.0, 0.0, 0.0);
    for w in sc.workload.all_classes() {
        let (ci, co, cn) = match &w.arrival {
            Arrival::Trace {
                rows, token_scale, ..
            } if !rows.is_empty() => {
                let k = rows.len() as f64;
                let i: f64 = rows.iter().map(|r| r.input_tokens as f64).sum::<f64>() / k;
                let o: f64 = rows.iter().map(|r| r.output_tokens as f64).sum::<f64>() / k;
                (
                    i * token_scale,
                    o * token_scale,
                    (w.num_requests as f64).min(k),
                )
            }
            _ => (
                w.input_tokens.0.mean().max(1.0),
                w.output_tokens.0.mean().max(1.0),
                w.num_requests as f64,
            ),
        };
        if sc.workload.classes.is_empty() {
            return (ci, co);
        }
        let cn = cn.max(1.0);
        n += cn;
        i += ci * cn;
        o += co * cn;
    }
    (i / n, o / n)
}

fn thousands(v: u64) -> String {
    let s = v.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl Capacity {
    pub fn of(sc: &Spec) -> Capacity {
        let (input, output) = mean_request(sc);
        let tokens = (input + output).ceil().max(1.0) as u64;
        let (kv_tokens, by_kv, limit, limit_name, too_long) = match &sc.engine {
            EngineSpec::Vllm { config, .. } => {
                let block = config.block_size.max(1) as u64;
                // A running sequence holds its blocks plus one spare.
                let per_seq = (tokens.div_ceil(block) + 1) * block;
                (
                    config.kv_capacity_tokens,
                    config.kv_capacity_tokens / per_seq,
                    config.max_num_seqs as u64,
                    "max_num_seqs",
                    tokens > config.max_model_len as u64,
                )
            }
            EngineSpec::LlamaCpp(c) => {
                let slot = c.slot_context() as u64;
                // A unified cache holds ctx_size tokens for all slots together.
                let fit = match (tokens <= slot, c.kv_unified) {
                    (false, _) => 0,
                    (true, true) => (c.ctx_size as u64 / tokens.max(1)).min(c.parallel as u64),
                    (true, false) => c.parallel as u64,
                };
                (
                    c.ctx_size as u64,
                    fit,
                    c.parallel as u64,
                    "slots",
                    tokens > slot,
                )
            }
        };
        let llama_cpp = matches!(sc.engine, EngineSpec::LlamaCpp(_));
        let (max_concurrent, binding) = if too_long && llama_cpp {
            (limit, "slot context".to_string())
        } else if too_long {
            (0, "max_model_len".to_string())
        } else if by_kv < limit {
            (by_kv, "KV cache".to_string())
        } else {
            (limit, limit_name.to_string())
        };
        let fp = sc.model.footprint(sc.weight_dtype, sc.kv_dtype);
        let moe_expert_share: Vec<(u32, f64)> = if fp.moe_layers > 0 && fp.experts > 0 {
            let all = fp.moe_layers as f64 * fp.experts as f64 * fp.expert_bytes.0;
            [1u32, 8, 32]
                .iter()
                .map(|&b| {
                    let read = fp.weights_read(b as u64).0 - fp.weights_read_fixed.0;
                    (b, if all > 0.0 { read / all } else { 0.0 })
                })
                .collect()
        } else {
            Vec::new()
        };
        let mut summary = match (too_long, &sc.engine) {
            (true, EngineSpec::LlamaCpp(c)) if c.kv_unified => format!(
                "a {}-token request (prompt + output) outgrows llama.cpp's unified KV cache of {} tokens: its output stops at the cache's end",
                thousands(tokens), c.ctx_size
            ),
            (true, EngineSpec::LlamaCpp(c)) => format!(
                "a {}-token request (prompt + output) outgrows a llama.cpp slot of {} tokens (ctx_size {} / {} slots): its output stops at the slot's end",
                thousands(tokens), c.slot_context(), c.ctx_size, c.parallel
            ),
            (true, EngineSpec::Vllm { config, .. }) => format!(
                "a {}-token request exceeds max_model_len {}: it is rejected",
                thousands(tokens),
                config.max_model_len
            ),
            (false, _) => format!(
                "KV cache {} tokens per replica holds {} request{} of {} tokens (prompt + output); {} {limit}: {} at once, bound by {binding}{}",
                thousands(kv_tokens),
                thousands(by_kv),
                if by_kv == 1 { "" } else { "s" },
                thousands(tokens),
                limit_name,
                thousands(max_concurrent),
                match (binding == "KV cache", llama_cpp) {
                    (true, true) => " (beyond that in flight, the slots outgrow llama.cpp's unified cache and every request in progress fails)",
                    (true, false) => " (beyond that in flight, requests wait or are preempted)",
                    (false, _) => "",
                }
            ),
        };
        if !moe_expert_share.is_empty() {
            let shares: Vec<String> = moe_expert_share
                .iter()
                .map(|(b, s)| format!("{:.0}% at batch {b}", s * 100.0))
                .collect();
            summary.push_str(&format!(
                "; MoE: {} of {} experts per token, a decode step reads {} of the expert weights (a dense model reads all)",
                fp.experts_per_token,
                fp.experts,
                shares.join(", ")
            ));
        }
        Capacity {
            point: sc.point.clone(),
            tokens_per_request: tokens,
            kv_cache_tokens: kv_tokens,
            max_sequences_by_kv: by_kv,
            scheduler_limit: limit,
            max_concurrent,
            binding,
            moe_expert_share,
            summary,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{from_str, parse_set};
    use std::path::Path;

    fn point(text: &str, sets: &[&str]) -> Spec {
        let sets: Vec<_> = sets.iter().map(|s| parse_set(s).unwrap()).collect();
        from_str(text, Path::new("t.toml"), &sets)
            .unwrap()
            .remove(0)
    }

    const VLLM: &str = r#"
name = "t"
[model]
preset = "llama-3.1-8b"
[hardware]
gpu = "rtx4090"
[engine]
kind = "vllm"
[workload]
arrival = "closed"
concurrency = 4
input_tokens = 1000
output_tokens = 24
"#;

    #[test]
    fn long_contexts_make_the_kv_cache_bind() {
        let short = Capacity::of(&point(VLLM, &[]));
        let long = Capacity::of(&point(VLLM, &["workload.input_tokens=16000"]));
        assert_eq!(short.tokens_per_request, 1024);
        assert!(long.max_sequences_by_kv * 10 < short.max_sequences_by_kv);
        assert_eq!(long.binding, "KV cache");
        // Whole blocks plus a spare: capacity / 1040 for 1,024 tokens in 16-token blocks.
        assert_eq!(
            short.max_sequences_by_kv,
            short.kv_cache_tokens / (1024 + 16)
        );
        assert!(long.summary.contains("KV cache"), "{}", long.summary);
    }

    #[test]
    fn llama_cpp_slots_bind_until_a_request_outgrows_its_slot() {
        let text = VLLM.replace(
            "kind = \"vllm\"",
            "kind = \"llamacpp\"\nparallel = 4\nctx_size = 8192",
        );
        let fits = Capacity::of(&point(&text, &[]));
        assert_eq!((fits.max_concurrent, fits.binding.as_str()), (4, "slots"));
        let too_long = Capacity::of(&point(
            &text,
            &["workload.input_tokens=1900", "workload.output_tokens=500"],
        ));
        assert_eq!(too_long.binding, "slot context");
        assert!(
            too_long.summary.contains("outgrows"),
            "{}",
            too_long.summary
        );
    }

    #[test]
    fn moe_models_report_the_share_of_experts_read() {
        let moe = Capacity::of(&point(
            VLLM,
            &[
                "model.preset=qwen3-coder-30b-a3b",
                "model.weight_dtype=int4",
            ],
        ));
        let shares: Vec<f64> = moe.moe_expert_share.iter().map(|s| s.1).collect();
        assert_eq!(shares.len(), 3);
        assert!(shares[0] < 0.1 && shares[0] < shares[1] && shares[1] < shares[2]);
        assert!(Capacity::of(&point(VLLM, &[])).moe_expert_share.is_empty());
    }
}
