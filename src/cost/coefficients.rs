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

/// τ0, τ_layer, τ_seq, η_bw, η_f of
/// `T = τ0 + τ_layer·layers·passes + τ_seq·n_seqs + max(bytes/(η_bw·BW), flops/(η_f·F))`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Coefficients {
    /// Fixed time per engine step, seconds.
    pub overhead_s: f64,
    /// Time per layer per forward pass that no batching amortises (kernel launches outside a
    /// CUDA graph), seconds.
    pub per_layer_s: f64,
    /// Time per sequence in the batch, seconds.
    pub per_seq_s: f64,
    /// Achieved fraction of peak memory bandwidth.
    pub bw_efficiency: f64,
    /// Bandwidth efficiency of steps that compute several tokens per pass, relative to a
    /// single-token decode (batched GEMMs and llama.cpp's `mul_mat_id` differ from GEMV).
    pub batch_bw_factor: f64,
    /// Achieved fraction of peak dense tensor throughput.
    pub flops_efficiency: f64,
    /// Coefficient of variation of one step's duration (step-to-step noise).
    pub step_cv: f64,
}

/// Step-to-step noise of a GPU server without a measurement of its own: 3%, the median
/// coefficient of variation of decode gaps within a request of the llama.cpp CUDA runs on an
/// H100 at one user (`reports/data/h100-llamacpp-runs.tgz`, closed loop C = 1, 32 requests;
/// middle 60% of each request's gaps, gaps over twice the median left out).
pub const DEFAULT_STEP_CV: f64 = 0.03;

impl Coefficients {
    pub fn datasheet_defaults() -> Coefficients {
        Coefficients {
            overhead_s: 1.0e-3,
            per_layer_s: 0.0,
            per_seq_s: 20e-6,
            bw_efficiency: 0.85,
            batch_bw_factor: 1.0,
            flops_efficiency: 0.6,
            step_cv: DEFAULT_STEP_CV,
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
        // Held in seconds, given (and reported) in milliseconds.
        check_nonneg("overhead_ms", self.overhead_s * 1e3)?;
        check_nonneg("per_layer_ms", self.per_layer_s * 1e3)?;
        check_nonneg("per_seq_ms", self.per_seq_s * 1e3)?;
        check_frac("bw_efficiency", self.bw_efficiency)?;
        if !(self.batch_bw_factor.is_finite()
            && self.batch_bw_factor > 0.0
            && self.batch_bw_factor <= 5.0)
        {
            return Err(InputError::new(
                "calibration.batch_bw_factor",
                format!("must be in (0, 5] (got {})", self.batch_bw_factor),
            ));
        }
        check_frac("flops_efficiency", self.flops_efficiency)?;
        if !(self.step_cv.is_finite() && (0.0..=2.0).contains(&self.step_cv)) {
            return Err(InputError::new(
                "calibration.step_cv",
                format!("must be in [0, 2] (got {})", self.step_cv),
            ));
        }
        Ok(())
    }
}

/// A step model measured on one server for one model (the `step` block of a profile).
///
/// `T = (τ0 + τ_seq·seqs + w·passes + v·kv_tokens + u·tokens + a·pairs) · f(batch)`: memory and
/// compute add up rather than overlap (what CPU and small-batch GPU engines show), and a pure
/// decode step of batch B is scaled by the measured factor f(B) where the engine deviates from
/// the smooth form (llama.cpp's CPU kernels tile batch sizes unevenly). Requests reach the
/// engine `request_latency_ms` after they are sent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeasuredStep {
    pub overhead_ms: f64,
    pub per_seq_ms: f64,
    /// w: reading the weights once (one forward pass).
    pub weights_ms_per_pass: f64,
    /// v: reading one cached token's KV.
    pub kv_ns_per_token: f64,
    /// u: computing one token (matmuls).
    pub compute_us_per_token: f64,
    /// a: one query × key attention pair.
    pub attention_ns_per_pair: f64,
    pub request_latency_ms: f64,
    /// f(B) for B = 1, 2, …; the last applies to larger batches; empty = 1.
    #[serde(default)]
    pub decode_batch_factors: Vec<f64>,
    /// Coefficient of variation of one decode step, as the probes measured it (absent in
    /// older profiles: the default applies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_cv: Option<f64>,
    /// The share (0 to 1) of the request latency that is the API server's work on the
    /// engine's cores (a CPU-only server), so that it also takes the engine's time: matched by
    /// calibration to its closed loops of one-token requests (absent: not measured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_server_engine_share: Option<f64>,
    /// Steps that took far longer than their neighbours, as the probes measured them (absent:
    /// not measured, none simulated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stalls: Option<Stalls>,
    /// How much later a request to an idle server is answered, as the probes measured it
    /// (absent: not measured, none simulated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_wakeup: Option<IdleWakeup>,
    /// llama-server: whether it runs slots that are not consecutive as separate forward
    /// passes (one KV stream per slot), as the probes measured it; it overrides the scenario's
    /// `engine.kv_unified` (absent: not measured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot_split: Option<bool>,
}

