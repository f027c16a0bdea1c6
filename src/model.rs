//! Model shapes from a Hugging Face `config.json`, and what the cost model needs from them:
//! weight bytes, KV-cache bytes per token, FLOPs per token.
//!
//! Assumptions: every MLP (dense or expert) is gated (three matrices: gate, up, down), as in
//! Llama, Mistral, Qwen, Gemma and gpt-oss; attention has separate q/k/v/o projections with
//! grouped-query KV heads; norms and biases are negligible. Sliding-window layers (Gemma 3,
//! gpt-oss) are costed as full attention, which overstates their KV cache at long context.
//! Quantised weights (fp8/int8/int4) apply to the transformer blocks; embeddings and the LM head
//! stay at 16 bits, as AWQ/GPTQ/FP8 checkpoints keep them (GGUF files quantise them too, and
//! MXFP4 checkpoints quantise only the routed experts).

use crate::error::{InputError, InputResult};
use crate::units::Bytes;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Numeric formats for weights and KV cache: plain types, and the quantisation formats
/// users name (each with its real storage width, scales included).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    Fp32,
    Bf16,
    Fp16,
    Fp8,
    Int8,
    /// 4-bit integer weights of unstated layout (4.5 bits with scales).
    Int4,
    /// AWQ / GPTQ: 4-bit integers in groups of 128 with a 16-bit scale (and a 4-bit zero).
    Awq,
    Gptq,
    /// OCP MXFP4 (gpt-oss): 4-bit floats in blocks of 32 with an 8-bit shared exponent,
    /// on the MoE experts only; the rest of the model stays at 16 bits.
    Mxfp4,
    /// NVFP4: 4-bit floats in blocks of 16 with an FP8 scale.
    Nvfp4,
    /// GGUF (llama.cpp) types: whole-file bits per weight, embeddings and output included.
    #[serde(rename = "q4_0")]
    Q4_0,
    #[serde(rename = "q4_k_m")]
    Q4KM,
    #[serde(rename = "q5_k_m")]
    Q5KM,
    #[serde(rename = "q6_k")]
    Q6K,
    #[serde(rename = "q8_0")]
    Q8_0,
}

impl Dtype {
    const ALL: [Dtype; 15] = [
        Dtype::Fp32,
        Dtype::Bf16,
        Dtype::Fp16,
        Dtype::Fp8,
        Dtype::Int8,
        Dtype::Int4,
        Dtype::Awq,
        Dtype::Gptq,
        Dtype::Mxfp4,
        Dtype::Nvfp4,
        Dtype::Q4_0,
        Dtype::Q4KM,
        Dtype::Q5KM,
        Dtype::Q6K,
        Dtype::Q8_0,
    ];

