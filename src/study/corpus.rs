//! The published-measurement corpus (`data/corpus/published.csv`, as transcribed with its
//! sources) and how capsim reproduces each usable row (`data/corpus/capsim.csv`): a scenario
//! simulated by the same code as any other, and the summary field the row measured.
//!
//! Assumption: a row's setup is what its source states; where the source leaves a length or a
//! setting out, `capsim.csv` either says what was assumed (its `note`) or marks the row unused
//! with the reason. Rows capsim cannot represent (other engines, architectures it has no shape
//! for, GPUs outside its datasheet table, speculative decoding) are kept, marked unused.

use crate::cost::coefficients::{ProbeStep, Profile};
use crate::error::{InputError, InputResult};
use crate::metrics::{Metric, Range, Summary};
use crate::model::ModelShape;
use crate::spec::{self, Spec};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const PUBLISHED: &str = include_str!("../../data/corpus/published.csv");
const CAPSIM: &str = include_str!("../../data/corpus/capsim.csv");
const MEASURED: &str = include_str!("../../data/corpus/measured.csv");

/// The columns of `data/corpus/measured.csv`: rows capsim measured itself (`capsim priors
/// --add-profile`), each line a published row and its capsim.csv annotation in one.
pub const MEASURED_COLUMNS: [&str; 24] = [
    "id",
    "metric",
    "value",
    "gpu",
    "interconnect",
    "engine",
    "engine_version",
    "model",
    "quant",
    "batch_or_concurrency",
    "source_url",
    "source_date",
    "why_not",
    "preset",
    "gpus",
    "weight_dtype",
    "version",
    "concurrency",
    "requests",
    "prompt",
    "output",
    "offline",
    "measure",
    "note",
];

/// What a row measured, in the corpus' terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Single-stream decode tok/s.
    Decode,
    /// Prompt processing tok/s.
    Prefill,
    /// Output tok/s summed over concurrent requests.
    Aggregate,
    /// Time to first token, ms.
    Ttft,
}

impl Kind {
    fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "decode_tok_s_single" => Kind::Decode,
            "prefill_tok_s" => Kind::Prefill,
            "aggregate_tok_s" => Kind::Aggregate,
            "ttft_ms" => Kind::Ttft,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Decode => "single-stream decode tok/s",
            Kind::Prefill => "prefill tok/s",
            Kind::Aggregate => "aggregate tok/s",
            Kind::Ttft => "TTFT ms",
        }
    }

    pub const ALL: [Kind; 4] = [Kind::Decode, Kind::Prefill, Kind::Aggregate, Kind::Ttft];
}

/// Which summary field stands for the row's number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Measure {
    /// 1000 / mean TPOT (llama-bench tg, "decode speed").
    DecodeRate,
    /// Prompt tokens / mean TTFT (llama-bench pp: one request, no server).
    PrefillRate,
    /// Output tok/s of the run.
    OutputThroughput,
    MeanTtft,
    MedianTtft,
}

impl Measure {
    fn parse(s: &str) -> Option<Measure> {
        Some(match s {
            "decode_rate" => Measure::DecodeRate,
            "prefill_rate" => Measure::PrefillRate,
            "output_throughput" => Measure::OutputThroughput,
            "mean_ttft" => Measure::MeanTtft,
            "median_ttft" => Measure::MedianTtft,
            _ => return None,
        })
    }

    /// The value of this measure in a summary.
    pub fn of(self, s: &Summary, prompt: u32) -> f64 {
        match self {
            Measure::DecodeRate => 1000.0 / s.mean_tpot_ms,
            Measure::PrefillRate => prompt as f64 / (s.mean_ttft_ms / 1000.0),
            Measure::OutputThroughput => s.output_throughput,
            Measure::MeanTtft => s.mean_ttft_ms,
            Measure::MedianTtft => s.median_ttft_ms,
        }
    }

    /// Its band, from the band of the summary field it is computed from.
    pub fn band(self, s: &Summary, prompt: u32) -> Option<Range> {
        let b = s.band.as_ref()?;
        let r = |m: Metric| b.get(&m).copied();
        Some(match self {
            Measure::DecodeRate => {
                let t = r(Metric::MeanTpot)?;
                Range {
                    low: 1000.0 / t.high,
                    high: 1000.0 / t.low,
                }
            }
            Measure::PrefillRate => {
                let t = r(Metric::MeanTtft)?;
                Range {
                    low: prompt as f64 / (t.high / 1000.0),
                    high: prompt as f64 / (t.low / 1000.0),
                }
            }
            Measure::OutputThroughput => r(Metric::OutputThroughput)?,
            Measure::MeanTtft => r(Metric::MeanTtft)?,
            Measure::MedianTtft => r(Metric::MedianTtft)?,
        })
    }
}

