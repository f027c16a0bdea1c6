//! `capsim validate`: simulate exactly the points that recorded runs measured, and compare
//! prediction with measurement metric by metric. Each run's workload comes from the run itself
//! (capsim: the `[workload]` table saved in metadata.json, same seed, so the same requests;
//! vllm bench: concurrency, rate, burstiness and the per-request lengths); the scenario
//! supplies model, hardware, engine, cluster and calibration.

use crate::calibrate::runs::RecordedRun;
use crate::error::{InputError, InputResult};
use crate::live;
use crate::metrics::{Summary, METRIC_FIELDS};
use crate::scenario::{self, Override};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// One measured point against its prediction.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PointValidation {
    pub point: serde_json::Map<String, serde_json::Value>,
    pub predicted: Summary,
    pub measured: Summary,
    /// (predicted − measured) / measured, in percent.
    pub error_pct: BTreeMap<String, f64>,
    /// Whether the measured value lies inside the predicted band (absent: no band).
    pub in_band: BTreeMap<String, bool>,
}

fn json_to_toml(v: &serde_json::Value) -> Option<toml::Value> {
    toml::Value::try_from(v).ok()
}

/// The `[workload]` table that reproduces a run.
fn workload_of(run: &RecordedRun) -> (toml::Table, serde_json::Map<String, serde_json::Value>) {
    if let Some(meta) = &run.metadata {
        if let Some(toml::Value::Table(t)) = json_to_toml(&meta.workload) {
            return (t, meta.point.clone());
        }
    }
    let n = run.records.len();
    let lengths = |f: fn(&crate::metrics::RequestRecord) -> u32| {
        let values: Vec<toml::Value> = run
            .records
            .iter()
            .map(|r| toml::Value::Integer(f(r) as i64))
            .collect();
        let mut t = toml::Table::new();
        t.insert("dist".into(), "empirical".into());
        t.insert("values".into(), toml::Value::Array(values));
        toml::Value::Table(t)
    };
    let mut w = toml::Table::new();
    let mut point = serde_json::Map::new();
    let cap = run.max_concurrency.map(|c| c.max(1));
    match run.request_rate {
        Some(rate) => {
            let burst = run.burstiness.unwrap_or(1.0);
            w.insert(
                "arrival".into(),
                if (burst - 1.0).abs() < 1e-9 {
                    "poisson"
                } else {
                    "gamma"
                }
                .into(),
            );
            w.insert("rate".into(), rate.into());
            w.insert("burstiness".into(), burst.into());
            if let Some(c) = cap {
                w.insert("concurrency".into(), (c as i64).into());
            }
            point.insert("request_rate".into(), rate.into());
        }
        None => {
            let users = cap.unwrap_or_else(|| run.mean_in_flight().round().max(1.0) as u32);
            w.insert("arrival".into(), "closed".into());
            w.insert("concurrency".into(), (users as i64).into());
            point.insert("max_concurrency".into(), users.into());
        }
    }
    w.insert("num_requests".into(), (n as i64).into());
    w.insert("input_tokens".into(), lengths(|r| r.input_tokens.max(1)));
    w.insert("output_tokens".into(), lengths(|r| r.output_tokens.max(1)));
    point.insert("run".into(), run.source.clone().into());
    (w, point)
}

/// Validates the scenario against every run.
pub fn validate(
    scenario_path: &Path,
    sets: &[Override],
    runs: &[RecordedRun],
) -> InputResult<Vec<PointValidation>> {
    let text = std::fs::read_to_string(scenario_path).map_err(|e| {
        InputError::new("", format!("cannot read the scenario: {e}")).in_file(scenario_path)
    })?;
    let mut out = Vec::with_capacity(runs.len());
    for run in runs {
        let (workload, point) = workload_of(run);
        let mut all = sets.to_vec();
        all.push(Override {
            path: vec!["workload".into()],
            value: toml::Value::Table(workload),
        });
        all.push(Override {
            path: vec!["sweep".into()],
            value: toml::Value::Table(toml::Table::new()),
        });
        let mut points = scenario::from_str(&text, scenario_path, &all)?;
        let mut sc = points.remove(0);
        sc.point = point.clone();
        let simulated = sc.simulate();
        let predicted = simulated.summary;
        let measured = live::summarize_records(point.clone(), &run.records);
        // Multi-turn and multi-class runs: every class and turn is a point of its own too.
        let mut parts = Vec::new();
        if sc.workload.has_structure() {
            use crate::analysis::breakdown::breakdown;
            let p = breakdown(&point, "simulated", &simulated.records);
            let m = breakdown(&point, "measured", &run.records);
            for ms in m {
                if let Some(ps) = p.iter().find(|ps| ps.point == ms.point) {
                    parts.push((ps.clone(), ms));
                }
            }
        }
        out.push(compare(point.clone(), predicted, measured));
        for (p, m) in parts {
            out.push(compare(m.point.clone(), p, m));
        }
    }
    Ok(out)
}

