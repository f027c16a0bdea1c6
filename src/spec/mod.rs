//! Scenario files: read, override, expand sweeps, fill defaults, check, and build what the
//! simulation needs. Every problem is an [`InputError`] naming the file, the key and what is
//! wrong; nothing here panics on user input.

pub mod capacity;
mod endpoint;
mod engine;
pub mod file;
mod hf;
pub mod init;
pub mod overrides;
mod vary;
mod workload;

pub use engine::VllmVersion;
pub use overrides::{parse_set, Override};

use crate::cost::priors::{PriorKey, PriorTable};
use crate::cost::{
    physics, Coefficients, CostModel, EngineFamily, FormatFamily, Frontend, MeasuredStep, Parallel,
    Physics, Profile,
};
use crate::engine::llamacpp::{LlamaCppConfig, LlamaCppEngine};
use crate::engine::vllm::{VllmConfig, VllmEngine};
use crate::engine::Engine;
use crate::error::{InputError, InputResult};
use crate::hardware::{self, Device};
use crate::model::{Dtype, ModelShape};
use crate::sim::RouterKind;
use crate::units::Bytes;
use crate::workload::{Arrival, Workload};
use file::ScenarioFile;
use std::path::{Path, PathBuf};

/// Which scheduler a replica runs, with its limits.
#[derive(Clone, Debug, PartialEq)]
pub enum EngineSpec {
    /// vLLM-style continuous batching; `flavor` is vllm, sglang or tgi.
    Vllm {
        config: VllmConfig,
        flavor: String,
    },
    LlamaCpp(LlamaCppConfig),
}

/// Which OpenAI-compatible API a spot run calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    /// `/v1/completions` with token-id prompts (exact lengths).
    Completions,
    /// `/v1/chat/completions` with text prompts sized through the server's tokenizer.
    Chat,
}

impl Api {
    pub fn parse(s: &str) -> Option<Api> {
        match s {
            "completions" => Some(Api::Completions),
            "chat" => Some(Api::Chat),
            _ => None,
        }
    }
    pub const NAMES: &'static str = "completions or chat";
}

crate::keyword_deserialize!(Api, "api");

/// Which serving engine a replica runs (`engine.kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineKind {
    Vllm,
    Sglang,
    Tgi,
    LlamaCpp,
}

impl EngineKind {
    pub fn parse(s: &str) -> Option<EngineKind> {
        Some(match s {
            "vllm" => EngineKind::Vllm,
            "sglang" => EngineKind::Sglang,
            "tgi" => EngineKind::Tgi,
            "llamacpp" | "llama.cpp" | "llama-server" => EngineKind::LlamaCpp,
            _ => return None,
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Vllm => "vllm",
            EngineKind::Sglang => "sglang",
            EngineKind::Tgi => "tgi",
            EngineKind::LlamaCpp => "llamacpp",
        }
    }
    pub const NAMES: &'static str = "vllm, llamacpp, sglang or tgi";
}

crate::keyword_deserialize!(EngineKind, "engine");

/// How the GPUs of a replica talk to each other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interconnect {
    Pcie,
    Nvlink,
}

impl Interconnect {
    pub fn parse(s: &str) -> Option<Interconnect> {
        match s {
            "pcie" => Some(Interconnect::Pcie),
            "nvlink" => Some(Interconnect::Nvlink),
            _ => None,
        }
    }
    pub const NAMES: &'static str = "pcie or nvlink";
}

crate::keyword_deserialize!(Interconnect, "interconnect");

/// How a workload's requests arrive (`arrival`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArrivalKind {
    Closed,
    Swarm,
    Poisson,
    Gamma,
    Constant,
    Trace,
}

