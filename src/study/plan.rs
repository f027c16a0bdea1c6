//! `capsim plan`: the least replicas, or the most rate / concurrency / prompt length, that still
//! meets every SLO. Bracketing by doubling, then bisection; each candidate is simulated at
//! several seeds and must pass at all of them (the worst seed's summary is kept). The search
//! assumes monotonicity and checks it: every evaluated point is compared with the answer, and
//! a contradiction is reported in `notes`.

use crate::analysis::slo::Slo;
use crate::error::{InputError, InputResult};
use crate::metrics::{Metric, Point, Summary};
use crate::spec::{self, Override, Spec};
use rayon::prelude::*;
use serde::Serialize;
use std::path::Path;

/// What a plan searches for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Find {
    Replicas,
    Rate,
    Concurrency,
    InputTokens,
}

impl Find {
    pub fn parse(s: &str) -> InputResult<Find> {
        Ok(match s {
            "replicas" => Find::Replicas,
            "rate" => Find::Rate,
            "concurrency" => Find::Concurrency,
            "input_tokens" => Find::InputTokens,
            other => {
                return Err(InputError::new(
                    "--find",
                    format!("unknown target '{other}' (expected replicas, rate, concurrency or input_tokens)"),
                ))
            }
        })
    }

    pub fn key(self) -> &'static str {
        match self {
            Find::Replicas => "cluster.replicas",
            Find::Rate => "workload.rate",
            Find::Concurrency => "workload.concurrency",
            Find::InputTokens => "workload.input_tokens",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Find::Replicas => "replicas",
            Find::Rate => "rate",
            Find::Concurrency => "concurrency",
            Find::InputTokens => "input_tokens",
        }
    }

    /// Replicas are minimised; the others maximised.
    fn minimise(self) -> bool {
        self == Find::Replicas
    }
}

/// The answer of a plan (`plan --json`).
#[derive(Clone, Debug, Serialize)]
pub struct PlanResult {
    pub find: String,
    pub answer: Option<serde_json::Value>,
    /// The SLO metric with the least room at the answer.
    pub binding: Option<Metric>,
    pub margin_pct: Option<f64>,
    pub slo: Vec<String>,
    /// Every candidate simulated (worst seed), in search order.
    pub evaluated: Vec<Summary>,
    pub notes: Vec<String>,
    /// The sweep point this plan is for (empty without a sweep).
    #[serde(skip_serializing_if = "Point::is_empty")]
    pub point: Point,
    /// Its index in the sweep and the sweep's size (so shards merge).
    pub index: usize,
    pub points: usize,
}

struct Search<'a> {
    base: &'a Spec,
    slos: &'a [Slo],
    find: Find,
    seeds: u32,
    evaluated: Vec<(f64, bool, Summary)>,
    /// Told about every candidate simulated.
    progress: &'a (dyn Fn(&str) + Sync),
}

impl Search<'_> {
    fn value(&self, x: f64) -> toml::Value {
        if self.find == Find::Rate {
            toml::Value::Float(x)
        } else {
            toml::Value::Integer(x as i64)
        }
    }

    /// Simulates candidate `x` at every seed; passes when all seeds meet all SLOs.
    fn eval(&mut self, x: f64) -> InputResult<bool> {
        if let Some((_, ok, _)) = self.evaluated.iter().find(|(v, _, _)| *v == x) {
            return Ok(*ok);
        }
        let sc = match self.find {
            Find::Replicas => self.base.with_replicas(x as u32),
            Find::Rate => self.base.with_rate(x),
            Find::Concurrency => self.base.with_concurrency(x as u32),
            Find::InputTokens => self.base.with_input_tokens(x as u32),
        }?;
        let summaries: Vec<Summary> = (0..self.seeds.max(1))
            .into_par_iter()
            .map(|s| {
                let point = sc.with_seed_offset(s as u64);
                let mut summary =
                    super::simulate::simulate_central(&point, super::simulate::Keep::Summary)
                        .summary;
                summary.point = Point::new();
                summary.point.insert(
                    self.find.key().into(),
                    crate::spec::toml_to_json(&self.value(x)),
                );
                summary
            })
            .collect();
        let worst = summaries
            .iter()
            .min_by(|a, b| self.margin(a).total_cmp(&self.margin(b)))
            .expect("at least one seed")
            .clone();
        let ok = summaries
            .iter()
            .all(|s| self.slos.iter().all(|slo| slo.met(s)));
        self.evaluated.push((x, ok, worst));
        (self.progress)(&format!(
            "{} = {} {}",
            self.find.key(),
            x,
            if ok { "meets the SLOs" } else { "misses" }
        ));
        Ok(ok)
    }

    fn margin(&self, s: &Summary) -> f64 {
        self.slos
            .iter()
            .map(|slo| {
                let m = slo.margin_pct(s);
                if m.is_nan() {
                    f64::NEG_INFINITY
                } else {
                    m
                }
            })
            .fold(f64::INFINITY, f64::min)
    }

    fn summary_at(&self, x: f64) -> &Summary {
        &self
            .evaluated
            .iter()
            .find(|(v, _, _)| *v == x)
            .expect("evaluated")
            .2
    }
}

