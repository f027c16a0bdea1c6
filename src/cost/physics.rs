//! Engine physics beyond the roofline, each a documented term with its source: kernel
//! launches without CUDA graphs, how the GPUs of a replica split the model (tensor parallel
//! with its all-reduce implementation, or llama.cpp's layer split), and the API server's work
//! per request and per streamed token.
//!
//! Assumptions: a launch costs the same per layer whatever the batch; an all-reduce at decode
//! sizes is latency-bound (its fixed latency per call, two calls per layer); the API server is
//! one process that handles requests one at a time and streams every token, overlapped with
//! the engine (vLLM ≥ 0.6 runs it in its own process) or in the engine's loop (before 0.6).

use crate::hardware::Device;
use serde::Serialize;

/// vLLM without CUDA graphs (`enforce_eager`): launch cost per layer per forward pass. vLLM PR
/// #1440 measured Llama-2-7B at batch 1 at 12.0 ms/token eager vs 10.5 ms with graphs: 1.5 ms
/// over 32 layers. (~15 kernels a layer × 3-4 µs a launch gives the same.)
pub const VLLM_EAGER_LAUNCH_PER_LAYER_S: f64 = 1.5e-3 / 32.0;

/// vLLM without CUDA graphs under tensor parallelism: host-side cost of each collective
/// (PyTorch dispatch, NCCL enqueue, waiting for the slower rank), outside any graph. 100 µs:
/// an estimate between two eager-mode reports. A TP=4 step of 203 ms eager against 83 ms with
/// full CUDA graphs (engine facts C, GLM deployment PR #2) implies several hundred µs per
/// collective; a dense 32B AWQ model on two RTX 3090s decoding at 39 tok/s at TP=2 (issue #12
/// of this project) implies ~60 µs if one 3090 reaches 90% of its bandwidth. People measure
/// TP=2 in eager mode no faster than TP=1 on 3090s with the NCCL all-reduce over an NVLink
/// bridge; with this project's client-GPU prior that needs at least ~90 µs.
pub const VLLM_EAGER_COLLECTIVE_S: f64 = 100e-6;

/// The least a kernel takes on the GPU, launched or replayed from a CUDA graph (scheduling its
/// blocks, one wave, its memory fence): ~3 µs, the low end of the 4-6 µs launch costs measured
/// on A100s and consumer cards (engine facts B), with the launch itself removed by the graph.
pub const KERNEL_MIN_S: f64 = 3e-6;

/// Kernels one transformer layer runs at decode: ~15 for a dense layer (8 in attention, 7 in
/// the MLP; gpu-kernel-batcher's count for an 80-layer Llama), 8 more in a MoE layer (router,
/// top-k, sorting tokens by expert, two grouped GEMMs, activation, combine).
pub const KERNELS_PER_DENSE_LAYER: f64 = 15.0;
pub const KERNELS_PER_MOE_LAYER: f64 = 23.0;

/// Where the GPUs of one replica split the model.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Parallel {
    /// One GPU.
    None,
    /// Tensor parallel: every GPU holds a slice of every layer and reads it at once; two
    /// all-reduces per layer per pass (after attention and after the MLP, Megatron-style).
    Tensor {
        degree: u32,
        all_reduce: AllReduce,
        /// All-reduce fixed latency, seconds.
        latency_s: f64,
        /// Link bandwidth per direction, bytes/s.
        link_bytes_per_s: f64,
    },
    /// llama.cpp's default multi-GPU mode (`-sm layer`): each GPU holds whole layers and they
    /// run one after another, so a step reads the weights at one GPU's bandwidth.
    Layers { gpus: u32 },
}

impl Parallel {
    pub fn gpus(&self) -> u32 {
        match self {
            Parallel::None => 1,
            Parallel::Tensor { degree, .. } => *degree,
            Parallel::Layers { gpus } => *gpus,
        }
    }

    /// GPUs whose bandwidth and FLOPs a step uses at once.
    pub fn concurrent_gpus(&self) -> u32 {
        match self {
            Parallel::Tensor { degree, .. } => *degree,
            _ => 1,
        }
    }
}

/// The all-reduce implementation tensor parallelism uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AllReduce {
    /// vLLM's custom all-reduce: one kernel over peer-to-peer memory.
    Custom,
    /// NCCL over NVLink or PCIe peer-to-peer.
    NcclP2p,
    /// NCCL staged through host memory (no peer-to-peer: GeForce cards on PCIe).
    NcclHost,
}

/// Fixed latency of one small all-reduce, by implementation and link. Sources: NCCL, 8-byte
/// messages, 8 GPUs on PCIe through the host: 54 µs (RTX 3090, NVIDIA/nccl#1439), 42 µs (RTX
/// 4090, nccl#1530), taken as 48; NCCL over an NVLink bridge: 13.4 µs at 32 KiB
/// (NVIDIA/nccl-tests#44, 2080 Ti pair); NCCL with PCIe peer-to-peer: between the two, 25 µs
/// (estimate); vLLM's custom all-reduce, one kernel over P2P memory: 8 µs on NVLink, 15 µs over
/// PCIe (estimates; PR #2192 measured it 4-12% faster end to end than NCCL).
pub fn all_reduce_latency_s(all_reduce: AllReduce, nvlink: bool) -> f64 {
    match (all_reduce, nvlink) {
        (AllReduce::Custom, true) => 8e-6,
        (AllReduce::Custom, false) => 15e-6,
        (AllReduce::NcclP2p, true) => 13.4e-6,
        (AllReduce::NcclP2p, false) => 25e-6,
        (AllReduce::NcclHost, _) => 48e-6,
    }
}

