//! `capsim report`: results (simulations, spot runs, validations, vllm bench files) → a
//! markdown report with charts a person can read at a glance.
//!
//! Inputs are read by [`load`]; each becomes one or more [`Series`] of summaries. Points of a
//! series are grouped into curves along their swept key (the first numeric key that varies);
//! the other keys, when they vary too, name the curves (e.g. `model=…`). Every curve gets its
//! knee, plateau, and preemption and failure onsets (see [`crate::analysis`]).

pub mod chart;
pub mod trace;

use crate::analysis::breakdown::TaskStats;
use crate::analysis::{self, Analysis};
use crate::error::{InputError, InputResult};
use crate::metrics::{Metric, Summary};
use crate::render::table;
use crate::results::{runs, Folder, TaskRecord};
use crate::spec::capacity::Capacity;
use crate::study::validate::PointValidation;
use chart::{Chart, ChartError, Curve, Level, Mark};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Results of one kind from one input.
#[derive(Clone, Debug)]
pub struct Series {
    pub name: String,
    /// Where it was read from.
    pub origin: PathBuf,
    pub summaries: Vec<Summary>,
    /// Extra lines about the series (capacity facts of the scenario, cost model).
    pub notes: Vec<String>,
    /// Per class and per turn (breakdown.json of `simulate --out`).
    pub breakdown: Vec<Summary>,
    /// Agent task statistics per point and class (tasks.json of `simulate --out`).
    pub tasks: Vec<TaskRecord>,
    /// Capacity facts per point (capacity.json of `simulate --out`).
    pub capacity: Vec<Capacity>,
    /// Recorded runs given file by file: the folder they came from (files of one folder make
    /// one series).
    pub run_set: Option<PathBuf>,
}

impl Series {
    fn measured(&self) -> bool {
        self.summaries.iter().all(|s| s.source == "measured")
    }
}

fn bad(path: &Path, problem: impl Into<String>) -> InputError {
    InputError::new("", problem).in_file(path)
}

fn stem(path: &Path) -> String {
    let p = if path.file_name().is_some_and(|n| n == "summary.json") {
        path.parent().unwrap_or(path)
    } else {
        path
    };
    p.file_stem()
        .or_else(|| p.file_name())
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "results".into())
}

fn parse_summaries(path: &Path, value: Value) -> InputResult<Vec<Summary>> {
    let value = match value {
        Value::Array(_) => value,
        one => Value::Array(vec![one]),
    };
    serde_json::from_value(value).map_err(|e| bad(path, format!("not a capsim summary: {e}")))
}

/// Capacity facts of a folder's points, one note per distinct fact.
fn capacity_notes(capacity: &[Capacity]) -> Vec<String> {
    let varies = capacity.iter().any(|c| c.summary != capacity[0].summary);
    let mut notes: Vec<String> = Vec::new();
    for c in capacity {
        let note = if varies && !c.point.is_empty() {
            format!("at {}: {}", c.point.short_label(), c.summary)
        } else {
            c.summary.clone()
        };
        if !notes.contains(&note) {
            notes.push(note);
        }
    }
    notes
}

fn series(name: String, origin: &Path, summaries: Vec<Summary>) -> Series {
    Series {
        name,
        origin: origin.into(),
        summaries,
        notes: Vec::new(),
        breakdown: Vec::new(),
        tasks: Vec::new(),
        capacity: Vec::new(),
        run_set: None,
    }
}

