//! Priors from the published corpus: each used row implies the value of one coefficient (the
//! one its measurement mostly depends on), found by simulating the row's scenario with the
//! same code as any prediction; a group's prior is the median of what its GPUs imply (each
//! GPU's own median, one vote each), its spread their scatter within GPUs and the spread a new
//! GPU falls from the GPUs measured (for a group whose values come from one GPU,
//! the between-GPU scatter its family's other groups measured: a new GPU differs from the one
//! it was fitted on as GPUs differ elsewhere). Leave-one-GPU-out cross-validation refits
//! without a GPU and predicts that GPU's rows, band included, as `simulate` would.
//!
//! What each kind of row implies: single-stream decode → bandwidth efficiency (after a
//! per-layer launch cost fitted per engine family); prefill → compute efficiency;
//! aggregate throughput → vLLM: bandwidth efficiency too; llama.cpp: the bandwidth factor of
//! its batched (multi-token) passes. TTFTs only check the fit; the API server's time per
//! request stays at its documented default. A group takes its own value only from rows on
//! two GPUs or more, or four rows on one. Runs with more than [`SATURATED`] requests in flight
//! only check the fit, except long-prompt runs ([`LONG_PROMPT`]), whose throughput is prefill
//! and implies the compute efficiency.
//!
//! Groups: engine family × GPU generation × format family × dense/MoE, with coarser groups
//! (the generation's class — datacenter or client — with and without the format, then any
//! GPU with and without the format, then the family) for keys the corpus has too few rows
//! for (fewer than [`MIN_ROWS`] for a coefficient); a family with too few starts from the
//! datasheet defaults. Families never borrow each other's values.

use super::corpus::{Kind, Row};
use crate::cost::priors::{Prior, PriorKey, PriorTable};
use crate::cost::{Coefficients, EngineFamily, FormatFamily};
use crate::error::InputResult;
use crate::hardware::Arch;
use crate::metrics::Range;
use crate::spec::Spec;
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

/// Rows a group needs before its own median replaces the coarser group's.
pub const MIN_ROWS: usize = 2;
/// Requests in flight beyond which a row only checks the fit (see [`prepare`]).
pub const SATURATED: u32 = 64;
/// A run whose prompts are at least this long, and [`LONG_PROMPT_RATIO`] times its outputs,
/// is its engine's prefill at work however many requests are in flight (see [`prepare`]).
pub const LONG_PROMPT: u32 = 1024;
/// See [`LONG_PROMPT`].
pub const LONG_PROMPT_RATIO: u32 = 10;
/// Smallest spread a prior carries (5%): no group is known better than that.
const MIN_SPREAD: f64 = 0.05;
/// The datasheet prior's spreads (log scale), for a family without rows.
const DEFAULT_BW_SPREAD: f64 = 0.15;
/// See [`DEFAULT_BW_SPREAD`].
const DEFAULT_FLOPS_SPREAD: f64 = 0.25;
/// See [`DEFAULT_BW_SPREAD`].
const DEFAULT_BATCH_SPREAD: f64 = 0.3;

/// The coefficient a row implies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Param {
    Bandwidth,
    Compute,
    Batch,
    Request,
}

impl Param {
    pub fn name(self) -> &'static str {
        match self {
            Param::Bandwidth => "bandwidth efficiency",
            Param::Compute => "compute efficiency",
            Param::Batch => "batched-step bandwidth factor",
            Param::Request => "API-server ms per request",
        }
    }
}

/// A used corpus row, resolved.
#[derive(Clone)]
pub struct Prepared {
    pub row: Row,
    pub spec: Spec,
    pub key: PriorKey,
    pub param: Option<Param>,
}

