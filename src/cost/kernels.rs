//! Which matmul kernel an engine runs for a weight format on a GPU generation, and what that
//! does to the step: the rate its arithmetic runs at, and how much of the bandwidth its weight
//! reads reach relative to the engine's ordinary kernels.
//!
//! Assumption: a kernel's cost is the roofline of its weight bytes and FLOPs, scaled by a
//! per-kernel factor where a kernel is known to be slower than its peers. The factors below
//! are the physics the corpus cannot fit (too few rows); what it can fit (each engine's
//! efficiencies per GPU generation and format family) lives in the priors.

use crate::hardware::{Arch, Device};
use crate::model::Dtype;
use serde::Serialize;

/// The two engine families whose kernels differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineFamily {
    /// vLLM (and SGLang/TGI, which share its kernels: Marlin, FlashInfer, Triton).
    Vllm,
    LlamaCpp,
}

impl EngineFamily {
    pub fn name(self) -> &'static str {
        match self {
            EngineFamily::Vllm => "vllm",
            EngineFamily::LlamaCpp => "llamacpp",
        }
    }
}

/// The families of weight formats whose kernels behave alike; the priors are fitted per family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FormatFamily {
    /// 16 and 32-bit floats: the vendor GEMM/GEMV.
    Float,
    /// 8-bit weights (FP8, INT8).
    Eight,
    /// 4-bit weights with 16-bit activations (AWQ, GPTQ, MXFP4, NVFP4, int4).
    Four,
    /// llama.cpp's GGUF block formats (MMVQ for decode, MMQ for prompts).
    Gguf,
}

impl FormatFamily {
    pub fn of(d: Dtype) -> FormatFamily {
        match d {
            Dtype::Fp32 | Dtype::Bf16 | Dtype::Fp16 => FormatFamily::Float,
            Dtype::Fp8 | Dtype::Int8 => FormatFamily::Eight,
            Dtype::Int4 | Dtype::Awq | Dtype::Gptq | Dtype::Mxfp4 | Dtype::Nvfp4 => {
                FormatFamily::Four
            }
            Dtype::Q4_0 | Dtype::Q4KM | Dtype::Q5KM | Dtype::Q6K | Dtype::Q8_0 => {
                FormatFamily::Gguf
            }
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            FormatFamily::Float => "float",
            FormatFamily::Eight => "8-bit",
            FormatFamily::Four => "4-bit",
            FormatFamily::Gguf => "gguf",
        }
    }
}

/// The kernel chosen, with what it does to the roofline.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Kernel {
    pub name: &'static str,
    /// Peak FLOP/s its arithmetic runs at on this device.
    pub peak_flops: f64,
    /// Multiplies the engine's bandwidth efficiency (1 = as fast as its ordinary kernels).
    pub bandwidth_factor: f64,
    /// Why, with the source.
    pub why: &'static str,
}

