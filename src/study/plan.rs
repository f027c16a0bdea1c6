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
    /// Which way the search went: "least" (replicas; load that reaches a throughput floor) or
    /// "most" (load that latency and failure limits allow).
    pub direction: String,
    pub answer: Option<serde_json::Value>,
    /// The SLO metric with the least room at the answer (or the one missed, when none works).
    pub binding: Option<Metric>,
    /// Its room at the answer in percent of its limit (positive: headroom; negative: over).
    pub margin_pct: Option<f64>,
    /// Its value at the answer, and its limit.
    pub binding_value: Option<f64>,
    pub binding_limit: Option<f64>,
    /// What limits the answer, in words.
    pub mechanism: Option<String>,
    /// The nearest candidate on the other side of the answer, its value of the binding metric,
    /// and whether the answer sits on a cliff (the metric jumps by more than half across it).
    pub neighbour: Option<serde_json::Value>,
    pub neighbour_value: Option<f64>,
    pub cliff: bool,
    /// The answer each seed alone gives (among the candidates simulated).
    pub seed_answers: Vec<Option<serde_json::Value>>,
    /// Whether failed requests were allowed (`--allow-failures`); by default a candidate with
    /// any failed request misses.
    pub failures_allowed: bool,
    /// No candidate meets every SLO: the closest one, and by how much it misses.
    pub unmet: Option<String>,
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
    /// The sweep's fingerprint ([`crate::spec::sweep_fingerprint`]) and the seeds each
    /// candidate ran at: shards merge only when both, the target and the SLOs agree.
    pub sweep: String,
    pub seeds: u32,
}

/// A candidate simulated: its value, whether it passed at every seed, the worst seed's summary,
/// and each seed's pass.
type Candidate = (f64, bool, Summary, Vec<bool>);

struct Search<'a> {
    base: &'a Spec,
    slos: &'a [Slo],
    /// The SLOs the search moves against (all, or those load makes harder).
    gating: Vec<Slo>,
    allow_failures: bool,
    find: Find,
    seeds: u32,
    evaluated: Vec<Candidate>,
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

    fn variant(&self, x: f64) -> InputResult<Spec> {
        match self.find {
            Find::Replicas => self.base.with_replicas(x as u32),
            Find::Rate => self.base.with_rate(x),
            Find::Concurrency => self.base.with_concurrency(x as u32),
            Find::InputTokens => self.base.with_input_tokens(x as u32),
        }
    }

    /// Whether one seed's summary passes: every gating SLO, and no failed request unless
    /// failures are allowed.
    fn passes(&self, s: &Summary) -> bool {
        self.gating.iter().all(|slo| slo.met(s)) && (self.allow_failures || s.failed == 0)
    }

    /// Simulates candidate `x` at every seed; passes when all seeds pass.
    fn eval(&mut self, x: f64) -> InputResult<bool> {
        if let Some(c) = self.evaluated.iter().find(|c| c.0 == x) {
            return Ok(c.1);
        }
        let sc = self.variant(x)?;
        let summaries: Vec<Summary> = (0..self.seeds.max(1))
            .into_par_iter()
            .map(|s| {
                let point = sc.with_seed_offset(s as u64);
                let result =
                    super::simulate::simulate_central(&point, super::simulate::Keep::Summary);
                result.within_horizon(&point)?;
                let mut summary = result.summary;
                summary.point = Point::new();
                summary.point.insert(
                    self.find.key().into(),
                    crate::spec::toml_to_json(&self.value(x)),
                );
                Ok(summary)
            })
            .collect::<InputResult<_>>()?;
        let worst = summaries
            .iter()
            .min_by(|a, b| self.margin(a).total_cmp(&self.margin(b)))
            .expect("at least one seed")
            .clone();
        let per_seed: Vec<bool> = summaries.iter().map(|s| self.passes(s)).collect();
        let ok = per_seed.iter().all(|p| *p);
        self.evaluated.push((x, ok, worst, per_seed));
        (self.progress)(&format!(
            "{} = {} {}",
            self.find.key(),
            x,
            if ok { "meets the SLOs" } else { "misses" }
        ));
        Ok(ok)
    }

    fn margin(&self, s: &Summary) -> f64 {
        let failures = if self.allow_failures || s.failed == 0 {
            f64::INFINITY
        } else {
            -100.0 * s.failed as f64 / (s.completed + s.failed).max(1) as f64
        };
        self.gating
            .iter()
            .map(|slo| {
                let m = slo.margin_pct(s);
                if m.is_nan() {
                    f64::NEG_INFINITY
                } else {
                    m
                }
            })
            .fold(failures, f64::min)
    }

    fn summary_at(&self, x: f64) -> &Summary {
        &self
            .evaluated
            .iter()
            .find(|c| c.0 == x)
            .expect("evaluated")
            .2
    }
}