/// Resolves every used row of the corpus.
pub fn prepare(rows: &[Row]) -> InputResult<Vec<Prepared>> {
    rows.iter()
        .filter(|r| r.used())
        .map(|r| {
            let spec = r.spec(&[])?;
            let key = PriorKey {
                family: spec.cost.physics.family,
                arch: spec.device.arch(),
                format: FormatFamily::of(spec.weight_dtype),
                moe: spec.model.moe.is_some(),
            };
            let saturated = r.concurrency.parse::<u32>().is_ok_and(|c| c > SATURATED);
            let setup = r.setup.as_ref().expect("used rows have a setup");
            let long_prompts = setup.prompt >= LONG_PROMPT
                && setup.prompt >= LONG_PROMPT_RATIO * setup.output_most;
            let param = match r.kind {
                // Long-prompt throughput runs are the engine's prefill at work, however many
                // are in flight: the KV cache holds a few dozen such requests, and the API
                // server handles a few per second. They imply the compute efficiency.
                Kind::Aggregate
                    if saturated && long_prompts && key.family == EngineFamily::Vllm =>
                {
                    Some(Param::Compute)
                }
                // Other runs with hundreds of requests in flight are bound by what the
                // coefficients do not describe (the API server streaming to every client and
                // taking in a burst of requests, scheduling at that scale): they check the
                // fit, they do not set it.
                _ if saturated => None,
                Kind::Decode => Some(Param::Bandwidth),
                Kind::Prefill => Some(Param::Compute),
                // vLLM's batched throughput is its bandwidth efficiency at work (its batched
                // GEMMs are the ordinary ones); llama.cpp's batched passes (`mul_mat_id` for
                // MoE) differ from its decode kernels, so they imply a factor of their own.
                Kind::Aggregate if key.family == EngineFamily::LlamaCpp => Some(Param::Batch),
                Kind::Aggregate => Some(bound_by(&spec, r)),
                // TTFTs check the fit; the API server's time per request is not fitted from
                // them (a few light-load rows would lend it every other error of theirs).
                Kind::Ttft => None,
            };
            Ok(Prepared {
                row: r.clone(),
                spec,
                key,
                param,
            })
        })
        .collect()
}

/// What binds a vLLM run's decode steps at its batch (the smaller of its concurrency and
/// `max_num_seqs`) and mid-run context: compute efficiency when its steps are compute-bound,
/// bandwidth efficiency otherwise. A saturated run implies the one that limits it.
fn bound_by(spec: &Spec, r: &Row) -> Param {
    let setup = r.setup.as_ref().expect("used rows have a setup");
    let concurrency: u32 = r.concurrency.parse().unwrap_or(1);
    let seqs = match &spec.engine {
        crate::spec::EngineSpec::Vllm { config, .. } => config.max_num_seqs,
        crate::spec::EngineSpec::LlamaCpp(c) => c.parallel,
    };
    let batch = concurrency.min(seqs).max(1);
    let context = setup.prompt as u64 + 100;
    let b = spec
        .cost
        .breakdown(&crate::cost::StepShape::decode(batch, context));
    if b.compute_s > b.memory_s {
        Param::Compute
    } else {
        Param::Bandwidth
    }
}

/// The coefficients being fitted (one set, as a group's prior holds them).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Values {
    bw: f64,
    flops: f64,
    per_layer_ms: f64,
    per_seq_ms: f64,
    batch: f64,
    overhead_ms: f64,
    request_ms: f64,
}

impl Values {
    /// Where the fit starts for a family: the datasheet defaults, and the API server's time
    /// per request ([`crate::cost::physics::VLLM_FRONTEND_REQUEST_MS`]).
    fn start(family: EngineFamily) -> Values {
        let d = Coefficients::datasheet_defaults();
        Values {
            bw: d.bw_efficiency,
            flops: d.flops_efficiency,
            per_layer_ms: 0.0,
            per_seq_ms: d.per_seq_s * 1e3,
            batch: 1.0,
            // llama.cpp has no separate scheduler process: its fixed cost per step is in the
            // per-layer launches.
            overhead_ms: match family {
                EngineFamily::Vllm => d.overhead_s * 1e3,
                EngineFamily::LlamaCpp => 0.0,
            },
            request_ms: match family {
                EngineFamily::Vllm => crate::cost::physics::VLLM_FRONTEND_REQUEST_MS,
                EngineFamily::LlamaCpp => crate::cost::physics::LLAMACPP_FRONTEND_REQUEST_MS,
            },
        }
    }

    fn set(&mut self, p: Param, v: f64) {
        match p {
            Param::Bandwidth => self.bw = v,
            Param::Compute => self.flops = v,
            Param::Batch => self.batch = v,
            Param::Request => self.request_ms = v,
        }
    }