impl ArrivalKind {
    pub fn parse(s: &str) -> Option<ArrivalKind> {
        Some(match s {
            "closed" => ArrivalKind::Closed,
            "swarm" => ArrivalKind::Swarm,
            "poisson" => ArrivalKind::Poisson,
            "gamma" => ArrivalKind::Gamma,
            "constant" => ArrivalKind::Constant,
            "trace" => ArrivalKind::Trace,
            _ => return None,
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            ArrivalKind::Closed => "closed",
            ArrivalKind::Swarm => "swarm",
            ArrivalKind::Poisson => "poisson",
            ArrivalKind::Gamma => "gamma",
            ArrivalKind::Constant => "constant",
            ArrivalKind::Trace => "trace",
        }
    }
    pub const NAMES: &'static str = "closed, swarm, poisson, gamma, constant or trace";
}

crate::keyword_deserialize!(ArrivalKind, "arrival");

/// How a spot run talks to the server (`[endpoint]`).
#[derive(Clone, Debug, PartialEq)]
pub struct EndpointSpec {
    pub api: Api,
    pub model: Option<String>,
    /// Extra fields merged into every request body.
    pub extra: serde_json::Map<String, serde_json::Value>,
    pub ignore_eos: bool,
    pub warmup_requests: u32,
    pub shared_prefix_tokens: u32,
}

/// One fully resolved scenario point, ready to simulate.
#[derive(Clone, Debug)]
pub struct Spec {
    pub name: String,
    pub file: PathBuf,
    /// The swept keys and values of this point (empty without a sweep).
    pub point: crate::metrics::Point,
    pub model: ModelShape,
    pub weight_dtype: Dtype,
    pub kv_dtype: Dtype,
    pub device: Device,
    pub engine: EngineSpec,
    pub cost: CostModel,
    /// Where the step costs come from, in words.
    pub cost_source: String,
    /// Standard errors of the measured step model's coefficients (empty: no band).
    pub cost_uncertainty: std::collections::BTreeMap<String, f64>,
    pub replicas: u32,
    pub router: RouterKind,
    pub workload: Workload,
    /// The `[workload]` table as given (after overrides), kept with spot runs so a run can be
    /// simulated again exactly.
    pub workload_table: serde_json::Value,
    pub endpoint: EndpointSpec,
    /// Seeds the engines' step noise instead of the workload seed: prediction bands vary it
    /// to show how much a run of this size moves from noise alone.
    pub noise_seed: Option<u64>,
    /// The prior the coefficients come from (no calibration profile): its spreads widen the
    /// prediction band.
    pub prior: Option<crate::cost::priors::Prior>,
    /// vLLM `enforce_eager` (its launch cost is part of the coefficients).
    pub enforce_eager: bool,
    /// The share of each request's latency that is API-server work on the engine's cores
    /// (`engine.api_server_shares_cores`, or calibration's measurement): it stalls the engine.
    pub api_server_engine_share: f64,
    /// What the reader must know about how the input was read (a `--set` that replaced a
    /// sweep, a workload that does not measure what it seems to).
    pub notes: Vec<String>,
}

/// A fingerprint of a whole sweep: every point's resolved model, hardware, engine, cost model,
/// cluster, workload and endpoint (not the scenario's path, its notes or how the cost model is
/// described). Shards of one study carry the same one, so `capsim merge` can tell shards of
/// different scenarios, `--set` overrides or capsim versions apart. 64-bit FNV-1a of their
/// `Debug` text, in hex: stable across machines, not a security hash.
pub fn sweep_fingerprint(all: &[Spec]) -> String {
    use std::fmt::Write as _;
    let mut text = String::new();
    for s in all {
        let _ = writeln!(
            text,
            "{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
            s.name,
            s.point,
            s.model,
            s.weight_dtype,
            s.kv_dtype,
            s.device,
            s.engine,
            s.cost,
            s.replicas,
            s.router,
            s.workload,
            s.endpoint,
            s.noise_seed,
            s.enforce_eager,
            s.api_server_engine_share,
        );
    }
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{hash:016x}")
}

impl Spec {
    /// A fresh engine per replica, stepping with `cost`; each replica's step noise has its
    /// own stream, from the workload seed (or `noise_seed` where given).
    pub fn engines_with(&self, cost: &CostModel) -> Vec<Box<dyn Engine>> {
        (0..self.replicas)
            .map(|r| -> Box<dyn Engine> {
                let seed = self.noise_seed.unwrap_or(self.workload.seed)
                    ^ STEP_NOISE_STREAM
                    ^ (r as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                match &self.engine {
                    EngineSpec::Vllm { config, .. } => {
                        Box::new(VllmEngine::new(config.clone(), cost.clone(), seed))
                    }
                    EngineSpec::LlamaCpp(cfg) => {
                        Box::new(LlamaCppEngine::new(cfg.clone(), cost.clone(), seed))
                    }
                }
            })
            .collect()
    }

    /// How requests reach the engines stepping with `cost`: its request latency, jittered
    /// from `noise_seed`; one serial API server in front of a datasheet model (a measured one
    /// holds its server's costs); its work on the engine's cores where the API server shares them.
    pub fn transport(&self, cost: &CostModel, noise_seed: u64) -> crate::sim::Transport {
        crate::sim::Transport {
            request_latency: cost.request_latency(),
            noise_seed,
            serial: cost.measured.is_none(),
            engine_share: self.api_server_engine_share,
            wakeup: cost.idle_wakeup(),
        }
    }

    /// A fresh engine per replica.
    pub fn engines(&self) -> Vec<Box<dyn Engine>> {
        self.engines_with(&self.cost)
    }
}

/// The random stream of engine step noise (mixed with the seed and the replica index).
const STEP_NOISE_STREAM: u64 = 0x6e6f_6973_6500_0000;

/// `sets` plus an override that empties `[calibration]`: for `calibrate --scenario`, whose
/// scenario may name the very profile being written.
pub fn without_calibration(mut sets: Vec<Override>) -> Vec<Override> {
    sets.insert(
        0,
        Override {
            path: vec!["calibration".into()],
            value: toml::Value::Table(toml::Table::new()),
        },
    );
    sets
}

/// Reads a scenario file, applies `--set` overrides, and resolves every sweep point.
pub fn load(path: &Path, sets: &[Override]) -> InputResult<Vec<Spec>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| InputError::new("", format!("cannot read the scenario: {e}")).in_file(path))?;
    from_str(&text, path, sets)
}