/// The SLOs cannot be met even at the easiest candidate `x`: say which miss, by how much.
fn impossible(s: &Search, slos: &[Slo], x: f64) -> InputError {
    let worst = s.summary_at(x).clone();
    let missed: Vec<String> = slos
        .iter()
        .filter(|slo| !slo.met(&worst))
        .map(|slo| format!("{} ({} = {:.3})", slo.text, slo.metric, slo.value(&worst)))
        .collect();
    InputError::new(
        "--slo",
        format!(
            "cannot be met even at {} = {x}: {} misses it",
            s.find.key(),
            missed.join(", ")
        ),
    )
    .in_file(&s.base.file)
}

/// Runs a plan for the scenario at `path` (its first point when it has a sweep).
pub fn plan(
    path: &Path,
    sets: &[Override],
    slos: &[Slo],
    find: Find,
    seeds: u32,
) -> InputResult<PlanResult> {
    let base = spec::load(path, sets)?.remove(0);
    plan_point(&base, slos, find, seeds, &|_| {})
}

/// Runs a plan for every point of the scenario's sweep in `shard` (one plan without a sweep),
/// telling `progress` about each candidate simulated.
pub fn plan_sweep(
    path: &Path,
    sets: &[Override],
    slos: &[Slo],
    find: Find,
    seeds: u32,
    shard: crate::results::shard::Shard,
    progress: &(dyn Fn(&str) + Sync),
) -> InputResult<Vec<PlanResult>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| InputError::new("", format!("cannot read the scenario: {e}")).in_file(path))?;
    // A sweep over the searched key is what the search replaces: drop that key from it.
    let mut sets = sets.to_vec();
    if let Ok(doc) = text.parse::<toml::Table>() {
        if let Some(toml::Value::Table(mut sweep)) = doc.get("sweep").cloned() {
            if sweep.remove(find.key()).is_some() {
                sets.push(Override {
                    path: vec!["sweep".into()],
                    value: toml::Value::Table(sweep),
                });
            }
        }
    }
    let sets = &sets[..];
    let all = spec::from_str(&text, path, sets)?;
    let indices = shard.indices(all.len());
    if indices.is_empty() {
        return Err(InputError::new(
            "--shard",
            format!(
                "shard {}/{} holds no points: the sweep has {}",
                shard.shard,
                shard.of,
                all.len()
            ),
        ));
    }
    let mut out = Vec::with_capacity(indices.len());
    for i in indices {
        let mut r = plan_point(&all[i], slos, find, seeds, progress)?;
        r.point = all[i].point.clone();
        r.index = i;
        r.points = all.len();
        out.push(r);
    }
    Ok(out)
}

/// Puts the JSON of sharded `plan --json` runs back in sweep order, checking every point is
/// there once.
pub fn merge_json(files: &[std::path::PathBuf]) -> InputResult<Vec<serde_json::Value>> {
    let mut slots: Vec<Option<serde_json::Value>> = Vec::new();
    for f in files {
        let bad = |p: String| InputError::new("", p).in_file(f);
        let text = std::fs::read_to_string(f).map_err(|e| bad(e.to_string()))?;
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| bad(format!("not JSON ({e})")))?;
        let items = match v {
            serde_json::Value::Array(a) => a,
            one => vec![one],
        };
        for item in items {
            let (Some(i), Some(n)) = (item["index"].as_u64(), item["points"].as_u64()) else {
                return Err(bad("not the output of plan --json (no index/points)".into()));
            };
            let (i, n) = (i as usize, n as usize);
            if slots.is_empty() {
                slots = vec![None; n];
            }
            if n != slots.len() || i >= n {
                return Err(bad(format!(
                    "point {i} of {n} does not belong to a sweep of {}",
                    slots.len()
                )));
            }
            if slots[i].is_some() {
                return Err(bad(format!("point {i} is in two shards")));
            }
            slots[i] = Some(item);
        }
    }
    let missing: Vec<usize> = (0..slots.len()).filter(|&i| slots[i].is_none()).collect();
    if !missing.is_empty() || slots.is_empty() {
        return Err(InputError::new(
            "merge",
            format!("points {missing:?} are missing: merge every shard"),
        ));
    }
    Ok(slots.into_iter().flatten().collect())
}