/// One published measurement, with how capsim reproduces it (when it can).
#[derive(Clone, Debug)]
pub struct Row {
    pub id: String,
    pub kind: Kind,
    pub value: f64,
    /// The GPU as the corpus names it, and capsim's name for it.
    pub gpu: String,
    pub engine: String,
    pub engine_version: String,
    pub model: String,
    pub quant: String,
    pub concurrency: String,
    pub source_url: String,
    pub source_date: String,
    /// Measured by capsim itself (`measured.csv`), not published.
    pub by_capsim: bool,
    /// Why capsim leaves the row out of fits and checks; None = used.
    pub unused: Option<String>,
    /// For used rows: the scenario that reproduces it, and what to read from its summary.
    pub setup: Option<Setup>,
}

/// How a used row is simulated.
#[derive(Clone, Debug)]
pub struct Setup {
    /// capsim's GPU name.
    pub gpu: String,
    /// The scenario (TOML) simulated for the row.
    pub scenario: String,
    pub measure: Measure,
    pub prompt: u32,
    /// The output length asked for (the top of the range, when drawn from one).
    pub output_most: u32,
    /// What was assumed where the source is silent.
    pub note: String,
}

/// Splits one CSV line's fields (RFC 4180 quoting).
fn parse_csv(text: &str) -> InputResult<Vec<BTreeMap<String, String>>> {
    let mut rd = csv::ReaderBuilder::new().from_reader(text.as_bytes());
    let headers = rd
        .headers()
        .map_err(|e| InputError::new("corpus", e.to_string()))?
        .clone();
    rd.records()
        .map(|r| {
            let r = r.map_err(|e| InputError::new("corpus", e.to_string()))?;
            Ok(headers
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect())
        })
        .collect()
}

/// The shipped corpus: the published rows, then the rows capsim measured itself.
pub fn load() -> InputResult<Vec<Row>> {
    let mut rows = parse(PUBLISHED, CAPSIM)?;
    rows.extend(
        parse_measured(MEASURED).map_err(|e| e.in_file(Path::new("data/corpus/measured.csv")))?,
    );
    let mut seen = BTreeSet::new();
    for r in &rows {
        if !seen.insert(r.id.as_str()) {
            return Err(InputError::new(
                format!("corpus row {}", r.id),
                "appears twice (published.csv and measured.csv share ids)",
            ));
        }
    }
    Ok(rows)
}

/// Reads `measured.csv` text: exactly [`MEASURED_COLUMNS`], in that order (the caller names
/// the file in an error).
pub fn parse_measured(text: &str) -> InputResult<Vec<Row>> {
    let mut rd = csv::ReaderBuilder::new().from_reader(text.as_bytes());
    let header: Vec<String> = rd
        .headers()
        .map_err(|e| InputError::new("header", e.to_string()))?
        .iter()
        .map(str::to_string)
        .collect();
    if header != MEASURED_COLUMNS {
        return Err(InputError::new(
            "header",
            format!(
                "the header must be exactly `{}`; found `{}`",
                MEASURED_COLUMNS.join(","),
                header.join(",")
            ),
        ));
    }
    let mut rows = parse(text, text)?;
    for r in &mut rows {
        r.by_capsim = true;
    }
    Ok(rows)
}

/// What a profile does not record and a corpus row needs.
#[derive(Clone, Debug)]
pub struct ProfileSetup {
    /// The shipped model preset with the measured model's shape.
    pub preset: String,
    /// GPUs per replica the server ran on (tensor parallel degree).
    pub gpus: u32,
    /// `nvlink` or `pcie`, when `gpus` > 1.
    pub interconnect: Option<String>,
}

