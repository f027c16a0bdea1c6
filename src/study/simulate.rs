//! Simulating a resolved scenario point: the event loop over the spec's engines and workload,
//! the summary by the one summary function, and, with calibration uncertainty, a band from
//! simulations at parameter draws.

use crate::analysis::analyse;
use crate::analysis::breakdown::{breakdown, tasks};
use crate::cost::CostModel;
use crate::error::{InputError, InputResult};
use crate::metrics::{Band, RequestRecord, RunFacts, Summary, SummaryBuilder};
use crate::results::shard::Shard;
use crate::results::{Folder, PointOutput, TaskRecord};
use crate::sim::{self, SimOutput};
use crate::spec::capacity::Capacity;
use crate::spec::Spec;
use crate::workload::{Arrival, Workload};
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;

/// One point's simulated results.
pub struct PointResult {
    pub summary: Summary,
    /// Every request's record (empty unless asked for: a summary alone needs none).
    pub records: Vec<RequestRecord>,
    pub sim: SimOutput,
}

impl PointResult {
    /// An error naming the point when its run stopped at the simulation's horizon (its
    /// inputs put events beyond a hundred years): its summary would count requests that never
    /// finished as failures of the server.
    pub fn within_horizon(&self, spec: &Spec) -> InputResult<()> {
        if !self.sim.past_horizon {
            return Ok(());
        }
        Err(InputError::new(
            "workload",
            format!(
                "{}the simulation passed {} years of simulated time with {} of its requests sent: an arrival rate or a step time is far out of range (a rate of one request a year or less, an efficiency or a profile coefficient off by orders of magnitude)",
                if spec.point.is_empty() {
                    String::new()
                } else {
                    format!("at sweep point {}: ", spec.point.label())
                },
                crate::sim::HORIZON.as_secs_f64() / (365.0 * 86_400.0),
                self.sim.requests
            ),
        ))
    }
}

/// Which records a simulation keeps besides its summary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keep {
    /// None: memory for what is in flight only.
    Summary,
    /// Every request's record (for `--out`, breakdowns and validation).
    Records,
}

/// Draws behind a prediction band (19: a new run falls inside the span of 19 draws and the
/// central value with probability 90%).
const BAND_DRAWS: usize = 19;
const BAND_STREAM: u64 = 0x6261_6e64_0000_0000;

/// Simulates this point; where its cost model carries uncertainty, also at draws that give
/// the summary a `band` (see [`band`]).
pub fn simulate(spec: &Spec) -> PointResult {
    simulate_keeping(spec, Keep::Records)
}

/// The central prediction only (no band): for searches that compare candidates.
pub fn simulate_central(spec: &Spec, keep: Keep) -> PointResult {
    simulate_with(spec, &spec.cost, keep)
}

/// Like [`simulate`], keeping only what `keep` says.
pub fn simulate_keeping(spec: &Spec, keep: Keep) -> PointResult {
    let mut result = simulate_with(spec, &spec.cost, keep);
    result.summary.band = band(spec, &result.summary);
    result
}

/// The prediction band: what a run of this size is expected to measure, not only where the
/// mean lies. Each of 19 draws moves the measured step model's coefficients by their
/// standard errors (parameter uncertainty, which includes the drift calibration saw) — or,
/// for a datasheet projection, the prior's efficiencies by the spread the corpus implied — and
/// gives the engines' step noise and the request latency jitter a fresh stream (run-to-run
/// spread at this request count, from the step noise calibration measured). The band spans
/// the draws and the central prediction: with 19 draws a new run falls inside with
/// probability 18/20 = 90% when the model is right.
fn band(spec: &Spec, central: &Summary) -> Option<Band> {
    let step = spec
        .cost
        .measured
        .as_ref()
        .filter(|_| !spec.cost_uncertainty.is_empty());
    let prior = spec.prior.as_ref().filter(|_| spec.cost.measured.is_none());
    if step.is_none() && prior.is_none() {
        return None;
    }
    // The draws' parameters come from one seeded stream, in order; the simulations then run
    // in parallel (each is seeded, so the band equals a serial one).
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(spec.workload.seed ^ BAND_STREAM);
    let costs: Vec<CostModel> = (0..BAND_DRAWS)
        .map(|_| match (step, prior) {
            (Some(step), _) => spec
                .cost
                .clone()
                .with_measured(step.draw(&spec.cost_uncertainty, &mut rng)),
            (None, Some(p)) => {
                // Lognormal draws with the prior's spreads (what the corpus implied).
                let mut z = || -> f64 {
                    rand_distr::Distribution::sample(&rand_distr::StandardNormal, &mut rng)
                };
                let (bw, flops, batch) = (z(), z(), z());
                spec.cost.scaled(
                    (p.bw_spread * bw).exp(),
                    (p.flops_spread * flops).exp(),
                    (p.batch_spread * batch).exp(),
                )
            }
            (None, None) => unreachable!("checked above"),
        })
        .collect();
    let draws: Vec<Summary> = costs
        .par_iter()
        .enumerate()
        .map(|(k, cost)| {
            let mut noisy = spec.clone();
            noisy.noise_seed = Some(spec.workload.seed ^ BAND_STREAM ^ (k as u64 + 1));
            simulate_with(&noisy, cost, Keep::Summary).summary
        })
        .collect();
    let mut band = Summary::band_of(&draws);
    for (field, range) in band.iter_mut() {
        let v = central.metric(*field);
        if v.is_finite() {
            range.low = range.low.min(v);
            range.high = range.high.max(v);
        }
    }
    Some(band)
}

fn simulate_with(spec: &Spec, cost: &CostModel, keep: Keep) -> PointResult {
    let (summary, records, sim) = run(spec, &spec.workload, cost, keep);
    PointResult {
        summary,
        records,
        sim,
    }
}

