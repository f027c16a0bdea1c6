//! GPU datasheets. Each entry holds what the cost model needs from a vendor sheet: memory
//! bandwidth, dense (non-sparse) tensor throughput at 16 and 8 bits, memory, L2, and the links
//! between GPUs. Figures are the vendor's peak numbers; the cost model scales them by fitted
//! or default efficiencies, never this table.
//!
//! Conventions: `tflops_16bit` is dense FP16/BF16 tensor throughput with FP32 accumulate (what
//! PyTorch and vLLM kernels use; GeForce cards run that at half their FP16-accumulate rate);
//! `tflops_8bit` is dense FP8 with FP32 accumulate where the GPU has FP8, else dense INT8.
//! `memory_gib` is the usable size `nvidia-smi` reports. `nvlink_gb_s` is per GPU, per
//! direction. `sm` is the CUDA compute capability (which quantisation kernels and attention
//! backends the engines can use); `p2p` whether the driver allows peer-to-peer over PCIe.

use crate::error::{InputError, InputResult};
use crate::units::{Bytes, BytesPerSec, FlopsPerSec};
use serde::Serialize;

/// One accelerator (or a CPU host described by hand), as the cost model sees it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Device {
    pub name: String,
    /// Usable device memory, GiB.
    pub memory_gib: f64,
    /// Peak memory bandwidth, GB/s (decimal).
    pub bandwidth_gb_s: f64,
    /// Dense FP16/BF16 tensor TFLOP/s (FP32 accumulate).
    pub tflops_16bit: f64,
    /// Dense FP8 (or INT8 where there is no FP8) tensor TFLOP/s.
    pub tflops_8bit: f64,
    /// Whether the tensor cores execute FP8 natively (Ada, Hopper, Blackwell).
    pub has_fp8: bool,
    /// L2 cache, MiB.
    pub l2_mib: f64,
    /// PCIe generation of the host link (x16 assumed).
    pub pcie_gen: u8,
    /// NVLink bandwidth per GPU per direction, GB/s, where the card has NVLink.
    pub nvlink_gb_s: Option<f64>,
    /// CUDA compute capability × 10 (75 Turing, 80/86 Ampere, 89 Ada, 90 Hopper, 100/120
    /// Blackwell): which kernels the engines pick; 0 = unknown (a custom device).
    pub sm: u16,
    /// Peer-to-peer access between cards over PCIe (datacenter and workstation cards; the
    /// GeForce driver refuses it, so all-reduce goes through host memory).
    pub p2p: bool,
    /// Where the figures come from.
    pub source: String,
}

/// GPU generations, as the engines' kernels and hosts differ: by compute capability, so the
/// datacenter chips of a generation (GA100 sm80, GB100 sm100: HBM, server hosts) stand apart
/// from its workstation and GeForce chips (GA10x sm86, GB20x sm120: GDDR).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Arch {
    Turing,
    AmpereDc,
    Ampere,
    Ada,
    Hopper,
    BlackwellDc,
    Blackwell,
    Unknown,
}

impl Arch {
    pub fn name(self) -> &'static str {
        match self {
            Arch::Turing => "turing",
            Arch::AmpereDc => "ampere-dc",
            Arch::Ampere => "ampere",
            Arch::Ada => "ada",
            Arch::Hopper => "hopper",
            Arch::BlackwellDc => "blackwell-dc",
            Arch::Blackwell => "blackwell",
            Arch::Unknown => "unknown",
        }
    }

    /// Datacenter chips (HBM, server hosts) or client ones (GDDR: GeForce and workstation).
    pub fn class(self) -> &'static str {
        match self {
            Arch::AmpereDc | Arch::Hopper | Arch::BlackwellDc => "datacenter",
            _ => "client",
        }
    }

    pub fn parse(s: &str) -> Option<Arch> {
        [
            Arch::Turing,
            Arch::AmpereDc,
            Arch::Ampere,
            Arch::Ada,
            Arch::Hopper,
            Arch::BlackwellDc,
            Arch::Blackwell,
            Arch::Unknown,
        ]
        .into_iter()
        .find(|a| a.name() == s)
    }
}

impl Device {
    /// The generation of this device's compute capability.
    pub fn arch(&self) -> Arch {
        match self.sm {
            75 => Arch::Turing,
            80 => Arch::AmpereDc,
            81..=87 => Arch::Ampere,
            89 => Arch::Ada,
            90 => Arch::Hopper,
            100..=119 => Arch::BlackwellDc,
            120..=129 => Arch::Blackwell,
            _ => Arch::Unknown,
        }
    }

