//! `capsim validate`: simulate exactly the points that recorded runs measured, and compare
//! prediction with measurement metric by metric. Each run's workload comes from the run itself
//! (capsim: the `[workload]` table saved in metadata.json, same seed, so the same requests;
//! vllm bench and GuideLLM: concurrency, rate, burstiness and the per-request lengths, or the
//! mean lengths of a file that states only its summary); the scenario supplies model,
//! hardware, engine, cluster and calibration. Both sides are summaries made by the one summary
//! function.

use super::simulate::simulate;
use crate::error::InputResult;
use crate::metrics::{Metric, Point, RequestRecord, Summary};
use crate::results::Run;
use crate::spec::Spec;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One measured point against its prediction.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PointValidation {
    pub point: Point,
    pub predicted: Summary,
    pub measured: Summary,
    /// (predicted − measured) / measured, in percent.
    pub error_pct: BTreeMap<Metric, f64>,
    /// Whether the measured value lies inside the predicted band (absent: no band).
    pub in_band: BTreeMap<Metric, bool>,
    /// What the server itself counted over the run (vLLM's `/metrics`), next to the
    /// simulation's counts; absent where the run has no such counters (llama-server, vllm bench
    /// and GuideLLM files), whose summaries carry 0 preemptions for want of a count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_counted: Option<ServerCounted>,
}

/// A count the simulation predicts and the server counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counted {
    pub predicted: u64,
    pub counted: u64,
}

/// The server's counters of one run against the prediction (each absent when the server did
/// not report it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerCounted {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preemptions: Option<Counted>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_cache_hit_tokens: Option<Counted>,
}

impl ServerCounted {
    /// The run's counters against `predicted`; None when the server reported neither.
    fn of(run: &Run, predicted: &Summary) -> Option<ServerCounted> {
        let c = &run.metadata.as_ref()?.server_counters;
        let pair = |predicted: u64, counted: Option<u64>| {
            counted.map(|counted| Counted { predicted, counted })
        };
        let out = ServerCounted {
            preemptions: pair(predicted.preemptions, c.preemptions),
            prefix_cache_hit_tokens: pair(
                predicted.prefix_cache_hit_tokens,
                c.prefix_cache_hit_tokens,
            ),
        };
        (out != ServerCounted::default()).then_some(out)
    }
}

fn json_to_toml(v: &serde_json::Value) -> Option<toml::Value> {
    toml::Value::try_from(v).ok()
}

/// The `[workload]` table that reproduces a run, and the point it measured.
pub fn workload_of(run: &Run) -> (toml::Table, Point) {
    if let Some(meta) = &run.metadata {
        if let Some(toml::Value::Table(t)) = json_to_toml(&meta.workload) {
            let mut point = meta.point.clone();
            point.insert("run".into(), run.source.clone().into());
            return (t, point);
        }
    }
    let ok: Vec<&RequestRecord> = run.records.iter().collect();
    let stated = run.measured();
    let lengths = |f: fn(&RequestRecord) -> u32, total: u64| -> toml::Value {
        if ok.is_empty() {
            // A file with only its summary: every request at the mean length.
            let n = stated.completed.max(1);
            return toml::Value::Integer((total as f64 / n as f64).round().max(1.0) as i64);
        }
        let values: Vec<toml::Value> = ok
            .iter()
            .map(|r| toml::Value::Integer(f(r).max(1) as i64))
            .collect();
        let mut t = toml::Table::new();
        t.insert("dist".into(), "empirical".into());
        t.insert("values".into(), toml::Value::Array(values));
        toml::Value::Table(t)
    };
    let n = if ok.is_empty() {
        stated.completed + stated.failed
    } else {
        ok.len() as u64
    };
    let mut w = toml::Table::new();
    let mut point = run.point.clone();
    let cap = run.max_concurrency.map(|c| c.max(1));
    match run.request_rate {
        Some(rate) => {
            let burst = run.burstiness.unwrap_or(1.0);
            let arrival = if run.constant_rate {
                "constant"
            } else if (burst - 1.0).abs() < 1e-9 {
                "poisson"
            } else {
                "gamma"
            };
            w.insert("arrival".into(), arrival.into());
            w.insert("rate".into(), rate.into());
            if arrival == "gamma" {
                w.insert("burstiness".into(), burst.into());
            }
            if let Some(c) = cap {
                w.insert("concurrency".into(), (c as i64).into());
            }
        }
        None => {
            let users = cap.unwrap_or_else(|| run.mean_in_flight().round().max(1.0) as u32);
            w.insert("arrival".into(), "closed".into());
            w.insert("concurrency".into(), (users as i64).into());
            point
                .entry("max_concurrency")
                .or_insert_with(|| users.into());
        }
    }
    w.insert("num_requests".into(), (n.max(1) as i64).into());
    w.insert(
        "input_tokens".into(),
        lengths(|r| r.input_tokens, stated.total_input_tokens),
    );
    w.insert(
        "output_tokens".into(),
        lengths(|r| r.output_tokens, stated.total_output_tokens),
    );
    point.insert("run".into(), run.source.clone().into());
    (w, point)
}