/// Reads one input: a results folder (`simulate --out`, `spot --out`, `capsim merge`), a
/// summary JSON file (`simulate --json`), a `validate --json` file (a predicted and a measured
/// series), or recorded runs (capsim records, vllm bench or GuideLLM JSON, folders of them).
fn load_one(path: &Path) -> InputResult<Vec<Series>> {
    if path.is_dir() && path.join("summary.json").is_file() {
        let folder = Folder::read(path)?;
        let capacity: Vec<Capacity> = folder
            .points
            .iter()
            .filter_map(|p| p.capacity.clone())
            .collect();
        let mut s = series(
            stem(path),
            path,
            folder
                .points
                .iter()
                .filter_map(|p| p.summary.clone())
                .collect(),
        );
        if !capacity.is_empty() {
            s.notes = capacity_notes(&capacity);
        }
        s.capacity = capacity;
        s.breakdown = folder
            .points
            .iter()
            .flat_map(|p| p.breakdown.clone())
            .collect();
        s.tasks = folder.points.iter().flat_map(|p| p.tasks.clone()).collect();
        return Ok(vec![s]);
    }
    let name = stem(path);
    if path.is_file() && path.extension().is_some_and(|e| e == "json") {
        let text = std::fs::read_to_string(path).map_err(|e| bad(path, e.to_string()))?;
        let value: Value =
            serde_json::from_str(&text).map_err(|e| bad(path, format!("not JSON ({e})")))?;
        let first = match &value {
            Value::Array(a) => a.first().cloned().unwrap_or(Value::Null),
            other => other.clone(),
        };
        if first.get("predicted").is_some() && first.get("measured").is_some() {
            let points: Vec<PointValidation> = serde_json::from_value(value)
                .map_err(|e| bad(path, format!("not a capsim validation: {e}")))?;
            let split = |f: fn(&PointValidation) -> &Summary| -> Vec<Summary> {
                points.iter().map(f).cloned().collect()
            };
            return Ok(vec![
                series(format!("{name}: predicted"), path, split(|p| &p.predicted)),
                series(format!("{name}: measured"), path, split(|p| &p.measured)),
            ]);
        }
        if first.get("source").is_some() && first.get("output_throughput").is_some() {
            return Ok(vec![series(name, path, parse_summaries(path, value)?)]);
        }
    }
    // Recorded runs: measured by the same code as spot runs. Their concurrency and rate keys
    // are the scenario's, so they land on the same charts as simulations.
    let recorded = runs::load(&[path.to_path_buf()])?;
    let summaries = recorded
        .iter()
        .map(|r| {
            let mut s = r.measured();
            s.point = s
                .point
                .iter()
                .map(|(k, v)| {
                    let k = match k.as_str() {
                        "max_concurrency" => "workload.concurrency",
                        "request_rate" => "workload.rate",
                        other => other,
                    };
                    (k.to_string(), v.clone())
                })
                .collect();
            s
        })
        .collect();
    let mut s = series(name, path, summaries);
    if path.is_file() {
        s.run_set = path.parent().map(Path::to_path_buf);
    }
    Ok(vec![s])
}

/// Reads every input (results, and traces: `.csv` files or `builtin:NAME`); errors name the
/// file.
pub fn load(paths: &[PathBuf]) -> InputResult<(Vec<Series>, Vec<trace::TraceInput>)> {
    if paths.is_empty() {
        return Err(InputError::new(
            "RESULTS",
            "give at least one results folder or file",
        ));
    }
    let mut all = Vec::new();
    let mut traces = Vec::new();
    for p in paths {
        let text = p.to_string_lossy();
        if text.starts_with("builtin:") || p.extension().is_some_and(|e| e == "csv") {
            let rows = crate::workload::trace::load(p)?;
            let name = text
                .strip_prefix("builtin:")
                .map(String::from)
                .unwrap_or_else(|| stem(p));
            traces.push(trace::TraceInput { name, rows });
            continue;
        }
        if !p.exists() {
            return Err(bad(p, "no such file or folder"));
        }
        let series = load_one(p)?;
        if series.iter().all(|s| s.summaries.is_empty()) {
            return Err(bad(p, "holds no results"));
        }
        for s in series {
            // Recorded-run files from one folder are one run set: one series.
            let same = s.run_set.as_ref().and_then(|set| {
                all.iter_mut()
                    .find(|o: &&mut Series| o.run_set.as_ref() == Some(set))
            });
            match same {
                Some(o) => o.summaries.extend(s.summaries),
                None => {
                    let mut s = s;
                    if let Some(set) = &s.run_set {
                        s.name = stem(set);
                    }
                    all.push(s)
                }
            }
        }
    }
    Ok((all, traces))
}

