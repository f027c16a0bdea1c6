//! The published-measurement corpus (`data/corpus/published.csv`, as transcribed with its
//! sources) and how capsim reproduces each usable row (`data/corpus/capsim.csv`): a scenario
//! simulated by the same code as any other, and the summary field the row measured.
//!
//! Assumption: a row's setup is what its source states; where the source leaves a length or a
//! setting out, `capsim.csv` either says what was assumed (its `note`) or marks the row unused
//! with the reason. Rows capsim cannot represent (other engines, architectures it has no shape
//! for, GPUs outside its datasheet table, speculative decoding) are kept, marked unused.

use crate::error::{InputError, InputResult};
use crate::metrics::{Metric, Range, Summary};
use crate::spec::{self, Spec};
use std::collections::BTreeMap;
use std::path::Path;

const PUBLISHED: &str = include_str!("../../data/corpus/published.csv");
const CAPSIM: &str = include_str!("../../data/corpus/capsim.csv");

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

/// The shipped corpus.
pub fn load() -> InputResult<Vec<Row>> {
    parse(PUBLISHED, CAPSIM)
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

    #[test]
    fn every_row_is_annotated_and_every_used_row_resolves() {
        let rows = load().unwrap();
        assert!(rows.len() >= 60);
        for r in rows.iter().filter(|r| r.used()) {
            r.spec(&[]).unwrap_or_else(|e| panic!("{}: {e}", r.id));
        }
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