/// Stalls: steps that take more than twice their stream's median, pauses of the host (the
/// operating system, a language runtime's collector, the load generator on the same cores)
/// that a lognormal of the measured coefficient of variation does not produce. They set the
/// tails (ITL and TTFT p99) of a server whose typical step is steady.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stalls {
    /// The share of steps that stall (0 to 1).
    pub fraction: f64,
    /// A stall's mean length beyond the typical step, ms (drawn from an exponential of this
    /// mean in the simulation).
    pub mean_ms: f64,
    /// The steps the measurement saw (what the share is a share of).
    #[serde(default)]
    pub steps: u64,
}

/// A server that sat idle answers its next request later (a CPU's cores or a GPU's clocks
/// winding down, caches gone cold): measured by calibration as requests sent after a pause
/// against the same sent back to back. Between and beyond the two pauses the delay is taken
/// as linear from no pause (nothing) through the pauses, and flat past the longer.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdleWakeup {
    /// The pauses probed (client side, from the last answer to the next request), ms,
    /// shorter first.
    pub after_ms: [f64; 2],
    /// How much later the first token came after each, ms (0 and 0: not seen).
    pub extra_ms: [f64; 2],
}

impl IdleWakeup {
    /// Whether the probe saw a delay at all.
    pub fn seen(&self) -> bool {
        self.extra_ms.iter().any(|x| *x > 0.0)
    }

    /// The delay after `idle_ms` of idling, ms.
    pub fn extra_after(&self, idle_ms: f64) -> f64 {
        let ([a, b], [x, y]) = (self.after_ms, self.extra_ms);
        if idle_ms >= b {
            y
        } else if idle_ms >= a {
            x + (y - x) * (idle_ms - a) / (b - a)
        } else {
            x * idle_ms.max(0.0) / a
        }
    }
}

impl MeasuredStep {
    fn field_mut(&mut self, name: &str) -> Option<&mut f64> {
        Some(match name {
            "overhead_ms" => &mut self.overhead_ms,
            "per_seq_ms" => &mut self.per_seq_ms,
            "weights_ms_per_pass" => &mut self.weights_ms_per_pass,
            "kv_ns_per_token" => &mut self.kv_ns_per_token,
            "compute_us_per_token" => &mut self.compute_us_per_token,
            "attention_ns_per_pair" => &mut self.attention_ns_per_pair,
            "request_latency_ms" => &mut self.request_latency_ms,
            _ => return None,
        })
    }

    /// A draw of the coefficients: each moved by a normal error of its standard error,
    /// kept non-negative.
    pub fn draw(
        &self,
        stderr: &std::collections::BTreeMap<String, f64>,
        rng: &mut impl rand::Rng,
    ) -> MeasuredStep {
        let mut out = self.clone();
        for (name, se) in stderr {
            if !(se.is_finite() && *se > 0.0) {
                continue;
            }
            if let Some(v) = out.field_mut(name) {
                let z: f64 = rand_distr::Distribution::sample(&rand_distr::StandardNormal, rng);
                *v = (*v + z * se).max(0.0);
            }
        }
        out
    }

    pub fn validate(&self) -> InputResult<()> {
        for (k, v) in [
            ("overhead_ms", self.overhead_ms),
            ("per_seq_ms", self.per_seq_ms),
            ("weights_ms_per_pass", self.weights_ms_per_pass),
            ("kv_ns_per_token", self.kv_ns_per_token),
            ("compute_us_per_token", self.compute_us_per_token),
            ("attention_ns_per_pair", self.attention_ns_per_pair),
            ("request_latency_ms", self.request_latency_ms),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(InputError::new(
                    format!("step.{k}"),
                    format!("must be a non-negative number (got {v})"),
                ));
            }
        }
        // One sequence's decode step reads the weights and computes a token: a model that
        // says it takes no time at all would serve infinitely fast.
        if self.overhead_ms + self.per_seq_ms + self.weights_ms_per_pass + self.compute_us_per_token
            <= 0.0
        {
            return Err(InputError::new(
                "step",
                "overhead_ms, per_seq_ms, weights_ms_per_pass and compute_us_per_token are all 0: a decode step would take no time; this is not a measured step model",
            ));
        }
        if let Some(st) = &self.stalls {
            if !(st.fraction.is_finite() && (0.0..=1.0).contains(&st.fraction)) {
                return Err(InputError::new(
                    "step.stalls.fraction",
                    format!("must be a share from 0 to 1 (got {})", st.fraction),
                ));
            }
            if !(st.mean_ms.is_finite() && st.mean_ms >= 0.0) {
                return Err(InputError::new(
                    "step.stalls.mean_ms",
                    format!("must be a non-negative number (got {})", st.mean_ms),
                ));
            }
        }
        if let Some(w) = &self.idle_wakeup {
            let ([a, b], [x, y]) = (w.after_ms, w.extra_ms);
            if !([a, b, x, y].iter().all(|v| v.is_finite() && *v >= 0.0) && 0.0 < a && a < b) {
                return Err(InputError::new(
                    "step.idle_wakeup",
                    format!("needs two pauses 0 < a < b and non-negative delays (got after_ms [{a}, {b}], extra_ms [{x}, {y}])"),
                ));
            }
        }
        if let Some(f) = self
            .decode_batch_factors
            .iter()
            .find(|f| !(f.is_finite() && **f > 0.0))
        {
            return Err(InputError::new(
                "step.decode_batch_factors",
                format!("must be positive (got {f})"),
            ));
        }
        Ok(())
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
    /// The model's shape and formats (recorded when calibrated with `--scenario`): what
    /// decides whether a scenario's model is the one measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<crate::model::ModelIdentity>,
}