/// "capsim report: NAME, NAME…" from the inputs' names.
pub fn default_title(series: &[Series], traces: &[trace::TraceInput]) -> String {
    let names: Vec<&str> = series
        .iter()
        .map(|s| s.name.as_str())
        .chain(traces.iter().map(|t| t.name.as_str()))
        .collect();
    format!("capsim report: {}", names.join(", "))
}

/// Words for a scenario key on an axis.
pub fn axis_name(key: &str) -> String {
    match key {
        "workload.concurrency" | "max_concurrency" => "concurrency (requests in flight)".into(),
        "workload.rate" | "request_rate" => "offered rate (req/s)".into(),
        "workload.input_tokens" => "prompt length (tokens)".into(),
        "workload.output_tokens" => "output length (tokens)".into(),
        "replicas" | "cluster.replicas" => "replicas (nodes)".into(),
        "hardware.gpus_per_replica" => "GPUs per replica (tensor parallel)".into(),
        "workload.time_scale" => "trace time scale".into(),
        other => match other.strip_prefix("workload.class[") {
            // A side class's key: "class[0] concurrency (requests in flight)".
            Some(rest) => match rest.split_once("].") {
                Some((i, key)) => format!("class[{i}] {}", axis_name(&format!("workload.{key}"))),
                None => other.into(),
            },
            None => other.into(),
        },
    }
}

fn short(key: &str) -> String {
    let last = key.rsplit('.').next().unwrap_or(key);
    match last {
        "input_tokens" => "prompt-length".into(),
        other => other.replace('_', "-"),
    }
}

fn fmt_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Points of one series along one swept key, the other keys fixed.
#[derive(Clone, Debug)]
pub struct Group {
    pub label: String,
    pub key: Option<String>,
    /// Sorted by the swept key.
    pub points: Vec<Summary>,
    pub analysis: Analysis,
    pub measured: bool,
    /// Groups with the same pairing key share a colour (a prediction and its measurement).
    pub pairing: String,
    /// The first swept value where more requests are in flight than the KV cache holds
    /// (they wait for room, or are preempted).
    pub kv_bound_from: Option<Value>,
}

fn numeric_key(points: &[Summary]) -> Option<String> {
    analysis::swept_key(points)
}

/// Splits a series into curves along its swept key.
pub fn groups(series: &Series) -> Vec<Group> {
    let key = numeric_key(&series.summaries);
    let mut by_rest: BTreeMap<String, (usize, Vec<Summary>)> = BTreeMap::new();
    for (i, s) in series.summaries.iter().enumerate() {
        let rest: Vec<String> = s
            .point
            .iter()
            .filter(|(k, _)| Some(*k) != key.as_ref() && k.as_str() != "run")
            .map(|(k, v)| format!("{}={}", k.rsplit('.').next().unwrap_or(k), fmt_value(v)))
            .collect();
        let entry = by_rest.entry(rest.join(", ")).or_insert((i, Vec::new()));
        entry.1.push(s.clone());
    }
    let mut groups: Vec<(usize, Group)> = by_rest
        .into_iter()
        .map(|(rest, (first, mut points))| {
            if let Some(k) = &key {
                points.sort_by(|a, b| {
                    let x = a.point.get(k).and_then(Value::as_f64).unwrap_or(f64::NAN);
                    let y = b.point.get(k).and_then(Value::as_f64).unwrap_or(f64::NAN);
                    x.total_cmp(&y)
                });
            }
            let label = if rest.is_empty() {
                series.name.clone()
            } else {
                format!("{} ({rest})", series.name)
            };
            let analysis = analysis::analyse(&points);
            let kv_bound_from = key.as_ref().and_then(|k| {
                points.iter().find_map(|s| {
                    let c = series.capacity.iter().find(|c| c.point == s.point)?;
                    (c.binding == "KV cache"
                        && (c.max_sequences_by_kv as f64) < s.mean_in_flight - 0.5)
                        .then(|| s.point.get(k).cloned())
                        .flatten()
                })
            });
            (
                first,
                Group {
                    label,
                    key: key.clone(),
                    points,
                    analysis,
                    measured: series.measured(),
                    pairing: format!("{}\u{0}{rest}", series.origin.display()),
                    kv_bound_from,
                },
            )
        })
        .collect();
    groups.sort_by_key(|(first, _)| *first);
    groups.into_iter().map(|(_, g)| g).collect()
}

