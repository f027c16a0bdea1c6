//! Scenario files: read, override, expand sweeps, fill defaults, check, and build what the
//! simulation needs. Every problem is an [`InputError`] naming the file, the key and what is
//! wrong; nothing here panics on user input.

pub mod capacity;
pub mod file;
pub mod overrides;

pub use overrides::{parse_set, Override};

use crate::cost::{Coefficients, CostModel, MeasuredStep, Profile, TensorParallel};
use crate::engine::llamacpp::{LlamaCppConfig, LlamaCppEngine};
use crate::engine::vllm::{self, VllmConfig, VllmEngine};
use crate::engine::{Admission, Engine};
use crate::error::{InputError, InputResult};
use crate::hardware::{self, Device};
use crate::metrics::{self, RequestRecord, RunFacts, Summary};
use crate::model::{Dtype, ModelShape};
use crate::sim::{self, RouterKind, SimOutput};
use crate::units::{Bytes, Nanos};
use crate::workload::{trace, Arrival, ArrivalProcess, Dist, LengthDist, Workload};
use file::ScenarioFile;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
pub struct Scenario {
    pub name: String,
    pub file: PathBuf,
    /// The swept keys and values of this point (empty without a sweep).
    pub point: serde_json::Map<String, serde_json::Value>,
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
}

/// One point's simulated results.
pub struct PointResult {
    pub summary: Summary,
    pub records: Vec<RequestRecord>,
    pub sim: SimOutput,
}

impl Scenario {
    /// A fresh engine per replica.
    pub fn engines(&self) -> Vec<Box<dyn Engine>> {
        self.engines_with(&self.cost)
    }

    /// A fresh engine per replica, stepping with `cost`.
    fn engines_with(&self, cost: &CostModel) -> Vec<Box<dyn Engine>> {
        (0..self.replicas)
            .map(|_| -> Box<dyn Engine> {
                match &self.engine {
                    EngineSpec::Vllm { config, .. } => {
                        Box::new(VllmEngine::new(config.clone(), cost.clone()))
                    }
                    EngineSpec::LlamaCpp(cfg) => {
                        Box::new(LlamaCppEngine::new(cfg.clone(), cost.clone()))
                    }
                }
            })
            .collect()
    }

    /// Simulates this point; with calibration uncertainty, also at parameter draws, giving the
    /// summary a `band`.
    pub fn simulate(&self) -> PointResult {
        let mut result = self.simulate_with(&self.cost);
        if let Some(step) = self
            .cost
            .measured
            .as_ref()
            .filter(|_| !self.cost_uncertainty.is_empty())
        {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(self.workload.seed ^ BAND_STREAM);
            let draws: Vec<Summary> = (0..BAND_DRAWS)
                .map(|_| {
                    let cost = self
                        .cost
                        .clone()
                        .with_measured(step.draw(&self.cost_uncertainty, &mut rng));
                    self.simulate_with(&cost).summary
                })
                .collect();
            let mut band = Summary::band_of(&draws);
            // The band always contains the central prediction.
            for (field, range) in band.iter_mut() {
                if let Some(v) = result.summary.metric(field).filter(|v| v.is_finite()) {
                    range.low = range.low.min(v);
                    range.high = range.high.max(v);
                }
            }
            result.summary.band = Some(band);
        }
        result
    }

    fn simulate_with(&self, cost: &CostModel) -> PointResult {
        let engines = self.engines_with(cost);
        let mut out = sim::run(
            self.workload.clone(),
            engines,
            self.router,
            cost.request_latency(),
        );
        let records = std::mem::take(&mut out.records);
        let summary = metrics::summarize(
            self.point.clone(),
            "simulated",
            &records,
            &out.itl,
            RunFacts {
                mean_in_flight: out.mean_in_flight,
                preemptions: out.engine.preemptions,
                cost_model: Some(self.cost_source.clone()),
            },
        );
        PointResult {
            summary,
            records,
            sim: out,
        }
    }
}