/// One point's prediction against its measurement, metric by metric.
fn compare(
    point: serde_json::Map<String, serde_json::Value>,
    predicted: Summary,
    measured: Summary,
) -> PointValidation {
    {
        let mut error_pct = BTreeMap::new();
        let mut in_band = BTreeMap::new();
        for field in METRIC_FIELDS {
            let (Some(p), Some(m)) = (predicted.metric(field), measured.metric(field)) else {
                continue;
            };
            if p.is_finite() && m.is_finite() && m != 0.0 {
                error_pct.insert(field.to_string(), (p - m) / m * 100.0);
            }
            if let Some(range) = predicted.band.as_ref().and_then(|b| b.get(*field)) {
                if m.is_finite() {
                    in_band.insert(field.to_string(), m >= range.low && m <= range.high);
                }
            }
        }
        PointValidation {
            point,
            predicted,
            measured,
            error_pct,
            in_band,
        }
    }
}

/// Mean absolute percentage error of each metric over the points.
pub fn mape(points: &[PointValidation]) -> BTreeMap<String, f64> {
    let mut sums: BTreeMap<String, (f64, usize)> = BTreeMap::new();
    for p in points {
        for (k, e) in &p.error_pct {
            let entry = sums.entry(k.clone()).or_insert((0.0, 0));
            entry.0 += e.abs();
            entry.1 += 1;
        }
    }
    sums.into_iter()
        .map(|(k, (s, n))| (k, s / n as f64))
        .collect()
}

/// A human table: per point, predicted / measured / error for the headline metrics; then MAPE.
pub fn table(points: &[PointValidation]) -> String {
    use std::fmt::Write as _;
    let fields = [
        ("output_throughput", "out tok/s"),
        ("request_throughput", "req/s"),
        ("median_ttft_ms", "TTFT p50"),
        ("p99_ttft_ms", "TTFT p99"),
        ("mean_tpot_ms", "TPOT mean"),
        ("p99_itl_ms", "ITL p99"),
        ("median_e2el_ms", "E2E p50"),
    ];
    let mut s = String::new();
    for p in points {
        let at: Vec<String> = p.point.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = writeln!(
            s,
            "point {}",
            if at.is_empty() {
                "-".into()
            } else {
                at.join(", ")
            }
        );
        let _ = writeln!(
            s,
            "  {:<12} {:>22} {:>10} {:>8} {:>7}",
            "metric", "predicted (band)", "measured", "error", "in band"
        );
        for (f, name) in fields {
            let pred = p.predicted.metric(f).unwrap_or(f64::NAN);
            let meas = p.measured.metric(f).unwrap_or(f64::NAN);
            let band = p
                .predicted
                .band
                .as_ref()
                .and_then(|b| b.get(f))
                .map_or(String::new(), |r| format!(" ({:.1}–{:.1})", r.low, r.high));
            let err = p
                .error_pct
                .get(f)
                .map_or("-".into(), |e| format!("{e:+.1}%"));
            let inb = p
                .in_band
                .get(f)
                .map_or("-", |b| if *b { "yes" } else { "no" });
            let _ = writeln!(
                s,
                "  {:<12} {:>22} {:>10.1} {:>8} {:>7}",
                name,
                format!("{pred:.1}{band}"),
                meas,
                err,
                inb
            );
        }
    }
    let m = mape(points);
    let _ = writeln!(s, "MAPE over {} point(s):", points.len());
    for (f, name) in fields {
        if let Some(v) = m.get(f) {
            let _ = writeln!(s, "  {name:<12} {v:>6.1}%");
        }
    }
    s
}
