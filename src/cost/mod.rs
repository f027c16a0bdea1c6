//! The step-time model: one engine step is bandwidth-bound or compute-bound, whichever is slower.
//!
//! `T = τ0 + τ_layer·layers·passes + τ_seq·n_seqs + max(bytes / (η_bw·k·BW), flops / (η_f·F_k)) +
//! T_allreduce`, with bytes = weights read (MoE: fixed part plus expected distinct experts hit)
//! × forward passes plus k_kv · context tokens read, flops = 2·N_active·tokens + attention, and
//! the kernel's bandwidth factor k and arithmetic rate F_k for the weight format on this GPU
//! ([`kernels`]). Tensor parallelism splits bytes and flops over its GPUs and adds two
//! all-reduces per layer per pass; llama.cpp's layer split runs its GPUs one after another; a
//! pass never takes less than its kernels' minimum time; the API server's streaming work bounds
//! the step from below ([`physics`]). The model is pure: shapes in, integer nanoseconds out.

pub mod coefficients;
pub mod kernels;
pub mod physics;
pub mod priors;

pub use coefficients::{Coefficients, IdleWakeup, MeasuredStep, Profile, Stalls};
pub use kernels::{EngineFamily, FormatFamily, Kernel};
pub use physics::{AllReduce, Frontend, Parallel};

use crate::hardware::Device;
use crate::model::{Dtype, ModelFootprint, ModelShape};
use crate::units::Nanos;
use serde::Serialize;

/// What one engine step processes, as aggregates (no per-sequence lists).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StepShape {
    /// Sequences in the batch (decoding plus prefilling).
    pub seqs: u32,
    /// Tokens computed: one per decoding sequence plus every prefill chunk token.
    pub tokens: u64,
    /// Cached tokens whose KV is read: Σ L_i over decodes + Σ (c_j + p_j) over prefill chunks.
    pub kv_read_tokens: u64,
    /// Query × key pairs for attention FLOPs: Σ L_i + Σ p_j·(c_j + p_j/2).
    pub attention_pairs: f64,
    /// Forward passes the step is split into (llama.cpp micro-batches); at least 1.
    pub passes: u32,
}

impl StepShape {
    /// A pure decode step: `batch` sequences, each reading `context` cached tokens.
    pub fn decode(batch: u32, context: u64) -> StepShape {
        StepShape {
            seqs: batch,
            tokens: batch as u64,
            kv_read_tokens: batch as u64 * context,
            attention_pairs: (batch as u64 * context) as f64,
            passes: 1,
        }
    }

    /// Adds one sequence's prefill of `chunk` tokens after `cached` ones to this step: it reads
    /// their KV and attends to them and to the chunk's earlier tokens.
    pub fn add_prefill_chunk(&mut self, cached: u64, chunk: u64) {
        self.seqs += 1;
        self.tokens += chunk;
        self.kv_read_tokens += cached + chunk;
        self.attention_pairs += chunk as f64 * (cached as f64 + chunk as f64 / 2.0);
    }

    /// One prompt prefilled alone in chunks of at most `budget` tokens (vLLM's chunked
    /// prefill), one step (one pass) each: how many steps, and their shapes summed.
    pub fn prefill_chunks(prompt: u64, budget: u32) -> (u32, StepShape) {
        let budget = budget.max(1) as u64;
        let mut sum = StepShape::default();
        let mut done = 0u64;
        while done < prompt {
            let chunk = budget.min(prompt - done);
            sum.add_prefill_chunk(done, chunk);
            sum.passes += 1;
            done += chunk;
        }
        (sum.passes, sum)
    }

    /// One prompt prefilled alone from an empty cache, as the engine runs it: in chunks of
    /// `budget` tokens, a step each, where it is longer than the token budget (vLLM), else one
    /// step of micro-batches of `n_ubatch` (llama.cpp; `u32::MAX` for none). How many steps,
    /// and their shapes summed: what calibration fits a prompt's prefill time to, whether the
    /// time came from a probe or a recorded run.
    pub fn prompt_prefill(prompt: u64, n_ubatch: u32, budget: Option<u32>) -> (u32, StepShape) {
        match budget {
            Some(b) if prompt > b as u64 => StepShape::prefill_chunks(prompt, b),
            _ => (1, StepShape::prefill(prompt, n_ubatch)),
        }
    }