fn x_of(s: &Summary, key: &str) -> f64 {
    s.point.get(key).and_then(Value::as_f64).unwrap_or(f64::NAN)
}

fn band_of(s: &Summary, field: Metric) -> Option<(f64, f64)> {
    let r = s.band.as_ref()?.get(&field)?;
    Some((r.low, r.high))
}

/// One metric of a group as a curve along its key.
fn curve(g: &Group, key: &str, field: Metric, label: String, dashed: bool, color: usize) -> Curve {
    let metric = |s: &Summary| s.metric(field);
    Curve {
        label,
        points: g.points.iter().map(|s| (x_of(s, key), metric(s))).collect(),
        band: g
            .points
            .iter()
            .filter_map(|s| band_of(s, field).map(|(lo, hi)| (x_of(s, key), lo, hi)))
            .collect(),
        measured: g.measured,
        dashed,
        color,
    }
}

/// A chart file written for the report.
#[derive(Clone, Debug)]
pub struct Figure {
    pub title: String,
    pub stem: String,
    pub caption: String,
}

/// The charts along one swept key, for the groups that sweep it.
fn charts_along(key: &str, groups: &[(usize, &Group)]) -> Vec<(Figure, Chart)> {
    let axis = axis_name(key);
    let what = short(key);
    let mut out = Vec::new();
    let title_x = axis.split(" (").next().unwrap_or(&axis).to_string();

    let mut tput = Chart::new(
        &format!("Output throughput vs {title_x}"),
        &axis,
        "output throughput (tok/s)",
    );
    for (color, g) in groups {
        tput.curves.push(curve(
            g,
            key,
            Metric::OutputThroughput,
            g.label.clone(),
            false,
            *color,
        ));
        if let Some(p) = &g.analysis.plateau {
            tput.levels.push(Level {
                label: format!(
                    "plateau {:.0} tok/s from {}",
                    p.output_throughput,
                    fmt_value(&p.starts_at)
                ),
                y: p.output_throughput,
                color: *color,
            });
        }
    }
    out.push((
        Figure {
            title: tput.title.clone(),
            stem: format!("throughput-vs-{what}"),
            caption: "Achieved output tokens per second; dashed: the plateau where throughput stops rising; shaded: the prediction band.".into(),
        },
        tput,
    ));

    let mut ttft = Chart::new(
        &format!("TTFT vs {title_x}"),
        &axis,
        "time to first token (ms)",
    );
    for (color, g) in groups {
        ttft.curves.push(curve(
            g,
            key,
            Metric::MedianTtft,
            format!("{} p50", g.label),
            false,
            *color,
        ));
        ttft.curves.push(curve(
            g,
            key,
            Metric::P99Ttft,
            format!("{} p99", g.label),
            true,
            *color,
        ));
    }
    out.push((
        Figure {
            title: ttft.title.clone(),
            stem: format!("ttft-vs-{what}"),
            caption: "Median (solid) and p99 (dashed) time to first token.".into(),
        },
        ttft,
    ));

    let mut tpot = Chart::new(
        &format!("TPOT and ITL vs {title_x}"),
        &axis,
        "time per output token (ms)",
    );
    for (color, g) in groups {
        tpot.curves.push(curve(
            g,
            key,
            Metric::MedianTpot,
            format!("{} TPOT p50", g.label),
            false,
            *color,
        ));
        tpot.curves.push(curve(
            g,
            key,
            Metric::P99Itl,
            format!("{} ITL p99", g.label),
            true,
            *color,
        ));
    }
    out.push((
        Figure {
            title: tpot.title.clone(),
            stem: format!("tpot-vs-{what}"),
            caption: "Median time per output token (solid) and p99 inter-token latency (dashed)."
                .into(),
        },
        tpot,
    ));

    let mut user = Chart::new(
        &format!("Per-user speed vs {title_x}"),
        &axis,
        "output tok/s seen by one user",
    );
    for (color, g) in groups {
        user.curves.push(curve(
            g,
            key,
            Metric::MeanUserOutputThroughput,
            g.label.clone(),
            false,
            *color,
        ));
    }
    out.push((
        Figure {
            title: user.title.clone(),
            stem: format!("user-speed-vs-{what}"),
            caption: "What one user sees: output tokens / (E2E − TTFT), averaged over requests."
                .into(),
        },
        user,
    ));
    out
}

