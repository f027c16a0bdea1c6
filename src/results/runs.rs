//! Recorded runs, whatever wrote them: capsim spot-run folders and records files, `vllm bench
//! serve --save-result` JSON (with or without `--save-detailed`, one object per file or
//! appended one per line) and GuideLLM `benchmarks.json`; and folders of any of these. Each
//! becomes a [`Run`]: its request records where the file has them, its own window, the
//! workload facts (concurrency, rate) a validation needs, and, for files with no per-request
//! data, the summary the file states.

use super::import::{guidellm, vllm_bench};
use super::{records_index, RunMetadata};
use crate::error::{InputError, InputResult};
use crate::metrics::{summarize_measured, Point, RequestRecord, RunFacts, Summary, Window};
use std::path::{Path, PathBuf};

/// Which tool wrote a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunFormat {
    Capsim,
    VllmBench,
    GuideLlm,
}

/// One recorded run (one scenario point).
#[derive(Clone, Debug)]
pub struct Run {
    /// Where it came from (file, or folder and index).
    pub source: String,
    pub format: RunFormat,
    /// The point it measured (capsim: its sweep point; imports: concurrency or rate).
    pub point: Point,
    /// Per-request records (empty when the file has only a summary).
    pub records: Vec<RequestRecord>,
    /// capsim: the run's metadata (workload table, server facts).
    pub metadata: Option<RunMetadata>,
    /// The run's own window (vllm bench `duration`, GuideLLM's measurement window).
    pub window: Option<Window>,
    /// The file's own summary, where it holds no per-request records.
    pub stated: Option<Summary>,
    /// The client's concurrency cap, request rate (None = as fast as allowed), burstiness.
    pub max_concurrency: Option<u32>,
    pub request_rate: Option<f64>,
    pub burstiness: Option<f64>,
    /// Arrivals at a fixed interval (GuideLLM `constant`) rather than Poisson.
    pub constant_rate: bool,
}

impl Run {
    /// A run of records with nothing else known.
    pub fn of_records(source: String, format: RunFormat, records: Vec<RequestRecord>) -> Run {
        Run {
            source,
            format,
            point: Point::new(),
            records,
            metadata: None,
            window: None,
            stated: None,
            max_concurrency: None,
            request_rate: None,
            burstiness: None,
            constant_rate: false,
        }
    }

    /// Server slots where known (llama-server), which cap the decode batch.
    pub fn slots(&self) -> Option<u32> {
        self.metadata.as_ref().and_then(|m| m.server.slots)
    }

    pub fn is_llama_cpp(&self) -> bool {
        self.metadata
            .as_ref()
            .is_some_and(|m| m.server.kind == "llama.cpp")
    }

    /// What the run measured: its records through the one summary function (with its own
    /// window), or the summary the file states when it has no records.
    pub fn measured(&self) -> Summary {
        match (&self.stated, self.records.is_empty()) {
            (Some(s), true) => {
                let mut s = s.clone();
                s.point = self.point.clone();
                s
            }
            _ => summarize_measured(
                self.point.clone(),
                &self.records,
                RunFacts {
                    window: self.window,
                    preemptions: self
                        .metadata
                        .as_ref()
                        .and_then(|m| m.server_counters.preemptions)
                        .unwrap_or(0),
                    ..RunFacts::default()
                },
            ),
        }
    }

    /// Requests in flight on average (Little's law on the run's records and window), or the
    /// client's cap when there are no records.
    pub fn mean_in_flight(&self) -> f64 {
        let s = self.measured();
        if s.mean_in_flight.is_finite() && s.mean_in_flight > 0.0 {
            s.mean_in_flight
        } else {
            self.max_concurrency.unwrap_or(1) as f64
        }
    }
}

fn bad(path: &Path, problem: impl Into<String>) -> InputError {
    InputError::new("", problem).in_file(path)
}