    /// One prefill of `prompt` tokens from an empty cache, in micro-batches of `n_ubatch`.
    pub fn prefill(prompt: u64, n_ubatch: u32) -> StepShape {
        StepShape {
            seqs: 1,
            tokens: prompt,
            kv_read_tokens: prompt,
            attention_pairs: prompt as f64 * prompt as f64 / 2.0,
            passes: prompt.div_ceil(n_ubatch.max(1) as u64) as u32,
        }
    }
}

/// Time of one step, by component, in seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct StepBreakdown {
    /// Fixed and per-sequence time: scheduling, sampling, kernel launches.
    pub overhead_s: f64,
    pub memory_s: f64,
    pub compute_s: f64,
    pub communication_s: f64,
    /// The API server's work for the tokens this step streams.
    pub frontend_s: f64,
    /// Memory and compute add up (a measured step model) instead of overlapping (the roofline).
    pub additive: bool,
    /// The scheduler's CPU work overlaps the GPU's (vLLM `--async-scheduling`).
    pub overlapped_overhead: bool,
    /// The API server runs in the engine's loop (its work adds to the step).
    pub frontend_in_process: bool,
    /// Measured correction for a pure decode step of this batch size (1 = none).
    pub batch_factor: f64,
}

impl StepBreakdown {
    pub fn total_s(&self) -> f64 {
        let work = if self.additive {
            self.memory_s + self.compute_s
        } else {
            self.memory_s.max(self.compute_s)
        };
        let gpu = if self.overlapped_overhead {
            self.overhead_s.max(work)
        } else {
            self.overhead_s + work
        };
        let engine = gpu * self.batch_factor + self.communication_s;
        if self.frontend_in_process {
            engine + self.frontend_s
        } else {
            engine.max(self.frontend_s)
        }
    }
    /// Which roof binds this step.
    pub fn bound(&self) -> &'static str {
        if self.memory_s >= self.compute_s {
            "memory"
        } else {
            "compute"
        }
    }
}

/// What an engine's implementation adds to the roofline for one replica (see [`physics`]).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Physics {
    pub family: EngineFamily,
    pub parallel: Parallel,
    pub frontend: Frontend,
    pub async_scheduling: bool,
    /// llama.cpp's fused attention; off, the attention scores are written and read back.
    pub flash_attn: bool,
}

impl Physics {
    /// One GPU, no API server, nothing special: the plain roofline.
    pub fn plain(family: EngineFamily) -> Physics {
        Physics {
            family,
            parallel: Parallel::None,
            frontend: Frontend::NONE,
            async_scheduling: false,
            flash_attn: true,
        }
    }
}

/// A compiled step-time model for one replica: model footprint, device, coefficients, the
/// engine's physics; or a step model measured on a server for this model.
#[derive(Clone, Debug, Serialize)]
pub struct CostModel {
    pub footprint: ModelFootprint,
    pub coefficients: Coefficients,
    pub physics: Physics,
    /// The weight kernel the engine runs on this device.
    pub kernel: Kernel,
    /// When set, steps cost what this measured model says (datasheet and η are not used).
    pub measured: Option<MeasuredStep>,
    layers: u32,
    hidden: u32,
    heads: u32,
    /// Seconds per byte over the whole replica (1 / (gpus·η_bw·kernel·BW)).
    sec_per_byte: f64,
    /// Seconds per FLOP over the whole replica.
    sec_per_flop: f64,
    /// The least one forward pass takes however little it reads: its layers' kernels at their
    /// minimum time (vLLM; llama.cpp's per-layer cost is fitted as a whole).
    pass_floor_s: f64,
}