    /// The name scenarios use.
    pub fn name(self) -> &'static str {
        match self {
            Dtype::Fp32 => "fp32",
            Dtype::Bf16 => "bf16",
            Dtype::Fp16 => "fp16",
            Dtype::Fp8 => "fp8",
            Dtype::Int8 => "int8",
            Dtype::Int4 => "int4",
            Dtype::Awq => "awq",
            Dtype::Gptq => "gptq",
            Dtype::Mxfp4 => "mxfp4",
            Dtype::Nvfp4 => "nvfp4",
            Dtype::Q4_0 => "q4_0",
            Dtype::Q4KM => "q4_k_m",
            Dtype::Q5KM => "q5_k_m",
            Dtype::Q6K => "q6_k",
            Dtype::Q8_0 => "q8_0",
        }
    }

    /// Parses a format name (case-insensitive; a few common aliases).
    pub fn parse(s: &str) -> Option<Dtype> {
        let s = s.to_ascii_lowercase();
        let alias = match s.as_str() {
            "float32" | "f32" => Some(Dtype::Fp32),
            "bfloat16" => Some(Dtype::Bf16),
            "float16" | "f16" | "half" => Some(Dtype::Fp16),
            "fp8_e4m3" | "fp8_e5m2" => Some(Dtype::Fp8),
            "w8a8" => Some(Dtype::Int8),
            "q4" | "w4a16" => Some(Dtype::Int4),
            _ => None,
        };
        alias.or_else(|| Dtype::ALL.into_iter().find(|d| d.name() == s))
    }

    /// Storage bits per weight, scales included. GGUF types are whole-file averages measured
    /// on Llama-3.1-8B by llama.cpp's `tools/quantize/README.md` (Q4_K_M 4.89, Q5_K_M 5.70,
    /// Q6_K 6.56, Q8_0 8.50); Q4_0 is its block layout (18 bytes per 32 weights, 4.5);
    /// MXFP4 17 bytes per 32 (4.25), NVFP4 4 + 8/16 (4.5), AWQ/GPTQ group-128 ≈ 4.25.
    pub fn bits(self) -> f64 {
        match self {
            Dtype::Fp32 => 32.0,
            Dtype::Bf16 | Dtype::Fp16 => 16.0,
            Dtype::Fp8 | Dtype::Int8 => 8.0,
            Dtype::Int4 => 4.5,
            Dtype::Awq | Dtype::Gptq | Dtype::Mxfp4 => 4.25,
            Dtype::Nvfp4 | Dtype::Q4_0 => 4.5,
            Dtype::Q4KM => 4.89,
            Dtype::Q5KM => 5.70,
            Dtype::Q6K => 6.56,
            Dtype::Q8_0 => 8.5,
        }
    }

    pub fn bytes(self) -> f64 {
        self.bits() / 8.0
    }

    /// A GGUF type: llama.cpp quantises embeddings and the output layer too.
    pub fn is_gguf(self) -> bool {
        matches!(
            self,
            Dtype::Q4_0 | Dtype::Q4KM | Dtype::Q5KM | Dtype::Q6K | Dtype::Q8_0
        )
    }

    /// A format the KV cache can be stored in.
    pub fn is_kv_format(self) -> bool {
        matches!(
            self,
            Dtype::Fp32 | Dtype::Bf16 | Dtype::Fp16 | Dtype::Fp8 | Dtype::Int8
        )
    }

    pub const NAMES: &'static str =
        "fp32, bf16, fp16, fp8, int8, int4, awq, gptq, mxfp4, nvfp4, q4_0, q4_k_m, q5_k_m, q6_k, q8_0";
}

crate::keyword_deserialize!(Dtype, "format");

/// Mixture-of-experts layout.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Moe {
    /// Routed experts per MoE layer (E).
    pub experts: u32,
    /// Experts each token is routed to (k).
    pub experts_per_token: u32,
    /// Intermediate size of one routed expert.
    pub expert_intermediate: u32,
    /// Intermediate size of the always-on shared expert(s), 0 if none.
    pub shared_intermediate: u32,
    /// How many of the layers are MoE layers (the rest are dense).
    pub moe_layers: u32,
}

/// The shape of a decoder-only transformer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelShape {
    pub name: String,
    pub layers: u32,
    pub hidden: u32,
    pub heads: u32,
    pub kv_heads: u32,
    pub head_dim: u32,
    /// Intermediate size of the dense MLP layers.
    pub intermediate: u32,
    pub vocab: u32,
    pub tied_embeddings: bool,
    pub max_position_embeddings: Option<u32>,
    pub moe: Option<Moe>,
}

/// What identifies a model for a calibration profile: its shape and formats, not its name
/// (the same weights are served as "tiny-llama" and read from "models/x/config.json").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelIdentity {
    pub layers: u32,
    pub hidden: u32,
    pub heads: u32,
    pub kv_heads: u32,
    pub head_dim: u32,
    pub intermediate: u32,
    pub vocab: u32,
    pub experts: u32,
    pub experts_per_token: u32,
    pub weight_dtype: Dtype,
    pub kv_dtype: Dtype,
}