/// Why the closest candidate `x` misses: each SLO it misses with its value, and failures.
fn misses(s: &Search, x: f64) -> String {
    let worst = s.summary_at(x);
    let mut missed: Vec<String> = s
        .slos
        .iter()
        .filter(|slo| !slo.met(worst))
        .map(|slo| {
            format!(
                "{} ({} = {:.3}, over by {:.1}%)",
                slo.text,
                slo.metric,
                slo.value(worst),
                -slo.margin_pct(worst)
            )
        })
        .collect();
    if !s.allow_failures && worst.failed > 0 {
        missed.push(format!(
            "{} of {} requests failed (pass --allow-failures to accept failures)",
            worst.failed,
            worst.failed + worst.completed
        ));
    }
    format!(
        "no {} meets the SLOs; the closest is {} = {x}, where {}",
        s.find.name(),
        s.find.key(),
        missed.join(", ")
    )
}

/// How a plan searches.
#[derive(Clone, Copy, Debug)]
pub struct PlanOptions {
    pub find: Find,
    /// Each candidate is simulated at this many seeds and must pass at all.
    pub seeds: u32,
    /// Accept candidates with failed requests (by default any failure misses).
    pub allow_failures: bool,
}

/// Runs a plan for the scenario at `path` (its first point when it has a sweep).
pub fn plan(
    path: &Path,
    sets: &[Override],
    slos: &[Slo],
    opts: &PlanOptions,
) -> InputResult<PlanResult> {
    let base = spec::load(path, sets)?.remove(0);
    plan_point(&base, slos, opts, &|_| {})
}