/// Reads every run under the given paths (folders, records files, vllm bench and GuideLLM
/// JSON).
pub fn load(paths: &[PathBuf]) -> InputResult<Vec<Run>> {
    let mut runs = Vec::new();
    for p in paths {
        if !p.exists() {
            return Err(bad(p, "no such file or folder"));
        }
        if p.is_dir() {
            runs.extend(load_dir(p)?);
        } else {
            runs.extend(load_file(p, None)?);
        }
    }
    if runs.is_empty() {
        return Err(InputError::new("--runs", "no runs found"));
    }
    Ok(runs)
}

/// A capsim run folder (records-*.jsonl with metadata.json), or a folder of run files
/// (vllm bench or GuideLLM JSON, records files), read in name order.
fn load_dir(dir: &Path) -> InputResult<Vec<Run>> {
    let meta_path = dir.join("metadata.json");
    // A `simulate --out` folder holds predictions: read as runs, they would pass for
    // measurements. Its summary says so; without one, its capacity.json (which only a
    // simulation writes) and no run metadata give it away.
    let summary_path = dir.join("summary.json");
    let simulated = if summary_path.is_file() {
        std::fs::read_to_string(&summary_path)
            .ok()
            .and_then(|t| serde_json::from_str::<Vec<serde_json::Value>>(&t).ok())
            .is_some_and(|v| v.iter().any(|s| s["source"] == "simulated"))
    } else {
        !meta_path.exists() && dir.join("capacity.json").is_file()
    };
    if simulated {
        return Err(bad(
            dir,
            format!(
                "holds simulated results (capsim simulate --out{}): they are predictions, not runs measured on a server; give spot runs, vllm bench or GuideLLM results{}",
                if summary_path.is_file() { "" } else { ", its summary.json missing" },
                if summary_path.is_file() {
                    ", or give the folder itself to capsim report"
                } else {
                    "; simulate again to report the prediction"
                }
            ),
        ));
    }
    let metadata: Vec<RunMetadata> = if meta_path.exists() {
        let text = std::fs::read_to_string(&meta_path)
            .map_err(|e| bad(&meta_path, format!("cannot read: {e}")))?;
        serde_json::from_str::<Vec<RunMetadata>>(&text)
            .or_else(|_| serde_json::from_str::<RunMetadata>(&text).map(|m| vec![m]))
            .map_err(|e| bad(&meta_path, format!("not capsim run metadata: {e}")))?
    } else {
        Vec::new()
    };
    let entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| bad(dir, format!("cannot read the folder: {e}")))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    // capsim record files, in point order (records-1000 after records-999).
    let mut records: Vec<(usize, PathBuf)> = entries
        .iter()
        .filter_map(|p| Some((records_index(p.file_name()?.to_str()?)?, p.clone())))
        .collect();
    records.sort();
    if !records.is_empty() {
        return records
            .iter()
            .enumerate()
            .map(|(i, (_, f))| {
                // metadata.json lists points in the order of the record files.
                let name = f.file_name().and_then(|n| n.to_str()).unwrap_or("");
                let meta = metadata
                    .iter()
                    .find(|m| m.records_file.ends_with(name))
                    .or_else(|| metadata.get(i))
                    .cloned();
                let mut run = load_records(f)?;
                if let Some(m) = meta {
                    run.point = m.point.clone();
                    run.metadata = Some(m);
                }
                Ok(run)
            })
            .collect();
    }
    // A folder of imported runs.
    let mut files: Vec<PathBuf> = entries
        .into_iter()
        .filter(|p| {
            p.extension().is_some_and(|e| e == "json" || e == "jsonl")
                && !p.file_name().is_some_and(|n| {
                    n.to_str().is_some_and(|n| {
                        n.ends_with(".pytorch.json") || super::OWN_FILES.contains(&n)
                    })
                })
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(bad(
            dir,
            "no runs in this folder (capsim records-*.jsonl, vllm bench or GuideLLM JSON)",
        ));
    }
    let mut runs = Vec::new();
    for f in &files {
        runs.extend(load_file(f, None)?);
    }
    Ok(runs)
}

/// One file: capsim records (JSONL), vllm bench JSON (one object, or appended objects one per
/// line), or GuideLLM JSON.
fn load_file(path: &Path, metadata: Option<RunMetadata>) -> InputResult<Vec<Run>> {
    let runs = load_any(path, metadata)?;
    for run in &runs {
        check_records(path, &run.records)?;
    }
    Ok(runs)
}