impl ModelShape {
    /// This model's identity in these formats.
    pub fn identity(&self, weight_dtype: Dtype, kv_dtype: Dtype) -> ModelIdentity {
        ModelIdentity {
            layers: self.layers,
            hidden: self.hidden,
            heads: self.heads,
            kv_heads: self.kv_heads,
            head_dim: self.head_dim,
            intermediate: self.intermediate,
            vocab: self.vocab,
            experts: self.moe.as_ref().map_or(0, |m| m.experts),
            experts_per_token: self.moe.as_ref().map_or(0, |m| m.experts_per_token),
            weight_dtype,
            kv_dtype,
        }
    }
}

/// The fields of a HF config.json that matter here; everything else is ignored.
#[derive(Deserialize, Default)]
struct HfConfig {
    text_config: Option<Box<HfConfig>>,
    model_type: Option<String>,
    hidden_size: Option<u32>,
    num_hidden_layers: Option<u32>,
    num_attention_heads: Option<u32>,
    num_key_value_heads: Option<u32>,
    head_dim: Option<u32>,
    intermediate_size: Option<u32>,
    intermediate_size_mlp: Option<u32>,
    moe_intermediate_size: Option<u32>,
    shared_expert_intermediate_size: Option<u32>,
    n_shared_experts: Option<u32>,
    vocab_size: Option<u32>,
    tie_word_embeddings: Option<bool>,
    max_position_embeddings: Option<u32>,
    num_local_experts: Option<u32>,
    num_experts: Option<u32>,
    n_routed_experts: Option<u32>,
    num_experts_per_tok: Option<u32>,
    experts_per_token: Option<u32>,
    decoder_sparse_step: Option<u32>,
    interleave_moe_layer_step: Option<u32>,
    mlp_only_layers: Option<Vec<u32>>,
    first_k_dense_replace: Option<u32>,
}

/// Presets shipped in `models/<name>/config.json`, compiled in so they work from any folder.
const PRESETS: &[(&str, &str)] = &[
    (
        "mistral-7b",
        include_str!("../models/mistral-7b/config.json"),
    ),
    (
        "llama-3.1-8b",
        include_str!("../models/llama-3.1-8b/config.json"),
    ),
    (
        "qwen2.5-coder-32b",
        include_str!("../models/qwen2.5-coder-32b/config.json"),
    ),
    (
        "qwen3-coder-30b-a3b",
        include_str!("../models/qwen3-coder-30b-a3b/config.json"),
    ),
    (
        "gpt-oss-20b",
        include_str!("../models/gpt-oss-20b/config.json"),
    ),
    (
        "gemma-3-27b",
        include_str!("../models/gemma-3-27b/config.json"),
    ),
    (
        "llama-4-scout-17b-16e",
        include_str!("../models/llama-4-scout-17b-16e/config.json"),
    ),
    (
        "llama-3-70b",
        include_str!("../models/llama-3-70b/config.json"),
    ),
    (
        "llama-2-7b",
        include_str!("../models/llama-2-7b/config.json"),
    ),
    (
        "llama-2-13b",
        include_str!("../models/llama-2-13b/config.json"),
    ),
    (
        "llama-2-70b",
        include_str!("../models/llama-2-70b/config.json"),
    ),
    (
        "codellama-34b",
        include_str!("../models/codellama-34b/config.json"),
    ),
    ("qwen3-8b", include_str!("../models/qwen3-8b/config.json")),
    ("qwen3-14b", include_str!("../models/qwen3-14b/config.json")),
    ("qwen3-32b", include_str!("../models/qwen3-32b/config.json")),
    (
        "qwen3-30b-a3b",
        include_str!("../models/qwen3-30b-a3b/config.json"),
    ),
    (
        "qwen3-235b-a22b",
        include_str!("../models/qwen3-235b-a22b/config.json"),
    ),
    (
        "qwen2.5-1.5b",
        include_str!("../models/qwen2.5-1.5b/config.json"),
    ),
    (
        "qwen2.5-7b",
        include_str!("../models/qwen2.5-7b/config.json"),
    ),
    (
        "qwen2.5-14b",
        include_str!("../models/qwen2.5-14b/config.json"),
    ),
    (
        "gpt-oss-120b",
        include_str!("../models/gpt-oss-120b/config.json"),
    ),
    (
        "mixtral-8x7b",
        include_str!("../models/mixtral-8x7b/config.json"),
    ),
];