/// Runs a plan for every point of the scenario's sweep in `shard` (one plan without a sweep),
/// telling `progress` about each candidate simulated.
pub fn plan_sweep(
    path: &Path,
    sets: &[Override],
    slos: &[Slo],
    opts: &PlanOptions,
    shard: crate::results::shard::Shard,
    progress: &(dyn Fn(&str) + Sync),
) -> InputResult<Vec<PlanResult>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| InputError::new("", format!("cannot read the scenario: {e}")).in_file(path))?;
    // A sweep over the searched key is what the search replaces: drop that key from it.
    let mut sets = sets.to_vec();
    if let Ok(doc) = text.parse::<toml::Table>() {
        if let Some(toml::Value::Table(mut sweep)) = doc.get("sweep").cloned() {
            if sweep.remove(opts.find.key()).is_some() {
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
    let sweep = spec::sweep_fingerprint(&all);
    let mut out = Vec::with_capacity(indices.len());
    for i in indices {
        let mut r = plan_point(&all[i], slos, opts, progress)?;
        r.point = all[i].point.clone();
        r.index = i;
        r.points = all.len();
        r.sweep = sweep.clone();
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
            // One study: the same sweep, target, SLOs, seeds and failure rule.
            if let Some(first) = slots.iter().flatten().next() {
                for key in ["sweep", "find", "slo", "seeds", "failures_allowed"] {
                    if item[key] != first[key] {
                        return Err(bad(format!(
                            "point {i} was planned with {key} {} where the first point merged has {}: merge the shards of one plan",
                            item[key], first[key]
                        )));
                    }
                }
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
    opts: &PlanOptions,
    progress: &(dyn Fn(&str) + Sync),
) -> InputResult<PlanResult> {
    let find = opts.find;
    if slos.is_empty() {
        return Err(InputError::new(
            "--slo",
            "give at least one SLO, e.g. --slo 'p99_ttft_ms<=500'",
        ));
    }
    let path = base.file.as_path();
    // The arrival process must have the knob being searched.
    let closed = matches!(
        base.workload.arrival,
        crate::workload::Arrival::Closed { .. }
    );
    if find == Find::Rate && !matches!(base.workload.arrival, crate::workload::Arrival::Open { .. })
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
    if find == Find::InputTokens
        && matches!(
            base.workload.arrival,
            crate::workload::Arrival::Trace { .. }
        )
    {
        return Err(InputError::new(
            "--find",
            "input_tokens needs a workload whose prompts have one length to vary: a trace gives each request its own",
        )
        .in_file(path));
    }
    // Which way to search: replicas always the least; load the least that reaches a
    // throughput floor when every SLO is one, else the most that the other SLOs allow (a
    // floor is then checked at that most).
    let all_floors = slos.iter().all(|slo| slo.helped_by_load());
    let least = find.minimise() || all_floors;
    let gating: Vec<Slo> = if find.minimise() || all_floors {
        slos.to_vec()
    } else {
        slos.iter()
            .filter(|slo| !slo.helped_by_load())
            .cloned()
            .collect()
    };
    let mut s = Search {
        base,
        slos,
        gating,
        allow_failures: opts.allow_failures,
        find,
        seeds: opts.seeds,
        evaluated: Vec::new(),
        progress,
    };
    let mut notes = Vec::new();
    let (start, limit) = match find {
        Find::Replicas => (1.0, 4096.0),
        Find::Rate => (0.01, 1e6),
        Find::Concurrency => (1.0, 65536.0),
        Find::InputTokens => (1.0, longest_prompt(s.base)? as f64),
    };
    let integer = find != Find::Rate;
    let mid = |lo: f64, hi: f64| {
        if integer {
            ((lo + hi) / 2.0).floor()
        } else {
            (lo + hi) / 2.0
        }
    };
    let done = |lo: f64, hi: f64| {
        if integer {
            hi - lo <= 1.0
        } else {
            hi - lo <= 0.01 * lo.max(0.01)
        }
    };
    let mut closest: Option<f64> = None;
    let answer: Option<f64> = if least {
        // The least that passes: double from the start until one passes, then bisect.
        let mut hi = start;
        let mut ok = s.eval(hi)?;
        while !ok && hi < limit {
            hi = (if hi < 1.0 { 1.0 } else { hi * 2.0 }).min(limit);
            ok = s.eval(hi)?;
        }
        if !ok {
            closest = Some(hi);
            None
        } else {
            let mut lo = if hi == start { hi } else { hi / 2.0 };
            if lo < hi {
                while !done(lo, hi) {
                    let m = mid(lo, hi);
                    if s.eval(m)? {
                        hi = m;
                    } else {
                        lo = m;
                    }
                }
            }
            Some(hi)
        }
    } else {
        // The most that passes: the least load must, then double until a miss, then bisect.
        if !s.eval(start)? {
            closest = Some(start);
            None
        } else {
            let mut lo = start;
            let mut hi = if find == Find::Rate { 0.5 } else { 2.0 };
            let mut all_pass = false;
            loop {
                if !s.eval(hi)? {
                    break;
                }
                lo = hi;
                if hi >= limit {
                    notes.push(format!(
                        "every value up to {limit}{} meets the SLOs",
                        if find == Find::InputTokens {
                            " (the longest prompt the engine's context leaves room for, with the workload's output)"
                        } else {
                            ""
                        }
                    ));
                    all_pass = true;
                    break;
                }
                hi = (hi * 2.0).min(limit);
            }
            if !all_pass {
                while !done(lo, hi) {
                    let m = mid(lo, hi);
                    if s.eval(m)? {
                        lo = m;
                    } else {
                        hi = m;
                    }
                }
            }
            // A throughput floor is met, if at all, at the most load the others allow.
            let at = s.summary_at(lo).clone();
            if slos.iter().all(|slo| slo.met(&at)) {
                Some(lo)
            } else {
                closest = Some(lo);
                None
            }
        }
    };
    // Monotonicity: passes on the near side of the answer, misses on the far side.
    if let Some(a) = answer {
        let contradictions: Vec<f64> = s
            .evaluated
            .iter()
            .filter(|c| {
                let near = if least { c.0 >= a } else { c.0 <= a };
                near != c.1
            })
            .map(|c| c.0)
            .collect();
        if !contradictions.is_empty() {
            notes.push(format!(
                "not monotone: {} at {:?} contradicts the answer {a}; the answer is the edge the search found",
                find.key(),
                contradictions
            ));
        }
    }
    let at = answer
        .or(closest)
        .expect("an answer or a closest candidate");
    let summary = s.summary_at(at).clone();
    // The binding SLO: the least room at the answer (the worst miss at the closest).
    let binding = slos
        .iter()
        .map(|slo| (slo, slo.margin_pct(&summary)))
        .min_by(|x, y| x.1.total_cmp(&y.1));
    let failures_bind = !opts.allow_failures && summary.failed > 0;
    let mechanism = if failures_bind {
        Some(format!(
            "{} of {} requests failed ({})",
            summary.failed,
            summary.failed + summary.completed,
            "too long for the engine, timed out or refused by a full queue"
        ))
    } else {
        binding.map(|(slo, _)| mechanism(&s, at, slo.metric, &summary))
    };
    // The nearest candidate on the other side, and whether the answer sits on a cliff.
    let other = s
        .evaluated
        .iter()
        .filter(|c| if least { c.0 < at } else { c.0 > at })
        .min_by(|a, b| (a.0 - at).abs().total_cmp(&(b.0 - at).abs()));
    let (neighbour, neighbour_value, cliff) = match (other, binding) {
        (Some(c), Some((slo, _))) if answer.is_some() => {
            let here = slo.value(&summary);
            let there = slo.value(&c.2);
            let cliff = here.abs() > 0.0 && (there / here - 1.0).abs() > 0.5;
            (
                Some(crate::spec::toml_to_json(&s.value(c.0))),
                Some(there),
                cliff,
            )
        }
        _ => (None, None, false),
    };
    // Each seed's own answer among the candidates simulated.
    let seed_answers: Vec<Option<serde_json::Value>> = (0..opts.seeds.max(1) as usize)
        .map(|k| {
            let passing = s
                .evaluated
                .iter()
                .filter(|c| c.3.get(k).copied().unwrap_or(false));
            let best = if least {
                passing.map(|c| c.0).fold(f64::INFINITY, f64::min)
            } else {
                passing.map(|c| c.0).fold(f64::NEG_INFINITY, f64::max)
            };
            best.is_finite()
                .then(|| crate::spec::toml_to_json(&s.value(best)))
        })
        .collect();
    let unmet = answer.is_none().then(|| misses(&s, at));
    let answer_json = answer.map(|a| crate::spec::toml_to_json(&s.value(a)));
    Ok(PlanResult {
        find: find.name().into(),
        direction: if least { "least" } else { "most" }.into(),
        answer: answer_json,
        binding: binding.map(|b| b.0.metric),
        margin_pct: binding.map(|b| b.1),
        binding_value: binding.map(|b| b.0.value(&summary)),
        binding_limit: binding.map(|b| b.0.limit),
        mechanism,
        neighbour,
        neighbour_value,
        cliff,
        seed_answers,
        failures_allowed: opts.allow_failures,
        unmet,
        slo: slos.iter().map(|x| x.text.clone()).collect(),
        evaluated: s.evaluated.into_iter().map(|c| c.2).collect(),
        notes,
        point: Point::new(),
        index: 0,
        points: 1,
        sweep: String::new(),
        seeds: s.seeds.max(1),
    })
}

/// What limits the answer, in words, from the binding metric and the engine's state there.
fn mechanism(s: &Search, x: f64, metric: Metric, summary: &Summary) -> String {
    let name = metric.name();
    let Ok(sc) = s.variant(x) else {
        return String::new();
    };
    let cap = crate::spec::capacity::Capacity::of(&sc);
    let per_replica = summary.mean_in_flight / sc.replicas.max(1) as f64;
    if name.contains("ttft") || name.contains("e2el") {
        if per_replica > cap.max_concurrent as f64 {
            return format!(
                "{}: {:.0} requests in flight per replica where {} fit at once; the rest wait",
                cap.binding, per_replica, cap.max_concurrent
            );
        }
        // The prompt at the metric's own percentile (p99 TTFT: the p99 prompt), from the
        // scenario's one request source.
        let q = if name.starts_with("p99") {
            0.99
        } else if name.starts_with("p90") {
            0.90
        } else {
            0.5
        };
        // Up to 20,000 prompts of every class: enough for a p99.
        let mut prompts: Vec<f64> = crate::workload::RequestSource::new(&sc.workload)
            .classes
            .iter_mut()
            .flat_map(|class| std::iter::from_fn(|| class.next_request()).take(20_000))
            .map(|r| r.input as f64)
            .collect();
        prompts.sort_unstable_by(f64::total_cmp);
        let at_q = crate::metrics::percentile_sorted(&prompts, q * 100.0)
            .round()
            .max(1.0) as u64;
        let alone = sc.cost.prefill_step(at_q).as_secs_f64() * 1e3;
        let v = summary.metric(metric);
        let which = if q == 0.5 { "median" } else { &name[..3] };
        if name.contains("ttft") && alone >= 0.8 * v {
            format!(
                "a lone prompt's prefill: the {which} prompt ({at_q} tokens) takes {alone:.0} ms on an idle replica, {:.0}% of {name}; more replicas barely help",
                alone / v * 100.0
            )
        } else {
            format!(
                "queueing: {per_replica:.1} requests in flight per replica wait behind each other's prefills (the {which} prompt, {at_q} tokens, alone takes {alone:.0} ms)"
            )
        }
    } else if name.contains("tpot") || name.contains("itl") || name.contains("user") {
        format!(
            "decode speed: each step serves ~{per_replica:.0} sequences per replica, and every sequence waits for the whole step"
        )
    } else {
        format!("throughput of {} replica(s) at this load", sc.replicas)
    }
}

/// The longest fixed prompt the scenario's engine takes with its workload's output (vLLM's
/// max_model_len, a llama-server slot's context): the upper end of an input_tokens search.
fn longest_prompt(base: &Spec) -> InputResult<u32> {
    let fits = |n: u32| base.with_input_tokens(n).is_ok();
    if !fits(1) {
        return Err(InputError::new(
            "--find",
            "input_tokens: not even a one-token prompt fits the engine's context with this workload's output",
        )
        .in_file(&base.file));
    }
    let (mut lo, mut hi) = (1u32, crate::workload::LengthDist::MAX_TOKENS);
    if fits(hi) {
        return Ok(hi);
    }
    while hi - lo > 1 {
        let m = lo + (hi - lo) / 2;
        if fits(m) {
            lo = m;
        } else {
            hi = m;
        }
    }
    Ok(lo)
}