    pub fn memory(&self) -> Bytes {
        Bytes::from_gib(self.memory_gib)
    }
    pub fn bandwidth(&self) -> BytesPerSec {
        BytesPerSec::from_gb_s(self.bandwidth_gb_s)
    }
    pub fn flops_16bit(&self) -> FlopsPerSec {
        FlopsPerSec::from_tflops(self.tflops_16bit)
    }
    pub fn flops_8bit(&self) -> FlopsPerSec {
        FlopsPerSec::from_tflops(self.tflops_8bit)
    }

    /// PCIe x16 bandwidth per direction, GB/s, after 128b/130b encoding (gen 3 and later).
    pub fn pcie_gb_s(&self) -> f64 {
        match self.pcie_gen {
            0..=2 => 8.0,
            3 => 15.75,
            4 => 31.5,
            5 => 63.0,
            _ => 126.0,
        }
    }

    /// Checks that every figure is a positive, finite number.
    pub fn validate(&self) -> InputResult<()> {
        let fields = [
            ("memory_gib", self.memory_gib),
            ("bandwidth_gb_s", self.bandwidth_gb_s),
            ("tflops_16bit", self.tflops_16bit),
            ("tflops_8bit", self.tflops_8bit),
        ];
        for (key, v) in fields {
            if !(v.is_finite() && v > 0.0) {
                return Err(InputError::new(
                    format!("hardware.{key}"),
                    format!("must be a positive number (got {v})"),
                ));
            }
        }
        if let Some(nv) = self.nvlink_gb_s {
            if !(nv.is_finite() && nv > 0.0) {
                return Err(InputError::new(
                    "hardware.nvlink_gb_s",
                    format!("must be a positive number (got {nv})"),
                ));
            }
        }
        Ok(())
    }
}

struct Entry {
    name: &'static str,
    sm: u16,
    p2p: bool,
    memory_gib: f64,
    bandwidth_gb_s: f64,
    tflops_16bit: f64,
    tflops_8bit: f64,
    has_fp8: bool,
    l2_mib: f64,
    pcie_gen: u8,
    nvlink_gb_s: Option<f64>,
    source: &'static str,
}