impl CostModel {
    pub fn new(
        model: &ModelShape,
        weight: Dtype,
        kv: Dtype,
        device: &Device,
        coefficients: Coefficients,
        physics: Physics,
    ) -> CostModel {
        let footprint = model.footprint_in(weight, kv, physics.family == EngineFamily::LlamaCpp);
        let kernel = kernels::kernel(physics.family, weight, device);
        let gpus = physics.parallel.concurrent_gpus().max(1) as f64;
        let moe_layers = model.moe.as_ref().map_or(0, |m| m.moe_layers) as f64;
        let pass_floor_s = match physics.family {
            EngineFamily::Vllm => {
                physics::KERNEL_MIN_S
                    * ((model.layers as f64 - moe_layers) * physics::KERNELS_PER_DENSE_LAYER
                        + moe_layers * physics::KERNELS_PER_MOE_LAYER)
            }
            EngineFamily::LlamaCpp => 0.0,
        };
        CostModel {
            pass_floor_s,
            sec_per_byte: 1.0
                / (gpus
                    * coefficients.bw_efficiency
                    * kernel.bandwidth_factor
                    * device.bandwidth().0),
            sec_per_flop: 1.0 / (gpus * coefficients.flops_efficiency * kernel.peak_flops),
            footprint,
            coefficients,
            physics,
            kernel,
            measured: None,
            layers: model.layers,
            hidden: model.hidden,
            heads: model.heads,
        }
    }

    /// The same model with its bandwidth and compute efficiencies multiplied by `bw` and
    /// `flops` and its batched-step factor by `batch` (a draw from a prior's spread).
    pub fn scaled(&self, bw: f64, flops: f64, batch: f64) -> CostModel {
        let mut c = self.clone();
        c.sec_per_byte /= bw;
        c.sec_per_flop /= flops;
        c.coefficients.bw_efficiency *= bw;
        c.coefficients.flops_efficiency *= flops;
        c.coefficients.batch_bw_factor *= batch;
        c
    }

    /// Uses a step model measured on a server instead of the datasheet roofline.
    pub fn with_measured(mut self, step: MeasuredStep) -> CostModel {
        self.coefficients.overhead_s = step.overhead_ms / 1e3;
        self.coefficients.per_seq_s = step.per_seq_ms / 1e3;
        if let Some(cv) = step.step_cv {
            self.coefficients.step_cv = cv;
        }
        self.measured = Some(step);
        self
    }

    /// Coefficient of variation of a step's duration: the measured one, else the default.
    pub fn step_cv(&self) -> f64 {
        self.measured
            .as_ref()
            .and_then(|m| m.step_cv)
            .unwrap_or(self.coefficients.step_cv)
    }

    /// How much later an idle server answers, as measured (none without a measurement).
    pub fn idle_wakeup(&self) -> Option<IdleWakeup> {
        self.measured
            .as_ref()
            .and_then(|m| m.idle_wakeup)
            .filter(IdleWakeup::seen)
    }

    /// Stalls of the measured step model (none without a measurement).
    pub fn step_stalls(&self) -> Option<Stalls> {
        self.measured.as_ref().and_then(|m| m.stalls)
    }

    /// Delay between a client sending a request and the engine seeing it: the measured
    /// request latency, or the API server's work per request.
    pub fn request_latency(&self) -> Nanos {
        match &self.measured {
            Some(m) => Nanos::from_millis_f64(m.request_latency_ms),
            None => Nanos::from_secs_f64(self.physics.frontend.request_s),
        }
    }

    /// GPUs of one replica.
    pub fn gpus(&self) -> u32 {
        self.physics.parallel.gpus()
    }