    fn coefficients(&self) -> Coefficients {
        Coefficients {
            overhead_s: self.overhead_ms / 1e3,
            per_layer_s: self.per_layer_ms / 1e3,
            per_seq_s: self.per_seq_ms / 1e3,
            bw_efficiency: self.bw,
            batch_bw_factor: self.batch,
            flops_efficiency: self.flops,
            ..Coefficients::datasheet_defaults()
        }
    }
}

/// The row's measure simulated with `v` (central prediction).
fn predict(p: &Prepared, v: &Values) -> f64 {
    let spec = p
        .spec
        .with_coefficients(v.coefficients(), v.request_ms / 1e3);
    let s = super::simulate::simulate_central(&spec, super::simulate::Keep::Summary).summary;
    let setup = p.row.setup.as_ref().expect("used rows have a setup");
    setup.measure.of(&s, setup.prompt)
}

/// The value of `param` that makes the row's prediction equal its measurement (others at
/// `v`), by bisection in log space; None when no value in range explains it.
fn implied(p: &Prepared, param: Param, v: &Values) -> Option<f64> {
    let (lo, hi) = match param {
        Param::Bandwidth | Param::Compute => (0.02, 1.5),
        Param::Batch => (0.1, 5.0),
        Param::Request => (0.01, 500.0),
    };
    let target = p.row.value;
    let at = |x: f64| {
        let mut w = *v;
        w.set(param, x);
        predict(p, &w)
    };
    let (flo, fhi) = (at(lo), at(hi));
    if !(flo.is_finite() && fhi.is_finite()) {
        return None;
    }
    // Which way the measure moves with the parameter.
    let rising = fhi > flo;
    let below = |f: f64| if rising { f < target } else { f > target };
    if below(fhi) || !below(flo) {
        return None;
    }
    let (mut a, mut b) = (lo.ln(), hi.ln());
    for _ in 0..18 {
        let m = 0.5 * (a + b);
        if below(at(m.exp())) {
            a = m;
        } else {
            b = m;
        }
    }
    Some((0.5 * (a + b)).exp())
}

/// The spread of implied values: the standard deviation of their logs around the median
/// (not a robust scale: a prediction for an unseen GPU meets the tails too).
fn log_spread(values: &[f64]) -> f64 {
    let Some(med) = median(values) else {
        return 0.0;
    };
    let m = med.ln();
    (values.iter().map(|v| (v.ln() - m).powi(2)).sum::<f64>() / values.len() as f64).sqrt()
}

/// How far a new GPU's value falls from the median of `values`, the GPUs measured so far: their
/// sample standard deviation (logs, around the median, n − 1 degrees of freedom) times
/// √(1 + 1/n), the textbook prediction interval for one more member of the population. Two GPUs
/// that happen to agree say little about the third: the plain standard deviation of two values
/// is on average 0.8 of the population's, and the median of n carries its own error.
fn new_member_spread(values: &[f64]) -> f64 {
    let n = values.len() as f64;
    if n < 2.0 {
        return 0.0;
    }
    log_spread(values) * (n / (n - 1.0)).sqrt() * (1.0 + 1.0 / n).sqrt()
}

/// The coefficients in the order they are fitted.
const PARAMS: [Param; 4] = [
    Param::Bandwidth,
    Param::Compute,
    Param::Batch,
    Param::Request,
];

/// The scatter between GPUs that a group fitted on one GPU cannot measure: the root mean
/// square of the between-GPU scatter of every group (of the same engine family, else of any)
/// whose values come from two GPUs or more; the datasheet prior's spread where none does.
/// `between` gives each group's scatter per coefficient (in [`PARAMS`] order), if it has one.
fn pooled_between(
    between: &BTreeMap<GroupKey, [Option<f64>; 4]>,
) -> impl Fn(Option<EngineFamily>, Param) -> f64 + '_ {
    move |family: Option<EngineFamily>, param: Param| {
        let i = PARAMS
            .iter()
            .position(|p| *p == param)
            .expect("a parameter");
        let rms = |same: bool| {
            let xs: Vec<f64> = between
                .iter()
                .filter(|(g, _)| !same || g.0 == family)
                .filter_map(|(_, b)| b[i])
                .collect();
            (!xs.is_empty())
                .then(|| (xs.iter().map(|x| x * x).sum::<f64>() / xs.len() as f64).sqrt())
        };
        rms(true).or_else(|| rms(false)).unwrap_or(match param {
            Param::Bandwidth => DEFAULT_BW_SPREAD,
            Param::Compute => DEFAULT_FLOPS_SPREAD,
            Param::Batch => DEFAULT_BATCH_SPREAD,
            Param::Request => 0.0,
        })
    }
}