/// Validates the resolved scenario against every run.
pub fn validate(spec: &Spec, runs: &[Run]) -> InputResult<Vec<PointValidation>> {
    let mut out = Vec::with_capacity(runs.len());
    for run in runs {
        let (workload, point) = workload_of(run);
        let sc = spec.with_workload_table(workload, point.clone())?;
        let simulated = simulate(&sc);
        simulated.within_horizon(&sc)?;
        let mut measured = run.measured();
        measured.point = point.clone();
        let predicted = simulated.summary;
        // Multi-turn and multi-class runs: every class and turn is a point of its own too.
        let mut parts = Vec::new();
        if sc.workload.has_structure() && !run.records.is_empty() {
            use crate::analysis::breakdown::breakdown;
            let p = breakdown(&point, "simulated", &simulated.records);
            let m = breakdown(&point, "measured", &run.records);
            for ms in m {
                if let Some(ps) = p.iter().find(|ps| ps.point == ms.point) {
                    parts.push((ps.clone(), ms));
                }
            }
        }
        let counted = ServerCounted::of(run, &predicted);
        let mut main = compare(point.clone(), predicted, measured);
        main.server_counted = counted;
        out.push(main);
        for (p, m) in parts {
            out.push(compare(m.point.clone(), p, m));
        }
    }
    Ok(out)
}

/// One point's prediction against its measurement, metric by metric.
pub fn compare(point: Point, predicted: Summary, measured: Summary) -> PointValidation {
    let mut error_pct = BTreeMap::new();
    let mut in_band = BTreeMap::new();
    for m in Metric::banded_metrics() {
        let (p, v) = (predicted.metric(m), measured.metric(m));
        if p.is_finite() && v.is_finite() && v != 0.0 {
            error_pct.insert(m, (p - v) / v * 100.0);
        }
        if let Some(range) = predicted.band.as_ref().and_then(|b| b.get(&m)) {
            if v.is_finite() {
                in_band.insert(m, range.contains(v));
            }
        }
    }
    PointValidation {
        point,
        predicted,
        measured,
        error_pct,
        in_band,
        server_counted: None,
    }
}

/// Mean absolute percentage error of each metric over the points.
pub fn mape(points: &[PointValidation]) -> BTreeMap<Metric, f64> {
    let mut sums: BTreeMap<Metric, (f64, usize)> = BTreeMap::new();
    for p in points {
        for (k, e) in &p.error_pct {
            let entry = sums.entry(*k).or_insert((0.0, 0));
            entry.0 += e.abs();
            entry.1 += 1;
        }
    }
    sums.into_iter()
        .map(|(k, (s, n))| (k, s / n as f64))
        .collect()
}

/// The headline metrics whose bands validation reports on: throughput, TPOT, TTFT p50 and p99,
/// E2E p50.
pub const HEADLINE: &[Metric] = &[
    Metric::OutputThroughput,
    Metric::MeanTpot,
    Metric::MedianTtft,
    Metric::P99Ttft,
    Metric::MedianE2el,
];

/// How often measured values fell inside their predicted bands, and how wide the bands are.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Coverage {
    pub inside: usize,
    pub total: usize,
    /// Median over those values of (high − low) / the central prediction.
    pub median_relative_width: f64,
}

impl Coverage {
    pub fn share(&self) -> f64 {
        self.inside as f64 / self.total.max(1) as f64
    }
}

/// Band coverage of the headline metrics over the points (those with a band).
pub fn coverage(points: &[PointValidation]) -> Option<Coverage> {
    let mut widths = Vec::new();
    let (mut inside, mut total) = (0, 0);
    for p in points {
        let Some(band) = &p.predicted.band else {
            continue;
        };
        for m in HEADLINE {
            let (Some(r), Some(hit)) = (band.get(m), p.in_band.get(m)) else {
                continue;
            };
            total += 1;
            inside += usize::from(*hit);
            let c = p.predicted.metric(*m);
            if c.is_finite() && c != 0.0 {
                widths.push((r.high - r.low) / c.abs());
            }
        }
    }
    (total > 0).then(|| Coverage {
        inside,
        total,
        median_relative_width: crate::metrics::median(&mut widths).unwrap_or(f64::NAN),
    })
}