/// The all-reduce vLLM picks, and why (vllm custom_all_reduce.py): custom all-reduce needs
/// peer-to-peer access, a world size of 2, 4, 6 or 8, and full NVLink beyond 2 GPUs; it is off
/// when `disable_custom_all_reduce` is set. Without it, NCCL (through the host when the driver
/// refuses peer-to-peer, as on GeForce cards over PCIe).
pub fn vllm_all_reduce(
    degree: u32,
    nvlink: bool,
    device: &Device,
    disable_custom: bool,
) -> (AllReduce, String) {
    let p2p = nvlink || device.p2p;
    let nccl = if p2p {
        AllReduce::NcclP2p
    } else {
        AllReduce::NcclHost
    };
    if disable_custom {
        return (
            nccl,
            "custom all-reduce disabled (disable_custom_all_reduce): NCCL".into(),
        );
    }
    if !p2p {
        return (
            nccl,
            format!(
                "{} has no peer-to-peer over PCIe, so vLLM turns custom all-reduce off: NCCL through host memory",
                device.name
            ),
        );
    }
    if ![2, 4, 6, 8].contains(&degree) {
        return (
            nccl,
            format!("custom all-reduce supports 2, 4, 6 or 8 GPUs, not {degree}: NCCL"),
        );
    }
    if degree > 2 && !nvlink {
        return (
            nccl,
            "custom all-reduce needs NVLink beyond 2 PCIe GPUs: NCCL".into(),
        );
    }
    (
        AllReduce::Custom,
        format!(
            "vLLM custom all-reduce over {}",
            if nvlink { "NVLink" } else { "PCIe P2P" }
        ),
    )
}

/// The API server in front of the engine.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Frontend {
    /// Work per request before the engine sees it (HTTP, tokenising), seconds; requests wait
    /// their turn for it.
    pub request_s: f64,
    /// Work per streamed token (detokenising, one SSE event), seconds.
    pub token_s: f64,
    /// The server runs in the engine's loop (vLLM before 0.6), so its token work adds to every
    /// step instead of overlapping it.
    pub in_process: bool,
}

impl Frontend {
    /// No API server (offline benchmarks, calibrated step models that include it).
    pub const NONE: Frontend = Frontend {
        request_s: 0.0,
        token_s: 0.0,
        in_process: false,
    };
}

/// vLLM's OpenAI server streams a token in about 60 µs of its single process: the v0.6.0 blog
/// (Llama-3-8B on an H100, blog.vllm.ai 2024-09-05) measured the API server at 33% of the
/// execution time when every step emitted a token per sequence, before it moved to its own
/// process; a 256-sequence step of ~45 ms gives 15 ms / 256 tokens ≈ 60 µs.
pub const VLLM_FRONTEND_TOKEN_S: f64 = 60e-6;

/// vLLM's OpenAI server's work on a request before the engine sees it (HTTP, validation,
/// tokenising a few hundred tokens, the hop to the engine process): 2 ms. An assumption,
/// bounded by what calibration measured against vLLM on 2 CPU cores (4.8-5.5 ms request
/// latency, `reports/validation-vllm-cpu.md`) and a server core being 2-3x faster; no clean
/// published figure exists (vLLM's v0.6.0 blog gives only the API server's share of time).
pub const VLLM_FRONTEND_REQUEST_MS: f64 = 2.0;

/// llama-server's work on a request (C++ HTTP, tokenising): 0.5 ms (an assumption: a quarter
/// of vLLM's, for a compiled server).
pub const LLAMACPP_FRONTEND_REQUEST_MS: f64 = 0.5;

/// llama-server is C++: streaming a token is a few microseconds of its HTTP thread.
pub const LLAMACPP_FRONTEND_TOKEN_S: f64 = 5e-6;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hardware::lookup;

    #[test]
    fn geforce_cards_on_pcie_get_nccl_through_the_host() {
        let g = lookup("rtx3090").unwrap();
        let (ar, why) = vllm_all_reduce(2, false, &g, false);
        assert_eq!(ar, AllReduce::NcclHost);
        assert!(why.contains("peer-to-peer"));
        let (bridged, _) = vllm_all_reduce(2, true, &g, false);
        assert_eq!(bridged, AllReduce::Custom);
        let (off, _) = vllm_all_reduce(2, true, &g, true);
        assert_eq!(off, AllReduce::NcclP2p);
    }

    #[test]
    fn host_staged_all_reduce_is_the_slowest() {
        let host = all_reduce_latency_s(AllReduce::NcclHost, false);
        for (ar, nv) in [
            (AllReduce::Custom, true),
            (AllReduce::Custom, false),
            (AllReduce::NcclP2p, true),
            (AllReduce::NcclP2p, false),
        ] {
            assert!(all_reduce_latency_s(ar, nv) < host);
        }
    }
}