impl Scenario {
    /// How long one task of class `class` (a session of all its turns, think time included)
    /// takes with nothing else running: one user, one task. None when the class has no multi-turn sessions.
    pub fn solo_task_s(&self, class: usize) -> Option<f64> {
        let w = self.workload.all_classes().nth(class)?;
        let Arrival::Closed {
            turns, ref think_s, ..
        } = w.arrival
        else {
            return None;
        };
        if turns < 2 {
            return None;
        }
        let mut solo = Workload {
            classes: Vec::new(),
            num_requests: turns as u64,
            ..w.clone()
        };
        solo.arrival = Arrival::Closed {
            users: 1,
            think_s: think_s.clone(),
            turns,
        };
        let cost = &self.cost;
        let out = sim::run(
            solo,
            self.engines_with(cost),
            self.router,
            cost.request_latency(),
        );
        crate::analysis::breakdown::tasks(&out.records)
            .first()
            .map(|t| t.mean_task_s)
    }
}

/// Parameter draws behind a prediction band (8 draws: the band spans their min and max).
const BAND_DRAWS: usize = 8;
const BAND_STREAM: u64 = 0x6261_6e64_0000_0000;

/// Reads a scenario file, applies `--set` overrides, and resolves every sweep point.
pub fn load(path: &Path, sets: &[Override]) -> InputResult<Vec<Scenario>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| InputError::new("", format!("cannot read the scenario: {e}")).in_file(path))?;
    from_str(&text, path, sets)
}