/// The corpus rows a measured calibration profile gives, as `measured.csv` lines (in
/// [`MEASURED_COLUMNS`] order): single-stream decode tok/s at the shortest context it probed,
/// and at the longest prompt it probed from an empty cache, prefill tok/s (timed by the server)
/// or the mean TTFT (timed by the client); each the median of that probe's rounds. Refuses a
/// profile that is not a measurement on a datasheet GPU, whose model shape is not the preset's,
/// or that records no probe steps. `taken` holds the ids already in the corpus.
pub fn rows_from_profile(
    profile: &Profile,
    setup: &ProfileSetup,
    taken: &BTreeSet<String>,
) -> InputResult<Vec<Vec<String>>> {
    let bad = |what: String| InputError::new(format!("profile '{}'", profile.name), what);
    let prov = &profile.provenance;
    if prov.kind != "measured" {
        return Err(bad(format!(
            "is a {} profile: only measurements go into the corpus",
            prov.kind
        )));
    }
    let on = &profile.measured_on;
    let device = on
        .hardware
        .as_deref()
        .and_then(crate::hardware::lookup)
        .filter(|d| d.name != "custom")
        .ok_or_else(|| {
            bad(format!(
                "was measured on {}: the corpus holds GPUs from capsim's datasheet table (`capsim hardware list`)",
                on.hardware.as_deref().map_or("unrecorded hardware".to_string(), |h| format!("'{h}'"))
            ))
        })?;
    let recorded = on
        .engine
        .as_deref()
        .or(prov.server.as_deref())
        .map(str::to_ascii_lowercase);
    let engine = match recorded.as_deref().and_then(spec::EngineKind::parse) {
        Some(kind @ (spec::EngineKind::LlamaCpp | spec::EngineKind::Vllm)) => kind.name(),
        _ => {
            return Err(bad(format!(
                "was measured on engine {}: capsim simulates llama.cpp and vLLM",
                recorded.map_or("(not recorded)".to_string(), |e| format!("'{e}'"))
            )))
        }
    };
    let shape = on.shape.as_ref().ok_or_else(|| {
        bad(
            "does not record the model's shape (calibrate with --scenario to record it), so \
             nothing shows the preset is the model measured"
                .into(),
        )
    })?;
    let preset = ModelShape::preset(&setup.preset)?;
    let expected = preset.identity(shape.weight_dtype, shape.kv_dtype);
    if &expected != shape {
        return Err(bad(format!(
            "measured a model whose shape is not preset '{}': measured {shape:?}, preset {expected:?}",
            setup.preset
        )));
    }
    let interconnect = match (setup.gpus, setup.interconnect.as_deref()) {
        (0, _) => return Err(bad("--gpus must be at least 1".into())),
        (1, None) => String::new(),
        (1, Some(_)) => return Err(bad("an interconnect needs --gpus 2 or more".into())),
        (_, Some(i @ ("nvlink" | "pcie"))) => i.to_string(),
        (n, other) => {
            return Err(bad(format!(
                "{n} GPUs need --interconnect nvlink or pcie (got {})",
                other.unwrap_or("none")
            )))
        }
    };
    let steps: Vec<(ProbeStep, f64)> = profile
        .fit
        .iter()
        .flat_map(|f| &f.residuals)
        .filter_map(|r| r.step.map(|s| (s, r.measured_ms)))
        .filter(|(_, ms)| ms.is_finite() && *ms > 0.0)
        .collect();
    if steps.is_empty() {
        return Err(bad(
            "records no probe steps (written before capsim recorded them): calibrate again".into(),
        ));
    }
    let median_of = |keep: &dyn Fn(&ProbeStep) -> bool| -> Option<(f64, usize)> {
        let mut ms: Vec<f64> = steps
            .iter()
            .filter(|(s, _)| keep(s))
            .map(|(_, m)| *m)
            .collect();
        let n = ms.len();
        crate::metrics::median(&mut ms).map(|m| (m, n))
    };
    let weight = shape.weight_dtype.name();
    let version = prov.server_version.clone().unwrap_or_default();
    // The scheduler a vLLM row is simulated with: the version the server reported, when it
    // reads as one (capsim's current defaults otherwise, and the note says so).
    let vllm_version = (engine == "vllm")
        .then(|| crate::spec::VllmVersion::parse(&version).ok())
        .flatten();
    let version_note = match (engine, vllm_version) {
        ("vllm", None) => format!(
            "; vLLM version '{version}' does not read as one: simulated with capsim's current vLLM defaults"
        ),
        _ => String::new(),
    };
    let slug: String = profile
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let mut out: Vec<Vec<String>> = Vec::new();
    let mut push = |metric: &str,
                    value: f64,
                    prompt: u64,
                    output: u32,
                    measure: &str,
                    offline: bool,
                    how: String| {
        let id = format!("ms-{slug}-{:02}", out.len() + 1);
        let note = format!(
            "{how}; engine settings are capsim's defaults (a profile does not record the server's){version_note}"
        );
        let line: BTreeMap<&str, String> = BTreeMap::from([
            ("id", id),
            ("metric", metric.to_string()),
            ("value", format!("{value:.3}")),
            ("gpu", device.name.clone()),
            ("interconnect", interconnect.clone()),
            ("engine", engine.to_string()),
            (
                "engine_version",
                if version.is_empty() {
                    "unknown".into()
                } else {
                    version.clone()
                },
            ),
            (
                "model",
                on.model.clone().unwrap_or_else(|| setup.preset.clone()),
            ),
            ("quant", weight.to_string()),
            ("batch_or_concurrency", "1".into()),
            (
                "source_url",
                format!("capsim calibrate: profile '{}'", profile.name),
            ),
            ("source_date", prov.date.clone().unwrap_or_default()),
            ("why_not", String::new()),
            ("preset", setup.preset.clone()),
            ("gpus", setup.gpus.to_string()),
            ("weight_dtype", weight.to_string()),
            (
                "version",
                vllm_version.map_or(String::new(), |v| v.to_string()),
            ),
            ("concurrency", "1".into()),
            ("requests", "4".into()),
            ("prompt", prompt.max(1).to_string()),
            ("output", output.to_string()),
            ("offline", if offline { "yes" } else { "" }.to_string()),
            ("measure", measure.to_string()),
            ("note", note),
        ]);
        out.push(MEASURED_COLUMNS.iter().map(|c| line[c].clone()).collect());
    };
    // Decode: one sequence, at the shortest context probed (nearest llama-bench's tg).
    if let Some(context) = steps
        .iter()
        .filter(|(s, _)| s.decode && s.seqs == 1)
        .map(|(s, _)| s.kv_read_tokens)
        .min()
    {
        let (ms, n) = median_of(&|s| s.decode && s.seqs == 1 && s.kv_read_tokens == context)
            .expect("a decode probe at that context");
        push(
            "decode_tok_s_single",
            1000.0 / ms,
            context,
            32,
            "decode_rate",
            false,
            format!(
                "capsim calibrate: median of {n} single-sequence decode steps at context {context}"
            ),
        );
    }
    // Prefill: one prompt from an empty cache, the longest probed.
    let prefill =
        |s: &ProbeStep| !s.decode && s.seqs == 1 && s.tokens > 1 && s.tokens == s.kv_read_tokens;
    if let Some(prompt) = steps
        .iter()
        .filter(|(s, _)| prefill(s))
        .map(|(s, _)| s.tokens)
        .max()
    {
        let at = |client: bool| {
            median_of(&|s| prefill(s) && s.tokens == prompt && s.includes_latency == client)
        };
        if let Some((ms, n)) = at(false) {
            push(
                "prefill_tok_s",
                prompt as f64 / (ms / 1000.0),
                prompt,
                1,
                "prefill_rate",
                true,
                format!("capsim calibrate: median of {n} server-timed prefills of {prompt} tokens"),
            );
        } else if let Some((ms, n)) = at(true) {
            push(
                "ttft_ms",
                ms,
                prompt,
                1,
                "mean_ttft",
                false,
                format!(
                    "capsim calibrate: median of {n} client-timed TTFTs of {prompt}-token prompts"
                ),
            );
        }
    }
    if out.is_empty() {
        return Err(bad(
            "has no single-sequence decode or prefill probe to make a corpus row of".into(),
        ));
    }
    if let Some(id) = out.iter().map(|l| &l[0]).find(|id| taken.contains(*id)) {
        return Err(bad(format!(
            "gives row {id}, which the corpus already holds: a profile is added once"
        )));
    }
    Ok(out)
}