/// The latency–throughput curve of every group, knees marked.
fn latency_throughput(groups: &[(usize, &Group)]) -> (Figure, Chart) {
    let mut c = Chart::new(
        "Latency vs throughput",
        "output throughput (tok/s)",
        "p99 TTFT (ms)",
    );
    for (color, g) in groups {
        c.curves.push(Curve {
            label: g.label.clone(),
            points: g
                .points
                .iter()
                .map(|s| (s.output_throughput, s.p99_ttft_ms))
                .collect(),
            band: Vec::new(),
            measured: g.measured,
            dashed: false,
            color: *color,
        });
        if let (Some(k), Some(key)) = (&g.analysis.knee, &g.key) {
            if let Some(s) = g.points.iter().find(|s| s.point.get(key) == Some(&k.value)) {
                c.marks.push(Mark {
                    label: format!("knee: {} = {}", short(key), fmt_value(&k.value)),
                    x: s.output_throughput,
                    y: s.p99_ttft_ms,
                    color: *color,
                });
            }
        }
    }
    (
        Figure {
            title: c.title.clone(),
            stem: "latency-vs-throughput".into(),
            caption: "Each point is one load level; the knee (triangle) is where p99 TTFT starts to grow faster than throughput (Kneedle).".into(),
        },
        c,
    )
}

/// What a group's sweep shows, in sentences.
fn findings(g: &Group) -> Vec<String> {
    let mut out = Vec::new();
    let Some(key) = &g.key else {
        if let Some(s) = g.points.first() {
            out.push(format!(
                "{} point(s); output {:.1} tok/s, p99 TTFT {:.0} ms",
                g.points.len(),
                s.output_throughput,
                s.p99_ttft_ms
            ));
        }
        return out;
    };
    let name = short(key);
    if let Some(k) = &g.analysis.knee {
        out.push(format!(
            "knee at {name} = {} (p99 TTFT grows faster than throughput past it)",
            fmt_value(&k.value)
        ));
    }
    if let Some(p) = &g.analysis.plateau {
        out.push(format!(
            "plateau from {name} = {}: {:.2} req/s, {:.1} output tok/s",
            fmt_value(&p.starts_at),
            p.request_throughput,
            p.output_throughput
        ));
    } else if g.points.len() >= 2
        && g.points[g.points.len() - 1].request_throughput < g.points[0].request_throughput
    {
        out.push("throughput falls along the sweep".into());
    } else {
        out.push("no plateau in this range (throughput still rises)".into());
    }
    if let Some(v) = &g.analysis.preemption_onset {
        out.push(format!(
            "KV cache runs out (preemptions) from {name} = {}",
            fmt_value(v)
        ));
    }
    // Longer prompts: say what makes throughput fall.
    if key.ends_with("input_tokens") && g.points.len() >= 2 {
        let (first, last) = (&g.points[0], &g.points[g.points.len() - 1]);
        if last.request_throughput < first.request_throughput * 0.95 {
            let drop = first.request_throughput / last.request_throughput.max(1e-12);
            out.push(match g.analysis.preemption_onset.as_ref().or(g.kv_bound_from.as_ref()) {
                Some(v) => format!(
                    "sustainable req/s falls {drop:.1}x as prompts grow: prefill compute below {name} = {}, then KV capacity (fewer requests fit the cache; the rest wait or are preempted)",
                    fmt_value(v)
                ),
                None => format!(
                    "sustainable req/s falls {drop:.1}x as prompts grow: prefill compute (the KV cache holds every request in flight in this range)"
                ),
            });
        }
    }
    if let Some(v) = &g.analysis.failure_onset {
        out.push(format!("requests fail from {name} = {}", fmt_value(v)));
    }
    out
}