/// Like [`load`], from text; `path` names the file in errors and anchors relative paths.
pub fn from_str(text: &str, path: &Path, sets: &[Override]) -> InputResult<Vec<Scenario>> {
    let mut doc: toml::Table =
        toml::from_str(text).map_err(|e| toml_syntax_error(&e, text).in_file(path))?;
    for ov in sets {
        overrides::apply(&mut doc, ov).map_err(|e| e.in_file(path))?;
    }
    let points = overrides::expand_sweep(doc).map_err(|e| e.in_file(path))?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let many = points.len() > 1;
    points
        .into_iter()
        .map(|p| {
            let mut point = serde_json::Map::new();
            for (k, v) in &p.point {
                point.insert(k.clone(), toml_to_json(v));
            }
            resolve(p.doc, point.clone(), path, &base).map_err(|mut e| {
                if many {
                    let at: Vec<String> = p.point.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    e.problem = format!("{} (at sweep point {})", e.problem, at.join(", "));
                }
                e.in_file(path)
            })
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

/// TOML value → JSON value (for the `point` of a summary).
pub fn toml_to_json(v: &toml::Value) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

fn resolve(
    doc: toml::Table,
    point: serde_json::Map<String, serde_json::Value>,
    path: &Path,
    base: &Path,
) -> InputResult<Scenario> {
    let workload_table = doc.get("workload").map(toml_to_json).unwrap_or_default();
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
    let model = match (&raw.model.preset, &raw.model.config) {
        (Some(p), None) => ModelShape::preset(p)?,
        (None, Some(c)) => ModelShape::from_config_file(&base.join(c))?,
        (Some(_), Some(_)) => {
            return Err(InputError::new(
                "model",
                "give either 'preset' or 'config', not both",
            ))
        }
        (None, None) => {
            return Err(InputError::new(
                "model",
                format!(
                    "needs 'preset' (one of {}) or 'config' (a HF config.json path)",
                    crate::model::preset_names().join(", ")
                ),
            ))
        }
    };
    let dtype = |key: &str, v: &Option<String>| -> InputResult<Dtype> {
        match v {
            None => Ok(Dtype::Bf16),
            Some(s) => Dtype::parse(s).ok_or_else(|| {
                InputError::new(
                    key,
                    format!("unknown format '{s}' (expected {})", Dtype::NAMES),
                )
            }),
        }
    };
    let weight_dtype = dtype("model.weight_dtype", &raw.model.weight_dtype)?;
    let kv_dtype = dtype("model.kv_dtype", &raw.model.kv_dtype)?;

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
    let interconnect = hw.interconnect.as_deref().unwrap_or("pcie");
    if !matches!(interconnect, "pcie" | "nvlink") {
        return Err(InputError::new(
            "hardware.interconnect",
            format!("unknown interconnect '{interconnect}' (expected pcie or nvlink)"),
        ));
    }
    let tp = match interconnect {
        _ if tp_degree == 1 => TensorParallel::NONE,
        "nvlink" => {
            let nv = device.nvlink_gb_s.ok_or_else(|| {
                InputError::new(
                    "hardware.interconnect",
                    format!(
                        "{} has no NVLink; use \"pcie\" or set hardware.nvlink_gb_s",
                        device.name
                    ),
                )
            })?;
            TensorParallel {
                degree: tp_degree,
                link_bytes_per_s: nv * 1e9,
                latency_s: TensorParallel::NVLINK_LATENCY_S,
            }
        }
        _ => TensorParallel {
            degree: tp_degree,
            link_bytes_per_s: device.pcie_gb_s() * 1e9,
            latency_s: TensorParallel::PCIE_LATENCY_S,
        },
    };

    // Cost coefficients: a measured step model when the profile was measured for this model on
    // this hardware; otherwise its efficiencies against this datasheet (a projection).
    let cal = &raw.calibration;
    let mut measured: Option<MeasuredStep> = None;
    let mut cost_uncertainty = std::collections::BTreeMap::new();
    let (mut coefficients, mut cost_source) = match &cal.profile {
        Some(p) => {
            let profile = Profile::load(&base.join(p))?;
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
            let same_model = on.model.as_deref().is_none_or(|m| m == model.name);
            let same_hw = on.hardware.as_deref().is_none_or(|h| h == device.name);
            match (&profile.step, profile.coefficients()) {
                (Some(step), c) if (same_model && same_hw) || c.is_none() => {
                    if !(same_model && same_hw) {
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
                    (c, format!("{words}, measured step model"))
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
        None => (
            Coefficients::datasheet_defaults(),
            "datasheet projection (default efficiencies, no calibration profile)".to_string(),
        ),
    };
    let mut overridden = Vec::new();
    for (name, v, slot, scale) in [
        (
            "overhead_ms",
            cal.overhead_ms,
            &mut coefficients.overhead_s,
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
        cost_source = format!("{cost_source}; set in scenario: {}", overridden.join(", "));
    }
    coefficients.validate()?;
    let mut cost = CostModel::new(
        &model,
        weight_dtype,
        kv_dtype,
        &device,
        coefficients,
        tp.clone(),
    );
    if let Some(step) = measured {
        cost = cost.with_measured(step);
    }
    let memory = Bytes(device.memory().0 * tp_degree as f64);

    // Engine.
    let workload_lengths = workload_length_bounds(&raw, base)?;
    let engine = resolve_engine(&raw, &model, &device, memory, &cost, &workload_lengths)?;

    // Cluster.
    let replicas = raw.cluster.replicas.unwrap_or(1);
    if replicas == 0 || replicas > 65_535 {
        return Err(InputError::new(
            "cluster.replicas",
            format!("must be 1..65535 (got {replicas})"),
        ));
    }
    let router_name = raw.cluster.router.as_deref().unwrap_or("least-outstanding");
    let router = RouterKind::parse(router_name).ok_or_else(|| {
        InputError::new(
            "cluster.router",
            format!(
                "unknown router '{router_name}' (expected {})",
                RouterKind::NAMES
            ),
        )
    })?;

    let workload = resolve_workload(&raw, base, workload_lengths)?;
    let endpoint = resolve_endpoint(&raw.endpoint)?;
    Ok(Scenario {
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
    })
}

fn resolve_endpoint(e: &file::EndpointSection) -> InputResult<EndpointSpec> {
    let api = match e.api.as_deref().unwrap_or("completions") {
        "completions" => Api::Completions,
        "chat" => Api::Chat,
        other => {
            return Err(InputError::new(
                "endpoint.api",
                format!("unknown api '{other}' (expected completions or chat)"),
            ))
        }
    };
    let extra = match &e.extra {
        None => serde_json::Map::new(),
        Some(t) => match toml_to_json(&toml::Value::Table(t.clone())) {
            serde_json::Value::Object(m) => m,
            _ => {
                return Err(InputError::new(
                    "endpoint.extra",
                    "must be a table of JSON fields",
                ))
            }
        },
    };
    for reserved in ["prompt", "messages", "stream", "max_tokens"] {
        if extra.contains_key(reserved) {
            return Err(InputError::new(
                format!("endpoint.extra.{reserved}"),
                "is set by capsim from the workload; remove it",
            ));
        }
    }
    Ok(EndpointSpec {
        api,
        model: e.model.clone(),
        extra,
        ignore_eos: e.ignore_eos.unwrap_or(true),
        warmup_requests: e.warmup_requests.unwrap_or(1),
        shared_prefix_tokens: e.shared_prefix_tokens.unwrap_or(0),
    })
}

/// Input and output length distributions (absent for traces, which carry their own).
struct Lengths {
    input: Option<LengthDist>,
    output: Option<LengthDist>,
}

fn workload_length_bounds(raw: &ScenarioFile, base: &Path) -> InputResult<Lengths> {
    let w = &raw.workload;
    let parse = |v: &Option<toml::Value>, key: &str| {
        v.as_ref()
            .map(|v| LengthDist::from_toml(v, key, base))
            .transpose()
    };
    Ok(Lengths {
        input: parse(&w.input_tokens, "workload.input_tokens")?,
        output: parse(&w.output_tokens, "workload.output_tokens")?,
    })
}

fn positive_u32(v: Option<u32>, default: u32, key: &str) -> InputResult<u32> {
    let v = v.unwrap_or(default);
    if v == 0 {
        return Err(InputError::new(key, "must be at least 1"));
    }
    Ok(v)
}

fn resolve_engine(
    raw: &ScenarioFile,
    model: &ModelShape,
    device: &Device,
    memory: Bytes,
    cost: &CostModel,
    lengths: &Lengths,
) -> InputResult<EngineSpec> {
    let e = &raw.engine;
    let kind = e.kind.as_deref().unwrap_or("vllm");
    let fp = &cost.footprint;
    // Lengths every request has (the smallest one a distribution can draw is 1 token).
    let fixed = |d: &Option<LengthDist>| {
        d.as_ref()
            .filter(|d| d.0.is_fixed())
            .map(|d| d.upper_bound() as u64)
    };
    let (fixed_input, fixed_output) = (fixed(&lengths.input), fixed(&lengths.output));
    let not_for = |present: bool, key: &str, other: &str| -> InputResult<()> {
        if present {
            Err(InputError::new(
                format!("engine.{key}"),
                format!("applies to {other} engines, not '{kind}'"),
            ))
        } else {
            Ok(())
        }
    };
    if e.max_queue == Some(0) {
        return Err(InputError::new(
            "engine.max_queue",
            "must be at least 1 (leave it out for an unbounded queue)",
        ));
    }
    let max_queue = e.max_queue;
    match kind {
        "vllm" | "sglang" | "tgi" => {
            for (present, key) in [
                (e.cache_prompt.is_some(), "cache_prompt"),
                (e.parallel.is_some(), "parallel"),
                (e.ctx_size.is_some(), "ctx_size"),
                (e.n_batch.is_some(), "n_batch"),
                (e.n_ubatch.is_some(), "n_ubatch"),
            ] {
                not_for(present, key, "llamacpp")?;
            }
            // Defaults per flavor: vLLM v1 (vllm/engine/arg_utils.py, OpenAI server, v0.8-0.11):
            // 256 seqs / 2048 tokens, or 1024 / 8192 on >= 70 GiB GPUs other than A100.
            // SGLang: chunked_prefill_size 8192, mem_fraction_static 0.88, page size 1.
            // TGI: max_batch_prefill_tokens 4096, max_concurrent_requests 128.
            let big = device.memory_gib >= 70.0 && !device.name.starts_with("a100");
            let (seqs, tokens, util, block) = match kind {
                "sglang" => (1024, 8192, 0.88, 1),
                "tgi" => (128, 4096, 0.9, 16),
                _ if big => (1024, 8192, 0.9, 16),
                _ => (256, 2048, 0.9, 16),
            };
            let max_num_seqs = positive_u32(e.max_num_seqs, seqs, "engine.max_num_seqs")?;
            let budget = positive_u32(
                e.max_num_batched_tokens,
                tokens,
                "engine.max_num_batched_tokens",
            )?;
            if budget < max_num_seqs {
                return Err(InputError::new(
                    "engine.max_num_batched_tokens",
                    format!("({budget}) must be at least max_num_seqs ({max_num_seqs}), as vLLM requires"),
                ));
            }
            let util = e.gpu_memory_utilization.unwrap_or(util);
            if !(util > 0.0 && util <= 1.0) {
                return Err(InputError::new(
                    "engine.gpu_memory_utilization",
                    format!("must be in (0, 1] (got {util})"),
                ));
            }
            let block_size = positive_u32(e.block_size, block, "engine.block_size")?;
            let reserve = vllm::activation_reserve(
                budget,
                max_num_seqs,
                model.hidden,
                model.intermediate,
                model.vocab,
            );
            let usable = memory.0 * util;
            if fp.weights_resident.0 + reserve.0 >= usable {
                return Err(InputError::new(
                    "hardware",
                    format!(
                        "the model does not fit: {} weights {:.1} GiB + activations {:.1} GiB exceed {:.1} GiB usable ({} x {:.1} GiB x gpu_memory_utilization {util}); use more gpus_per_replica, a bigger GPU or a smaller weight_dtype",
                        model.name,
                        fp.weights_resident.gib(),
                        reserve.gib(),
                        usable / Bytes::GIB,
                        memory.0 / device.memory().0,
                        device.memory_gib
                    ),
                ));
            }
            let kv_capacity = match e.kv_cache_tokens {
                Some(0) => {
                    return Err(InputError::new(
                        "engine.kv_cache_tokens",
                        "must be at least 1",
                    ))
                }
                Some(t) => t,
                None => vllm::kv_capacity_tokens(
                    memory,
                    util,
                    fp.weights_resident,
                    reserve,
                    fp.kv_per_token,
                )
                .max(0) as u64,
            };
            let model_max = model.max_position_embeddings.unwrap_or(u32::MAX);
            let kv_room = kv_capacity
                .saturating_sub(block_size as u64)
                .min(u32::MAX as u64) as u32;
            let max_model_len = match e.max_model_len {
                Some(0) => {
                    return Err(InputError::new(
                        "engine.max_model_len",
                        "must be at least 1",
                    ))
                }
                Some(len) => {
                    if len > model_max {
                        return Err(InputError::new(
                            "engine.max_model_len",
                            format!(
                                "{len} exceeds the model's max_position_embeddings ({model_max})"
                            ),
                        ));
                    }
                    if len > kv_room {
                        return Err(InputError::new(
                            "engine.max_model_len",
                            format!("{len} tokens do not fit the KV cache ({kv_capacity} tokens at {:.0} KiB/token); lower it or add memory", fp.kv_per_token.0 / 1024.0),
                        ));
                    }
                    len
                }
                None => model_max.min(kv_room),
            };
            if max_model_len == 0 {
                return Err(InputError::new(
                    "hardware",
                    "no room is left for the KV cache after the weights",
                ));
            }
            let chunked = e.enable_chunked_prefill.unwrap_or(true);
            if !chunked && budget < max_model_len {
                return Err(InputError::new(
                    "engine.max_num_batched_tokens",
                    format!("({budget}) must be at least max_model_len ({max_model_len}) when chunked prefill is off"),
                ));
            }
            if let Some(i) = fixed_input {
                let o = fixed_output.unwrap_or(1);
                if i + o > max_model_len as u64 {
                    return Err(InputError::new(
                        "engine.max_model_len",
                        format!("({max_model_len}) is below the request length (input {i} + output {o} = {} tokens)", i + o),
                    ));
                }
            }
            Ok(EngineSpec::Vllm {
                config: VllmConfig {
                    max_num_seqs,
                    max_num_batched_tokens: budget,
                    max_model_len,
                    chunked_prefill: chunked,
                    kv_capacity_tokens: kv_capacity,
                    block_size,
                    admission: Admission {
                        prefix_caching: e.enable_prefix_caching.unwrap_or(true),
                        max_queue,
                    },
                },
                flavor: kind.to_string(),
            })
        }
        "llamacpp" | "llama.cpp" | "llama-server" => {
            for (present, key) in [
                (e.enable_prefix_caching.is_some(), "enable_prefix_caching"),
                (e.max_num_seqs.is_some(), "max_num_seqs"),
                (e.max_num_batched_tokens.is_some(), "max_num_batched_tokens"),
                (e.max_model_len.is_some(), "max_model_len"),
                (e.gpu_memory_utilization.is_some(), "gpu_memory_utilization"),
                (e.enable_chunked_prefill.is_some(), "enable_chunked_prefill"),
                (e.block_size.is_some(), "block_size"),
                (e.kv_cache_tokens.is_some(), "kv_cache_tokens"),
            ] {
                not_for(present, key, "vllm, sglang and tgi")?;
            }
            // llama-server's classic defaults: -np 1, -c 4096, -b 2048, -ub 512.
            let parallel = positive_u32(e.parallel, 1, "engine.parallel")?;
            let ctx_size = positive_u32(e.ctx_size, 4096, "engine.ctx_size")?;
            let n_batch = positive_u32(e.n_batch, 2048, "engine.n_batch")?;
            let n_ubatch = positive_u32(e.n_ubatch, 512, "engine.n_ubatch")?;
            if (ctx_size as u64) < parallel as u64 * 2 {
                return Err(InputError::new(
                    "engine.ctx_size",
                    format!("({ctx_size}) leaves less than 2 tokens per slot for {parallel} slots"),
                ));
            }
            if n_ubatch > n_batch {
                return Err(InputError::new(
                    "engine.n_ubatch",
                    format!("({n_ubatch}) must not exceed n_batch ({n_batch})"),
                ));
            }
            let kv = fp.kv_per_token.0 * ctx_size as f64;
            if fp.weights_resident.0 + kv > memory.0 {
                return Err(InputError::new(
                    "hardware",
                    format!(
                        "the model does not fit: {} weights {:.1} GiB + KV cache for ctx_size {ctx_size} {:.1} GiB exceed {:.1} GiB",
                        model.name,
                        fp.weights_resident.gib(),
                        kv / Bytes::GIB,
                        memory.gib()
                    ),
                ));
            }
            let cfg = LlamaCppConfig {
                parallel,
                ctx_size,
                n_batch,
                n_ubatch,
                admission: Admission {
                    prefix_caching: e.cache_prompt.unwrap_or(true),
                    max_queue,
                },
            };
            if let Some(i) = fixed_input {
                if i >= cfg.slot_context() as u64 {
                    return Err(InputError::new(
                        "engine.ctx_size",
                        format!("each of {parallel} slots holds {} tokens, below the {i}-token prompt (llama-server would answer HTTP 400)", cfg.slot_context()),
                    ));
                }
            }
            Ok(EngineSpec::LlamaCpp(cfg))
        }
        other => Err(InputError::new(
            "engine.kind",
            format!("unknown engine '{other}' (expected vllm, llamacpp, sglang or tgi)"),
        )),
    }
}

fn resolve_workload(raw: &ScenarioFile, base: &Path, lengths: Lengths) -> InputResult<Workload> {
    let mut main = resolve_section(&raw.workload, "workload", base, lengths)?;
    main.name = raw.workload.name.clone().unwrap_or_else(|| "main".into());
    for (i, class) in raw.workload.class.iter().flatten().enumerate() {
        let prefix = format!("workload.class[{i}]");
        if class.class.is_some() {
            return Err(InputError::new(
                format!("{prefix}.class"),
                "classes do not nest",
            ));
        }
        let parse = |v: &Option<toml::Value>, key: &str| {
            v.as_ref()
                .map(|v| LengthDist::from_toml(v, &format!("{prefix}.{key}"), base))
                .transpose()
        };
        let lengths = Lengths {
            input: parse(&class.input_tokens, "input_tokens")?,
            output: parse(&class.output_tokens, "output_tokens")?,
        };
        let mut w = resolve_section(class, &prefix, base, lengths)?;
        w.name = class
            .name
            .clone()
            .unwrap_or_else(|| format!("class{}", i + 1));
        if class.seed.is_none() {
            w.seed = main.seed.wrapping_add(i as u64 + 1);
        }
        main.classes.push(w);
    }
    let mut names: Vec<&str> = main.all_classes().map(|w| w.name.as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(InputError::new(
            "workload.class",
            format!("two classes are named '{}'", w[0]),
        ));
    }
    Ok(main)
}

/// One `[workload]` table (the main one or a class) → its workload; `prefix` names its keys.
fn resolve_section(
    w: &file::WorkloadSection,
    prefix: &str,
    base: &Path,
    lengths: Lengths,
) -> InputResult<Workload> {
    let arrival_name = w.arrival.as_deref().unwrap_or("closed");
    let positive = |v: Option<f64>, key: &str| -> InputResult<Option<f64>> {
        match v {
            Some(x) if !(x.is_finite() && x > 0.0) => Err(InputError::new(
                key,
                format!("must be a positive number (got {x})"),
            )),
            other => Ok(other),
        }
    };
    let rate = positive(w.rate, &format!("{prefix}.rate"))?;
    let burstiness = positive(w.burstiness, &format!("{prefix}.burstiness"))?.unwrap_or(1.0);
    let time_scale = positive(w.time_scale, &format!("{prefix}.time_scale"))?.unwrap_or(1.0);
    let token_scale = positive(w.token_scale, &format!("{prefix}.token_scale"))?.unwrap_or(1.0);
    let timeout = positive(w.timeout_s, &format!("{prefix}.timeout_s"))?.map(Nanos::from_secs_f64);
    if w.concurrency == Some(0) {
        return Err(InputError::new(
            format!("{prefix}.concurrency"),
            "must be at least 1",
        ));
    }
    if w.num_requests == Some(0) {
        return Err(InputError::new(
            format!("{prefix}.num_requests"),
            "must be at least 1",
        ));
    }
    let need_rate = || {
        rate.ok_or_else(|| {
            InputError::new(
                format!("{prefix}.rate"),
                format!("arrival = \"{arrival_name}\" needs a rate (requests/s)"),
            )
        })
    };
    let mut warnings = Vec::new();
    let arrival = match arrival_name {
        "closed" => {
            let users = w.concurrency.ok_or_else(|| {
                InputError::new(
                    format!("{prefix}.concurrency"),
                    "arrival = \"closed\" needs the number of users",
                )
            })?;
            let think_s = w
                .think_time_s
                .as_ref()
                .map(|v| Dist::from_toml(v, &format!("{prefix}.think_time_s"), base))
                .transpose()?;
            let turns = w.turns.unwrap_or(1);
            if turns == 0 {
                return Err(InputError::new(
                    format!("{prefix}.turns"),
                    "must be at least 1",
                ));
            }
            Arrival::Closed {
                users,
                think_s,
                turns,
            }
        }
        "swarm" => {
            // C agents at once, each one task of `turns` calls in a row (no think time).
            let users = w.concurrency.ok_or_else(|| {
                InputError::new(
                    format!("{prefix}.concurrency"),
                    "arrival = \"swarm\" needs the number of agents",
                )
            })?;
            if w.think_time_s.is_some() {
                return Err(InputError::new(
                    format!("{prefix}.think_time_s"),
                    "a swarm's agents do not think between calls; use arrival = \"closed\" with turns",
                ));
            }
            let turns = w.turns.unwrap_or(1).max(1);
            Arrival::Closed {
                users,
                think_s: None,
                turns,
            }
        }
        "poisson" => Arrival::Open {
            process: ArrivalProcess::poisson(need_rate()?),
            cap: w.concurrency,
        },
        "gamma" => Arrival::Open {
            process: ArrivalProcess::gamma(need_rate()?, burstiness),
            cap: w.concurrency,
        },
        "constant" => Arrival::Open {
            process: ArrivalProcess::constant(need_rate()?),
            cap: w.concurrency,
        },
        "trace" => {
            let file = w.trace.as_ref().ok_or_else(|| {
                InputError::new(format!("{prefix}.trace"), "arrival = \"trace\" needs a trace file")
            })?;
            let (rows, skipped) =
                trace::load_with(&base.join(file), w.skip_bad_rows.unwrap_or(false))?;
            if let Some((line, problem)) = skipped.first() {
                warnings.push(format!(
                    "{file}: skipped {} bad row(s) (first: line {line}: {problem})",
                    skipped.len()
                ));
            }
            Arrival::Trace {
                rows: Arc::new(rows),
                time_scale,
                token_scale,
                cap: w.concurrency,
            }
        }
        other => {
            return Err(InputError::new(
                format!("{prefix}.arrival"),
                format!(
                "unknown arrival '{other}' (expected closed, swarm, poisson, gamma, constant or trace)"
            ),
            ))
        }
    };
    let is_trace = matches!(arrival, Arrival::Trace { .. });
    let (input_tokens, output_tokens) = match (lengths.input, lengths.output) {
        (Some(i), Some(o)) => (i, o),
        (i, o) if is_trace => (
            i.unwrap_or(LengthDist::fixed(1)),
            o.unwrap_or(LengthDist::fixed(1)),
        ),
        (None, _) => {
            return Err(InputError::new(
                format!("{prefix}.input_tokens"),
                "is required (a number or a distribution)",
            ))
        }
        (_, None) => {
            return Err(InputError::new(
                format!("{prefix}.output_tokens"),
                "is required (a number or a distribution)",
            ))
        }
    };
    let num_requests = match (&arrival, w.num_requests) {
        (Arrival::Trace { rows, .. }, n) => n.unwrap_or(rows.len() as u64),
        (Arrival::Closed { users, turns, .. }, None) if arrival_name == "swarm" => {
            *users as u64 * *turns as u64
        }
        (_, Some(n)) => n,
        (_, None) => 1000,
    };
    if num_requests > 100_000_000 {
        return Err(InputError::new(
            format!("{prefix}.num_requests"),
            format!("{num_requests} is more than 100000000"),
        ));
    }
    if w.turns.is_some() && !matches!(arrival_name, "closed" | "swarm") {
        return Err(InputError::new(
            format!("{prefix}.turns"),
            format!("applies to closed-loop users and swarms, not arrival = \"{arrival_name}\""),
        ));
    }
    Ok(Workload {
        name: String::new(),
        classes: Vec::new(),
        warnings,
        arrival,
        num_requests,
        input_tokens,
        output_tokens,
        seed: w.seed.unwrap_or(0),
        timeout,
    })
}
