//! `[engine]`: the scheduler a replica runs and its limits, with each engine's defaults and
//! the checks the real server makes at start-up (memory, context, budgets); and whether a
//! workload's requests fit what the engine accepts.

use super::file::ScenarioFile;
use super::{EngineKind, EngineSpec};
use crate::cost::CostModel;
use crate::engine::llamacpp::LlamaCppConfig;
use crate::engine::vllm::{self, Scheduler, VllmConfig};
use crate::engine::Admission;
use crate::error::{InputError, InputResult};
use crate::hardware::Device;
use crate::model::ModelShape;
use crate::units::Bytes;
use crate::workload::{Arrival, Workload};

/// vLLM V1's OpenAI server defaults for `device` (`EngineArgs.get_batch_defaults`,
/// vllm/engine/arg_utils.py, v0.8-0.11): (max_num_seqs, max_num_batched_tokens) = (1024, 8192)
/// on GPUs of at least 70 GiB other than the A100 (PR #17885: a larger budget lowered the
/// A100's throughput), else (256, 2048).
pub fn vllm_v1_batch_defaults(device: &Device) -> (u32, u32) {
    if device.memory_gib >= 70.0 && !device.name.starts_with("a100") {
        (1024, 8192)
    } else {
        (256, 2048)
    }
}

fn positive_u32(v: Option<u32>, default: u32, key: &str) -> InputResult<u32> {
    let v = v.unwrap_or(default);
    if v == 0 {
        return Err(InputError::new(key, "must be at least 1"));
    }
    Ok(v)
}

/// A vLLM version as `engine.version` gives it ("0.6.3", "v0.10.1.1", "0.8.5.post1").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct VllmVersion(pub u32, pub u32, pub u32);

impl VllmVersion {
    /// What capsim models when no version is given: the V1 engine of current releases.
    pub const CURRENT: VllmVersion = VllmVersion(0, 11, 0);

    pub fn parse(text: &str) -> InputResult<VllmVersion> {
        let t = text.trim().trim_start_matches('v');
        let mut parts = t.split(['.', '+', '-']).map(|p| p.parse::<u32>());
        match (parts.next(), parts.next(), parts.next()) {
            (Some(Ok(a)), Some(Ok(b)), c) => {
                Ok(VllmVersion(a, b, c.and_then(|c| c.ok()).unwrap_or(0)))
            }
            _ => Err(InputError::new(
                "engine.version",
                format!("'{text}' is not a vLLM version (give it as e.g. \"0.6.3\" or \"0.10.1\")"),
            )),
        }
    }

    /// V1 is the default from 0.8.0 (vLLM PR #13726; the only engine from 0.11).
    pub fn scheduler(self) -> Scheduler {
        if self < VllmVersion(0, 8, 0) {
            Scheduler::V0
        } else {
            Scheduler::V1
        }
    }

    /// The API server runs in the engine's process before 0.6.0 (the v0.6.0 release moved it
    /// out, PR #6883).
    pub fn frontend_in_process(self) -> bool {
        self < VllmVersion(0, 6, 0)
    }
}

impl std::fmt::Display for VllmVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

