//! Calibration: fit the measured step model from a live server's probes ([`probe`]) or from
//! recorded runs ([`runs`]), and write it as a profile with its provenance, uncertainty and
//! fit quality. With a scenario (model shape and hardware datasheet) the profile also carries
//! efficiencies against the datasheet, so it can be projected to other GPUs.

pub mod fit;
pub mod probe;
pub mod runs;

use crate::cost::coefficients::{Estimate, MeasuredOn, ProfileCoefficients, Provenance};
use crate::cost::{Profile, StepShape};
use crate::scenario::Scenario;
use fit::Fit;

/// Today's date (UTC), `YYYY-MM-DD`.
pub fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    // Civil from days (Howard Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    format!("{:04}-{:02}-{:02}", if m <= 2 { y + 1 } else { y }, m, d)
}

/// Efficiencies against the scenario's datasheet that reproduce the measured decode step at
/// batch 1 and the measured prefill cost per token.
fn efficiencies(fit: &Fit, sc: &Scenario) -> ProfileCoefficients {
    let s = &fit.step;
    let context = 512u64;
    let shape = StepShape {
        seqs: 1,
        tokens: 1,
        kv_read_tokens: context,
        attention_pairs: context as f64,
        passes: 1,
    };
    let fp = &sc.cost.footprint;
    let tp = sc.cost.tp.degree.max(1) as f64;
    let measured_decode_s = (s.weights_ms_per_pass / 1e3
        + s.kv_ns_per_token * context as f64 / 1e9
        + s.compute_us_per_token / 1e6
        + s.attention_ns_per_pair * shape.attention_pairs / 1e9)
        .max(1e-9);
    let bytes = fp.weights_read(1).0 + fp.kv_per_token.0 * context as f64;
    let bw = sc.device.bandwidth().0 * tp;
    let eta_bw = (bytes / bw / measured_decode_s).clamp(1e-4, 1.5);
    let peak = if sc.weight_dtype == crate::model::Dtype::Fp8 && sc.device.has_fp8 {
        sc.device.flops_8bit().0
    } else {
        sc.device.flops_16bit().0
    } * tp;
    let u = (s.compute_us_per_token / 1e6).max(1e-15);
    let eta_f = (fp.flops_per_token / peak / u).clamp(1e-4, 1.5);
    let rel = |name: &str, value: f64| {
        fit.stderr
            .get(name)
            .filter(|_| value > 0.0)
            .map(|se| se / value)
    };
    ProfileCoefficients {
        overhead_ms: Estimate {
            value: s.overhead_ms,
            stderr: fit.stderr.get("overhead_ms").copied(),
        },
        per_seq_ms: Estimate {
            value: s.per_seq_ms,
            stderr: fit.stderr.get("per_seq_ms").copied(),
        },
        bw_efficiency: Estimate {
            value: eta_bw,
            stderr: rel("kv_ns_per_token", s.kv_ns_per_token).map(|r| r * eta_bw),
        },
        flops_efficiency: Estimate {
            value: eta_f,
            stderr: rel("compute_us_per_token", s.compute_us_per_token).map(|r| r * eta_f),
        },
    }
}

/// Builds a measured profile from a fit.
pub fn profile_from_fit(
    name: &str,
    fit: Fit,
    provenance: Provenance,
    mut measured_on: MeasuredOn,
    scenario: Option<&Scenario>,
    notes: Vec<String>,
) -> Profile {
    let coefficients = scenario.map(|sc| efficiencies(&fit, sc));
    if let Some(sc) = scenario {
        measured_on.model = Some(sc.model.name.clone());
        measured_on.hardware = Some(sc.device.name.clone());
        measured_on.weight_dtype = Some(format!("{:?}", sc.weight_dtype).to_lowercase());
    }
    let mut report = fit.report;
    report.notes.extend(notes);
    Profile {
        capsim_profile: 1,
        name: name.to_string(),
        provenance,
        measured_on,
        coefficients,
        step: Some(fit.step),
        step_stderr: fit.stderr,
        fit: Some(report),
    }
}