/// Refuses records whose times are impossible ([`RequestRecord::inconsistency`]), naming the
/// first.
pub fn check_records(path: &Path, records: &[RequestRecord]) -> InputResult<()> {
    for (i, r) in records.iter().enumerate() {
        if let Some(why) = r.inconsistency() {
            return Err(bad(
                path,
                format!(
                    "request {} (the {} record): {why}; these times cannot be measured, so nothing is computed from them",
                    r.id,
                    ordinal(i + 1)
                ),
            ));
        }
    }
    Ok(())
}

fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (1, 11) | (2, 12) | (3, 13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

fn load_any(path: &Path, metadata: Option<RunMetadata>) -> InputResult<Vec<Run>> {
    let text = std::fs::read_to_string(path).map_err(|e| bad(path, format!("cannot read: {e}")))?;
    let trimmed = text.trim_start();
    if !trimmed.starts_with('{') {
        return Err(bad(
            path,
            "not a run: expected capsim records (JSONL), vllm bench or GuideLLM JSON",
        ));
    }
    // One JSON document: a vllm bench result, a GuideLLM report, or something else.
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
        if guidellm::is_report(&v) {
            return guidellm::runs(path, &v);
        }
        if vllm_bench::is_result(&v) {
            return Ok(vec![vllm_bench::run(path, &v, 0)?]);
        }
        if v.get("capsim_profile").is_some() || v.get("step").is_some() {
            return Err(bad(path, "this is a calibration profile, not a run"));
        }
        if v.get("id").is_none() {
            return Err(bad(
                path,
                "not a run: no vllm bench fields (duration, completed), no GuideLLM benchmarks, no capsim record",
            ));
        }
    }
    // JSON lines: capsim records, or vllm bench results appended one per line.
    let first: Option<serde_json::Value> = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .and_then(|l| serde_json::from_str(l).ok());
    if first.as_ref().is_some_and(vllm_bench::is_result) {
        let mut runs = Vec::new();
        for (i, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
            let v: serde_json::Value = serde_json::from_str(line).map_err(|e| {
                InputError::new(format!("line {}", i + 1), format!("not JSON: {e}")).in_file(path)
            })?;
            runs.push(vllm_bench::run(path, &v, i)?);
        }
        return Ok(runs);
    }
    let mut run = load_records(path)?;
    if let Some(m) = metadata {
        run.point = m.point.clone();
        run.metadata = Some(m);
    }
    Ok(vec![run])
}

/// A capsim records file (JSONL).
fn load_records(path: &Path) -> InputResult<Run> {
    let text = std::fs::read_to_string(path).map_err(|e| bad(path, format!("cannot read: {e}")))?;
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
    Ok(Run::of_records(
        path.display().to_string(),
        RunFormat::Capsim,
        records,
    ))
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
    fn foreign_or_corrupt_files_are_clear_errors() {
        let p = write("foreign.json", r#"{"hello": "world"}"#);
        let e = load(&[p]).unwrap_err();
        assert!(e.to_string().contains("foreign.json"), "{e}");
        let p = write("corrupt.jsonl", "{\"id\": 1, \"sent_s\": \n");
        let e = load(&[p]).unwrap_err();
        assert!(e.to_string().contains("corrupt.jsonl"), "{e}");
        assert!(load(&[PathBuf::from("/no/such/file.jsonl")]).is_err());
    }

    #[test]
    fn record_files_are_read_in_numeric_order() {
        let dir = std::env::temp_dir().join(format!("capsim-order-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for i in [101usize, 1000, 999] {
            let r = RequestRecord {
                id: i as u64,
                ..Default::default()
            };
            std::fs::write(
                dir.join(format!("records-{i:03}.jsonl")),
                serde_json::to_string(&r).unwrap(),
            )
            .unwrap();
        }
        let runs = load(&[dir]).unwrap();
        let ids: Vec<u64> = runs.iter().map(|r| r.records[0].id).collect();
        assert_eq!(ids, vec![101, 999, 1000]);
    }
}