pub(super) fn resolve_engine(
    raw: &ScenarioFile,
    model: &ModelShape,
    device: &Device,
    memory: Bytes,
    cost: &CostModel,
) -> InputResult<EngineSpec> {
    let e = &raw.engine;
    let kind = e.kind.unwrap_or(EngineKind::Vllm);
    let fp = &cost.footprint;
    let not_for = |present: bool, key: &str, other: &str| -> InputResult<()> {
        if present {
            Err(InputError::new(
                format!("engine.{key}"),
                format!("applies to {other} engines, not '{}'", kind.name()),
            ))
        } else {
            Ok(())
        }
    };
    if e.max_queue == Some(0) {
        return Err(InputError::new(
            "engine.max_queue",
            "must be at least 1 (leave it out for an unbounded queue)",
        ));
    }
    let max_queue = e.max_queue;
    match kind {
        EngineKind::Vllm | EngineKind::Sglang | EngineKind::Tgi => {
            for (present, key) in [
                (e.cache_prompt.is_some(), "cache_prompt"),
                (e.parallel.is_some(), "parallel"),
                (e.ctx_size.is_some(), "ctx_size"),
                (e.n_batch.is_some(), "n_batch"),
                (e.n_ubatch.is_some(), "n_ubatch"),
                (e.kv_unified.is_some(), "kv_unified"),
                (e.flash_attn.is_some(), "flash_attn"),
            ] {
                not_for(present, key, "llamacpp")?;
            }
            if e.version.is_some() && kind != EngineKind::Vllm {
                return Err(InputError::new(
                    "engine.version",
                    format!("versions are modelled for vllm only, not '{}'", kind.name()),
                ));
            }
            // Defaults per flavor and version: vLLM V1 (vllm/engine/arg_utils.py, OpenAI
            // server, v0.8-0.11): 256 seqs / 2048 tokens, or 1024 / 8192 on >= 70 GiB GPUs
            // other than A100. vLLM V0 (< 0.8, vllm/config.py): 256 seqs; chunked prefill on
            // only past 32k of context; without it the budget is max(max_model_len, 2048).
            // SGLang: chunked_prefill_size 8192, mem_fraction_static 0.88, page size 1.
            // TGI: max_batch_prefill_tokens 4096, max_concurrent_requests 128.
            let version = match (&e.version, kind) {
                (Some(v), EngineKind::Vllm) => VllmVersion::parse(v)?,
                _ => VllmVersion::CURRENT,
            };
            let scheduler = version.scheduler();
            let v0 = scheduler == Scheduler::V0;
            let (seqs, tokens, util, block) = match kind {
                EngineKind::Sglang => (1024, 8192, 0.88, 1),
                EngineKind::Tgi => (128, 4096, 0.9, 16),
                _ if v0 => (256, 2048, 0.9, 16),
                _ => {
                    let (seqs, tokens) = vllm_v1_batch_defaults(device);
                    (seqs, tokens, 0.9, 16)
                }
            };
            let max_num_seqs = positive_u32(e.max_num_seqs, seqs, "engine.max_num_seqs")?;
            // V0's budget follows max_model_len; sized for the memory check with its chunked
            // default, and settled below once max_model_len is known.
            let budget = positive_u32(
                e.max_num_batched_tokens,
                tokens,
                "engine.max_num_batched_tokens",
            )?;
            if budget < max_num_seqs {
                return Err(InputError::new(
                    "engine.max_num_batched_tokens",
                    format!("({budget}) must be at least max_num_seqs ({max_num_seqs}), as vLLM requires"),
                ));
            }
            let util = e.gpu_memory_utilization.unwrap_or(util);
            if !(util > 0.0 && util <= 1.0) {
                return Err(InputError::new(
                    "engine.gpu_memory_utilization",
                    format!("must be in (0, 1] (got {util})"),
                ));
            }
            let block_size = positive_u32(e.block_size, block, "engine.block_size")?;
            let reserve = vllm::activation_reserve(
                budget,
                max_num_seqs,
                model.hidden,
                model.intermediate,
                model.vocab,
            );
            let usable = memory.0 * util;
            if fp.weights_resident.0 + reserve.0 >= usable {
                return Err(InputError::new(
                    "hardware",
                    format!(
                        "the model does not fit: {} weights {:.1} GiB + activations {:.1} GiB exceed {:.1} GiB usable ({} x {:.1} GiB x gpu_memory_utilization {util}); use more gpus_per_replica, a bigger GPU or a smaller weight_dtype",
                        model.name,
                        fp.weights_resident.gib(),
                        reserve.gib(),
                        usable / Bytes::GIB,
                        memory.0 / device.memory().0,
                        device.memory_gib
                    ),
                ));
            }
            let kv_capacity = match e.kv_cache_tokens {
                Some(0) => {
                    return Err(InputError::new(
                        "engine.kv_cache_tokens",
                        "must be at least 1",
                    ))
                }
                Some(t) => t,
                None => vllm::kv_capacity_tokens(
                    memory,
                    util,
                    fp.weights_resident,
                    reserve,
                    fp.kv_per_token,
                )
                .max(0) as u64,
            };
            let model_max = model.max_position_embeddings.unwrap_or(u32::MAX);
            let kv_room = kv_capacity
                .saturating_sub(block_size as u64)
                .min(u32::MAX as u64) as u32;
            let max_model_len = match e.max_model_len {
                Some(0) => {
                    return Err(InputError::new(
                        "engine.max_model_len",
                        "must be at least 1",
                    ))
                }
                Some(len) => {
                    if len > model_max {
                        return Err(InputError::new(
                            "engine.max_model_len",
                            format!(
                                "{len} exceeds the model's max_position_embeddings ({model_max})"
                            ),
                        ));
                    }
                    if len > kv_room {
                        return Err(InputError::new(
                            "engine.max_model_len",
                            format!("{len} tokens do not fit the KV cache ({kv_capacity} tokens at {:.0} KiB/token); lower it or add memory", fp.kv_per_token.0 / 1024.0),
                        ));
                    }
                    len
                }
                None => model_max.min(kv_room),
            };
            if max_model_len == 0 {
                return Err(InputError::new(
                    "hardware",
                    "no room is left for the KV cache after the weights",
                ));
            }
            let chunked = e
                .enable_chunked_prefill
                .unwrap_or(!v0 || max_model_len > 32_768);
            let budget = match e.max_num_batched_tokens {
                None if v0 && !chunked => max_model_len.max(2048),
                None if v0 && version < VllmVersion(0, 6, 0) => 512,
                _ => budget,
            };
            if !chunked && budget < max_model_len {
                return Err(InputError::new(
                    "engine.max_num_batched_tokens",
                    format!("({budget}) must be at least max_model_len ({max_model_len}) when chunked prefill is off"),
                ));
            }
            Ok(EngineSpec::Vllm {
                config: VllmConfig {
                    max_num_seqs,
                    max_num_batched_tokens: budget,
                    max_model_len,
                    chunked_prefill: chunked,
                    kv_capacity_tokens: kv_capacity,
                    block_size,
                    admission: Admission {
                        // On by default in V1, off in V0 (arg_utils: `bool(envs.VLLM_USE_V1)`).
                        prefix_caching: e.enable_prefix_caching.unwrap_or(!v0),
                        max_queue,
                        hit_granularity: block_size,
                    },
                    scheduler,
                },
                flavor: kind.name().to_string(),
            })
        }
        EngineKind::LlamaCpp => {
            for (present, key) in [
                (e.enable_prefix_caching.is_some(), "enable_prefix_caching"),
                (e.max_num_seqs.is_some(), "max_num_seqs"),
                (e.max_num_batched_tokens.is_some(), "max_num_batched_tokens"),
                (e.max_model_len.is_some(), "max_model_len"),
                (e.gpu_memory_utilization.is_some(), "gpu_memory_utilization"),
                (e.enable_chunked_prefill.is_some(), "enable_chunked_prefill"),
                (e.block_size.is_some(), "block_size"),
                (e.kv_cache_tokens.is_some(), "kv_cache_tokens"),
                (e.enforce_eager.is_some(), "enforce_eager"),
                (
                    e.disable_custom_all_reduce.is_some(),
                    "disable_custom_all_reduce",
                ),
                (e.async_scheduling.is_some(), "async_scheduling"),
            ] {
                not_for(present, key, "vllm, sglang and tgi")?;
            }
            if e.version.is_some() {
                return Err(InputError::new(
                    "engine.version",
                    "versions are modelled for vllm only, not 'llamacpp' (its slots and batching are one model for every build)",
                ));
            }
            // llama-server's classic defaults: -np 1, -c 4096, -b 2048, -ub 512.
            let parallel = positive_u32(e.parallel, 1, "engine.parallel")?;
            let ctx_size = positive_u32(e.ctx_size, 4096, "engine.ctx_size")?;
            let n_batch = positive_u32(e.n_batch, 2048, "engine.n_batch")?;
            let n_ubatch = positive_u32(e.n_ubatch, 512, "engine.n_ubatch")?;
            if (ctx_size as u64) < parallel as u64 * 2 {
                return Err(InputError::new(
                    "engine.ctx_size",
                    format!("({ctx_size}) leaves less than 2 tokens per slot for {parallel} slots"),
                ));
            }
            if n_ubatch > n_batch {
                return Err(InputError::new(
                    "engine.n_ubatch",
                    format!("({n_ubatch}) must not exceed n_batch ({n_batch})"),
                ));
            }
            let kv = fp.kv_per_token.0 * ctx_size as f64;
            if fp.weights_resident.0 + kv > memory.0 {
                return Err(InputError::new(
                    "hardware",
                    format!(
                        "the model does not fit: {} weights {:.1} GiB + KV cache for ctx_size {ctx_size} {:.1} GiB exceed {:.1} GiB",
                        model.name,
                        fp.weights_resident.gib(),
                        kv / Bytes::GIB,
                        memory.gib()
                    ),
                ));
            }
            let cfg = LlamaCppConfig {
                parallel,
                ctx_size,
                n_batch,
                n_ubatch,
                admission: Admission {
                    prefix_caching: e.cache_prompt.unwrap_or(true),
                    max_queue,
                    hit_granularity: 1,
                },
                // A profile that measured whether the server splits slots says it; else the
                // scenario, else llama-server's default with an explicit --parallel (off).
                kv_unified: match cost.measured.as_ref().and_then(|m| m.slot_split) {
                    Some(split) => !split,
                    None => e.kv_unified.unwrap_or(false),
                },
            };
            Ok(EngineSpec::LlamaCpp(cfg))
        }
    }
}