/// Names of the shipped presets.
pub fn preset_names() -> Vec<&'static str> {
    PRESETS.iter().map(|(n, _)| *n).collect()
}

impl ModelShape {
    /// A shipped preset by name.
    pub fn preset(name: &str) -> InputResult<ModelShape> {
        let (n, json) = PRESETS
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                InputError::new(
                    "model.preset",
                    format!(
                        "unknown preset '{name}'; known: {}",
                        preset_names().join(", ")
                    ),
                )
            })?;
        ModelShape::from_config_json(n, json)
    }

    /// Reads a HF config.json file.
    pub fn from_config_file(path: &Path) -> InputResult<ModelShape> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            InputError::new(
                "model.config",
                format!("cannot read {}: {e}", path.display()),
            )
        })?;
        // `.../NAME/config.json` is model NAME (the HF layout); any other file is its stem.
        let name = if path.file_name().is_some_and(|f| f == "config.json") {
            path.parent().and_then(|p| p.file_name())
        } else {
            path.file_stem()
        }
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "custom".into());
        ModelShape::from_config_json(&name, &text).map_err(|e| {
            InputError::new("model.config", format!("{}: {}", path.display(), e.problem))
        })
    }

    /// Parses the text of a HF config.json (a nested `text_config` wins where present).
    pub fn from_config_json(name: &str, json: &str) -> InputResult<ModelShape> {
        let outer: HfConfig = serde_json::from_str(json)
            .map_err(|e| InputError::new("model.config", format!("not a HF config.json: {e}")))?;
        let c = match outer.text_config {
            Some(inner) => *inner,
            None => outer,
        };
        let need = |v: Option<u32>, field: &str| {
            v.filter(|&x| x > 0).ok_or_else(|| {
                InputError::new(
                    "model.config",
                    format!("config.json lacks a positive '{field}'"),
                )
            })
        };
        let hidden = need(c.hidden_size, "hidden_size")?;
        let layers = need(c.num_hidden_layers, "num_hidden_layers")?;
        let heads = need(c.num_attention_heads, "num_attention_heads")?;
        let kv_heads = c.num_key_value_heads.unwrap_or(heads);
        if kv_heads == 0 || kv_heads > heads {
            return Err(InputError::new(
                "model.config",
                format!("num_key_value_heads {kv_heads} must be between 1 and num_attention_heads {heads}"),
            ));
        }
        let head_dim = c.head_dim.unwrap_or(hidden / heads).max(1);
        let intermediate = c
            .intermediate_size_mlp
            .or(c.intermediate_size)
            .unwrap_or(4 * hidden);
        let vocab = need(c.vocab_size, "vocab_size")?;
        let experts = c
            .num_local_experts
            .or(c.num_experts)
            .or(c.n_routed_experts)
            .unwrap_or(0);
        let moe = if experts > 1 {
            let k = c.num_experts_per_tok.or(c.experts_per_token).unwrap_or(2);
            if k == 0 || k > experts {
                return Err(InputError::new(
                    "model.config",
                    format!(
                        "num_experts_per_tok {k} must be between 1 and the expert count {experts}"
                    ),
                ));
            }
            let expert_intermediate = c
                .moe_intermediate_size
                .or(c.intermediate_size)
                .unwrap_or(4 * hidden);
            let is_llama4 = c
                .model_type
                .as_deref()
                .is_some_and(|t| t.starts_with("llama4"));
            let shared_intermediate = c
                .shared_expert_intermediate_size
                .or_else(|| c.n_shared_experts.map(|n| n * expert_intermediate))
                .or_else(|| is_llama4.then_some(expert_intermediate))
                .unwrap_or(0);
            let step = c
                .decoder_sparse_step
                .or(c.interleave_moe_layer_step)
                .unwrap_or(1)
                .max(1);
            let dense_prefix = c.first_k_dense_replace.unwrap_or(0).min(layers);
            let mlp_only = c.mlp_only_layers.as_ref().map_or(0, |v| v.len() as u32);
            let moe_layers = ((layers - dense_prefix) / step)
                .saturating_sub(mlp_only)
                .max(1);
            Some(Moe {
                experts,
                experts_per_token: k,
                expert_intermediate,
                shared_intermediate,
                moe_layers,
            })
        } else {
            None
        };
        Ok(ModelShape {
            name: name.to_string(),
            layers,
            hidden,
            heads,
            kv_heads,
            head_dim,
            intermediate,
            vocab,
            tied_embeddings: c.tie_word_embeddings.unwrap_or(false),
            max_position_embeddings: c.max_position_embeddings,
            moe,
        })
    }

    fn gated_mlp_params(&self, intermediate: u32) -> f64 {
        3.0 * self.hidden as f64 * intermediate as f64
    }

    /// q, k, v and o projections of one layer.
    pub fn attention_params_per_layer(&self) -> f64 {
        let h = self.hidden as f64;
        let q = (self.heads * self.head_dim) as f64;
        let kv = (self.kv_heads * self.head_dim) as f64;
        h * q + 2.0 * h * kv + q * h
    }

    fn dense_layers(&self) -> u32 {
        self.layers - self.moe.as_ref().map_or(0, |m| m.moe_layers)
    }

    /// Parameters of one routed expert (one layer).
    pub fn expert_params(&self) -> f64 {
        self.moe
            .as_ref()
            .map_or(0.0, |m| self.gated_mlp_params(m.expert_intermediate))
    }

    /// Parameters in the transformer blocks that every token uses: attention, dense MLPs,
    /// shared experts and routers.
    pub fn block_params_always_active(&self) -> f64 {
        let attn = self.layers as f64 * self.attention_params_per_layer();
        let dense = self.dense_layers() as f64 * self.gated_mlp_params(self.intermediate);
        let moe_fixed = self.moe.as_ref().map_or(0.0, |m| {
            m.moe_layers as f64
                * (self.gated_mlp_params(m.shared_intermediate)
                    + self.hidden as f64 * m.experts as f64)
        });
        attn + dense + moe_fixed
    }

    /// One embedding matrix (vocab × hidden).
    pub fn embedding_params(&self) -> f64 {
        self.vocab as f64 * self.hidden as f64
    }

    /// All parameters (embeddings counted once when tied).
    pub fn params_total(&self) -> f64 {
        let experts = self.moe.as_ref().map_or(0.0, |m| {
            m.moe_layers as f64 * m.experts as f64 * self.expert_params()
        });
        let embeddings = if self.tied_embeddings { 1.0 } else { 2.0 } * self.embedding_params();
        self.block_params_always_active() + experts + embeddings
    }

    /// Parameters in a token's matmuls: blocks, its k experts per MoE layer, the LM head.
    pub fn params_active(&self) -> f64 {
        let experts = self.moe.as_ref().map_or(0.0, |m| {
            m.moe_layers as f64 * m.experts_per_token as f64 * self.expert_params()
        });
        self.block_params_always_active() + experts + self.embedding_params()
    }

    /// Cost-relevant sizes for the given weight and KV formats.
    pub fn footprint(&self, weight: Dtype, kv: Dtype) -> ModelFootprint {
        self.footprint_in(weight, kv, false)
    }

    /// Like [`ModelShape::footprint`], for weights stored in a GGUF file when `gguf`: llama.cpp's
    /// MXFP4 files (gpt-oss) keep the non-expert weights at Q8_0 (8.5 bits), not 16.
    pub fn footprint_in(&self, weight: Dtype, kv: Dtype, gguf: bool) -> ModelFootprint {
        let wb = weight.bytes();
        // Embeddings and LM head stay at 16 bits when the blocks are quantised (AWQ, GPTQ,
        // FP8 checkpoints), except in GGUF files, whose average covers them too.
        let eb = if weight.bits() < 16.0 && !weight.is_gguf() {
            2.0
        } else {
            wb
        };
        // MXFP4 quantises the routed experts only; attention and the rest stay at 16 bits.
        let (wb, expert_b, eb) = if weight == Dtype::Mxfp4 && self.moe.is_some() {
            let rest = if gguf { Dtype::Q8_0.bytes() } else { 2.0 };
            (rest, weight.bytes(), rest)
        } else {
            (wb, wb, eb)
        };
        let emb = self.embedding_params() * eb;
        let lm_head_extra = if self.tied_embeddings { 0.0 } else { emb };
        let experts_per_layer_bytes = self.expert_params() * expert_b;
        let (moe_layers, n_experts, k) = self.moe.as_ref().map_or((0, 0, 0), |m| {
            (m.moe_layers, m.experts, m.experts_per_token)
        });
        let all_experts = moe_layers as f64 * n_experts as f64 * experts_per_layer_bytes;
        let fixed_blocks = self.block_params_always_active() * wb;
        ModelFootprint {
            weights_resident: Bytes(fixed_blocks + all_experts + emb + lm_head_extra),
            // Each step reads the blocks' fixed weights and the LM head (the input embedding is
            // a row lookup); experts are added per step by coverage.
            weights_read_fixed: Bytes(fixed_blocks + emb),
            expert_bytes: Bytes(experts_per_layer_bytes),
            moe_layers,
            experts: n_experts,
            experts_per_token: k,
            kv_per_token: Bytes(
                2.0 * self.layers as f64 * self.kv_heads as f64 * self.head_dim as f64 * kv.bytes(),
            ),
            flops_per_token: 2.0 * self.params_active(),
            attention_flops_per_token_ctx: 4.0
                * self.layers as f64
                * (self.heads * self.head_dim) as f64,
        }
    }
}