/// The report as one self-contained HTML page: the markdown rendered, each chart's PNG
/// replaced by its SVG inline (no file beside it is needed to view it).
fn html(title: &str, md: &str, dir: &Path) -> String {
    let mut body = String::new();
    pulldown_cmark::html::push_html(&mut body, pulldown_cmark::Parser::new(md));
    // <img src="STEM.png" alt="..." /> → the chart's SVG.
    let mut out = String::with_capacity(body.len());
    let mut rest = body.as_str();
    while let Some(i) = rest.find("<img src=\"") {
        out.push_str(&rest[..i]);
        let after = &rest[i + "<img src=\"".len()..];
        let end = after.find('>').map_or(after.len(), |e| e + 1);
        let src = &after[..after.find('"').unwrap_or(0)];
        let svg = src
            .strip_suffix(".png")
            .and_then(|stem| std::fs::read_to_string(dir.join(format!("{stem}.svg"))).ok());
        match svg {
            Some(svg) => {
                let start = svg.find("<svg").unwrap_or(0);
                out.push_str(&svg[start..]);
            }
            None => out.push_str(&rest[i..i + "<img src=\"".len() + end]),
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    let esc = title.replace('&', "&amp;").replace('<', "&lt;");
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{esc}</title>\n<style>body{{font-family:'DejaVu Sans',sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222}}pre{{background:#f6f6f6;padding:.8em;overflow-x:auto}}svg{{max-width:100%;height:auto;display:block}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.2em .5em}}</style></head>\n<body>\n{out}</body></html>\n"
    )
}

/// Files a report folder holds that `capsim report` writes (replaced on a rewrite).
pub fn is_own_file(name: &str) -> bool {
    name == "report.md"
        || name == "report.html"
        || name.ends_with(".svg")
        || name.ends_with(".png")
        || name.ends_with(".csv")
}

/// Writes `report.md` and its charts into `dir` (replacing a previous report's files);
/// returns the report's path.
pub fn write(
    series: &[Series],
    traces: &[trace::TraceInput],
    title: &str,
    dir: &Path,
) -> Result<PathBuf, ChartError> {
    std::fs::create_dir_all(dir).map_err(ChartError::io(dir))?;
    crate::results::clear(dir, is_own_file).map_err(ChartError::io(dir))?;
    // One colour per pairing: a validation's prediction and measurement share it.
    let mut pairings: Vec<String> = Vec::new();
    let all_groups: Vec<(usize, Group)> = series
        .iter()
        .flat_map(groups)
        .map(|g| {
            let color = match pairings.iter().position(|p| *p == g.pairing) {
                Some(i) => i,
                None => {
                    pairings.push(g.pairing.clone());
                    pairings.len() - 1
                }
            };
            (color, g)
        })
        .collect();
    let mut md = String::new();
    let _ = writeln!(md, "# {title}\n");
    let _ = writeln!(md, "Generated by `capsim report` from:\n");
    for s in series {
        let kind = if s.measured() {
            "measured"
        } else {
            "simulated"
        };
        let cost = s
            .summaries
            .iter()
            .find_map(|x| x.cost_model.clone())
            .map(|c| format!("; cost model: {c}"))
            .unwrap_or_default();
        let _ = writeln!(
            md,
            "- **{}**: {} {kind} point(s) from `{}`{cost}",
            s.name,
            s.summaries.len(),
            s.origin.display()
        );
        for n in &s.notes {
            let _ = writeln!(md, "  - {n}");
        }
    }
    let mut figures: Vec<(Figure, Chart)> = Vec::new();
    if !traces.is_empty() {
        let _ = writeln!(md, "\n## Traces\n");
        for (i, t) in traces.iter().enumerate() {
            let (text, figs) = trace::section(t, i);
            md.push_str(&text);
            figures.extend(figs);
        }
    }
    let _ = writeln!(md, "\n## Findings\n");
    for (_, g) in &all_groups {
        let f = findings(g);
        let _ = writeln!(md, "- **{}**: {}", g.label, f.join("; "));
    }
    for s in series {
        for t in &s.tasks {
            let _ = writeln!(md, "- {}", task_line(&s.name, t));
        }
    }
    // Charts: along each swept key, then latency vs throughput.
    let mut keys: Vec<String> = Vec::new();
    for (_, g) in &all_groups {
        if let Some(k) = &g.key {
            if !keys.contains(k) {
                keys.push(k.clone());
            }
        }
    }
    for key in &keys {
        let along: Vec<(usize, &Group)> = all_groups
            .iter()
            .filter(|(_, g)| g.key.as_ref() == Some(key))
            .map(|(i, g)| (*i, g))
            .collect();
        figures.extend(charts_along(key, &along));
    }
    for s in series {
        figures.extend(task_charts(s));
    }
    let every: Vec<(usize, &Group)> = all_groups.iter().map(|(i, g)| (*i, g)).collect();
    if !every.is_empty() {
        figures.push(latency_throughput(&every));
    }
    let _ = writeln!(md, "\n## Charts\n");
    for (fig, chart) in &figures {
        if !chart.has_data() {
            continue;
        }
        chart.write(dir, &fig.stem)?;
        let _ = writeln!(
            md,
            "### {}\n\n![{}]({}.png)\n\n{} ([SVG]({}.svg))\n",
            fig.title, fig.title, fig.stem, fig.caption, fig.stem
        );
    }
    let _ = writeln!(md, "## Tables\n");
    for s in series {
        let _ = writeln!(
            md,
            "### {}\n\n```\n{}```\n",
            s.name,
            table::table(&s.summaries)
        );
        if !s.breakdown.is_empty() {
            let _ = writeln!(
                md,
                "By class and turn (TTFT per turn shows the prefix cache at work):\n\n```\n{}```\n",
                table::table(&s.breakdown)
            );
        }
    }
    let path = dir.join("report.md");
    std::fs::write(&path, &md).map_err(ChartError::io(&path))?;
    let all: Vec<Summary> = series.iter().flat_map(|s| s.summaries.clone()).collect();
    let csv_path = dir.join("summary.csv");
    std::fs::write(&csv_path, table::csv(&all)).map_err(ChartError::io(&csv_path))?;
    let html_path = dir.join("report.html");
    let html = html(title, &md, dir);
    std::fs::write(&html_path, html).map_err(ChartError::io(&html_path))?;
    Ok(path)
}

/// "at POINT (class): ..." for one tasks.json entry.
fn task_line(series: &str, t: &TaskRecord) -> String {
    let at = t.point.short_label();
    let st = &t.stats;
    let class = st
        .class
        .as_ref()
        .map(|c| format!(" ({c})"))
        .unwrap_or_default();
    format!(
        "**{series}{class}** tasks{}: {} done, mean {:.1} s{}; all done after {:.1} s{}; effective {:.1} output tok/s, {:.1} per task; {:.0}% of prompt tokens from the prefix cache",
        if at.is_empty() { String::new() } else { format!(" at {at}") },
        st.tasks,
        st.mean_task_s,
        t.solo_task_s
            .map(|s| format!(" (alone {s:.1} s: contention {:.2}x)", st.mean_task_s / s))
            .unwrap_or_default(),
        st.batch_completion_s,
        t.solo_task_s
            .map(|s| format!(" (one after another, alone: {:.1} s)", s * st.tasks as f64))
            .unwrap_or_default(),
        st.effective_output_throughput,
        st.mean_task_output_throughput,
        st.cached_share * 100.0,
    )
}

/// Swarm charts: tok/s and task time against the swept key, per class.
fn task_charts(s: &Series) -> Vec<(Figure, Chart)> {
    let key = s.tasks.iter().find_map(|t| {
        t.point.iter().find_map(|(k, v)| {
            let varies = s.tasks.iter().any(|u| u.point.get(k) != Some(v));
            (v.is_number() && varies).then(|| k.clone())
        })
    });
    let Some(key) = key else {
        return Vec::new();
    };
    let mut classes: Vec<Option<String>> = Vec::new();
    for t in &s.tasks {
        if !classes.contains(&t.stats.class) {
            classes.push(t.stats.class.clone());
        }
    }
    let axis = axis_name(&key);
    let title_x = axis.split(" (").next().unwrap_or(&axis).to_string();
    let mut tput = Chart::new(
        &format!("Agent tasks: throughput vs {title_x}"),
        &axis,
        "output tok/s",
    );
    let mut time = Chart::new(&format!("Agent tasks: time vs {title_x}"), &axis, "seconds");
    for (i, class) in classes.iter().enumerate() {
        let pts = |field: fn(&TaskStats) -> f64| -> Vec<(f64, f64)> {
            s.tasks
                .iter()
                .filter(|t| t.stats.class == *class)
                .map(|t| (t.point.number(&key).unwrap_or(f64::NAN), field(&t.stats)))
                .collect()
        };
        let name = class.as_ref().map(|c| format!("{c}: ")).unwrap_or_default();
        let curve = |label: String, points, dashed, color| Curve {
            label,
            points,
            band: Vec::new(),
            measured: false,
            dashed,
            color,
        };
        tput.curves.push(curve(
            format!("{name}all tasks (effective)"),
            pts(|t| t.effective_output_throughput),
            false,
            i * 2,
        ));
        tput.curves.push(curve(
            format!("{name}one task"),
            pts(|t| t.mean_task_output_throughput),
            true,
            i * 2 + 1,
        ));
        time.curves.push(curve(
            format!("{name}mean task"),
            pts(|t| t.mean_task_s),
            false,
            i * 2,
        ));
        time.curves.push(curve(
            format!("{name}whole batch"),
            pts(|t| t.batch_completion_s),
            true,
            i * 2 + 1,
        ));
        let serial: Vec<(f64, f64)> = s
            .tasks
            .iter()
            .filter(|t| t.stats.class == *class)
            .filter_map(|t| Some((t.point.number(&key)?, t.solo_task_s? * t.stats.tasks as f64)))
            .collect();
        if !serial.is_empty() {
            time.curves.push(curve(
                format!("{name}one after another, alone"),
                serial,
                true,
                i * 2 + 2,
            ));
        }
    }
    vec![
        (
            Figure {
                title: tput.title.clone(),
                stem: format!("tasks-throughput-vs-{}", short(&key)),
                caption: "Output tokens per second of all tasks together (solid) and of one task (dashed): more agents raise the first and slow the second.".into(),
            },
            tput,
        ),
        (
            Figure {
                title: time.title.clone(),
                stem: format!("tasks-time-vs-{}", short(&key)),
                caption: "Mean task time, when the whole batch is done, and the same tasks run one after another on an idle server.".into(),
            },
            time,
        ),
    ]
}