/// The weight kernel `family` runs for `weight` on `device`.
pub fn kernel(family: EngineFamily, weight: Dtype, device: &Device) -> Kernel {
    let f16 = device.flops_16bit().0;
    let f8 = device.flops_8bit().0;
    let arch = device.arch();
    let k = |name, peak_flops, bandwidth_factor, why| Kernel {
        name,
        peak_flops,
        bandwidth_factor,
        why,
    };
    match (family, weight) {
        (_, Dtype::Fp32) => k(
            "fp32 GEMM (TF32)",
            f16 / 2.0,
            1.0,
            "TF32 tensor cores run at half the 16-bit rate",
        ),
        (_, Dtype::Bf16 | Dtype::Fp16) => k("16-bit GEMM", f16, 1.0, "the vendor GEMM"),
        (EngineFamily::Vllm, Dtype::Fp8) if device.has_fp8 => k(
            "FP8 W8A8 GEMM",
            f8,
            1.0,
            "FP8 tensor cores (Ada, Hopper, Blackwell)",
        ),
        (EngineFamily::Vllm, Dtype::Fp8) if device.sm >= 80 => k(
            "Marlin W8A16 (weight-only FP8)",
            f16,
            1.0,
            "no FP8 tensor cores before sm89: vLLM dequantises FP8 weights in Marlin and computes at 16 bits (vllm marlin_utils_fp8: 'Weight-only FP8 compression will be used')",
        ),
        (EngineFamily::Vllm, Dtype::Fp8) => k(
            "FP8 dequantised to 16-bit GEMM",
            f16,
            0.6,
            "no FP8 tensor cores and no Marlin below sm80: weights are dequantised each step; costed like the legacy AWQ path (0.6)",
        ),
        (EngineFamily::Vllm, Dtype::Int8) => k(
            "INT8 W8A8 GEMM",
            f8,
            1.0,
            "INT8 tensor cores (Turing and later)",
        ),
        (EngineFamily::Vllm, Dtype::Int4 | Dtype::Awq | Dtype::Gptq) if device.sm >= 80 => {
            k(
                "Marlin W4A16",
                f16,
                1.0,
                "vLLM runs AWQ/GPTQ through (AWQ-)Marlin on sm80+ (marlin_utils: device_capability >= 80)",
            )
        }
        (EngineFamily::Vllm, Dtype::Int4 | Dtype::Awq | Dtype::Gptq) => k(
            "legacy AWQ/GPTQ GEMM (sm75)",
            f16,
            0.6,
            "Marlin needs sm80 before vLLM PR #29901, so Turing runs the legacy AWQ GEMM (vllm awq.py; 'may not be optimal for performance', PR #1252): AWQ-Marlin is +44-138% on generation on A100 (PR #6612) and RTX 2080 Ti users measure about 60% of the Marlin-era prediction (issue #12 of this project)",
        ),
        (EngineFamily::Vllm, Dtype::Mxfp4) if arch == Arch::Hopper => k(
            "MXFP4 MoE (Triton)",
            f16,
            1.0,
            "vLLM mxfp4.py: Triton kernels on sm90-sm10x",
        ),
        (EngineFamily::Vllm, Dtype::Mxfp4 | Dtype::Nvfp4) => k(
            "FP4 MoE (Marlin/FlashInfer)",
            f16,
            1.0,
            "vLLM mxfp4.py: Marlin (weights dequantised to BF16) on sm80-89 and consumer Blackwell, FlashInfer on datacenter Blackwell",
        ),
        (EngineFamily::Vllm, _) => k(
            "GGUF dequantise + GEMM (vLLM)",
            f16,
            0.8,
            "vLLM's GGUF support dequantises llama.cpp blocks in its own kernels (docs: 'highly experimental and under-optimized'); costed at 0.8 of its ordinary kernels",
        ),
        (EngineFamily::LlamaCpp, gguf) if gguf.is_gguf() => k(
            "MMVQ/MMQ (GGUF)",
            if device.sm >= 75 { f8 } else { f16 },
            1.0,
            "llama.cpp multiplies quantised blocks directly: MMVQ (dp4a) for decode, MMQ on int8 tensor cores for prompts (ggml-cuda mmq.cu)",
        ),
        (EngineFamily::LlamaCpp, Dtype::Mxfp4) => k(
            "MMVQ/MMQ (MXFP4)",
            if device.sm >= 75 { f8 } else { f16 },
            1.0,
            "llama.cpp's MXFP4 blocks take the same MMVQ/MMQ paths as the other GGUF types",
        ),
        (EngineFamily::LlamaCpp, _) => k(
            "dequantise + cuBLAS",
            f16,
            1.0,
            "llama.cpp has no direct kernel for this format: its weights are read as stored and computed at 16 bits",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hardware::lookup;

    #[test]
    fn marlin_needs_ampere_and_turing_gets_the_legacy_awq_kernel() {
        let turing = kernel(
            EngineFamily::Vllm,
            Dtype::Awq,
            &lookup("rtx2080ti").unwrap(),
        );
        let ampere = kernel(EngineFamily::Vllm, Dtype::Awq, &lookup("rtx3090").unwrap());
        assert!(turing.name.contains("legacy"));
        assert!(ampere.name.contains("Marlin"));
        assert!(turing.bandwidth_factor < ampere.bandwidth_factor);
    }

    #[test]
    fn fp8_without_fp8_tensor_cores_computes_at_16_bits() {
        let a100 = lookup("a100-80g").unwrap();
        let h100 = lookup("h100-sxm").unwrap();
        let on_a100 = kernel(EngineFamily::Vllm, Dtype::Fp8, &a100);
        let on_h100 = kernel(EngineFamily::Vllm, Dtype::Fp8, &h100);
        assert_eq!(on_a100.peak_flops, a100.flops_16bit().0);
        assert_eq!(on_h100.peak_flops, h100.flops_8bit().0);
    }

    #[test]
    fn every_format_has_a_family() {
        assert_eq!(FormatFamily::of(Dtype::Q4KM), FormatFamily::Gguf);
        assert_eq!(FormatFamily::of(Dtype::Awq), FormatFamily::Four);
        assert_eq!(FormatFamily::of(Dtype::Bf16), FormatFamily::Float);
    }
}