/// What one forward pass costs in memory traffic and arithmetic, for chosen formats.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelFootprint {
    /// Weights held in device memory.
    pub weights_resident: Bytes,
    /// Weights read by every step whatever its batch (blocks without routed experts, LM head).
    pub weights_read_fixed: Bytes,
    /// One routed expert of one layer.
    pub expert_bytes: Bytes,
    pub moe_layers: u32,
    pub experts: u32,
    pub experts_per_token: u32,
    /// KV-cache bytes per cached token: 2 · layers · kv_heads · head_dim · bytes(kv dtype).
    pub kv_per_token: Bytes,
    /// Matmul FLOPs per token: 2 · active parameters.
    pub flops_per_token: f64,
    /// Attention FLOPs per (query token × context token): 4 · layers · heads · head_dim.
    pub attention_flops_per_token_ctx: f64,
}

impl ModelFootprint {
    /// Expected weight bytes read by a pass over `tokens` tokens: the fixed part plus, per MoE
    /// layer, the expected number of distinct experts hit, E · (1 − (1 − k/E)^n).
    pub fn weights_read(&self, tokens: u64) -> Bytes {
        if self.moe_layers == 0 || tokens == 0 {
            return self.weights_read_fixed;
        }
        let e = self.experts as f64;
        let miss = 1.0 - self.experts_per_token as f64 / e;
        let covered = e * (1.0 - miss.powf(tokens as f64));
        Bytes(self.weights_read_fixed.0 + self.moe_layers as f64 * covered * self.expert_bytes.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn billions(x: f64) -> f64 {
        x / 1e9
    }

    #[test]
    fn presets_have_their_published_parameter_counts() {
        // (name, total B, active B) from the model cards.
        let cases = [
            ("mistral-7b", 7.25, 7.25),
            ("llama-3.1-8b", 8.03, 8.03),
            ("qwen2.5-coder-32b", 32.8, 32.8),
            ("qwen3-coder-30b-a3b", 30.5, 3.3),
            ("gpt-oss-20b", 20.9, 3.6),
            ("gemma-3-27b", 27.0, 27.0),
            ("llama-4-scout-17b-16e", 109.0, 17.0),
            ("llama-3-70b", 70.6, 70.6),
            ("llama-2-7b", 6.74, 6.74),
            ("llama-2-13b", 13.0, 13.0),
            ("llama-2-70b", 69.0, 69.0),
            ("codellama-34b", 33.7, 33.7),
            ("qwen3-8b", 8.19, 8.19),
            ("qwen3-14b", 14.8, 14.8),
            ("qwen3-32b", 32.8, 32.8),
            ("qwen3-30b-a3b", 30.5, 3.3),
            ("qwen3-235b-a22b", 235.0, 22.0),
            ("qwen2.5-1.5b", 1.54, 1.54),
            ("qwen2.5-7b", 7.6, 7.6),
            ("qwen2.5-14b", 14.7, 14.7),
            ("gpt-oss-120b", 116.8, 5.1),
            ("mixtral-8x7b", 46.7, 12.9),
        ];
        for (name, total, active) in cases {
            let m = ModelShape::preset(name).unwrap();
            let t = billions(m.params_total());
            // Active counts include the LM head, as the matmul FLOPs do.
            let a = billions(m.params_active());
            assert!(
                (t / total - 1.0).abs() < 0.06,
                "{name}: total {t:.2}B vs {total}B"
            );
            assert!(
                (a / active - 1.0).abs() < 0.12,
                "{name}: active {a:.2}B vs {active}B"
            );
        }
    }

    #[test]
    fn kv_bytes_per_token_follow_gqa() {
        let m = ModelShape::preset("llama-3.1-8b").unwrap();
        let f = m.footprint(Dtype::Bf16, Dtype::Bf16);
        // 2 · 32 layers · 8 kv heads · 128 · 2 bytes = 131072
        assert_eq!(f.kv_per_token.0, 131072.0);
        let f8 = m.footprint(Dtype::Bf16, Dtype::Fp8);
        assert_eq!(f8.kv_per_token.0, 65536.0);
    }

    #[test]
    fn quantised_weights_shrink_blocks_but_not_embeddings() {
        let m = ModelShape::preset("qwen2.5-coder-32b").unwrap();
        let bf16 = m.footprint(Dtype::Bf16, Dtype::Bf16).weights_resident.gib();
        let int4 = m.footprint(Dtype::Int4, Dtype::Bf16).weights_resident.gib();
        assert!(bf16 > 60.0 && bf16 < 62.0, "{bf16}");
        assert!(int4 > 17.5 && int4 < 19.5, "{int4}");
    }

    #[test]
    fn moe_expert_coverage_grows_with_batch() {
        let m = ModelShape::preset("qwen3-coder-30b-a3b").unwrap();
        let f = m.footprint(Dtype::Bf16, Dtype::Bf16);
        let one = f.weights_read(1).0;
        let eight = f.weights_read(8).0;
        let many = f.weights_read(100_000).0;
        assert!(one < eight && eight < many);
        // With every expert hit, a step reads all resident weights but the input embedding.
        let all = f.weights_resident.0 - m.embedding_params() * 2.0;
        assert!((many / all - 1.0).abs() < 1e-9);
    }

    #[test]
    fn bad_configs_are_input_errors() {
        assert!(ModelShape::from_config_json("x", "not json").is_err());
        assert!(ModelShape::from_config_json("x", "{}").is_err());
        let e = ModelShape::from_config_json(
            "x",
            r#"{"hidden_size":64,"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":8,"vocab_size":10}"#,
        )
        .unwrap_err();
        assert!(e.problem.contains("num_key_value_heads"));
    }

    #[test]
    fn unknown_preset_lists_known_ones() {
        let e = ModelShape::preset("gpt-5").unwrap_err();
        assert!(e.problem.contains("mistral-7b"));
    }

    #[test]
    fn dtype_aliases() {
        assert_eq!(Dtype::parse("AWQ"), Some(Dtype::Awq));
        assert_eq!(Dtype::parse("q8_0"), Some(Dtype::Q8_0));
        assert_eq!(Dtype::parse("Q4_K_M").map(Dtype::bits), Some(4.89));
        assert_eq!(Dtype::parse("w8a8"), Some(Dtype::Int8));
        for d in Dtype::ALL {
            assert_eq!(Dtype::parse(d.name()), Some(d));
        }
        assert_eq!(Dtype::parse("int3"), None);
    }
}
