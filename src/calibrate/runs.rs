//! Recorded runs, as `calibrate --from` and `validate` read them: capsim spot-run folders
//! (records-*.jsonl with metadata.json), capsim records files (JSONL), and the JSON that
//! `vllm bench serve --save-result --save-detailed` writes (per-request `input_lens`,
//! `output_lens`, `ttfts`, `itls`, with `max_concurrency`, `request_rate`, `burstiness`).

use super::fit::Observation;
use crate::cost::StepShape;
use crate::error::{InputError, InputResult};
use crate::live::RunMetadata;
use crate::metrics::median;
use crate::metrics::RequestRecord;
use std::path::{Path, PathBuf};

/// One recorded run (one scenario point).
#[derive(Clone, Debug)]
pub struct RecordedRun {
    /// Where it came from (file, or folder and index).
    pub source: String,
    pub records: Vec<RequestRecord>,
    /// capsim: the run's metadata (workload table, server facts).
    pub metadata: Option<RunMetadata>,
    /// vllm bench: the client's concurrency cap, request rate (None = inf), burstiness.
    pub max_concurrency: Option<u32>,
    pub request_rate: Option<f64>,
    pub burstiness: Option<f64>,
}

impl RecordedRun {
    /// Server slots where known (llama-server), which cap the decode batch.
    fn slots(&self) -> Option<u32> {
        self.metadata.as_ref().and_then(|m| m.server.slots)
    }

    fn is_llama_cpp(&self) -> bool {
        self.metadata
            .as_ref()
            .is_some_and(|m| m.server.kind == "llama.cpp")
    }

    /// Requests in flight on average (Little's law on the records), or the client's cap.
    pub fn mean_in_flight(&self) -> f64 {
        let ok: Vec<&RequestRecord> = self.records.iter().filter(|r| r.succeeded()).collect();
        let has_times = ok.iter().any(|r| r.sent_s > 0.0);
        if has_times {
            let start = self
                .records
                .iter()
                .map(|r| r.sent_s)
                .fold(f64::INFINITY, f64::min);
            let end = ok.iter().filter_map(|r| r.end_s).fold(0.0_f64, f64::max);
            let busy: f64 = ok.iter().filter_map(|r| r.e2el_s()).sum();
            if end > start {
                return busy / (end - start);
            }
        }
        self.max_concurrency.unwrap_or(1) as f64
    }
}

fn bad(path: &Path, problem: impl Into<String>) -> InputError {
    InputError::new("", problem).in_file(path)
}

/// Reads every run under the given paths (folders, JSONL records, vllm bench JSON).
pub fn load(paths: &[PathBuf]) -> InputResult<Vec<RecordedRun>> {
    let mut runs = Vec::new();
    for p in paths {
        if p.is_dir() {
            runs.extend(load_dir(p)?);
        } else {
            runs.push(load_file(p, None)?);
        }
    }
    if runs.is_empty() {
        return Err(InputError::new("--runs", "no runs found"));
    }
    Ok(runs)
}

fn load_dir(dir: &Path) -> InputResult<Vec<RecordedRun>> {
    let meta_path = dir.join("metadata.json");
    let metadata: Vec<RunMetadata> = if meta_path.exists() {
        let text = std::fs::read_to_string(&meta_path)
            .map_err(|e| bad(&meta_path, format!("cannot read: {e}")))?;
        serde_json::from_str::<Vec<RunMetadata>>(&text)
            .or_else(|_| serde_json::from_str::<RunMetadata>(&text).map(|m| vec![m]))
            .map_err(|e| bad(&meta_path, format!("not capsim run metadata: {e}")))?
    } else {
        Vec::new()
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| bad(dir, format!("cannot read the folder: {e}")))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.starts_with("records") && name.ends_with(".jsonl")
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(bad(dir, "no records*.jsonl in this folder"));
    }
    files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            // metadata.json lists points in the order of records-000, records-001, …
            let name = f.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let meta = metadata
                .iter()
                .find(|m| m.records_file.ends_with(name))
                .or_else(|| metadata.get(i))
                .cloned();
            load_file(f, meta)
        })
        .collect()
}

