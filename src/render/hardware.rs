//! `capsim hardware list` and `capsim models`: the GPU datasheets with their sources, and the
//! model presets with their shapes.

use crate::hardware::Device;
use crate::model::ModelShape;

/// The model presets: shape, parameters, context.
pub fn models(all: &[ModelShape]) -> String {
    let mut s = format!(
        "{:<22} {:>6} {:>6} {:>11} {:>9} {:>10} {:>10} {:>9}\n",
        "preset", "layers", "hidden", "heads (kv)", "experts", "params B", "active B", "context"
    );
    for m in all {
        let experts = m.moe.as_ref().map_or("-".to_string(), |e| {
            format!("{}/{}", e.experts_per_token, e.experts)
        });
        s.push_str(&format!(
            "{:<22} {:>6} {:>6} {:>11} {:>9} {:>10.1} {:>10.1} {:>9}\n",
            m.name,
            m.layers,
            m.hidden,
            format!("{} ({})", m.heads, m.kv_heads),
            experts,
            m.params_total() / 1e9,
            m.params_active() / 1e9,
            m.max_position_embeddings
                .map_or("-".into(), |c| c.to_string())
        ));
    }
    s.push_str("\nUse one as model.preset = \"NAME\"; any other model: model.config = \"path/config.json\" or model.hf = \"org/name\" (`capsim init --model ...` writes a scenario).\n");
    s
}

pub fn table(all: &[Device]) -> String {
    let mut s = format!(
        "{:<14} {:>8} {:>9} {:>10} {:>10} {:>4} {:>7} {:>5} {:>10} {:>5}\n",
        "gpu",
        "mem GiB",
        "BW GB/s",
        "16b TFLOPS",
        "8b TFLOPS",
        "fp8",
        "L2 MiB",
        "PCIe",
        "NVLink GB/s",
        "sm"
    );
    for d in all {
        s.push_str(&format!(
            "{:<14} {:>8.1} {:>9.0} {:>10.1} {:>10.1} {:>4} {:>7.1} {:>5} {:>10} {:>5}\n",
            d.name,
            d.memory_gib,
            d.bandwidth_gb_s,
            d.tflops_16bit,
            d.tflops_8bit,
            if d.has_fp8 { "yes" } else { "no" },
            d.l2_mib,
            format!("gen{}", d.pcie_gen),
            d.nvlink_gb_s.map_or("-".to_string(), |v| format!("{v:.0}")),
            d.sm,
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