/// Like [`load`], from text; `path` names the file in errors and anchors relative paths.
pub fn from_str(text: &str, path: &Path, sets: &[Override]) -> InputResult<Vec<Spec>> {
    let mut doc: toml::Table =
        toml::from_str(text).map_err(|e| toml_syntax_error(&e, text).in_file(path))?;
    let mut notes = Vec::new();
    for ov in sets {
        notes.extend(overrides::apply_set(&mut doc, ov).map_err(|e| e.in_file(path))?);
    }
    let points = overrides::expand_sweep(doc).map_err(|e| e.in_file(path))?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let many = points.len() > 1;
    points
        .into_iter()
        .map(|p| {
            let mut point = crate::metrics::Point::new();
            for (k, v) in &p.point {
                point.insert(k.clone(), toml_to_json(v));
            }
            let mut spec = resolve(p.doc, point.clone(), path, &base).map_err(|mut e| {
                if many {
                    let at: Vec<String> = p.point.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    e.problem = format!("{} (at sweep point {})", e.problem, at.join(", "));
                }
                e.in_file(path)
            })?;
            spec.notes.splice(0..0, notes.iter().cloned());
            Ok(spec)
        })
        .collect()
}

fn toml_syntax_error(e: &toml::de::Error, text: &str) -> InputError {
    let location = e.span().map(|span| {
        let before = &text[..span.start.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
        format!("line {line}, column {col}")
    });
    InputError::new(
        location.unwrap_or_default(),
        format!("invalid TOML: {}", e.message()),
    )
}

/// The model of a Hugging Face id (org/name): its config.json from the Hub or the cache, named
/// by the id.
pub fn hf_model(id: &str) -> InputResult<ModelShape> {
    let mut shape = ModelShape::from_config_file(&hf::config_path(id)?)?;
    shape.name = id.to_string();
    Ok(shape)
}

/// TOML value → JSON value (for the `point` of a summary).
pub fn toml_to_json(v: &toml::Value) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

fn resolve(
    doc: toml::Table,
    point: crate::metrics::Point,
    path: &Path,
    base: &Path,
) -> InputResult<Spec> {
    let mut workload_table = doc.get("workload").map(toml_to_json).unwrap_or_default();
    let raw: ScenarioFile =
        serde_path_to_error::deserialize(toml::Value::Table(doc)).map_err(|e| {
            let key = e.path().to_string();
            let key = if key == "." { String::new() } else { key };
            InputError::new(key, e.into_inner().message().to_string())
        })?;
    let name = raw.name.clone().unwrap_or_else(|| {
        path.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "scenario".into())
    });

    // Model and formats.
    let m = &raw.model;
    let given = [m.preset.is_some(), m.config.is_some(), m.hf.is_some()];
    let model = match (&m.preset, &m.config, &m.hf) {
        _ if given.iter().filter(|g| **g).count() > 1 => {
            return Err(InputError::new(
                "model",
                "give one of 'preset', 'config' and 'hf', not several",
            ))
        }
        (Some(p), _, _) => ModelShape::preset(p)?,
        (_, Some(c), _) => ModelShape::from_config_file(&base.join(c))?,
        (_, _, Some(id)) => hf_model(id)?,
        _ => {
            return Err(InputError::new(
                "model",
                format!(
                    "needs 'preset' (one of {}; `capsim models` lists them), 'config' (a HF config.json path) or 'hf' (a Hugging Face id, org/name)",
                    crate::model::preset_names().join(", ")
                ),
            ))
        }
    };
    let weight_dtype = raw.model.weight_dtype.unwrap_or(Dtype::Bf16);
    let kv_dtype = raw.model.kv_dtype.unwrap_or(Dtype::Bf16);
    if !kv_dtype.is_kv_format() {
        return Err(InputError::new(
            "model.kv_dtype",
            format!(
                "'{}' is a weight format; the KV cache is fp32, bf16, fp16, fp8 or int8",
                kv_dtype.name()
            ),
        ));
    }

    // Hardware.
    let hw = &raw.hardware;
    let mut device = if hw.gpu.eq_ignore_ascii_case("custom") {
        hardware::custom()
    } else {
        hardware::lookup(&hw.gpu).ok_or_else(|| {
            InputError::new(
                "hardware.gpu",
                format!(
                    "unknown GPU '{}'; known: {}, or \"custom\"",
                    hw.gpu,
                    hardware::names().join(", ")
                ),
            )
        })?
    };
    let set = |slot: &mut f64, v: Option<f64>| {
        if let Some(v) = v {
            *slot = v;
        }
    };
    set(&mut device.memory_gib, hw.memory_gib);
    set(&mut device.bandwidth_gb_s, hw.bandwidth_gb_s);
    set(&mut device.tflops_16bit, hw.tflops_16bit);
    if let Some(t8) = hw.tflops_8bit {
        device.tflops_8bit = t8;
    } else if device.name == "custom" && device.tflops_8bit == 0.0 {
        device.tflops_8bit = device.tflops_16bit;
    }
    if let Some(f) = hw.has_fp8 {
        device.has_fp8 = f;
    }
    if let Some(nv) = hw.nvlink_gb_s {
        device.nvlink_gb_s = Some(nv);
    }
    if let Some(g) = hw.pcie_gen {
        device.pcie_gen = g;
    }
    if let Some(p) = hw.p2p {
        device.p2p = p;
    }
    if let Some(sm) = hw.sm {
        device.sm = sm;
    }
    device.validate().map_err(|e| {
        if device.name == "custom" {
            InputError::new(
                e.key,
                format!(
                    "{} (a custom device needs memory_gib, bandwidth_gb_s and tflops_16bit)",
                    e.problem
                ),
            )
        } else {
            e
        }
    })?;
    let tp_degree = hw.gpus_per_replica.unwrap_or(1);
    if tp_degree == 0 || tp_degree > 64 {
        return Err(InputError::new(
            "hardware.gpus_per_replica",
            format!("must be 1..64 (got {tp_degree})"),
        ));
    }
    let interconnect = hw.interconnect.unwrap_or(Interconnect::Pcie);
    let nvlink = interconnect == Interconnect::Nvlink;
    if nvlink && tp_degree > 1 && device.nvlink_gb_s.is_none() {
        return Err(InputError::new(
            "hardware.interconnect",
            format!(
                "{} has no NVLink; use \"pcie\" or set hardware.nvlink_gb_s",
                device.name
            ),
        ));
    }
    let e = &raw.engine;
    let kind = e.kind.unwrap_or(EngineKind::Vllm);
    let family = match kind {
        EngineKind::LlamaCpp => EngineFamily::LlamaCpp,
        _ => EngineFamily::Vllm,
    };
    if family == EngineFamily::Vllm && tp_degree > 1 {
        // vLLM's own checks: attention heads split evenly over the GPUs; KV heads too, or (fewer
        // KV heads than GPUs) each replicated on tp / kv_heads GPUs.
        if model.heads % tp_degree != 0 {
            return Err(InputError::new(
                "hardware.gpus_per_replica",
                format!(
                    "vLLM refuses tensor parallel size {tp_degree} for {}: its {} attention heads must be divisible by it",
                    model.name, model.heads
                ),
            ));
        }
        let kv = model.kv_heads;
        if (kv >= tp_degree && !kv.is_multiple_of(tp_degree))
            || (kv < tp_degree && !tp_degree.is_multiple_of(kv))
        {
            return Err(InputError::new(
                "hardware.gpus_per_replica",
                format!(
                    "vLLM refuses tensor parallel size {tp_degree} for {}: its {kv} KV heads must divide evenly over the GPUs (or the GPUs over them)",
                    model.name
                ),
            ));
        }
    }
    let version = match (&e.version, kind) {
        (Some(v), EngineKind::Vllm) => Some(engine::VllmVersion::parse(v)?),
        _ => None,
    };
    // Terms that move this answer, in words for the output.
    let mut terms: Vec<String> = Vec::new();
    let parallel = match family {
        _ if tp_degree == 1 => Parallel::None,
        EngineFamily::LlamaCpp => {
            terms.push(format!(
                "llama.cpp layer split over {tp_degree} GPUs: layers run one GPU after another"
            ));
            Parallel::Layers { gpus: tp_degree }
        }
        EngineFamily::Vllm => {
            let (all_reduce, why) = physics::vllm_all_reduce(
                tp_degree,
                nvlink,
                &device,
                e.disable_custom_all_reduce.unwrap_or(false),
            );
            let mut latency_s = physics::all_reduce_latency_s(all_reduce, nvlink);
            let eager = e.enforce_eager.unwrap_or(false);
            if eager {
                latency_s += physics::VLLM_EAGER_COLLECTIVE_S;
            }
            terms.push(format!(
                "TP={tp_degree}: {why}, {:.0} µs per all-reduce{}, 2 per layer",
                latency_s * 1e6,
                if eager {
                    " (launched one by one in eager mode)"
                } else {
                    ""
                }
            ));
            Parallel::Tensor {
                degree: tp_degree,
                all_reduce,
                latency_s,
                link_bytes_per_s: if nvlink {
                    device.nvlink_gb_s.unwrap_or(0.0) * 1e9
                } else {
                    device.pcie_gb_s() * 1e9
                },
            }
        }
    };

    // Cost coefficients: a measured step model when the profile was measured for this model on
    // this hardware; otherwise its efficiencies against this datasheet (a projection); without
    // a profile, the prior fitted from published measurements for this engine, GPU generation
    // and format.
    let cal = &raw.calibration;
    let mut measured: Option<MeasuredStep> = None;
    let mut cost_uncertainty = std::collections::BTreeMap::new();
    let mut prior_used = None;
    let prior_key = PriorKey {
        family,
        arch: device.arch(),
        format: FormatFamily::of(weight_dtype),
        moe: model.moe.is_some(),
    };
    let (mut coefficients, mut cost_source) = match &cal.profile {
        Some(p) => {
            let profile = Profile::load(&base.join(p))?;
            // A profile measures one engine: its step model and its efficiencies are that
            // engine's scheduler and kernels, not another's.
            if let Some(measured) = profile.measured_on.engine.as_deref() {
                if EngineKind::parse(measured).is_some_and(|m| m != kind) {
                    return Err(InputError::new(
                        "calibration.profile",
                        format!(
                            "profile '{}' was measured on {measured}, and this scenario's engine is {}: a profile's step model and efficiencies belong to the engine it measured; calibrate against a {} server, or leave the profile out for the prior fitted for {}",
                            profile.name,
                            kind.name(),
                            kind.name(),
                            kind.name()
                        ),
                    ));
                }
            }
            let prov = &profile.provenance;
            let mut words = format!("profile '{}' ({}", profile.name, prov.kind);
            for part in [&prov.server, &prov.server_version, &prov.date]
                .into_iter()
                .flatten()
            {
                words.push_str(", ");
                words.push_str(part);
            }
            words.push(')');
            let on = &profile.measured_on;
            // The model measured is this one when its recorded shape matches; a profile with
            // no shape recorded goes by the model's name.
            let same_model = match &on.shape {
                Some(shape) => *shape == model.identity(weight_dtype, kv_dtype),
                None => on.model.as_deref().is_none_or(|m| m == model.name),
            };
            let same_hw = on.hardware.as_deref().is_none_or(|h| h == device.name);
            // Measured without a scenario: neither shape nor hardware is known, and nothing can
            // be projected; the step model is used as measured, and the cost model says so.
            let unknown = on.shape.is_none() && on.hardware.is_none();
            match (&profile.step, profile.coefficients()) {
                (Some(step), c) if (same_model && same_hw) || c.is_none() => {
                    if unknown && !same_model {
                        words.push_str(&format!(
                            ", measured on a server that served '{}' (no model shape recorded: calibrate with --scenario to check it is this model)",
                            on.model.as_deref().unwrap_or("?")
                        ));
                    } else if !(same_model && same_hw) {
                        return Err(InputError::new(
                            "calibration.profile",
                            format!(
                                "profile '{}' was measured for {} on {} and has no efficiencies to move to {} on {}; calibrate with --scenario, or use this scenario's model and hardware",
                                profile.name,
                                on.model.as_deref().unwrap_or("?"),
                                on.hardware.as_deref().unwrap_or("?"),
                                model.name,
                                device.name
                            ),
                        ));
                    }
                    measured = Some(step.clone());
                    cost_uncertainty = profile.step_stderr.clone();
                    let c = c.unwrap_or_else(Coefficients::datasheet_defaults);
                    let noise = match (step.step_cv, step.stalls) {
                        (Some(cv), Some(st)) if st.fraction > 0.0 => format!(
                            " (step noise cv {cv:.2}; {:.1}% of steps stall {:.1} ms on average, measured)",
                            st.fraction * 100.0,
                            st.mean_ms
                        ),
                        (Some(cv), _) => format!(" (step noise cv {cv:.2}, measured)"),
                        _ => String::new(),
                    };
                    let idle = match step.idle_wakeup {
                        Some(w) if w.seen() => format!(
                            "; a request to a server idle {:.0} / {:.0} ms reaches it {:.1} / {:.1} ms later (measured)",
                            w.after_ms[0], w.after_ms[1], w.extra_ms[0], w.extra_ms[1]
                        ),
                        _ => String::new(),
                    };
                    (c, format!("{words}, measured step model{noise}{idle}"))
                }
                (_, Some(c)) => {
                    if !same_hw || !same_model {
                        words.push_str(&format!(
                            ", efficiencies projected from {} on {} to {} on {}",
                            on.model.as_deref().unwrap_or("?"),
                            on.hardware.as_deref().unwrap_or("?"),
                            model.name,
                            device.name
                        ));
                    }
                    (c, words)
                }
                _ => unreachable!("Profile::parse requires coefficients or step"),
            }
        }
        None => {
            let prior = PriorTable::shipped().lookup(&prior_key).ok_or_else(|| {
                InputError::new(
                    "calibration",
                    "the shipped prior table has no group for this engine and GPU",
                )
            })?;
            // One GPU's rows cannot say how another GPU differs: the fit adds the between-GPU
            // scatter other groups measured (`study::priors`), and the line says so.
            let pooled = if prior.gpus.len() < 2 {
                ", with the scatter between GPUs measured in other groups"
            } else {
                ""
            };
            let words = format!(
                "datasheet projection with the prior for {} ({} corpus rows on {} GPU(s); spread ±{:.0}% bandwidth, ±{:.0}% compute{pooled})",
                prior.label(),
                prior.rows,
                prior.gpus.len(),
                prior.bw_spread * 100.0,
                prior.flops_spread * 100.0
            );
            let c = prior.coefficients();
            prior_used = Some(prior);
            (c, words)
        }
    };
    // A profile of efficiencies only (a datasheet or a projection) records no API-server cost:
    // the engine's prior supplies it, as it does without a profile.
    let prior_request_s = prior_used
        .as_ref()
        .map(|p| p.request_ms)
        .or_else(|| {
            PriorTable::shipped()
                .lookup(&prior_key)
                .map(|p| p.request_ms)
        })
        .map_or(0.0, |ms| ms / 1e3);
    let mut overridden = Vec::new();
    for (name, v, slot, scale) in [
        (
            "overhead_ms",
            cal.overhead_ms,
            &mut coefficients.overhead_s,
            1e-3,
        ),
        (
            "per_layer_ms",
            cal.per_layer_ms,
            &mut coefficients.per_layer_s,
            1e-3,
        ),
        (
            "per_seq_ms",
            cal.per_seq_ms,
            &mut coefficients.per_seq_s,
            1e-3,
        ),
        (
            "bw_efficiency",
            cal.bw_efficiency,
            &mut coefficients.bw_efficiency,
            1.0,
        ),
        (
            "flops_efficiency",
            cal.flops_efficiency,
            &mut coefficients.flops_efficiency,
            1.0,
        ),
    ] {
        if let Some(v) = v {
            *slot = v * scale;
            overridden.push(format!("{name}={v}"));
        }
    }
    if !overridden.is_empty() {
        if measured.take().is_some() {
            cost_uncertainty.clear();
            cost_source.push_str("; the scenario's coefficients replace the measured step model with the datasheet roofline");
        }
        prior_used = None;
        cost_source = format!("{cost_source}; set in scenario: {}", overridden.join(", "));
    }
    if e.enforce_eager.unwrap_or(false) {
        coefficients.per_layer_s += physics::VLLM_EAGER_LAUNCH_PER_LAYER_S;
        terms.push(format!(
            "enforce_eager: no CUDA graphs, +{:.0} µs of launches per layer per step ({:.2} ms for {} layers)",
            physics::VLLM_EAGER_LAUNCH_PER_LAYER_S * 1e6,
            physics::VLLM_EAGER_LAUNCH_PER_LAYER_S * 1e3 * model.layers as f64,
            model.layers
        ));
    }
    coefficients.validate()?;
    let api_server = e.api_server.unwrap_or(true);
    let frontend = if measured.is_some() || !api_server {
        // A measured step model already holds its server's costs; offline runs have none.
        Frontend::NONE
    } else {
        let in_process = version.is_some_and(|v| v.frontend_in_process());
        let token_s = match family {
            EngineFamily::Vllm => physics::VLLM_FRONTEND_TOKEN_S,
            EngineFamily::LlamaCpp => physics::LLAMACPP_FRONTEND_TOKEN_S,
        };
        let request_s = match cal.request_ms {
            Some(ms) if ms.is_finite() && ms >= 0.0 => ms / 1e3,
            Some(ms) => {
                return Err(InputError::new(
                    "calibration.request_ms",
                    format!("must be a non-negative number (got {ms})"),
                ))
            }
            None => prior_request_s,
        };
        terms.push(format!(
            "API server: {:.1} ms per request, {:.0} µs per streamed token{}",
            request_s * 1e3,
            token_s * 1e6,
            if in_process {
                " in the engine's process (vLLM < 0.6)"
            } else {
                ", overlapped"
            }
        ));
        Frontend {
            request_s,
            token_s,
            in_process,
        }
    };
    let async_scheduling = e.async_scheduling.unwrap_or(false);
    if async_scheduling {
        terms.push("async scheduling: the scheduler's CPU work overlaps the GPU step".into());
    }
    let flash_attn = e.flash_attn.unwrap_or(true);
    if !flash_attn {
        terms.push("flash attention off: attention scores written and read back".into());
    }
    let physics = Physics {
        family,
        parallel,
        frontend,
        async_scheduling,
        flash_attn,
    };
    let mut cost = CostModel::new(
        &model,
        weight_dtype,
        kv_dtype,
        &device,
        coefficients,
        physics,
    );
    if measured.is_none() {
        terms.insert(
            0,
            format!("{} weights: {}", weight_dtype.name(), cost.kernel.name),
        );
    }
    if let Some(v) = version {
        let sched = v.scheduler();
        terms.push(format!(
            "vLLM {v}: {} scheduler and that version's defaults",
            match sched {
                crate::engine::vllm::Scheduler::V0 => "V0 (prefill-first steps)",
                crate::engine::vllm::Scheduler::V1 => "V1",
            }
        ));
    }
    // Whether the API server's work takes the engine's time: the scenario says, or the
    // calibration measured it.
    let api_server_engine_share = match (
        e.api_server_shares_cores,
        measured.as_ref().and_then(|m| m.api_server_engine_share),
    ) {
        (Some(set), _) => {
            if set.0 > 0.0 {
                terms.push(format!("engine.api_server_shares_cores: {:.0}% of each request's latency is API-server work that also takes the engine's time", set.0 * 100.0));
            }
            set.0
        }
        (None, Some(share)) if share > 0.0 => {
            terms.push(format!("the API server shares the engine's cores (measured by calibration): {:.0}% of each request's latency is its work, which also takes the engine's time", share * 100.0));
            share
        }
        (None, _) => 0.0,
    };
    if !terms.is_empty() {
        cost_source = format!("{cost_source}; {}", terms.join("; "));
    }
    if let Some(step) = measured {
        cost = cost.with_measured(step);
    }
    let memory = Bytes(device.memory().0 * tp_degree as f64);

    // Engine.
    let engine = engine::resolve_engine(&raw, &model, &device, memory, &cost)?;

    // Cluster.
    let replicas = raw.cluster.replicas.unwrap_or(1);
    if replicas == 0 || replicas > 65_535 {
        return Err(InputError::new(
            "cluster.replicas",
            format!("must be 1..65535 (got {replicas})"),
        ));
    }
    let router = raw.cluster.router.unwrap_or(RouterKind::LeastOutstanding);

    let mut workload = workload::resolve_workload(&raw.workload, base)?;
    let mut notes = Vec::new();
    // The default max_model_len is the model's; where that does not fit the KV cache, vLLM
    // refuses to start ("To serve at least one request with the models's max seq len …",
    // vllm/v1/core/kv_cache_utils.py `check_enough_kv_cache_memory`) and capsim simulates the
    // launch that would work, saying so.
    if let (EngineSpec::Vllm { config, flavor }, None, Some(model_max)) = (
        &engine,
        raw.engine.max_model_len,
        model.max_position_embeddings,
    ) {
        if config.max_model_len < model_max {
            notes.push(format!(
                "engine.max_model_len is not set and the model's {model_max} tokens do not fit the KV cache ({} tokens){}: simulated as launched with --max-model-len {}; set engine.max_model_len to the value you launch with",
                config.kv_capacity_tokens,
                if flavor == "vllm" { ", so vLLM would refuse to start with its default" } else { "" },
                config.max_model_len
            ));
        }
    }
    for w in workload.all_classes() {
        if let Arrival::Closed { users, turns, .. } = w.arrival {
            let tasks = w.num_requests.div_ceil(turns.max(1) as u64);
            if users as u64 > tasks {
                notes.push(format!(
                    "{} {users} users but {} requests: only {tasks} users ever send, so this measures {tasks} at once, not {users} (raise num_requests to at least a few per user)",
                    if w.name == "main" { "workload:".to_string() } else { format!("class {}:", w.name) },
                    w.num_requests
                ));
            }
        }
    }
    engine::check_request_fits(&engine, &workload)?;
    let endpoint = endpoint::resolve_endpoint(&raw.endpoint)?;
    // The shared prefix belongs to the workload; [endpoint] may still name it.
    if endpoint.shared_prefix_tokens > 0 {
        if raw.workload.shared_prefix_tokens.is_some() {
            return Err(InputError::new(
                "endpoint.shared_prefix_tokens",
                "is also set as workload.shared_prefix_tokens: keep one",
            ));
        }
        workload.shared_prefix = endpoint.shared_prefix_tokens;
        if let serde_json::Value::Object(t) = &mut workload_table {
            t.insert(
                "shared_prefix_tokens".into(),
                endpoint.shared_prefix_tokens.into(),
            );
        }
    }
    Ok(Spec {
        name,
        file: path.to_path_buf(),
        point,
        model,
        weight_dtype,
        kv_dtype,
        device,
        engine,
        cost,
        cost_source,
        cost_uncertainty,
        replicas,
        router,
        workload,
        workload_table,
        endpoint,
        noise_seed: None,
        prior: prior_used,
        enforce_eager: e.enforce_eager.unwrap_or(false),
        api_server_engine_share,
        notes,
    })
}