/// Runs `workload` on the spec's engines and summarises it by the one summary function.
fn run(
    spec: &Spec,
    workload: &Workload,
    cost: &CostModel,
    keep: Keep,
) -> (Summary, Vec<RequestRecord>, SimOutput) {
    let expected = workload
        .all_classes()
        .map(|w| w.num_requests as usize)
        .sum::<usize>()
        .min(1 << 24);
    let mut builder = SummaryBuilder::with_capacity(expected);
    let mut records = Vec::new();
    let out = sim::run(
        workload,
        spec.engines_with(cost),
        spec.router,
        spec.transport(cost, spec.noise_seed.unwrap_or(workload.seed)),
        &mut |r: RequestRecord| {
            builder.push(&r);
            if keep == Keep::Records {
                records.push(r);
            }
        },
    );
    let summary = builder.finish(
        spec.point.clone(),
        "simulated",
        &out.itl,
        RunFacts {
            preemptions: out.engine.preemptions,
            cost_model: Some(spec.cost_source.clone()),
            window: None,
        },
    );
    (summary, records, out)
}

/// How long one task of class `class` (a session of all its turns, think time included)
/// takes with nothing else running: one user, one task. None when the class has no
/// multi-turn sessions.
pub fn solo_task_s(spec: &Spec, class: usize) -> Option<f64> {
    let w = spec.workload.all_classes().nth(class)?;
    let Arrival::Closed {
        turns, ref think_s, ..
    } = w.arrival
    else {
        return None;
    };
    if turns < 2 {
        return None;
    }
    let mut solo = Workload {
        classes: Vec::new(),
        num_requests: turns as u64,
        ..w.clone()
    };
    solo.arrival = Arrival::Closed {
        users: 1,
        think_s: think_s.clone(),
        turns,
    };
    let (_, records, _) = run(spec, &solo, &spec.cost, Keep::Records);
    tasks(&records).first().map(|t| t.mean_task_s)
}

/// A simulated study: every point of a scenario's sweep (or a shard of it), with the
/// capacity facts, per-class and per-turn breakdowns, agent task statistics and the sweep's
/// analysis: everything `simulate` prints and writes.
pub struct Study {
    /// The points simulated (a shard's), in sweep order.
    pub specs: Vec<Spec>,
    pub folder: Folder,
    /// Warnings from reading the workload (skipped trace rows).
    pub warnings: Vec<String>,
}

impl Study {
    pub fn summaries(&self) -> Vec<Summary> {
        self.folder
            .points
            .iter()
            .filter_map(|p| p.summary.clone())
            .collect()
    }
}

/// Simulates the points of `all` (a scenario's resolved sweep) that `shard` holds, in
/// parallel (each point is seeded, so the result equals a serial run), keeping records when
/// asked; `progress` is told about each point done.
pub fn study(
    all: Vec<Spec>,
    shard: Shard,
    keep: Keep,
    progress: &(dyn Fn() + Sync),
) -> InputResult<Study> {
    let total = all.len();
    // Only a shard needs it (merge compares them).
    let sweep = (!shard.is_all()).then(|| crate::spec::sweep_fingerprint(&all));
    let indices = shard.indices(total);
    if indices.is_empty() {
        return Err(InputError::new(
            "--shard",
            format!(
                "shard {}/{} holds no points: the sweep has {total}",
                shard.shard, shard.of
            ),
        ));
    }
    let specs: Vec<Spec> = all
        .into_iter()
        .enumerate()
        .filter(|(i, _)| shard.holds(*i))
        .map(|(_, s)| s)
        .collect();
    let warnings = specs[0]
        .workload
        .all_classes()
        .flat_map(|w| w.warnings.clone())
        .collect();
    let points: Vec<PointOutput> = specs
        .par_iter()
        .zip(indices)
        .map(|(spec, index)| {
            let structured = spec.workload.has_structure();
            let k = if structured { Keep::Records } else { keep };
            let r = simulate_keeping(spec, k);
            r.within_horizon(spec)?;
            let (breakdown, tasks) = if structured {
                structure(spec, &r.records)
            } else {
                (Vec::new(), Vec::new())
            };
            progress();
            Ok(PointOutput {
                index,
                summary: Some(r.summary),
                records: if keep == Keep::Records {
                    r.records
                } else {
                    Vec::new()
                },
                capacity: Some(Capacity::of(spec)),
                breakdown,
                tasks,
                metadata: None,
            })
        })
        .collect::<InputResult<_>>()?;
    let summaries: Vec<Summary> = points.iter().filter_map(|p| p.summary.clone()).collect();
    // Knee and plateau need the whole sweep: a shard leaves them to `capsim merge`.
    let analysis = (summaries.len() > 1 && shard.is_all()).then(|| analyse(&summaries));
    Ok(Study {
        specs,
        folder: Folder {
            total_points: total,
            points,
            analysis,
            shard: (!shard.is_all()).then_some(shard),
            sweep,
        },
        warnings,
    })
}

/// Per class and turn, and agent tasks, of a point with that structure.
fn structure(spec: &Spec, records: &[RequestRecord]) -> (Vec<Summary>, Vec<TaskRecord>) {
    let b = breakdown(&spec.point, "simulated", records);
    let names: Vec<&str> = spec
        .workload
        .all_classes()
        .map(|w| w.name.as_str())
        .collect();
    let t = tasks(records)
        .into_iter()
        .map(|stats| {
            let class = match &stats.class {
                Some(c) => names.iter().position(|n| n == c).unwrap_or(0),
                None => 0,
            };
            TaskRecord {
                solo_task_s: solo_task_s(spec, class),
                point: spec.point.clone(),
                stats,
            }
        })
        .collect();
    (b, t)
}
