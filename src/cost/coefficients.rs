//! The fitted (or default) coefficients of the step-time model, and calibration profiles that
//! carry them with their provenance.
//!
//! Without a profile, capsim uses [`Coefficients::datasheet_defaults`]: efficiencies typical of
//! vLLM on a recent NVIDIA GPU (memory-bound GEMV reaching ~85% of peak bandwidth, prefill GEMM
//! ~60% of dense tensor peak, ~1 ms of fixed per-step work: scheduling, sampling, kernel
//! launches under CUDA graphs, ~20 µs per sequence). Such a run is a *datasheet projection* and
//! says so in its output.

use crate::error::{InputError, InputResult};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// τ0, τ_seq, η_bw, η_f of `T = τ0 + τ_seq·n_seqs + max(bytes/(η_bw·BW), flops/(η_f·F))`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Coefficients {
    /// Fixed time per engine step, seconds.
    pub overhead_s: f64,
    /// Time per sequence in the batch, seconds.
    pub per_seq_s: f64,
    /// Achieved fraction of peak memory bandwidth.
    pub bw_efficiency: f64,
    /// Achieved fraction of peak dense tensor throughput.
    pub flops_efficiency: f64,
}

impl Coefficients {
    pub fn datasheet_defaults() -> Coefficients {
        Coefficients {
            overhead_s: 1.0e-3,
            per_seq_s: 20e-6,
            bw_efficiency: 0.85,
            flops_efficiency: 0.6,
        }
    }

    pub fn validate(&self) -> InputResult<()> {
        let check_nonneg = |key: &str, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(InputError::new(
                    format!("calibration.{key}"),
                    format!("must be a non-negative number (got {v})"),
                ))
            }
        };
        let check_frac = |key: &str, v: f64| {
            if v.is_finite() && v > 0.0 && v <= 1.5 {
                Ok(())
            } else {
                Err(InputError::new(
                    format!("calibration.{key}"),
                    format!("must be a fraction of peak in (0, 1.5] (got {v})"),
                ))
            }
        };
        check_nonneg("overhead_ms", self.overhead_s)?;
        check_nonneg("per_seq_ms", self.per_seq_s)?;
        check_frac("bw_efficiency", self.bw_efficiency)?;
        check_frac("flops_efficiency", self.flops_efficiency)
    }
}

/// A coefficient with its standard error, as a profile stores it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Estimate {
    pub value: f64,
    #[serde(default)]
    pub stderr: Option<f64>,
}

/// Where a profile's numbers come from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// `measured` (fitted on a live server or recorded runs), `projected` (a measured profile
    /// moved to another GPU's datasheet) or `datasheet` (defaults, nothing measured).
    pub kind: String,
    #[serde(default)]
    pub server: Option<String>,
    #[serde(default)]
    pub server_version: Option<String>,
    #[serde(default)]
    pub date: Option<String>,
    #[serde(default)]
    pub notes: Option<String>,
}

/// What the profile was measured on.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeasuredOn {
    #[serde(default)]
    pub hardware: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub engine: Option<String>,
    #[serde(default)]
    pub weight_dtype: Option<String>,
}

/// The coefficient block of a profile, in the units people read (milliseconds).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileCoefficients {
    pub overhead_ms: Estimate,
    pub per_seq_ms: Estimate,
    pub bw_efficiency: Estimate,
    pub flops_efficiency: Estimate,
}

/// A calibration profile file (`calibration/*.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Format version; this build reads 1.
    pub capsim_profile: u32,
    pub name: String,
    pub provenance: Provenance,
    #[serde(default)]
    pub measured_on: MeasuredOn,
    pub coefficients: ProfileCoefficients,
}

impl Profile {
    /// Reads and checks a profile; every failure names the file.
    pub fn load(path: &Path) -> InputResult<Profile> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            InputError::new(
                "calibration.profile",
                format!("cannot read {}: {e}", path.display()),
            )
        })?;
        let de = &mut serde_json::Deserializer::from_str(&text);
        let profile: Profile = serde_path_to_error::deserialize(de).map_err(|e| {
            InputError::new(
                "calibration.profile",
                format!("{}: {} at '{}'", path.display(), e.inner(), e.path()),
            )
        })?;
        if profile.capsim_profile != 1 {
            return Err(InputError::new(
                "calibration.profile",
                format!(
                    "{}: profile format {} is not supported (this build reads 1)",
                    path.display(),
                    profile.capsim_profile
                ),
            ));
        }
        if !matches!(
            profile.provenance.kind.as_str(),
            "measured" | "projected" | "datasheet"
        ) {
            return Err(InputError::new(
                "calibration.profile",
                format!(
                    "{}: provenance.kind must be measured, projected or datasheet (got '{}')",
                    path.display(),
                    profile.provenance.kind
                ),
            ));
        }
        profile.coefficients().validate().map_err(|e| {
            InputError::new("calibration.profile", format!("{}: {}", path.display(), e))
        })?;
        Ok(profile)
    }

    pub fn coefficients(&self) -> Coefficients {
        let c = &self.coefficients;
        Coefficients {
            overhead_s: c.overhead_ms.value / 1e3,
            per_seq_s: c.per_seq_ms.value / 1e3,
            bw_efficiency: c.bw_efficiency.value,
            flops_efficiency: c.flops_efficiency.value,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        Coefficients::datasheet_defaults().validate().unwrap();
    }

    #[test]
    fn bad_efficiency_is_rejected_with_its_key() {
        let mut c = Coefficients::datasheet_defaults();
        c.bw_efficiency = 0.0;
        let e = c.validate().unwrap_err();
        assert_eq!(e.key, "calibration.bw_efficiency");
    }

    #[test]
    fn profile_with_unknown_field_names_the_field() {
        let dir = std::env::temp_dir().join(format!("capsim-prof-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("p.json");
        std::fs::write(&p, r#"{"capsim_profile":1,"name":"x","provenance":{"kind":"measured"},"bogus":1,
            "coefficients":{"overhead_ms":{"value":1},"per_seq_ms":{"value":0},"bw_efficiency":{"value":0.8},"flops_efficiency":{"value":0.5}}}"#).unwrap();
        let e = Profile::load(&p).unwrap_err();
        assert!(e.problem.contains("bogus"), "{e}");
    }
}