const TABLE: &[Entry] = &[
    Entry {
        name: "rtx2080ti",
        sm: 75,
        p2p: false,
        memory_gib: 11.0,
        bandwidth_gb_s: 616.0,
        tflops_16bit: 53.8,
        tflops_8bit: 215.2,
        has_fp8: false,
        l2_mib: 5.5,
        pcie_gen: 3,
        nvlink_gb_s: Some(50.0),
        source: "NVIDIA Turing GPU Architecture whitepaper (TU102, GeForce RTX 2080 Ti reference): FP16 tensor FP32-acc 53.8, INT8 215.2; NVLink 100 GB/s bidirectional",
    },
    Entry {
        name: "rtx3090",
        sm: 86,
        p2p: false,
        memory_gib: 24.0,
        bandwidth_gb_s: 936.0,
        tflops_16bit: 71.0,
        tflops_8bit: 284.0,
        has_fp8: false,
        l2_mib: 6.0,
        pcie_gen: 4,
        nvlink_gb_s: Some(56.25),
        source: "NVIDIA Ampere GA102 GPU Architecture whitepaper: FP16/BF16 tensor FP32-acc 71 dense, INT8 284 dense; NVLink 112.5 GB/s bidirectional",
    },
    Entry {
        name: "rtx4090",
        sm: 89,
        p2p: false,
        memory_gib: 23.99,
        bandwidth_gb_s: 1008.0,
        tflops_16bit: 165.2,
        tflops_8bit: 330.3,
        has_fp8: true,
        l2_mib: 72.0,
        pcie_gen: 4,
        nvlink_gb_s: None,
        source: "NVIDIA Ada Lovelace GPU Architecture whitepaper (AD102): FP16 tensor FP32-acc 165.2 dense, FP8 FP32-acc 330.3 dense",
    },
    Entry {
        name: "rtx5090",
        sm: 120,
        p2p: false,
        memory_gib: 31.84,
        bandwidth_gb_s: 1792.0,
        tflops_16bit: 209.5,
        tflops_8bit: 419.0,
        has_fp8: true,
        l2_mib: 96.0,
        pcie_gen: 5,
        nvlink_gb_s: None,
        source: "NVIDIA RTX Blackwell GPU Architecture whitepaper (GB202): FP16 tensor FP32-acc 209.5 dense, FP8 FP32-acc 419 dense",
    },
    Entry {
        name: "rtx-a6000",
        sm: 86,
        p2p: true,
        memory_gib: 47.99,
        bandwidth_gb_s: 768.0,
        tflops_16bit: 154.8,
        tflops_8bit: 309.7,
        has_fp8: false,
        l2_mib: 6.0,
        pcie_gen: 4,
        nvlink_gb_s: Some(56.25),
        source: "NVIDIA RTX A6000 datasheet: tensor 309.7 TFLOPS with sparsity (154.8 dense FP16), INT8 309.7 dense; NVLink 112.5 GB/s bidirectional",
    },
    Entry {
        name: "l40s",
        sm: 89,
        p2p: true,
        memory_gib: 44.99,
        bandwidth_gb_s: 864.0,
        tflops_16bit: 362.05,
        tflops_8bit: 733.0,
        has_fp8: true,
        l2_mib: 96.0,
        pcie_gen: 4,
        nvlink_gb_s: None,
        source: "NVIDIA L40S datasheet: BF16 362.05 dense, FP8 733 dense (sparse figures halved)",
    },
    Entry {
        name: "a100-40g",
        sm: 80,
        p2p: true,
        memory_gib: 39.5,
        bandwidth_gb_s: 1555.0,
        tflops_16bit: 312.0,
        tflops_8bit: 624.0,
        has_fp8: false,
        l2_mib: 40.0,
        pcie_gen: 4,
        nvlink_gb_s: Some(300.0),
        source: "NVIDIA A100 Tensor Core GPU datasheet (SXM4 40GB): BF16 312, INT8 624 dense; NVLink 600 GB/s bidirectional",
    },
    Entry {
        name: "a100-80g",
        sm: 80,
        p2p: true,
        memory_gib: 79.25,
        bandwidth_gb_s: 2039.0,
        tflops_16bit: 312.0,
        tflops_8bit: 624.0,
        has_fp8: false,
        l2_mib: 40.0,
        pcie_gen: 4,
        nvlink_gb_s: Some(300.0),
        source: "NVIDIA A100 Tensor Core GPU datasheet (SXM4 80GB): 2039 GB/s HBM2e, BF16 312, INT8 624 dense; NVLink 600 GB/s bidirectional",
    },
    Entry {
        name: "h100-pcie",
        sm: 90,
        p2p: true,
        memory_gib: 79.65,
        bandwidth_gb_s: 2000.0,
        tflops_16bit: 756.0,
        tflops_8bit: 1513.0,
        has_fp8: true,
        l2_mib: 50.0,
        pcie_gen: 5,
        nvlink_gb_s: Some(300.0),
        source: "NVIDIA H100 Tensor Core GPU datasheet (PCIe): BF16 756 dense, FP8 1513 dense; NVLink bridge 600 GB/s bidirectional",
    },
    Entry {
        name: "h100-sxm",
        sm: 90,
        p2p: true,
        memory_gib: 79.65,
        bandwidth_gb_s: 3350.0,
        tflops_16bit: 989.4,
        tflops_8bit: 1978.9,
        has_fp8: true,
        l2_mib: 50.0,
        pcie_gen: 5,
        nvlink_gb_s: Some(450.0),
        source: "NVIDIA H100 Tensor Core GPU datasheet (SXM5): 3.35 TB/s HBM3, BF16 989.4 dense, FP8 1978.9 dense; NVLink 900 GB/s bidirectional",
    },
    Entry {
        name: "h200",
        sm: 90,
        p2p: true,
        memory_gib: 140.4,
        bandwidth_gb_s: 4800.0,
        tflops_16bit: 989.4,
        tflops_8bit: 1978.9,
        has_fp8: true,
        l2_mib: 50.0,
        pcie_gen: 5,
        nvlink_gb_s: Some(450.0),
        source: "NVIDIA H200 Tensor Core GPU datasheet (SXM): 141 GB HBM3e at 4.8 TB/s, BF16 989.4 dense, FP8 1978.9 dense; NVLink 900 GB/s bidirectional",
    },
    Entry {
        name: "rtx2080",
        sm: 75,
        p2p: false,
        memory_gib: 7.79,
        bandwidth_gb_s: 448.0,
        tflops_16bit: 40.3,
        tflops_8bit: 161.1,
        has_fp8: false,
        l2_mib: 4.0,
        pcie_gen: 3,
        nvlink_gb_s: Some(25.0),
        source: "NVIDIA Turing GPU Architecture whitepaper (TU104, GeForce RTX 2080 reference): 448 GB/s, FP16 tensor FP32-acc 40.3, INT8 161.1; NVLink 50 GB/s bidirectional",
    },
    Entry {
        name: "rtx3060",
        sm: 86,
        p2p: false,
        memory_gib: 11.76,
        bandwidth_gb_s: 360.0,
        tflops_16bit: 25.6,
        tflops_8bit: 102.4,
        has_fp8: false,
        l2_mib: 3.0,
        pcie_gen: 4,
        nvlink_gb_s: None,
        source: "NVIDIA Ampere GA102 whitepaper appendix (GA106, GeForce RTX 3060 12 GB): 360 GB/s, FP16 tensor FP32-acc 25.6 dense, INT8 102.4 dense",
    },
    Entry {
        name: "rtx3090ti",
        sm: 86,
        p2p: false,
        memory_gib: 23.99,
        bandwidth_gb_s: 1008.0,
        tflops_16bit: 80.0,
        tflops_8bit: 320.0,
        has_fp8: false,
        l2_mib: 6.0,
        pcie_gen: 4,
        nvlink_gb_s: Some(56.25),
        source: "NVIDIA GeForce RTX 3090 Ti specifications (GA102, 84 SMs at 1.86 GHz): 1008 GB/s, FP16 tensor 160 dense with FP16 accumulate, 80 with FP32 accumulate; INT8 320 dense",
    },
    Entry {
        name: "rtx4070-laptop",
        sm: 89,
        p2p: false,
        memory_gib: 7.99,
        bandwidth_gb_s: 256.0,
        tflops_16bit: 40.1,
        tflops_8bit: 80.2,
        has_fp8: true,
        l2_mib: 32.0,
        pcie_gen: 4,
        nvlink_gb_s: None,
        source: "GeForce RTX 4070 Laptop GPU (AD106, 36 SMs, 128-bit GDDR6 at 16 Gbps = 256 GB/s); tensor rates derived from 36 SMs x 512 dense FP16 FLOP/clock (FP32 accumulate, GeForce) x 2.175 GHz boost; laptop clocks vary with the power limit",
    },
    Entry {
        name: "rtx6000-ada",
        sm: 89,
        p2p: true,
        memory_gib: 47.99,
        bandwidth_gb_s: 960.0,
        tflops_16bit: 364.2,
        tflops_8bit: 728.5,
        has_fp8: true,
        l2_mib: 96.0,
        pcie_gen: 4,
        nvlink_gb_s: None,
        source: "NVIDIA RTX 6000 Ada Generation datasheet: 960 GB/s, FP16/BF16 tensor 728.5 TFLOPS sparse (364.2 dense, FP32 accumulate), FP8 1457 sparse (728.5 dense)",
    },
    Entry {
        name: "rtx-pro-6000",
        sm: 120,
        p2p: true,
        memory_gib: 95.59,
        bandwidth_gb_s: 1792.0,
        tflops_16bit: 503.8,
        tflops_8bit: 1007.6,
        has_fp8: true,
        l2_mib: 128.0,
        pcie_gen: 5,
        nvlink_gb_s: None,
        source: "NVIDIA RTX PRO 6000 Blackwell Workstation Edition datasheet: 96 GB GDDR7 at 1792 GB/s, 4000 AI TOPS (FP4, sparse); FP8 and FP16 dense taken as 1/4 and 1/8 of that (1007.6, 503.8), FP32 accumulate at full rate on the workstation card",
    },
    Entry {
        name: "a40",
        sm: 86,
        p2p: true,
        memory_gib: 44.99,
        bandwidth_gb_s: 696.0,
        tflops_16bit: 149.7,
        tflops_8bit: 299.3,
        has_fp8: false,
        l2_mib: 6.0,
        pcie_gen: 4,
        nvlink_gb_s: Some(56.25),
        source: "NVIDIA A40 datasheet: 696 GB/s, BF16 tensor 149.7 dense (299.4 sparse), INT8 299.3 dense; NVLink 112.5 GB/s bidirectional",
    },
    Entry {
        name: "a30",
        sm: 80,
        p2p: true,
        memory_gib: 23.5,
        bandwidth_gb_s: 933.0,
        tflops_16bit: 165.0,
        tflops_8bit: 330.0,
        has_fp8: false,
        l2_mib: 24.0,
        pcie_gen: 4,
        nvlink_gb_s: Some(100.0),
        source: "NVIDIA A30 datasheet: 24 GB HBM2 at 933 GB/s, BF16 165 dense (330 sparse), INT8 330 dense; NVLink 200 GB/s bidirectional",
    },
    Entry {
        name: "a100-80g-pcie",
        sm: 80,
        p2p: true,
        memory_gib: 79.25,
        bandwidth_gb_s: 1935.0,
        tflops_16bit: 312.0,
        tflops_8bit: 624.0,
        has_fp8: false,
        l2_mib: 40.0,
        pcie_gen: 4,
        nvlink_gb_s: Some(300.0),
        source: "NVIDIA A100 Tensor Core GPU datasheet (PCIe 80GB): 1935 GB/s HBM2e, BF16 312, INT8 624 dense; NVLink bridge 600 GB/s bidirectional",
    },
    Entry {
        name: "h100-nvl",
        sm: 90,
        p2p: true,
        memory_gib: 93.1,
        bandwidth_gb_s: 3900.0,
        tflops_16bit: 835.5,
        tflops_8bit: 1670.5,
        has_fp8: true,
        l2_mib: 50.0,
        pcie_gen: 5,
        nvlink_gb_s: Some(300.0),
        source: "NVIDIA H100 NVL datasheet: 94 GB HBM3 at 3.9 TB/s, BF16 1671 sparse (835.5 dense), FP8 3341 sparse (1670.5 dense); NVLink bridge 600 GB/s bidirectional",
    },
];