/// `measured.csv` text: `existing` (empty for a new file) with `lines` appended; the lines
/// are checked to resolve to scenarios first (the caller names the file in an error).
pub fn append_measured(existing: &str, lines: &[Vec<String>]) -> InputResult<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let io = |e: csv::Error| InputError::new("measured rows", e.to_string());
    if existing.trim().is_empty() {
        w.write_record(MEASURED_COLUMNS).map_err(io)?;
    }
    for l in lines {
        w.write_record(l).map_err(io)?;
    }
    let added = String::from_utf8(w.into_inner().map_err(|e| io(e.into_error().into()))?)
        .expect("CSV of UTF-8 fields is UTF-8");
    let mut text = existing.to_string();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&added);
    for r in parse_measured(&text)? {
        r.spec(&[])?;
    }
    Ok(text)
}

/// Reads a corpus and its capsim annotations (every published row must have one).
pub fn parse(published: &str, capsim: &str) -> InputResult<Vec<Row>> {
    let notes: BTreeMap<String, BTreeMap<String, String>> = parse_csv(capsim)?
        .into_iter()
        .map(|r| (r["id"].clone(), r))
        .collect();
    parse_csv(published)?
        .into_iter()
        .map(|r| {
            let id = r["id"].clone();
            let bad = |what: String| InputError::new(format!("corpus row {id}"), what);
            let kind = Kind::parse(&r["metric"])
                .ok_or_else(|| bad(format!("unknown metric '{}'", r["metric"])))?;
            let value: f64 = r["value"]
                .parse()
                .map_err(|_| bad(format!("value '{}' is not a number", r["value"])))?;
            let a = notes
                .get(&id)
                .ok_or_else(|| bad("has no line in data/corpus/capsim.csv".into()))?;
            let unused = Some(a["why_not"].clone()).filter(|w| !w.is_empty());
            let setup = if unused.is_none() {
                Some(setup(&r, a).map_err(bad)?)
            } else {
                None
            };
            Ok(Row {
                kind,
                value,
                gpu: r["gpu"].clone(),
                engine: r["engine"].clone(),
                engine_version: r["engine_version"].clone(),
                model: r["model"].clone(),
                quant: r["quant"].clone(),
                concurrency: r["batch_or_concurrency"].clone(),
                source_url: r["source_url"].clone(),
                source_date: r["source_date"].clone(),
                by_capsim: false,
                unused,
                setup,
                id,
            })
        })
        .collect()
}