    pub fn breakdown(&self, s: &StepShape) -> StepBreakdown {
        if let Some(m) = &self.measured {
            // A decode step split into several passes (llama.cpp slots that are not
            // consecutive) is costed by its passes, not by the batch size's correction.
            let pure_decode = s.tokens == s.seqs as u64 && s.seqs > 0 && s.passes <= 1;
            let batch_factor = if pure_decode && !m.decode_batch_factors.is_empty() {
                let i = (s.seqs as usize - 1).min(m.decode_batch_factors.len() - 1);
                m.decode_batch_factors[i]
            } else {
                1.0
            };
            return StepBreakdown {
                overhead_s: (m.overhead_ms + m.per_seq_ms * s.seqs as f64) / 1e3,
                memory_s: (m.weights_ms_per_pass * s.passes.max(1) as f64) / 1e3
                    + m.kv_ns_per_token * s.kv_read_tokens as f64 / 1e9,
                compute_s: m.compute_us_per_token * s.tokens as f64 / 1e6
                    + m.attention_ns_per_pair * s.attention_pairs / 1e9,
                additive: true,
                batch_factor,
                ..StepBreakdown::default()
            };
        }
        let ph = &self.physics;
        let passes = s.passes.max(1) as u64;
        let tokens_per_pass = s.tokens.div_ceil(passes);
        let weights = self.footprint.weights_read(tokens_per_pass).0 * passes as f64;
        // Without flash attention the scores (heads × query × key, f32) are written and read
        // back in every layer.
        let scores = if ph.flash_attn {
            0.0
        } else {
            8.0 * self.layers as f64 * self.heads as f64 * s.attention_pairs
        };
        let bytes = weights + self.footprint.kv_per_token.0 * s.kv_read_tokens as f64 + scores;
        let flops = self.footprint.flops_per_token * s.tokens as f64
            + self.footprint.attention_flops_per_token_ctx * s.attention_pairs;
        let communication_s = match &ph.parallel {
            Parallel::Tensor {
                degree,
                latency_s,
                link_bytes_per_s,
                ..
            } => {
                let tp = *degree as f64;
                let allreduces = 2.0 * self.layers as f64 * passes as f64;
                let volume = 2.0 * (tp - 1.0) / tp * s.tokens as f64 * self.hidden as f64 * 2.0;
                allreduces * latency_s
                    + 2.0 * self.layers as f64 * volume / (link_bytes_per_s * LINK_EFFICIENCY)
            }
            _ => 0.0,
        };
        let c = &self.coefficients;
        let batched = if tokens_per_pass > 1 {
            c.batch_bw_factor
        } else {
            1.0
        };
        // However little a pass reads, its kernels take their minimum time.
        let memory_s = (bytes * self.sec_per_byte / batched).max(self.pass_floor_s * passes as f64);
        StepBreakdown {
            overhead_s: c.overhead_s
                + c.per_layer_s * self.layers as f64 * passes as f64
                + c.per_seq_s * s.seqs as f64,
            memory_s,
            compute_s: flops * self.sec_per_flop,
            communication_s,
            frontend_s: ph.frontend.token_s * s.seqs as f64,
            additive: false,
            overlapped_overhead: ph.async_scheduling,
            frontend_in_process: ph.frontend.in_process,
            batch_factor: 1.0,
        }
    }

    /// Duration of one step, rounded to whole nanoseconds (at least 1 ns, so time advances).
    #[inline]
    pub fn step_time(&self, s: &StepShape) -> Nanos {
        Nanos::from_secs_f64(self.breakdown(s).total_s()).max(Nanos(1))
    }

    /// Step time of a pure decode step of `batch` sequences at `context` tokens each.
    pub fn decode_step(&self, batch: u32, context: u64) -> Nanos {
        self.step_time(&StepShape::decode(batch, context))
    }

    /// Step time of one prefill of `prompt` tokens in a single chunk.
    pub fn prefill_step(&self, prompt: u64) -> Nanos {
        self.step_time(&StepShape::prefill(prompt, u32::MAX))
    }
}