fn median(values: &[f64]) -> Option<f64> {
    crate::metrics::median(&mut values.to_vec())
}

/// The levels of grouping, most specific first; `None` parts match anything. The second
/// part is the generation, or (coarser) the class of GPU.
type GroupKey = (
    Option<EngineFamily>,
    Option<Scope>,
    Option<FormatFamily>,
    Option<bool>,
);

/// A GPU generation, or a class of generations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Scope {
    Arch(Arch),
    Class(&'static str),
}

fn levels(k: &PriorKey) -> [GroupKey; 10] {
    let (f, a, c) = (
        Some(k.family),
        Some(Scope::Arch(k.arch)),
        Some(Scope::Class(k.arch.class())),
    );
    let (fmt, moe) = (Some(k.format), Some(k.moe));
    // The GPU's generation, then its class, then any GPU: a GPU's memory system shapes its
    // efficiencies more than the weight format does (whose kernel the cost model already
    // knows).
    [
        (f, a, fmt, moe),
        (f, a, fmt, None),
        (f, c, fmt, moe),
        (f, c, fmt, None),
        (f, c, None, moe),
        (f, c, None, None),
        (f, None, fmt, moe),
        (f, None, fmt, None),
        (f, None, None, moe),
        (f, None, None, None),
    ]
}

/// What the fit found: the table and every row's implied value.
pub struct Fit {
    pub table: PriorTable,
    /// Row id → (parameter, implied value, or None when no value explains it).
    pub implied: BTreeMap<String, (Param, Option<f64>)>,
    /// Per family (and generation or class, where fitted on its own): the per-layer launch
    /// cost, ms.
    pub per_layer_ms: BTreeMap<(EngineFamily, Option<String>), f64>,
}

/// Fits the priors from `rows`.
pub fn fit(rows: &[Prepared]) -> Fit {
    // The per-layer launch cost of llama.cpp (vLLM runs CUDA graphs: 0) per GPU generation
    // (hosts and launch paths differ), chosen on a grid to best explain the single-stream
    // decode rows once each group's bandwidth efficiency is fitted; generations with too few
    // rows (or one model size) take the family's.
    let mut per_layer_ms: BTreeMap<(EngineFamily, Option<Scope>), f64> = BTreeMap::new();
    let scopes: BTreeSet<(EngineFamily, Option<Scope>)> = rows
        .iter()
        .flat_map(|p| {
            [
                (p.key.family, None),
                (p.key.family, Some(Scope::Class(p.key.arch.class()))),
                (p.key.family, Some(Scope::Arch(p.key.arch))),
            ]
        })
        .collect();
    for (f, arch) in scopes {
        let decode: Vec<&Prepared> = rows
            .iter()
            .filter(|p| {
                p.key.family == f
                    && arch.is_none_or(|s| match s {
                        Scope::Arch(a) => a == p.key.arch,
                        Scope::Class(c) => c == p.key.arch.class(),
                    })
                    && p.param == Some(Param::Bandwidth)
            })
            .collect();
        let layer_counts: BTreeSet<u32> = decode.iter().map(|p| p.spec.model.layers).collect();
        if f != EngineFamily::LlamaCpp
            || decode.len() < 2 * MIN_ROWS
            || (arch.is_some() && layer_counts.len() < 2)
        {
            continue;
        }
        let grid: Vec<f64> = (0..=16).map(|i| i as f64 * 0.01).collect();
        let best = grid
            .par_iter()
            .map(|&pl| {
                let mut v = Values::start(f);
                v.per_layer_ms = pl;
                let got: Vec<(PriorKey, f64)> = decode
                    .iter()
                    .filter_map(|p| implied(p, Param::Bandwidth, &v).map(|x| (p.key, x)))
                    .collect();
                // Scatter of the implied efficiencies within their groups.
                let mut by: BTreeMap<PriorKey, Vec<f64>> = BTreeMap::new();
                for (k, x) in &got {
                    by.entry(*k).or_default().push(*x);
                }
                let cost: f64 = by
                    .values()
                    .map(|xs| {
                        let m = median(xs).unwrap_or(1.0).ln();
                        xs.iter().map(|x| (x.ln() - m).powi(2)).sum::<f64>()
                    })
                    .sum::<f64>()
                    + (decode.len() - got.len()) as f64;
                (pl, cost)
            })
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map_or(0.0, |(pl, _)| pl);
        per_layer_ms.insert((f, arch), best);
    }
    // The other coefficients in turn, each with the groups' values of those fitted before.
    let mut implied_all: BTreeMap<String, (Param, Option<f64>)> = BTreeMap::new();
    let mut table = build(rows, &implied_all, &per_layer_ms);
    for param in PARAMS {
        let got: Vec<(String, Option<f64>)> = rows
            .par_iter()
            .filter(|p| p.param == Some(param))
            .map(|p| {
                let v = values_of(&table, &p.key);
                (p.row.id.clone(), implied(p, param, &v))
            })
            .collect();
        for (id, x) in got {
            implied_all.insert(id, (param, x));
        }
        table = build(rows, &implied_all, &per_layer_ms);
    }
    Fit {
        table,
        implied: implied_all,
        per_layer_ms: per_layer_ms
            .into_iter()
            .map(|((f, s), v)| {
                let scope = s.map(|s| match s {
                    Scope::Arch(a) => a.name().to_string(),
                    Scope::Class(c) => format!("{c} GPUs"),
                });
                ((f, scope), v)
            })
            .collect(),
    }
}