fn plan_point(
    base: &Spec,
    slos: &[Slo],
    find: Find,
    seeds: u32,
    progress: &(dyn Fn(&str) + Sync),
) -> InputResult<PlanResult> {
    if slos.is_empty() {
        return Err(InputError::new(
            "--slo",
            "give at least one SLO, e.g. --slo 'p99_ttft_ms<=500'",
        ));
    }
    let path = base.file.as_path();
    let mut s = Search {
        base,
        slos,
        find,
        seeds,
        evaluated: Vec::new(),
        progress,
    };
    // The arrival process must have the knob being searched.
    let probe = base;
    let closed = matches!(
        probe.workload.arrival,
        crate::workload::Arrival::Closed { .. }
    );
    if find == Find::Rate
        && !matches!(
            probe.workload.arrival,
            crate::workload::Arrival::Open { .. }
        )
    {
        return Err(InputError::new(
            "--find",
            "rate needs an open-loop arrival (poisson, gamma or constant)",
        )
        .in_file(path));
    }
    if find == Find::Concurrency && !closed {
        return Err(
            InputError::new("--find", "concurrency needs arrival = \"closed\" (users)")
                .in_file(path),
        );
    }
    let mut notes = Vec::new();
    let answer: Option<f64> = if find.minimise() {
        // Least replicas: 1, 2, 4, … until one passes, then bisect.
        let limit = 4096.0;
        let mut hi = 1.0;
        let mut ok = s.eval(hi)?;
        while !ok && hi < limit {
            hi = (hi * 2.0_f64).min(limit);
            ok = s.eval(hi)?;
        }
        if !ok {
            return Err(impossible(&s, slos, hi));
        } else {
            let mut lo = hi / 2.0; // failed (or below 1)
            while hi - lo > 1.0 && lo >= 1.0 {
                let mid = ((lo + hi) / 2.0).floor();
                if s.eval(mid)? {
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
            Some(hi)
        }
    } else {
        // Most load: the least must pass, then double until a failure, then bisect.
        let (start, limit, step_precision) = match find {
            Find::Rate => (0.01, 1e6, 0.01),
            Find::Concurrency => (1.0, 65536.0, 0.0),
            _ => (1.0, (1u64 << 30) as f64, 0.0),
        };
        if !s.eval(start)? {
            return Err(impossible(&s, slos, start));
        }
        let mut lo = start;
        let mut hi = if find == Find::Rate { 0.5 } else { 2.0 };
        let mut all_pass = false;
        loop {
            if !s.eval(hi)? {
                break;
            }
            lo = hi;
            if hi >= limit {
                notes.push(format!("every value up to {limit} meets the SLOs"));
                all_pass = true;
                break;
            }
            hi = (hi * 2.0).min(limit);
        }
        if all_pass {
            Some(lo)
        } else {
            loop {
                let done = if find == Find::Rate {
                    hi - lo <= step_precision * lo.max(0.01)
                } else {
                    hi - lo <= 1.0
                };
                if done {
                    break;
                }
                let mid = if find == Find::Rate {
                    (lo + hi) / 2.0
                } else {
                    ((lo + hi) / 2.0).floor()
                };
                if s.eval(mid)? {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            Some(lo)
        }
    };
    // Monotonicity: passes on the near side of the answer, failures on the far side.
    if let Some(a) = answer {
        let contradictions: Vec<f64> = s
            .evaluated
            .iter()
            .filter(|(x, ok, _)| {
                let near = if find.minimise() { *x >= a } else { *x <= a };
                near != *ok
            })
            .map(|(x, _, _)| *x)
            .collect();
        if !contradictions.is_empty() {
            notes.push(format!(
                "not monotone: {} at {:?} contradicts the answer {a}; the answer is the edge the search found",
                find.key(),
                contradictions
            ));
        }
    }
    let (binding, margin) = match answer {
        Some(a) => {
            let at = s.summary_at(a);
            let b = slos
                .iter()
                .map(|slo| (slo.metric, slo.margin_pct(at)))
                .min_by(|x, y| x.1.total_cmp(&y.1));
            (b.map(|b| b.0), b.map(|b| b.1))
        }
        None => {
            notes.push(format!(
                "no {} up to the search limit meets the SLOs",
                find.name()
            ));
            (None, None)
        }
    };
    let answer_json = answer.map(|a| crate::spec::toml_to_json(&s.value(a)));
    Ok(PlanResult {
        find: find.name().into(),
        answer: answer_json,
        binding,
        margin_pct: margin,
        slo: slos.iter().map(|x| x.text.clone()).collect(),
        evaluated: s.evaluated.into_iter().map(|(_, _, sum)| sum).collect(),
        notes,
        point: Point::new(),
        index: 0,
        points: 1,
    })
}