/// Refuses a workload whose every request is longer than the engine accepts (fixed lengths
/// only: a distribution's long tail fails request by request, as on the real server).
pub(super) fn check_request_fits(engine: &EngineSpec, workload: &Workload) -> InputResult<()> {
    for (c, w) in workload.all_classes().enumerate() {
        if matches!(w.arrival, Arrival::Trace { .. }) {
            continue;
        }
        let fixed =
            |d: &crate::workload::LengthDist| d.0.is_fixed().then(|| d.upper_bound() as u64);
        let Some(i) = fixed(&w.input_tokens) else {
            continue;
        };
        let o = fixed(&w.output_tokens).unwrap_or(1);
        let class = if c == 0 {
            String::new()
        } else {
            format!(" of class '{}'", w.name)
        };
        match engine {
            EngineSpec::Vllm { config, .. } => {
                if i + o > config.max_model_len as u64 {
                    return Err(InputError::new(
                        "engine.max_model_len",
                        format!(
                            "({}) is below the request length{class} (input {i} + output {o} = {} tokens)",
                            config.max_model_len,
                            i + o
                        ),
                    ));
                }
            }
            EngineSpec::LlamaCpp(cfg) => {
                if i >= cfg.slot_context() as u64 {
                    return Err(InputError::new(
                        "engine.ctx_size",
                        format!(
                            "each of {} slots holds {} tokens, below the {i}-token prompt{class} (llama-server would answer HTTP 400)",
                            cfg.parallel,
                            cfg.slot_context()
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}