/// The coefficient block of a profile, in the units people read (milliseconds).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileCoefficients {
    pub overhead_ms: Estimate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_layer_ms: Option<Estimate>,
    pub per_seq_ms: Estimate,
    pub bw_efficiency: Estimate,
    pub flops_efficiency: Estimate,
}

/// How well a fit matched what it was fitted on.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FitReport {
    pub observations: usize,
    /// Coefficient of determination of the step-time fit.
    pub r2: f64,
    pub rms_residual_ms: f64,
    /// Per probe: what it was, measured and fitted step time.
    #[serde(default)]
    pub residuals: Vec<Residual>,
    /// What the data showed that the smooth model does not (e.g. uneven batch sizes).
    #[serde(default)]
    pub notes: Vec<String>,
    /// What a reader must know before trusting it: a poor fit, efficiencies above the
    /// datasheet, coefficients the probes could not separate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Residual {
    pub probe: String,
    pub measured_ms: f64,
    pub fitted_ms: f64,
    /// The step the probe measured (absent in profiles written before it was recorded): what
    /// `capsim priors --add-profile` turns into corpus rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<ProbeStep>,
}

/// The shape of one measured probe step, as a profile records it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeStep {
    /// Sequences in the step.
    pub seqs: u32,
    /// Tokens computed (one per decoding sequence, every prompt token of a prefill).
    pub tokens: u64,
    /// Cached tokens whose KV the step read (a prefill from an empty cache reads its own).
    pub kv_read_tokens: u64,
    /// A pure decode step.
    pub decode: bool,
    /// Timed by the client from send to first token (the request's latency included), not by
    /// the server.
    pub includes_latency: bool,
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
    /// Efficiencies against the datasheet: what projects to other GPUs and models. Absent when
    /// the model shape or hardware was unknown at calibration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coefficients: Option<ProfileCoefficients>,
    /// The step model measured for `measured_on.model` on that server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<MeasuredStep>,
    /// Standard errors of the `step` fields, by name.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub step_stderr: std::collections::BTreeMap<String, f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fit: Option<FitReport>,
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
        Profile::parse(&text).map_err(|e| {
            // The profile's own key where the check names one (step.stalls.fraction, …).
            let key = if e.key.is_empty() {
                String::new()
            } else {
                format!("{}: ", e.key)
            };
            InputError::new(
                "calibration.profile",
                format!("{}: {key}{}", path.display(), e.problem),
            )
        })
    }

    /// Parses and checks profile JSON.
    pub fn parse(text: &str) -> InputResult<Profile> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let profile: Profile = serde_path_to_error::deserialize(de).map_err(|e| {
            InputError::new(
                "",
                format!("not a capsim profile: {} at '{}'", e.inner(), e.path()),
            )
        })?;
        if profile.capsim_profile != 1 {
            return Err(InputError::new(
                "",
                format!(
                    "profile format {} is not supported (this build reads 1)",
                    profile.capsim_profile
                ),
            ));
        }
        if !matches!(
            profile.provenance.kind.as_str(),
            "measured" | "projected" | "datasheet"
        ) {
            return Err(InputError::new(
                "",
                format!(
                    "provenance.kind must be measured, projected or datasheet (got '{}')",
                    profile.provenance.kind
                ),
            ));
        }
        if profile.coefficients.is_none() && profile.step.is_none() {
            return Err(InputError::new(
                "",
                "a profile needs 'coefficients', 'step' or both",
            ));
        }
        if let Some(c) = profile.coefficients() {
            c.validate()?;
        }
        if let Some(step) = &profile.step {
            step.validate()?;
        }
        Ok(profile)
    }

    pub fn coefficients(&self) -> Option<Coefficients> {
        let c = self.coefficients.as_ref()?;
        Some(Coefficients {
            overhead_s: c.overhead_ms.value / 1e3,
            per_layer_s: c.per_layer_ms.as_ref().map_or(0.0, |e| e.value / 1e3),
            per_seq_s: c.per_seq_ms.value / 1e3,
            bw_efficiency: c.bw_efficiency.value,
            batch_bw_factor: 1.0,
            flops_efficiency: c.flops_efficiency.value,
            step_cv: self
                .step
                .as_ref()
                .and_then(|s| s.step_cv)
                .unwrap_or(DEFAULT_STEP_CV),
        })
    }

    /// Writes the profile atomically (a temporary file renamed into place): a failure never
    /// leaves a half-written profile.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)? + "\n";
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension(format!("json.tmp.{}", std::process::id()));
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, path)
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