/// The scenario of a used row, from its capsim.csv line.
fn setup(r: &BTreeMap<String, String>, a: &BTreeMap<String, String>) -> Result<Setup, String> {
    let get = |k: &str| a.get(k).map(String::as_str).unwrap_or("");
    let num = |k: &str| -> Result<Option<u64>, String> {
        match get(k) {
            "" => Ok(None),
            v => v
                .parse()
                .map(Some)
                .map_err(|_| format!("capsim.csv {k} '{v}' is not a whole number")),
        }
    };
    let measure =
        Measure::parse(get("measure")).ok_or_else(|| format!("measure '{}'", get("measure")))?;
    let engine = match r["engine"].as_str() {
        "vllm" => "vllm",
        "llamacpp" => "llamacpp",
        other => return Err(format!("engine '{other}' is not simulated")),
    };
    let prompt = num("prompt")?.ok_or("no prompt length")? as u32;
    // A fixed output length, or `LO..HI`: lengths drawn uniformly (requests that ended early,
    // whose mean the source gives but whose spread it does not: see the row's note).
    let (output, output_most) = match get("output").split_once("..") {
        Some((lo, hi)) => {
            let bound = |v: &str| {
                v.parse::<u32>()
                    .map_err(|_| format!("capsim.csv output '{}' is not LO..HI", get("output")))
            };
            let (lo, hi) = (bound(lo)?, bound(hi)?);
            if lo == 0 || lo > hi {
                return Err(format!(
                    "capsim.csv output range {lo}..{hi} is empty or starts at 0"
                ));
            }
            (
                format!("{{ dist = \"uniform\", min = {lo}, max = {hi} }}"),
                hi,
            )
        }
        None => {
            let o = num("output")?.ok_or("no output length")?;
            (o.to_string(), o as u32)
        }
    };
    let concurrency = num("concurrency")?.ok_or("no concurrency")?;
    let requests = num("requests")?.unwrap_or(concurrency.max(1) * 4);
    let mut t = format!(
        "name = \"{}\"\n[model]\npreset = \"{}\"\nweight_dtype = \"{}\"\n[hardware]\ngpu = \"{}\"\n",
        r["id"],
        get("preset"),
        get("weight_dtype"),
        get("gpu")
    );
    if let Some(n) = num("gpus")?.filter(|n| *n > 1) {
        t.push_str(&format!(
            "gpus_per_replica = {n}\ninterconnect = \"{}\"\n",
            if r["interconnect"] == "nvlink" {
                "nvlink"
            } else {
                "pcie"
            }
        ));
    }
    t.push_str(&format!("[engine]\nkind = \"{engine}\"\n"));
    for key in [
        "version",
        "max_num_seqs",
        "max_model_len",
        "max_num_batched_tokens",
        "n_ubatch",
        "n_batch",
        "parallel",
        "ctx_size",
    ] {
        let v = get(key);
        if !v.is_empty() {
            if key == "version" {
                t.push_str(&format!("version = \"{v}\"\n"));
            } else {
                t.push_str(&format!("{key} = {v}\n"));
            }
        }
    }
    for (flag, key) in [
        ("eager", "enforce_eager"),
        ("custom_ar_off", "disable_custom_all_reduce"),
        ("async", "async_scheduling"),
    ] {
        if get(flag) == "yes" {
            t.push_str(&format!("{key} = true\n"));
        }
    }
    if get("offline") == "yes" {
        t.push_str("api_server = false\n");
    }
    if let Some(n) = num("replicas")?.filter(|n| *n > 1) {
        t.push_str(&format!("[cluster]\nreplicas = {n}\n"));
    }
    t.push_str(&format!(
        "[workload]\narrival = \"closed\"\nconcurrency = {concurrency}\nnum_requests = {requests}\ninput_tokens = {prompt}\noutput_tokens = {output}\nseed = 1\n"
    ));
    Ok(Setup {
        gpu: get("gpu").to_string(),
        scenario: t,
        measure,
        prompt,
        output_most,
        note: get("note").to_string(),
    })
}