fn entry_to_device(e: &Entry) -> Device {
    Device {
        name: e.name.to_string(),
        memory_gib: e.memory_gib,
        bandwidth_gb_s: e.bandwidth_gb_s,
        tflops_16bit: e.tflops_16bit,
        tflops_8bit: e.tflops_8bit,
        has_fp8: e.has_fp8,
        l2_mib: e.l2_mib,
        pcie_gen: e.pcie_gen,
        nvlink_gb_s: e.nvlink_gb_s,
        sm: e.sm,
        p2p: e.p2p,
        source: e.source.to_string(),
    }
}

/// Every device in the table, in a stable order.
pub fn all() -> Vec<Device> {
    TABLE.iter().map(entry_to_device).collect()
}

/// The names `hardware.gpu` accepts (besides `custom`).
pub fn names() -> Vec<&'static str> {
    TABLE.iter().map(|e| e.name).collect()
}

/// Looks a device up by name (case-insensitive; `-`, `_` and spaces are ignored).
pub fn lookup(name: &str) -> Option<Device> {
    let norm = |s: &str| {
        s.chars()
            .filter(|c| !matches!(c, '-' | '_' | ' '))
            .flat_map(char::to_lowercase)
            .collect::<String>()
    };
    let wanted = norm(name);
    TABLE
        .iter()
        .find(|e| norm(e.name) == wanted)
        .map(entry_to_device)
}