/// Fraction of a link's bandwidth an all-reduce's payload reaches.
pub const LINK_EFFICIENCY: f64 = 0.7;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hardware;

    #[test]
    fn a_chunked_prefill_attends_to_every_pair_once_over_its_steps() {
        // 1900 tokens in chunks of 512: 512, 512, 512, 364, each attending to those before.
        let (steps, s) = StepShape::prefill_chunks(1900, 512);
        assert_eq!((steps, s.seqs, s.passes, s.tokens), (4, 4, 4, 1900));
        assert_eq!(s.attention_pairs, 1900.0 * 1900.0 / 2.0);
        assert_eq!(s.kv_read_tokens, 512 + 1024 + 1536 + 1900);
        // Within the budget it is the one-step prefill.
        let (one, p) = StepShape::prefill_chunks(300, 512);
        assert_eq!((one, p), (1, StepShape::prefill(300, u32::MAX)));
    }

    fn mistral_on_4090() -> CostModel {
        CostModel::new(
            &ModelShape::preset("mistral-7b").unwrap(),
            Dtype::Bf16,
            Dtype::Bf16,
            &hardware::lookup("rtx4090").unwrap(),
            Coefficients::datasheet_defaults(),
            Physics::plain(EngineFamily::Vllm),
        )
    }

    #[test]
    fn batch_one_decode_is_bandwidth_bound_near_datasheet() {
        let c = mistral_on_4090();
        let t = c.decode_step(1, 512).as_millis_f64();
        // 14.5 GB of weights at 0.85 × 1008 GB/s ≈ 16.9 ms, plus ~1 ms overhead.
        assert!(t > 16.0 && t < 20.0, "{t} ms");
        let b = c.breakdown(&StepShape {
            seqs: 1,
            tokens: 1,
            kv_read_tokens: 512,
            attention_pairs: 512.0,
            passes: 1,
        });
        assert_eq!(b.bound(), "memory");
    }

    #[test]
    fn long_prefill_is_compute_bound_and_roughly_linear() {
        let c = mistral_on_4090();
        let t2k = c.prefill_step(2048).as_secs_f64();
        let t4k = c.prefill_step(4096).as_secs_f64();
        let ratio = t4k / t2k;
        assert!(ratio > 1.9 && ratio < 2.3, "{ratio}");
    }

    #[test]
    fn decode_cost_grows_sublinearly_with_batch() {
        let c = mistral_on_4090();
        let t1 = c.decode_step(1, 512).0 as f64;
        let t32 = c.decode_step(32, 512).0 as f64;
        assert!(t32 > t1 && t32 < 4.0 * t1);
    }

    #[test]
    fn tensor_parallel_splits_bytes_and_adds_communication() {
        let m = ModelShape::preset("qwen2.5-coder-32b").unwrap();
        let d = hardware::lookup("rtx3090").unwrap();
        let with = |parallel: Parallel| {
            CostModel::new(
                &m,
                Dtype::Awq,
                Dtype::Bf16,
                &d,
                Coefficients::datasheet_defaults(),
                Physics {
                    parallel,
                    ..Physics::plain(EngineFamily::Vllm)
                },
            )
        };
        let tp = |all_reduce: AllReduce, nvlink: bool, link: f64| {
            with(Parallel::Tensor {
                degree: 2,
                all_reduce,
                latency_s: physics::all_reduce_latency_s(all_reduce, nvlink),
                link_bytes_per_s: link,
            })
        };
        let one = with(Parallel::None);
        let nvlink = tp(AllReduce::Custom, true, 56.25e9);
        let pcie = tp(AllReduce::NcclHost, false, 31.5e9);
        let t1 = one.decode_step(4, 1000);
        let tn = nvlink.decode_step(4, 1000);
        let tpcie = pcie.decode_step(4, 1000);
        assert!(tn < t1, "{tn:?} {t1:?}");
        assert!(tpcie > tn);
        // llama.cpp's layer split reads every layer at one GPU's bandwidth.
        let layers = with(Parallel::Layers { gpus: 2 });
        assert!(layers.decode_step(1, 1000) >= one.decode_step(1, 1000));
    }

    #[test]
    fn eager_launches_and_streaming_work_slow_a_step() {
        let c = mistral_on_4090();
        let mut eager = c.clone();
        eager.coefficients.per_layer_s = physics::VLLM_EAGER_LAUNCH_PER_LAYER_S;
        let d = eager.decode_step(1, 512).as_secs_f64() - c.decode_step(1, 512).as_secs_f64();
        assert!((d - 1.5e-3).abs() < 1e-6, "{d}");
        // 512 tokens streamed at 60 µs each take longer than the GPU's step: the frontend binds.
        let mut streaming = c.clone();
        streaming.physics.frontend = Frontend {
            request_s: 0.0,
            token_s: physics::VLLM_FRONTEND_TOKEN_S,
            in_process: false,
        };
        let b = streaming.breakdown(&StepShape::decode(512, 16));
        assert!((b.frontend_s - 512.0 * physics::VLLM_FRONTEND_TOKEN_S).abs() < 1e-12);
        assert!(b.total_s() >= b.frontend_s);
        // Overlapped, the API server binds only when its work is the longer; in the engine's
        // process (vLLM < 0.6) it always adds.
        let fast = StepBreakdown {
            memory_s: 0.010,
            frontend_s: 0.020,
            batch_factor: 1.0,
            ..StepBreakdown::default()
        };
        assert_eq!(fast.total_s(), 0.020);
        let in_process = StepBreakdown {
            frontend_in_process: true,
            ..fast
        };
        assert!((in_process.total_s() - 0.030).abs() < 1e-12);
    }
}
