//! What `calibrate` prints: the fitted coefficients with their standard errors, the
//! efficiencies against the datasheet, and the fit's quality.

use crate::cost::Profile;
use std::path::Path;

pub fn text(profile: &Profile, out: &Path) -> String {
    let mut s = format!("profile {} written to {}\n", profile.name, out.display());
    let Some(step) = profile.step.as_ref() else {
        return s;
    };
    let se = |k: &str| profile.step_stderr.get(k).copied().unwrap_or(0.0);
    for (label, value, key, unit) in [
        ("overhead", step.overhead_ms, "overhead_ms", "ms"),
        ("per sequence", step.per_seq_ms, "per_seq_ms", "ms"),
        (
            "weights per pass",
            step.weights_ms_per_pass,
            "weights_ms_per_pass",
            "ms",
        ),
        (
            "KV read per token",
            step.kv_ns_per_token,
            "kv_ns_per_token",
            "ns",
        ),
        (
            "compute per token",
            step.compute_us_per_token,
            "compute_us_per_token",
            "us",
        ),
        (
            "attention per pair",
            step.attention_ns_per_pair,
            "attention_ns_per_pair",
            "ns",
        ),
    ] {
        s.push_str(&format!(
            "  {label:<19} {value:>10.4} {unit:<2}      ± {:.4}\n",
            se(key)
        ));
    }
    s.push_str(&format!(
        "  request latency     {:>10.4} ms\n",
        step.request_latency_ms
    ));
    if let Some(cv) = step.step_cv {
        s.push_str(&format!(
            "  step noise          cv {cv:.3}{}\n",
            match step.stalls {
                Some(st) if st.fraction > 0.0 => format!(
                    "; stalls: {:.1}% of {} steps paused {:.1} ms on average (steps over twice their stream's median)",
                    st.fraction * 100.0,
                    st.steps,
                    st.mean_ms
                ),
                Some(st) => format!(
                    "; no stalls (none of {} steps over twice its stream's median)",
                    st.steps
                ),
                None => String::new(),
            }
        ));
    }
    if let Some(w) = step.idle_wakeup {
        s.push_str(&if w.seen() {
            format!(
                "  after idle          a request after a pause of {:.0} / {:.0} ms waits {:.2} / {:.2} ms longer\n",
                w.after_ms[0], w.after_ms[1], w.extra_ms[0], w.extra_ms[1]
            )
        } else {
            format!(
                "  after idle          no slower after pauses of {:.0} and {:.0} ms\n",
                w.after_ms[0], w.after_ms[1]
            )
        });
    }
    if let Some(share) = step.api_server_engine_share {
        s.push_str(&if share > 0.0 {
            format!("  API server          on the engine's cores: {:.0}% of the request latency is its work, which takes the engine's time\n", share * 100.0)
        } else {
            "  API server          on its own cores: its work per request only delays the request\n".to_string()
        });
    }
    if let Some(c) = &profile.coefficients {
        s.push_str(&format!(
            "  efficiencies vs datasheet: bandwidth {:.3}, compute {:.3}\n",
            c.bw_efficiency.value, c.flops_efficiency.value
        ));
    }
    if let Some(fit) = &profile.fit {
        s.push_str(&format!(
            "  fit: {} observations, R² {:.4}, RMS residual {:.3} ms\n",
            fit.observations, fit.r2, fit.rms_residual_ms
        ));
        for n in &fit.notes {
            s.push_str(&format!("  note: {n}\n"));
        }
        for f in &fit.flags {
            s.push_str(&format!("  warning: {f}\n"));
        }
    }
    s
}