/// A blank device for `gpu = "custom"`: every figure must then be given in the scenario.
pub fn custom() -> Device {
    Device {
        name: "custom".into(),
        memory_gib: 0.0,
        bandwidth_gb_s: 0.0,
        tflops_16bit: 0.0,
        tflops_8bit: 0.0,
        has_fp8: false,
        l2_mib: 0.0,
        pcie_gen: 4,
        nvlink_gb_s: None,
        sm: 0,
        p2p: false,
        source: "described in the scenario".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_the_required_gpus_and_valid_figures() {
        for name in [
            "rtx2080ti",
            "rtx3090",
            "rtx4090",
            "rtx5090",
            "l40s",
            "a100-80g",
            "h100-sxm",
            "h200",
        ] {
            let d = lookup(name).unwrap_or_else(|| panic!("{name} missing"));
            d.validate().unwrap();
            assert!(!d.source.is_empty());
            assert!(d.tflops_8bit >= d.tflops_16bit);
        }
    }

    #[test]
    fn lookup_ignores_case_and_separators() {
        assert_eq!(lookup("RTX 4090").unwrap().name, "rtx4090");
        assert_eq!(lookup("H100_SXM").unwrap().name, "h100-sxm");
        assert!(lookup("rtx9090").is_none());
    }

    #[test]
    fn custom_device_is_invalid_until_described() {
        assert!(custom().validate().is_err());
    }
}
