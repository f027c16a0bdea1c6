//! `capsim hardware list`: the GPU datasheets, with their sources.

use crate::hardware::Device;

pub fn table(all: &[Device]) -> String {
    let mut s = format!(
        "{:<10} {:>8} {:>9} {:>10} {:>10} {:>4} {:>7} {:>5} {:>10}\n",
        "gpu",
        "mem GiB",
        "BW GB/s",
        "16b TFLOPS",
        "8b TFLOPS",
        "fp8",
        "L2 MiB",
        "PCIe",
        "NVLink GB/s"
    );
    for d in all {
        s.push_str(&format!(
            "{:<10} {:>8.1} {:>9.0} {:>10.1} {:>10.1} {:>4} {:>7.1} {:>5} {:>10}\n",
            d.name,
            d.memory_gib,
            d.bandwidth_gb_s,
            d.tflops_16bit,
            d.tflops_8bit,
            if d.has_fp8 { "yes" } else { "no" },
            d.l2_mib,
            format!("gen{}", d.pcie_gen),
            d.nvlink_gb_s.map_or("-".to_string(), |v| format!("{v:.0}")),
        ));
    }
    s.push_str(
        "\nSources (dense figures; 16b = FP16/BF16 with FP32 accumulate; NVLink per direction):\n",
    );
    for d in all {
        s.push_str(&format!("  {}: {}\n", d.name, d.source));
    }
    s.push_str("  custom: set hardware.gpu = \"custom\" with memory_gib, bandwidth_gb_s, tflops_16bit (e.g. a CPU host running llama.cpp)\n");
    s
}