impl Row {
    /// The row's scenario resolved (with the shipped priors and `sets`).
    pub fn spec(&self, sets: &[spec::Override]) -> InputResult<Spec> {
        let setup = self
            .setup
            .as_ref()
            .ok_or_else(|| InputError::new(format!("corpus row {}", self.id), "is unused"))?;
        let mut specs = spec::from_str(
            &setup.scenario,
            Path::new(&format!("corpus/{}.toml", self.id)),
            sets,
        )
        .map_err(|e| InputError::new(format!("corpus row {}: {}", self.id, e.key), e.problem))?;
        Ok(specs.remove(0))
    }

    /// The engine family and GPU generation etc. it belongs to.
    pub fn used(&self) -> bool {
        self.setup.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Dtype;

    #[test]
    fn every_row_is_annotated_and_every_used_row_resolves() {
        let rows = load().unwrap();
        assert!(rows.len() >= 60);
        for r in rows.iter().filter(|r| r.used()) {
            r.spec(&[]).unwrap_or_else(|e| panic!("{}: {e}", r.id));
        }
    }

    /// A llama.cpp profile of qwen3-8b in Q4_K_M on an RTX 4090, as `capsim calibrate` writes
    /// one: decode steps of one sequence at two contexts, one of three sequences, and
    /// server-timed prefills of 512 and 2048 tokens.
    fn profile() -> Profile {
        let step = |seqs: u32, tokens: u64, kv: u64, decode: bool, ms: f64| {
            format!(
                r#"{{"probe": "p", "measured_ms": {ms}, "fitted_ms": {ms},
                   "step": {{"seqs": {seqs}, "tokens": {tokens}, "kv_read_tokens": {kv},
                             "decode": {decode}, "includes_latency": false}}}}"#
            )
        };
        let residuals = [
            step(1, 1, 64, true, 8.0),
            step(1, 1, 64, true, 10.0),
            step(1, 1, 64, true, 9.0),
            step(1, 1, 1024, true, 12.0),
            step(3, 3, 192, true, 11.0),
            step(1, 512, 512, false, 60.0),
            step(1, 2048, 2048, false, 250.0),
            step(1, 2048, 2048, false, 256.0),
        ]
        .join(",");
        let text = format!(
            r#"{{"capsim_profile": 1, "name": "My 4090",
              "provenance": {{"kind": "measured", "server": "llama.cpp", "server_version": "b6500",
                              "date": "2026-12-01"}},
              "measured_on": {{"hardware": "rtx4090", "model": "Qwen3-8B-Q4_K_M.gguf",
                               "engine": "llama.cpp", "weight_dtype": "q4_k_m"}},
              "coefficients": {{"overhead_ms": {{"value": 1.0, "stderr": null}},
                                "per_seq_ms": {{"value": 0.1, "stderr": null}},
                                "bw_efficiency": {{"value": 0.7, "stderr": null}},
                                "flops_efficiency": {{"value": 0.5, "stderr": null}}}},
              "fit": {{"observations": 8, "r2": 0.99, "rms_residual_ms": 0.5,
                       "residuals": [{residuals}], "notes": []}}}}"#
        );
        let mut p = Profile::parse(&text).unwrap();
        p.measured_on.shape = Some(
            ModelShape::preset("qwen3-8b")
                .unwrap()
                .identity(Dtype::Q4KM, Dtype::Fp16),
        );
        p
    }

    fn on_4090() -> ProfileSetup {
        ProfileSetup {
            preset: "qwen3-8b".into(),
            gpus: 1,
            interconnect: None,
        }
    }

    fn field<'a>(line: &'a [String], column: &str) -> &'a str {
        let i = MEASURED_COLUMNS.iter().position(|c| *c == column).unwrap();
        &line[i]
    }

    #[test]
    fn a_measured_profile_gives_its_decode_rate_at_the_shortest_context_and_its_longest_prefill() {
        let lines = rows_from_profile(&profile(), &on_4090(), &BTreeSet::new()).unwrap();
        for l in &lines {
            println!("{}", l.join(" | "));
        }
        assert_eq!(lines.len(), 2);
        let (decode, prefill) = (&lines[0], &lines[1]);
        // The median of the three single-sequence steps at context 64 (9 ms), not the one at
        // 1024 nor the three-sequence step.
        assert_eq!(field(decode, "id"), "ms-my-4090-01");
        assert_eq!(field(decode, "metric"), "decode_tok_s_single");
        assert_eq!(field(decode, "value"), format!("{:.3}", 1000.0 / 9.0));
        assert_eq!(field(decode, "prompt"), "64");
        assert_eq!(field(decode, "measure"), "decode_rate");
        assert_eq!(field(decode, "gpu"), "rtx4090");
        assert_eq!(field(decode, "engine"), "llamacpp");
        assert_eq!(field(decode, "weight_dtype"), "q4_k_m");
        assert_eq!(
            field(decode, "version"),
            "",
            "llama.cpp rows carry no vLLM version"
        );
        // The 2048-token prefills, median of 250 and 256 ms, timed by the server: no API
        // server in the simulated row either.
        assert_eq!(field(prefill, "metric"), "prefill_tok_s");
        assert_eq!(field(prefill, "value"), format!("{:.3}", 2048.0 / 0.253));
        assert_eq!(field(prefill, "prompt"), "2048");
        assert_eq!(field(prefill, "offline"), "yes");
        assert_eq!(field(prefill, "measure"), "prefill_rate");
        assert!(field(prefill, "note").contains("median of 2 server-timed prefills"));
    }

    #[test]
    fn added_rows_round_trip_through_measured_csv_and_simulate() {
        let lines = rows_from_profile(&profile(), &on_4090(), &BTreeSet::new()).unwrap();
        let text = append_measured("", &lines).unwrap();
        assert!(text.starts_with(&MEASURED_COLUMNS.join(",")));
        let rows = parse_measured(&text).unwrap();
        assert_eq!(rows.len(), 2);
        assert!(rows.iter().all(|r| r.by_capsim && r.used()));
        assert_eq!(rows[0].kind, Kind::Decode);
        assert_eq!(rows[1].kind, Kind::Prefill);
        assert!((rows[0].value - 1000.0 / 9.0).abs() < 1e-3);
        let spec = rows[1].spec(&[]).unwrap();
        assert_eq!(spec.device.name, "rtx4090");
        // Appending to a file keeps its lines and writes the header once.
        let again = append_measured(&text, &lines[..1]).unwrap();
        assert_eq!(again.matches("id,metric,value").count(), 1);
        assert_eq!(parse_measured(&again).unwrap().len(), 3);
    }

    #[test]
    fn a_client_timed_prefill_becomes_a_ttft_row_and_a_vllm_version_picks_the_scheduler() {
        let mut p = profile();
        p.provenance.server = Some("vllm".into());
        p.provenance.server_version = Some("0.6.3.post1".into());
        p.measured_on.engine = Some("vllm".into());
        let bf16 = ModelShape::preset("qwen3-8b")
            .unwrap()
            .identity(Dtype::Bf16, Dtype::Bf16);
        p.measured_on.shape = Some(bf16);
        for r in p.fit.iter_mut().flat_map(|f| f.residuals.iter_mut()) {
            if let Some(s) = r.step.as_mut().filter(|s| !s.decode) {
                s.includes_latency = true;
            }
        }
        let lines = rows_from_profile(&p, &on_4090(), &BTreeSet::new()).unwrap();
        let ttft = &lines[1];
        assert_eq!(field(ttft, "metric"), "ttft_ms");
        assert_eq!(field(ttft, "measure"), "mean_ttft");
        assert_eq!(field(ttft, "value"), "253.000");
        assert_eq!(
            field(ttft, "offline"),
            "",
            "a client-timed TTFT goes through the API server"
        );
        assert_eq!(field(ttft, "version"), "0.6.3");
        let text = append_measured("", &lines).unwrap();
        for r in parse_measured(&text).unwrap() {
            r.spec(&[]).unwrap();
        }
        // A version that does not read as one is left to capsim's defaults, and said so.
        p.provenance.server_version = Some("nightly".into());
        let lines = rows_from_profile(&p, &on_4090(), &BTreeSet::new()).unwrap();
        assert_eq!(field(&lines[0], "version"), "");
        assert!(field(&lines[0], "note").contains("'nightly' does not read as one"));
    }

    #[test]
    fn a_profile_that_cannot_be_a_corpus_row_is_refused_with_the_reason() {
        let refused = |p: &Profile, setup: &ProfileSetup, taken: &BTreeSet<String>| {
            let e = rows_from_profile(p, setup, taken).unwrap_err().to_string();
            println!("{e}");
            e
        };
        let none = BTreeSet::new();
        let mut p = profile();
        p.provenance.kind = "projected".into();
        assert!(refused(&p, &on_4090(), &none).contains("only measurements"));
        let mut p = profile();
        p.measured_on.hardware = Some("my-laptop".into());
        assert!(refused(&p, &on_4090(), &none).contains("datasheet table"));
        let mut p = profile();
        p.measured_on.engine = Some("sglang".into());
        assert!(refused(&p, &on_4090(), &none).contains("llama.cpp and vLLM"));
        let mut p = profile();
        p.measured_on.shape = None;
        assert!(refused(&p, &on_4090(), &none).contains("shape"));
        let other = ProfileSetup {
            preset: "llama-3.1-8b".into(),
            ..on_4090()
        };
        assert!(refused(&profile(), &other, &none).contains("not preset 'llama-3.1-8b'"));
        let two = ProfileSetup {
            gpus: 2,
            ..on_4090()
        };
        assert!(refused(&profile(), &two, &none).contains("--interconnect"));
        let mut p = profile();
        for r in p.fit.iter_mut().flat_map(|f| f.residuals.iter_mut()) {
            r.step = None;
        }
        assert!(refused(&p, &on_4090(), &none).contains("calibrate again"));
        let taken = BTreeSet::from(["ms-my-4090-01".to_string()]);
        assert!(refused(&profile(), &on_4090(), &taken).contains("added once"));
    }

    #[test]
    fn the_shipped_measured_rows_parse_and_have_ids_of_their_own() {
        let rows = parse_measured(MEASURED).unwrap();
        assert!(rows.iter().all(|r| r.id.starts_with("ms-") && r.by_capsim));
        // load() checks ids are unique across the published and measured rows.
        load().unwrap();
        let e = parse_measured("id,metric,value\n").unwrap_err().to_string();
        assert!(e.contains("header must be exactly"), "{e}");
    }

    fn annotation(output: &str) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
        let row = BTreeMap::from([
            ("id".to_string(), "t-001".to_string()),
            ("engine".to_string(), "vllm".to_string()),
            ("interconnect".to_string(), String::new()),
        ]);
        let a = [
            ("preset", "mistral-7b"),
            ("gpu", "rtx4090"),
            ("weight_dtype", "bf16"),
            ("concurrency", "4"),
            ("requests", "300"),
            ("prompt", "256"),
            ("output", output),
            ("measure", "mean_ttft"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        (row, a)
    }

    #[test]
    fn an_output_range_is_drawn_uniformly_and_a_bad_one_is_refused() {
        let (row, a) = annotation("72..128");
        let s = setup(&row, &a).unwrap().scenario;
        assert!(
            s.contains("output_tokens = { dist = \"uniform\", min = 72, max = 128 }"),
            "{s}"
        );
        let (row, a) = annotation("100");
        assert!(setup(&row, &a)
            .unwrap()
            .scenario
            .contains("output_tokens = 100\n"));
        for bad in ["128..72", "0..10", "a..b", "72..", "seventy"] {
            let (row, a) = annotation(bad);
            let e = setup(&row, &a)
                .err()
                .unwrap_or_else(|| panic!("{bad} accepted"));
            assert!(e.contains("output"), "{bad}: {e}");
        }
    }
}
