//! The step-time model: one engine step is bandwidth-bound or compute-bound, whichever is slower.
//!
//! `T = τ0 + τ_seq·n_seqs + max(bytes / (η_bw·BW), flops / (η_f·F)) + T_allreduce`, with
//! bytes = weights read (MoE: fixed part plus expected distinct experts hit) × forward passes
//! plus k_kv · context tokens read, and flops = 2·N_active·tokens + attention. Tensor parallelism
//! splits bytes and flops over `tp` GPUs and adds two all-reduces per layer per pass. The model
//! is pure: shapes in, integer nanoseconds out.

pub mod coefficients;

pub use coefficients::{Coefficients, MeasuredStep, Profile};

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
    pub overhead_s: f64,
    pub memory_s: f64,
    pub compute_s: f64,
    pub communication_s: f64,
    /// Memory and compute add up (a measured step model) instead of overlapping (the roofline).
    pub additive: bool,
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
        (self.overhead_s + work) * self.batch_factor + self.communication_s
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

/// How the GPUs of one replica talk (tensor parallelism).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TensorParallel {
    pub degree: u32,
    /// Per-direction link bandwidth, bytes/s.
    pub link_bytes_per_s: f64,
    /// Per all-reduce fixed latency, seconds.
    pub latency_s: f64,
}

impl TensorParallel {
    pub const NONE: TensorParallel = TensorParallel {
        degree: 1,
        link_bytes_per_s: 1.0,
        latency_s: 0.0,
    };

    /// NVLink all-reduce latency (NCCL, small messages) and link efficiency.
    pub const NVLINK_LATENCY_S: f64 = 8e-6;
    /// PCIe all-reduce latency: GeForce cards without P2P go through host memory.
    pub const PCIE_LATENCY_S: f64 = 25e-6;
    pub const LINK_EFFICIENCY: f64 = 0.7;
}

/// A compiled step-time model for one replica: model footprint, device, coefficients; or a
/// step model measured on a server for this model.
#[derive(Clone, Debug, Serialize)]
pub struct CostModel {
    pub footprint: ModelFootprint,
    pub coefficients: Coefficients,
    pub tp: TensorParallel,
    /// When set, steps cost what this measured model says (datasheet and η are not used).
    pub measured: Option<MeasuredStep>,
    layers: u32,
    hidden: u32,
    /// Seconds per byte over the whole replica (1 / (tp·η_bw·BW)).
    sec_per_byte: f64,
    /// Seconds per FLOP over the whole replica.
    sec_per_flop: f64,
}

impl CostModel {
    pub fn new(
        model: &ModelShape,
        weight: Dtype,
        kv: Dtype,
        device: &Device,
        coefficients: Coefficients,
        tp: TensorParallel,
    ) -> CostModel {
        let footprint = model.footprint(weight, kv);
        let peak_flops = compute_peak(device, weight);
        let tp_n = tp.degree.max(1) as f64;
        CostModel {
            sec_per_byte: 1.0 / (tp_n * coefficients.bw_efficiency * device.bandwidth().0),
            sec_per_flop: 1.0 / (tp_n * coefficients.flops_efficiency * peak_flops),
            footprint,
            coefficients,
            tp,
            measured: None,
            layers: model.layers,
            hidden: model.hidden,
        }
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

    /// Fixed delay between a client sending a request and the engine seeing it, plus the
    /// answer's way back (HTTP, tokenisation, streaming); zero for the datasheet model.
    pub fn request_latency(&self) -> Nanos {
        self.measured.as_ref().map_or(Nanos::ZERO, |m| {
            Nanos::from_millis_f64(m.request_latency_ms)
        })
    }

    pub fn breakdown(&self, s: &StepShape) -> StepBreakdown {
        if let Some(m) = &self.measured {
            let pure_decode = s.tokens == s.seqs as u64 && s.seqs > 0;
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
                communication_s: 0.0,
                additive: true,
                batch_factor,
            };
        }
        let passes = s.passes.max(1) as u64;
        let tokens_per_pass = s.tokens.div_ceil(passes);
        let weights = self.footprint.weights_read(tokens_per_pass).0 * passes as f64;
        let bytes = weights + self.footprint.kv_per_token.0 * s.kv_read_tokens as f64;
        let flops = self.footprint.flops_per_token * s.tokens as f64
            + self.footprint.attention_flops_per_token_ctx * s.attention_pairs;
        let communication_s = if self.tp.degree > 1 {
            let tp = self.tp.degree as f64;
            let allreduces = 2.0 * self.layers as f64 * passes as f64;
            let volume = 2.0 * (tp - 1.0) / tp * s.tokens as f64 * self.hidden as f64 * 2.0;
            allreduces * self.tp.latency_s
                + 2.0 * self.layers as f64 * volume
                    / (self.tp.link_bytes_per_s * TensorParallel::LINK_EFFICIENCY)
        } else {
            0.0
        };
        StepBreakdown {
            overhead_s: self.coefficients.overhead_s + self.coefficients.per_seq_s * s.seqs as f64,
            memory_s: bytes * self.sec_per_byte,
            compute_s: flops * self.sec_per_flop,
            communication_s,
            additive: false,
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

/// The tensor rate the weights' format runs at: FP8 on FP8 hardware, INT8 on the INT8 path,
/// 16-bit for weight-only int4 (activations stay 16-bit), TF32 (half of 16-bit) for fp32.
fn compute_peak(device: &Device, weight: Dtype) -> f64 {
    match weight {
        Dtype::Fp8 if device.has_fp8 => device.flops_8bit().0,
        Dtype::Int8 => device.flops_8bit().0,
        Dtype::Fp32 => device.flops_16bit().0 / 2.0,
        _ => device.flops_16bit().0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hardware;

    fn mistral_on_4090() -> CostModel {
        CostModel::new(
            &ModelShape::preset("mistral-7b").unwrap(),
            Dtype::Bf16,
            Dtype::Bf16,
            &hardware::lookup("rtx4090").unwrap(),
            Coefficients::datasheet_defaults(),
            TensorParallel::NONE,
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
        let one = CostModel::new(
            &m,
            Dtype::Int4,
            Dtype::Bf16,
            &d,
            Coefficients::datasheet_defaults(),
            TensorParallel::NONE,
        );
        let tp = |lat: f64, bw: f64| {
            CostModel::new(
                &m,
                Dtype::Int4,
                Dtype::Bf16,
                &d,
                Coefficients::datasheet_defaults(),
                TensorParallel {
                    degree: 2,
                    link_bytes_per_s: bw,
                    latency_s: lat,
                },
            )
        };
        let nvlink = tp(TensorParallel::NVLINK_LATENCY_S, 56.25e9);
        let pcie = tp(TensorParallel::PCIE_LATENCY_S, 31.5e9);
        let t1 = one.decode_step(4, 1000);
        let tn = nvlink.decode_step(4, 1000);
        let tpcie = pcie.decode_step(4, 1000);
        assert!(tn < t1, "{tn:?} {t1:?}");
        assert!(tpcie > tn);
    }
}