fn load_file(path: &Path, metadata: Option<RunMetadata>) -> InputResult<RecordedRun> {
    let text = std::fs::read_to_string(path).map_err(|e| bad(path, format!("cannot read: {e}")))?;
    let trimmed = text.trim_start();
    if trimmed.starts_with('{')
        && !trimmed
            .lines()
            .nth(1)
            .is_some_and(|l| l.trim_start().starts_with('{'))
    {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
            if v.get("ttfts").is_some() || v.get("input_lens").is_some() {
                return vllm_bench(path, &v);
            }
            if v.get("capsim_profile").is_some() {
                return Err(bad(path, "this is a calibration profile, not a run"));
            }
        }
    }
    let mut records = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let r: RequestRecord = serde_json::from_str(line).map_err(|e| {
            InputError::new(
                format!("line {}", i + 1),
                format!("not a capsim request record or vllm bench result: {e}"),
            )
            .in_file(path)
        })?;
        records.push(r);
    }
    if records.is_empty() {
        return Err(bad(path, "no request records"));
    }
    Ok(RecordedRun {
        source: path.display().to_string(),
        records,
        metadata,
        max_concurrency: None,
        request_rate: None,
        burstiness: None,
    })
}

/// `vllm bench serve --save-result --save-detailed` JSON → records.
fn vllm_bench(path: &Path, v: &serde_json::Value) -> InputResult<RecordedRun> {
    let array = |key: &str| -> InputResult<&Vec<serde_json::Value>> {
        v.get(key).and_then(|x| x.as_array()).ok_or_else(|| {
            bad(
                path,
                format!(
                    "vllm bench result lacks '{key}' (save it with --save-result --save-detailed)"
                ),
            )
        })
    };
    let inputs = array("input_lens")?;
    let outputs = array("output_lens")?;
    let ttfts = array("ttfts")?;
    let itls = array("itls")?;
    let n = inputs.len();
    if outputs.len() != n || ttfts.len() != n || itls.len() != n {
        return Err(bad(
            path,
            "input_lens, output_lens, ttfts and itls differ in length",
        ));
    }
    let errors = v.get("errors").and_then(|e| e.as_array());
    let mut records = Vec::with_capacity(n);
    for i in 0..n {
        let num = |x: &serde_json::Value, what: &str| {
            x.as_f64()
                .ok_or_else(|| bad(path, format!("{what}[{i}] is not a number")))
        };
        let input = num(&inputs[i], "input_lens")? as u32;
        let output = num(&outputs[i], "output_lens")? as u32;
        let ttft = num(&ttfts[i], "ttfts")?;
        let gaps: Vec<f64> = itls[i]
            .as_array()
            .ok_or_else(|| bad(path, format!("itls[{i}] is not a list")))?
            .iter()
            .filter_map(|g| g.as_f64())
            .collect();
        let error = errors
            .and_then(|e| e.get(i))
            .and_then(|e| e.as_str())
            .filter(|e| !e.is_empty())
            .map(|e| std::borrow::Cow::Owned(e.to_string()));
        let ok = error.is_none() && output > 0;
        records.push(RequestRecord {
            id: i as u64,
            scheduled_s: 0.0,
            sent_s: 0.0,
            first_token_s: ok.then_some(ttft),
            end_s: ok.then(|| ttft + gaps.iter().sum::<f64>()),
            input_tokens: input,
            output_tokens: output,
            itl_s: Some(gaps),
            error: if ok {
                None
            } else {
                error.or(Some("failed".into()))
            },
            replica: None,
            preemptions: 0,
            requested_output_tokens: None,
            ..Default::default()
        });
    }
    let rate = v.get("request_rate").and_then(|r| match r {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.parse::<f64>().ok(),
        _ => None,
    });
    Ok(RecordedRun {
        source: path.display().to_string(),
        records,
        metadata: None,
        max_concurrency: v
            .get("max_concurrency")
            .and_then(|c| c.as_u64())
            .map(|c| c as u32),
        request_rate: rate.filter(|r| r.is_finite()),
        burstiness: v.get("burstiness").and_then(|b| b.as_f64()),
    })
}