fn values_of(table: &PriorTable, key: &PriorKey) -> Values {
    let p = table.lookup(key).expect("the table has a global group");
    Values {
        bw: p.bw_efficiency,
        flops: p.flops_efficiency,
        per_layer_ms: p.per_layer_ms,
        per_seq_ms: p.per_seq_ms,
        batch: p.batch_factor,
        overhead_ms: p.overhead_ms,
        request_ms: p.request_ms,
    }
}

/// The table from the implied values so far: every group at every level with rows, each
/// coefficient its GPUs' median (or the next coarser group's, with too few rows).
fn build(
    rows: &[Prepared],
    implied: &BTreeMap<String, (Param, Option<f64>)>,
    per_layer_ms: &BTreeMap<(EngineFamily, Option<Scope>), f64>,
) -> PriorTable {
    // Every group key any row falls in, coarsest first.
    let mut keys: BTreeSet<(usize, GroupKey)> = BTreeSet::new();
    for p in rows {
        for (depth, g) in levels(&p.key).into_iter().enumerate() {
            keys.insert((9 - depth, g));
        }
    }
    let in_group = |g: &GroupKey, k: &PriorKey| {
        g.0.is_none_or(|f| f == k.family)
            && g.1.is_none_or(|s| match s {
                Scope::Arch(a) => a == k.arch,
                Scope::Class(c) => c == k.arch.class(),
            })
            && g.2.is_none_or(|f| f == k.format)
            && g.3.is_none_or(|m| m == k.moe)
    };
    // Each (group, coefficient) with values: the GPUs' own medians. Their scatter is what a new
    // GPU's value differs by; a group whose values all come from one GPU cannot measure it (see
    // `pooled_between`).
    let gpu_medians = |members: &[&Prepared], param: Param| -> Vec<f64> {
        let mut by_gpu: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
        for p in members {
            if let Some((q, Some(x))) = implied.get(&p.row.id) {
                if *q == param {
                    by_gpu
                        .entry(p.spec.device.name.as_str())
                        .or_default()
                        .push(*x);
                }
            }
        }
        by_gpu.values().filter_map(|v| median(v)).collect()
    };
    let between: BTreeMap<GroupKey, [Option<f64>; 4]> = keys
        .iter()
        .map(|(_, g)| {
            let members: Vec<&Prepared> = rows.iter().filter(|p| in_group(g, &p.key)).collect();
            let scatter = PARAMS.map(|param| {
                let m = gpu_medians(&members, param);
                (m.len() >= 2).then(|| new_member_spread(&m))
            });
            (*g, scatter)
        })
        .collect();
    let pooled = pooled_between(&between);
    let mut fitted: BTreeMap<GroupKey, Prior> = BTreeMap::new();
    for (depth, g) in keys {
        let members: Vec<&Prepared> = rows.iter().filter(|p| in_group(&g, &p.key)).collect();
        let family = g.0;
        let start = Values::start(family.unwrap_or(EngineFamily::Vllm));
        // The parent: the next coarser level that contains this whole group (every part it
        // fixes, this one fixes alike).
        let contains = |outer: &GroupKey| {
            outer.0.is_none_or(|f| g.0 == Some(f))
                && outer.1.is_none_or(|s| match (s, g.1) {
                    (Scope::Arch(a), Some(Scope::Arch(b))) => a == b,
                    (Scope::Class(c), Some(Scope::Class(d))) => c == d,
                    (Scope::Class(c), Some(Scope::Arch(b))) => c == b.class(),
                    _ => false,
                })
                && outer.2.is_none_or(|f| g.2 == Some(f))
                && outer.3.is_none_or(|m| g.3 == Some(m))
        };
        // The nearest fitted coarser level that contains this group and `keep` accepts.
        let coarser = |keep: &dyn Fn(&GroupKey) -> bool| {
            (depth > 0)
                .then(|| {
                    levels(&members[0].key)
                        .into_iter()
                        .skip_while(|l| *l != g)
                        .skip(1)
                        .find(|l| contains(l) && keep(l) && fitted.contains_key(l))
                })
                .flatten()
        };
        let parent = coarser(&|_| true).map(|l| fitted[&l].clone());
        let mut prior = parent.clone().unwrap_or(Prior {
            family: None,
            class: None,
            arch: None,
            format: None,
            moe: None,
            rows: 0,
            gpus: Vec::new(),
            bw_efficiency: start.bw,
            bw_spread: DEFAULT_BW_SPREAD,
            flops_efficiency: start.flops,
            flops_spread: DEFAULT_FLOPS_SPREAD,
            per_layer_ms: 0.0,
            per_seq_ms: start.per_seq_ms,
            batch_factor: 1.0,
            batch_spread: DEFAULT_BATCH_SPREAD,
            overhead_ms: start.overhead_ms,
            request_ms: start.request_ms,
            compute_from: None,
        });
        prior.family = family.map(|f| f.name().to_string());
        prior.arch = match g.1 {
            Some(Scope::Arch(a)) => Some(a.name().to_string()),
            _ => None,
        };
        prior.class = match g.1 {
            Some(Scope::Class(c)) => Some(c.to_string()),
            _ => None,
        };
        prior.format = g.2.map(|f| f.name().to_string());
        prior.moe = g.3;
        prior.rows = members.len();
        prior.gpus = members
            .iter()
            .map(|p| p.spec.device.name.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if let Some(f) = family {
            prior.per_layer_ms = match g.1 {
                Some(Scope::Arch(a)) => per_layer_ms
                    .get(&(f, Some(Scope::Arch(a))))
                    .or_else(|| per_layer_ms.get(&(f, Some(Scope::Class(a.class()))))),
                Some(Scope::Class(c)) => per_layer_ms.get(&(f, Some(Scope::Class(c)))),
                None => None,
            }
            .or_else(|| per_layer_ms.get(&(f, None)))
            .copied()
            .unwrap_or(0.0);
            if parent.as_ref().is_none_or(|p| p.family.is_none()) {
                prior.overhead_ms = Values::start(f).overhead_ms;
                prior.request_ms = Values::start(f).request_ms;
            }
        }
        let mut own_compute = false;
        for param in PARAMS {
            let with_gpu: Vec<(&str, f64)> = members
                .iter()
                .filter_map(|p| match implied.get(&p.row.id) {
                    Some((q, Some(x))) if *q == param => Some((p.spec.device.name.as_str(), *x)),
                    _ => None,
                })
                .collect();
            let xs: Vec<f64> = with_gpu.iter().map(|(_, x)| *x).collect();
            let gpus = with_gpu
                .iter()
                .map(|(g, _)| *g)
                .collect::<BTreeSet<_>>()
                .len();
            // A group's own value needs rows from two GPUs, or four rows on one: fewer, on one
            // GPU, say more about that setup than about the group.
            if xs.len() < MIN_ROWS || (gpus < 2 && xs.len() < 2 * MIN_ROWS) {
                continue;
            }
            // Each GPU one vote: the median of the GPUs' own medians (a GPU one lab measured a
            // hundred times does not outvote two others a few rows each).
            let m = if gpus >= 2 {
                let mut by_gpu: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
                for (g, x) in &with_gpu {
                    by_gpu.entry(g).or_default().push(*x);
                }
                let per_gpu: Vec<f64> = by_gpu.values().filter_map(|v| median(v)).collect();
                median(&per_gpu).expect("rows")
            } else {
                median(&xs).expect("rows")
            };
            let parent_spread = |f: fn(&Prior) -> f64| parent.as_ref().map_or(0.0, f);
            // A new GPU's row differs from the median by the scatter within a GPU's rows and
            // by the scatter between GPUs: both, added in quadrature. Values from one GPU say
            // nothing of the second: it is the pooled scatter between GPUs measured elsewhere.
            let i = PARAMS
                .iter()
                .position(|p| *p == param)
                .expect("a parameter");
            let scatter = between[&g][i].unwrap_or_else(|| pooled(family, param));
            let spread = (log_spread(&xs).powi(2) + scatter.powi(2))
                .sqrt()
                .max(MIN_SPREAD);
            // With few rows the scatter is itself uncertain: never below the parent's.
            let spread = if xs.len() < 2 * MIN_ROWS {
                spread.max(match param {
                    Param::Bandwidth => parent_spread(|p| p.bw_spread),
                    Param::Compute => parent_spread(|p| p.flops_spread),
                    Param::Batch => parent_spread(|p| p.batch_spread),
                    Param::Request => 0.0,
                })
            } else {
                spread
            };
            match param {
                Param::Bandwidth => {
                    prior.bw_efficiency = m;
                    prior.bw_spread = spread;
                }
                Param::Compute => {
                    prior.flops_efficiency = m;
                    prior.flops_spread = spread;
                    own_compute = true;
                }
                Param::Batch => {
                    prior.batch_factor = m;
                    prior.batch_spread = spread;
                }
                Param::Request => prior.request_ms = m,
            }
        }
        // A vLLM dense (or MoE) group without compute rows of its own takes its compute
        // efficiency from the nearest coarser group of its own kind, not from one that mixes
        // dense and MoE rows (see `PriorTable::lookup`). llama.cpp keeps the mixed groups'
        // value: its MoE prefill rows (four gpt-oss runs, one of a 128-token prompt) are too
        // few to stand on their own.
        if !own_compute && g.3.is_some() && g.0 == Some(EngineFamily::Vllm) {
            if let Some(l) = coarser(&|l| l.3 == g.3) {
                prior.flops_efficiency = fitted[&l].flops_efficiency;
                prior.flops_spread = fitted[&l].flops_spread;
            }
        }
        fitted.insert(g, prior);
    }
    // Most specific first; a group identical to its parent but for its key is kept (the
    // lookup is by key).
    let mut groups: Vec<Prior> = fitted.into_values().collect();
    groups.sort_by_key(|p| {
        std::cmp::Reverse(
            2 * [
                p.family.is_some(),
                p.arch.is_some(),
                p.format.is_some(),
                p.moe.is_some(),
            ]
            .iter()
            .filter(|b| **b)
            .count()
                + usize::from(p.class.is_some()),
        )
    });
    PriorTable {
        fitted_by: format!(
            "capsim priors --write: {} corpus rows (data/corpus/published.csv, data/corpus/capsim.csv)",
            rows.len()
        ),
        groups,
    }
}

/// One held-out prediction.
#[derive(Clone, Debug)]
pub struct Held {
    pub id: String,
    pub gpu: String,
    pub kind: Kind,
    pub family: EngineFamily,
    /// More than [`SATURATED`] requests in flight.
    pub saturated: bool,
    pub measured: f64,
    pub predicted: f64,
    pub band: Option<Range>,
    /// The prior group used.
    pub group: String,
}

impl Held {
    pub fn error(&self) -> f64 {
        (self.predicted - self.measured) / self.measured
    }
    pub fn inside(&self) -> bool {
        self.band.is_some_and(|b| b.contains(self.measured))
    }
}

/// Leave-one-GPU-out: for each GPU, fit without its rows, predict them (band included).
pub fn cross_validate(rows: &[Prepared]) -> Vec<Held> {
    let gpus: BTreeSet<String> = rows.iter().map(|p| p.spec.device.name.clone()).collect();
    let mut out: Vec<Held> = gpus
        .par_iter()
        .flat_map(|gpu| {
            let train: Vec<Prepared> = rows
                .iter()
                .filter(|p| &p.spec.device.name != gpu)
                .cloned()
                .collect();
            let f = fit(&train);
            rows.iter()
                .filter(|p| &p.spec.device.name == gpu)
                .map(|p| predict_held(p, &f.table))
                .collect::<Vec<_>>()
        })
        .collect();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// A row predicted with a table, as `simulate` would predict it (central and band).
pub fn predict_held(p: &Prepared, table: &PriorTable) -> Held {
    let prior = table.lookup(&p.key).expect("a global group");
    let spec = p.spec.with_prior(&prior);
    let s = super::simulate::simulate_keeping(&spec, super::simulate::Keep::Summary).summary;
    let setup = p.row.setup.as_ref().expect("used rows have a setup");
    Held {
        id: p.row.id.clone(),
        gpu: p.spec.device.name.clone(),
        kind: p.row.kind,
        family: p.key.family,
        saturated: p
            .row
            .concurrency
            .parse::<u32>()
            .is_ok_and(|c| c > SATURATED),
        measured: p.row.value,
        predicted: setup.measure.of(&s, setup.prompt),
        band: setup.measure.band(&s, setup.prompt),
        group: prior.label(),
    }
}

/// MAPE (%) and band coverage (%) of the held-out rows of one kind (of one engine family,
/// when given).
pub fn score(held: &[Held], kind: Kind) -> Option<(usize, f64, f64)> {
    score_of(held, kind, None)
}

/// [`score`] for one engine family's rows (and only the unsaturated ones, when asked).
pub fn score_of(
    held: &[Held],
    kind: Kind,
    family: Option<EngineFamily>,
) -> Option<(usize, f64, f64)> {
    score_where(held, |h| {
        h.kind == kind && family.is_none_or(|f| h.family == f)
    })
}

/// MAPE (%) and band coverage (%) of the held-out rows `keep` picks.
pub fn score_where(held: &[Held], keep: impl Fn(&Held) -> bool) -> Option<(usize, f64, f64)> {
    let of: Vec<&Held> = held.iter().filter(|h| keep(h)).collect();
    if of.is_empty() {
        return None;
    }
    let n = of.len() as f64;
    let mape = of.iter().map(|h| h.error().abs()).sum::<f64>() / n * 100.0;
    let inside = of.iter().filter(|h| h.inside()).count() as f64 / n * 100.0;
    Some((of.len(), mape, inside))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(family: EngineFamily, arch: Option<Arch>) -> GroupKey {
        (Some(family), arch.map(Scope::Arch), None, None)
    }

    #[test]
    fn a_group_fitted_on_one_gpu_takes_the_scatter_between_gpus_measured_elsewhere() {
        let (vllm, llama) = (EngineFamily::Vllm, EngineFamily::LlamaCpp);
        // vLLM: the family level measured 0.3 and the Ada group 0.4 between GPUs (compute);
        // the Hopper group saw one GPU. llama.cpp measured 0.6. Nobody measured the batch factor.
        let between = BTreeMap::from([
            (key(vllm, Some(Arch::Hopper)), [None; 4]),
            (key(vllm, Some(Arch::Ada)), [None, Some(0.4), None, None]),
            (key(vllm, None), [Some(0.1), Some(0.3), None, None]),
            (key(llama, None), [Some(0.2), Some(0.6), None, None]),
        ]);
        let pooled = pooled_between(&between);
        let rms = ((0.3f64.powi(2) + 0.4f64.powi(2)) / 2.0).sqrt();
        assert!((pooled(Some(vllm), Param::Compute) - rms).abs() < 1e-12);
        assert!((pooled(Some(vllm), Param::Bandwidth) - 0.1).abs() < 1e-12);
        // A family with no group of two GPUs borrows every family's; with none at all, the
        // datasheet prior's spread stands.
        let only_llama = BTreeMap::from([(key(llama, None), [Some(0.2), None, None, None])]);
        let pooled = pooled_between(&only_llama);
        assert!((pooled(Some(vllm), Param::Bandwidth) - 0.2).abs() < 1e-12);
        assert_eq!(pooled(Some(vllm), Param::Batch), DEFAULT_BATCH_SPREAD);
        assert_eq!(pooled(Some(vllm), Param::Compute), DEFAULT_FLOPS_SPREAD);
    }
}