/// Step observations from recorded runs: a run with a steady batch (all slots busy, or a whole
/// number of requests in flight) gives its typical inter-token gap (the mean of the gaps up to
/// twice the median) as a decode step at that batch; at one user, each request's TTFT is a prefill of its prompt, seen from the client
/// (request latency included).
pub fn observations(runs: &[RecordedRun]) -> Vec<Observation> {
    let mut obs = Vec::new();
    for run in runs {
        let ok: Vec<&RequestRecord> = run.records.iter().filter(|r| r.succeeded()).collect();
        if ok.is_empty() {
            continue;
        }
        let in_flight = run.mean_in_flight();
        // A decode step at a known batch needs a steady batch: every slot busy, or a whole
        // number of requests in flight (a closed loop). Light open-loop traffic moves between
        // batch sizes, and its median gap belongs to none of them.
        let full = run.slots().is_some_and(|s| in_flight >= s as f64 - 0.25);
        let batch = match run.slots() {
            Some(s) if full => s.max(1),
            _ => in_flight.round().max(1.0) as u32,
        };
        let steady =
            full || (in_flight - in_flight.round()).abs() <= 0.1 * in_flight.round().max(1.0);
        let mean_in = ok.iter().map(|r| r.input_tokens as f64).sum::<f64>() / ok.len() as f64;
        let mean_out = ok.iter().map(|r| r.output_tokens as f64).sum::<f64>() / ok.len() as f64;
        let mut gaps: Vec<f64> = ok
            .iter()
            .flat_map(|r| r.itl_s.iter().flatten())
            .filter(|g| **g > 0.0)
            .map(|g| g * 1e3)
            .collect();
        // The typical step: the mean of the gaps, leaving out those over twice the median
        // (steps that carried another request's prefill, which the simulation models itself).
        let typical = median(&mut gaps).map(|m| {
            let kept: Vec<f64> = gaps.iter().copied().filter(|g| *g <= 2.0 * m).collect();
            kept.iter().sum::<f64>() / kept.len().max(1) as f64
        });
        if let Some(ms) = typical.filter(|_| steady) {
            let l = (mean_in + mean_out / 2.0).round() as u64;
            obs.push(Observation {
                label: format!("decode B={batch} L={l} ({})", run.source),
                shape: StepShape::decode(batch, l),
                ms,
                decode: true,
                includes_latency: false,
            });
        }
        if in_flight < 1.2 {
            let n_ubatch = if run.is_llama_cpp() { 512 } else { u32::MAX };
            for r in &ok {
                if let Some(ttft) = r.ttft_s() {
                    obs.push(Observation {
                        label: format!(
                            "prefill {} (client TTFT, {} #{})",
                            r.input_tokens, run.source, r.id
                        ),
                        shape: StepShape::prefill(r.input_tokens as u64, n_ubatch),
                        ms: ttft * 1e3,
                        decode: false,
                        includes_latency: true,
                    });
                }
            }
        }
    }
    obs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("capsim-runs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn vllm_bench_detailed_results_become_records() {
        let p = write(
            "bench.json",
            r#"{"date":"20250101-000000","backend":"vllm","model_id":"m","num_prompts":2,"request_rate":"inf","burstiness":1.0,"max_concurrency":2,
                "completed":2,"input_lens":[100,200],"output_lens":[3,3],"ttfts":[0.05,0.08],"itls":[[0.01,0.012],[0.011,0.01]],"errors":["",""]}"#,
        );
        let runs = load(&[p]).unwrap();
        let r = &runs[0];
        assert_eq!(r.records.len(), 2);
        assert_eq!(r.max_concurrency, Some(2));
        assert_eq!(r.request_rate, None, "inf is no rate");
        assert!((r.records[0].end_s.unwrap() - 0.072).abs() < 1e-9);
        let obs = observations(&runs);
        assert_eq!(
            obs.len(),
            1,
            "one decode observation; two users means no prefill ones"
        );
        assert_eq!(obs[0].shape.seqs, 2);
    }

    #[test]
    fn foreign_or_corrupt_files_are_clear_errors() {
        let p = write("foreign.json", r#"{"hello": "world"}"#);
        let e = load(&[p]).unwrap_err();
        assert!(e.to_string().contains("foreign.json"), "{e}");
        let p = write("corrupt.jsonl", "{\"id\": 1, \"sent_s\": \n");
        let e = load(&[p]).unwrap_err();
        assert!(e.to_string().contains("corrupt.jsonl"), "{e}");
        let p = write("partial.json", r#"{"ttfts":[0.1],"itls":[[0.1]]}"#);
        let e = load(&[p]).unwrap_err();
        assert!(e.to_string().contains("input_lens"), "{e}");
        assert!(load(&[PathBuf::from("/no/such/file.jsonl")]).is_err());
    }
}
