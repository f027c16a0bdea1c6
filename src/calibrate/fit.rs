//! Fitting the measured step model to step-level observations: non-negative least squares
//! (Lawson–Hanson, on nalgebra) over the features of each step, with a standard error for every
//! coefficient, R², residuals, and a per-batch-size correction where decode steps deviate from
//! the smooth form by more than the noise.
//!
//! Features of a step (what the additive step model multiplies):
//! `[1, seqs, passes, kv_read_tokens, tokens, attention_pairs]` →
//! `[τ0, τ_seq, w, v, u, a]` (ms, ms, ms, ms/token, ms/token, ms/pair). A feature that does not
//! vary independently in the data (e.g. passes when every prompt fits one micro-batch) is left
//! out and its coefficient reported as 0 with a note.

use crate::cost::coefficients::{FitReport, Residual};
use crate::cost::{MeasuredStep, StepShape};
use nalgebra::{DMatrix, DVector};
use std::collections::BTreeMap;

/// One measured step: its shape and how long it took.
#[derive(Clone, Debug, PartialEq)]
pub struct Observation {
    pub label: String,
    pub shape: StepShape,
    pub ms: f64,
    /// A pure decode step (its batch size gets a correction factor if it deviates).
    pub decode: bool,
    /// Measured by the client from send to first token: includes the request latency.
    pub includes_latency: bool,
    /// Steps it spans, their shapes summed in `shape` (a prompt longer than vLLM's token
    /// budget is prefilled in chunks, one step each): the fixed cost counts once per step.
    pub steps: u32,
}

const K: usize = 7;

// In order of physical priority: when probes cannot tell two features apart, the earlier one
// is kept (tokens computed before KV read, which the same probes often move together).
const NAMES: [&str; K] = [
    "overhead_ms",
    "per_seq_ms",
    "compute_us_per_token",
    "kv_ns_per_token",
    "attention_ns_per_pair",
    "weights_ms_per_pass",
    "request_latency_ms",
];

fn features(o: &Observation) -> [f64; K] {
    let s = &o.shape;
    [
        o.steps.max(1) as f64,
        s.seqs as f64,
        s.tokens as f64,
        s.kv_read_tokens as f64,
        s.attention_pairs,
        s.passes.max(1) as f64,
        if o.includes_latency { 1.0 } else { 0.0 },
    ]
}

/// Converts fitted ms-per-unit coefficients to the units of [`MeasuredStep`].
const UNIT: [f64; K] = [1.0, 1.0, 1e3, 1e6, 1e6, 1.0, 1.0];

/// What a fitted step model says an observation took, ms (its decode batch size's correction
/// included).
pub fn predicted_ms(step: &MeasuredStep, o: &Observation) -> f64 {
    let coef = [
        step.overhead_ms,
        step.per_seq_ms,
        step.compute_us_per_token,
        step.kv_ns_per_token,
        step.attention_ns_per_pair,
        step.weights_ms_per_pass,
        step.request_latency_ms,
    ];
    let smooth: f64 = features(o)
        .iter()
        .zip(coef.iter().zip(UNIT))
        .map(|(x, (c, u))| x * c / u)
        .sum();
    let factors = &step.decode_batch_factors;
    if o.decode && o.shape.passes <= 1 && !factors.is_empty() {
        let i = (o.shape.seqs.max(1) as usize - 1).min(factors.len() - 1);
        smooth * factors[i]
    } else {
        smooth
    }
}

/// Lawson–Hanson non-negative least squares: min ‖Ax − b‖ subject to x ≥ 0.
pub fn nnls(a: &DMatrix<f64>, b: &DVector<f64>) -> DVector<f64> {
    let n = a.ncols();
    let mut x = DVector::zeros(n);
    let mut passive = vec![false; n];
    let tol = 1e-12 * (a.norm() * b.norm()).max(1e-300);
    for _outer in 0..(3 * n + 10) {
        let w = a.transpose() * (b - a * &x);
        let candidate = (0..n)
            .filter(|&j| !passive[j] && w[j] > tol)
            .max_by(|&i, &j| w[i].total_cmp(&w[j]));
        let Some(j) = candidate else { break };
        passive[j] = true;
        for _inner in 0..(3 * n + 10) {
            let idx: Vec<usize> = (0..n).filter(|&k| passive[k]).collect();
            let sub = a.select_columns(&idx);
            let Some(z_sub) = sub.clone().svd(true, true).solve(b, 1e-14).ok() else {
                break;
            };
            if z_sub.iter().all(|&v| v > 0.0) {
                for (k, &col) in idx.iter().enumerate() {
                    x[col] = z_sub[k];
                }
                break;
            }
            // Step back towards the feasible region and drop the coefficients that hit zero.
            let mut alpha = f64::INFINITY;
            for (k, &col) in idx.iter().enumerate() {
                if z_sub[k] <= 0.0 {
                    let denom = x[col] - z_sub[k];
                    if denom > 0.0 {
                        alpha = alpha.min(x[col] / denom);
                    }
                }
            }
            if !alpha.is_finite() {
                alpha = 0.0;
            }
            for (k, &col) in idx.iter().enumerate() {
                x[col] += alpha * (z_sub[k] - x[col]);
                if x[col] <= 1e-15 {
                    x[col] = 0.0;
                    passive[col] = false;
                }
            }
        }
    }
    x
}

/// The result of a fit.
#[derive(Clone, Debug)]
pub struct Fit {
    pub step: MeasuredStep,
    /// Standard errors by [`MeasuredStep`] field name.
    pub stderr: BTreeMap<String, f64>,
    pub report: FitReport,
}

/// Why the step model could not be fitted.
#[derive(Debug, thiserror::Error)]
pub enum FitError {
    #[error("{0} step observations are too few to fit the step model (need at least 4)")]
    TooFew(usize),
}

/// Fits the step model. The request latency is fitted where observations include it (client
/// TTFTs); otherwise `request_latency_ms` (measured separately) is passed through.
///
/// Robust to a stray measurement: observations the first fit misses by far more than the
/// rest — a relative residual over both 25% and four times the median one (a probe taken
/// while the shared machine stalled) — and that their own repeats outvote, are left out, at
/// most a tenth of them, and the model is fitted again; the notes name what was left out.
/// Outvoted means: more repeats of the same shape fit and differ from it by as much than agree
/// with it, and for a decode probe at least two of them. A prefill probe's fit is smooth in
/// the prompt length, so one fitting repeat is a witness; a decode probe's fit at its batch
/// size is not (batch sizes are uneven, and the per-batch-size correction below exists for
/// that), so one repeat against one cannot say which of the two is the server: both are kept
/// and the correction averages them. Repeats that agree with each other and not with the fit
/// are the engine (an uneven batch size), whichever of them fits.
pub fn fit(observations: &[Observation], request_latency_ms: f64) -> Result<Fit, FitError> {
    let first = fit_all(observations, request_latency_ms)?;
    let rel: Vec<f64> = first
        .report
        .residuals
        .iter()
        .map(|r| ((r.measured_ms - r.fitted_ms) / r.measured_ms.abs().max(1e-6)).abs())
        .collect();
    let mut sorted = rel.clone();
    let typical = crate::metrics::median(&mut sorted).unwrap_or(0.0);
    let limit = (4.0 * typical).max(0.25);
    // A stray is outvoted by repeats of its own shape that fit; a shape measured off the
    // smooth model every time is the engine's (an uneven batch size), not a stray, and so is
    // one whose repeats agree with each other within the limit (the fit, not the probe, is
    // off there: leaving the probe out would hide the unevenness from the correction below).
    // llama-server on 2 cores ran some B = 2 decode probes at 38.8 ms and others at 26.5 ms
    // within one calibration, and its closed loop at C = 2 then ran at 40.5 ms: leaving out
    // the slow one of two (as one fitting repeat once did) predicted 26.0 ms.
    let outvoted = |i: usize| {
        let (mut against, mut with) = (0usize, 0usize);
        for j in (0..rel.len()).filter(|&j| {
            j != i
                && observations[j].decode == observations[i].decode
                && observations[j].shape == observations[i].shape
        }) {
            let apart = (observations[i].ms / observations[j].ms.abs().max(1e-6) - 1.0).abs();
            if apart <= limit {
                with += 1;
            } else if rel[j] <= limit {
                against += 1;
            }
        }
        let witnesses = if observations[i].decode { 2 } else { 1 };
        against >= witnesses && against > with
    };
    let mut outliers: Vec<usize> = (0..rel.len())
        .filter(|&i| rel[i] > limit && outvoted(i))
        .collect();
    outliers.sort_by(|&a, &b| rel[b].total_cmp(&rel[a]));
    outliers.truncate(observations.len() / 10);
    if outliers.is_empty() {
        return Ok(first);
    }
    let kept: Vec<Observation> = observations
        .iter()
        .enumerate()
        .filter(|(i, _)| !outliers.contains(i))
        .map(|(_, o)| o.clone())
        .collect();
    let mut again = fit_all(&kept, request_latency_ms)?;
    let left: Vec<String> = outliers
        .iter()
        .map(|&i| {
            format!(
                "{} ({:.2} ms, fitted {:.2})",
                observations[i].label, observations[i].ms, first.report.residuals[i].fitted_ms
            )
        })
        .collect();
    again.report.notes.push(format!(
        "left out {} stray observation(s), missed by more than {:.0}% by the first fit: {}",
        left.len(),
        limit * 100.0,
        left.join("; ")
    ));
    Ok(again)
}

fn fit_all(observations: &[Observation], request_latency_ms: f64) -> Result<Fit, FitError> {
    let n = observations.len();
    if n < 4 {
        return Err(FitError::TooFew(n));
    }
    let rows: Vec<[f64; K]> = observations.iter().map(features).collect();
    // Keep only features that vary independently of those already kept.
    let mut notes = Vec::new();
    let mut keep: Vec<usize> = vec![0];
    for j in 1..K {
        let col: Vec<f64> = rows.iter().map(|r| r[j]).collect();
        if col.iter().all(|&v| v == 0.0) {
            continue; // not in these data at all (e.g. no client TTFTs)
        }
        let mut trial = keep.clone();
        trial.push(j);
        let m = DMatrix::from_fn(n, trial.len(), |i, k| {
            rows[i][trial[k]] / scale(&rows, trial[k])
        });
        let rank = m
            .clone()
            .svd(false, false)
            .rank(1e-9 * m.norm().max(1e-300));
        if rank == trial.len() && col.iter().any(|&v| v != col[0]) {
            keep = trial;
        } else {
            notes.push(format!(
                "{} is not identifiable from these probes; fixed at 0",
                NAMES[j]
            ));
        }
    }
    let scales: Vec<f64> = keep.iter().map(|&j| scale(&rows, j)).collect();
    // Relative errors matter: a 10 ms decode step and a 2 s prefill weigh alike. Each row is
    // divided by its measured time (weighted least squares on relative residuals).
    let weight: Vec<f64> = observations
        .iter()
        .map(|o| 1.0 / o.ms.abs().max(1e-3))
        .collect();
    let a_raw = DMatrix::from_fn(n, keep.len(), |i, k| rows[i][keep[k]] / scales[k]);
    let a = DMatrix::from_fn(n, keep.len(), |i, k| a_raw[(i, k)] * weight[i]);
    let b = DVector::from_iterator(n, observations.iter().map(|o| o.ms));
    let bw = DVector::from_iterator(n, (0..n).map(|i| b[i] * weight[i]));
    let x_scaled = nnls(&a, &bw);
    let fitted = &a_raw * &x_scaled;
    let resid = &b - &fitted;
    let sse = resid.norm_squared();
    let mean = b.mean();
    let sst: f64 = b.iter().map(|v| (v - mean).powi(2)).sum();
    let r2 = if sst > 0.0 { 1.0 - sse / sst } else { 1.0 };
    // Standard errors from the covariance of the coefficients left free (x > 0), in the
    // weighted problem.
    let free: Vec<usize> = (0..keep.len()).filter(|&k| x_scaled[k] > 0.0).collect();
    let dof = n.saturating_sub(free.len()).max(1) as f64;
    let sigma2 = (&bw - &a * &x_scaled).norm_squared() / dof;
    let mut se_scaled = vec![0.0; keep.len()];
    if !free.is_empty() {
        let af = a.select_columns(&free);
        if let Some(inv) = (af.transpose() * &af).try_inverse() {
            for (k, &col) in free.iter().enumerate() {
                se_scaled[col] = (sigma2 * inv[(k, k)]).max(0.0).sqrt();
            }
        }
    }
    let mut coef = [0.0; K];
    let mut stderr = BTreeMap::new();
    // Bootstrap over observations: where the data cannot tell two coefficients apart (and
    // NNLS pins one at zero), resampling moves the split, and the spread shows it. The
    // reported standard error is the larger of the analytic and the bootstrap one.
    let boot = bootstrap_spread(&a, &bw, BOOTSTRAP_RESAMPLES);
    // How well the server repeats itself: probes of the same shape taken at different times
    // differ by drift the residuals of one moment do not show; that relative spread is added
    // to every coefficient's uncertainty.
    let repeat = repeatability(observations);
    if let Some(r) = repeat {
        notes.push(format!(
            "repeated probes of the same shape differ by {:.1}% (RMS); that much is added to every coefficient's uncertainty",
            r * 100.0
        ));
    }
    for (k, &j) in keep.iter().enumerate() {
        coef[j] = x_scaled[k] / scales[k];
        let stat = se_scaled[k].max(boot[k]);
        let drift = repeat.unwrap_or(0.0) * x_scaled[k];
        let se = (stat * stat + drift * drift).sqrt();
        stderr.insert(NAMES[j].to_string(), se / scales[k] * UNIT[j]);
    }
    let mut step = MeasuredStep {
        overhead_ms: coef[0],
        per_seq_ms: coef[1],
        compute_us_per_token: coef[2] * UNIT[2],
        kv_ns_per_token: coef[3] * UNIT[3],
        attention_ns_per_pair: coef[4] * UNIT[4],
        weights_ms_per_pass: coef[5],
        request_latency_ms: if keep.contains(&6) {
            coef[6]
        } else {
            request_latency_ms.max(0.0)
        },
        decode_batch_factors: Vec::new(),
        step_cv: None,
        api_server_engine_share: None,
        stalls: None,
        idle_wakeup: None,
        slot_split: None,
    };
    // Decode batch sizes where the engine departs from the smooth form by more than the noise:
    // a batch size's mean ratio (measured / smooth) is corrected for only where it is off by
    // more than `UNEVEN_MIN` and by more than `UNEVEN_Z` standard errors of that mean. The noise of one
    // ratio is the server's repeatability (same shape, different times) or, without repeats, the
    // robust spread of all decode ratios; a batch size probed n times has it divided by √n.
    // Correcting every batch size once one deviates would bake a slow moment of the probes
    // into the prediction of every sweep point at that batch size.
    let rms = (sse / n as f64).sqrt();
    let mut by_batch: BTreeMap<u32, Vec<f64>> = BTreeMap::new();
    for (i, o) in observations.iter().enumerate() {
        if o.decode && o.shape.passes <= 1 && fitted[i] > 0.0 {
            by_batch
                .entry(o.shape.seqs)
                .or_default()
                .push(o.ms / fitted[i]);
        }
    }
    let noise = repeat.unwrap_or_else(|| {
        let mut dev: Vec<f64> = by_batch
            .values()
            .flatten()
            .map(|r| (r - 1.0).abs())
            .collect();
        1.4826 * crate::metrics::median(&mut dev).unwrap_or(0.0)
    });
    let uneven: Vec<(u32, f64, bool)> = by_batch
        .iter()
        .map(|(&b, r)| {
            let mean = r.iter().sum::<f64>() / r.len() as f64;
            let se = noise / (r.len() as f64).sqrt();
            let off = (mean - 1.0).abs();
            (b, mean, off > UNEVEN_MIN && off > UNEVEN_Z * se)
        })
        .collect();
    if uneven.iter().any(|&(_, _, applied)| applied) {
        let factors: BTreeMap<u32, f64> = uneven
            .iter()
            .map(|&(b, mean, applied)| (b, if applied { mean } else { 1.0 }))
            .collect();
        let max_b = *factors.keys().last().expect("non-empty");
        let table = (1..=max_b).map(|b| interpolate(&factors, b)).collect();
        let shown: Vec<String> = uneven
            .iter()
            .map(|&(b, mean, applied)| {
                format!(
                    "B={b}: {:+.0}%{}",
                    (mean - 1.0) * 100.0,
                    if applied { " (corrected)" } else { "" }
                )
            })
            .collect();
        notes.push(format!(
            "decode step time is not smooth in batch size (measured vs smooth fit: {}); a batch size is corrected where it is off by over {:.0}% and over {UNEVEN_Z} standard errors ({:.1}% per probe{})",
            shown.join(", "),
            UNEVEN_MIN * 100.0,
            noise * 100.0,
            if repeat.is_some() { ", the server's repeatability" } else { ", the spread of the decode probes" }
        ));
        step.decode_batch_factors = table;
    }
    let residuals = observations
        .iter()
        .enumerate()
        .map(|(i, o)| Residual {
            probe: o.label.clone(),
            measured_ms: o.ms,
            fitted_ms: fitted[i],
            step: Some(crate::cost::coefficients::ProbeStep {
                seqs: o.shape.seqs,
                tokens: o.shape.tokens,
                kv_read_tokens: o.shape.kv_read_tokens,
                decode: o.decode,
                includes_latency: o.includes_latency,
            }),
        })
        .collect();
    Ok(Fit {
        step,
        stderr,
        report: FitReport {
            observations: n,
            r2,
            rms_residual_ms: rms,
            residuals,
            notes,
            flags: Vec::new(),
        },
    })
}

const BOOTSTRAP_RESAMPLES: usize = 200;

/// A batch size's decode steps are uneven when their mean departs from the smooth fit by more
/// than this fraction (smaller corrections do not matter; the smooth form is a compromise
/// across prefill and decode, and thirty probes at one batch size can show it 4% off)...
const UNEVEN_MIN: f64 = 0.02;
/// ...and by more than this many standard errors of that mean: noise alone crosses 2.5 in
/// about one batch size in eighty, so the five to eight sizes a calibration probes rarely
/// produce a correction that is only a slow moment.
const UNEVEN_Z: f64 = 2.5;

/// RMS relative spread of repeated observations of the same shape, if any shape repeats.
fn repeatability(observations: &[Observation]) -> Option<f64> {
    let mut groups: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for o in observations {
        let s = &o.shape;
        let key = format!(
            "{}/{}/{}/{}/{}/{}",
            s.seqs, s.tokens, s.kv_read_tokens, s.passes, o.decode, o.includes_latency
        );
        groups.entry(key).or_default().push(o.ms);
    }
    let mut sum = 0.0;
    let mut count = 0usize;
    for values in groups.values().filter(|v| v.len() >= 2) {
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        if mean <= 0.0 {
            continue;
        }
        let var =
            values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (values.len() - 1) as f64;
        sum += var / (mean * mean);
        count += 1;
    }
    (count > 0).then(|| (sum / count as f64).sqrt())
}

/// Standard deviation of each NNLS coefficient over resamples of the rows (seeded: the same
/// data give the same spread).
fn bootstrap_spread(a: &DMatrix<f64>, b: &DVector<f64>, resamples: usize) -> Vec<f64> {
    use rand::{Rng, SeedableRng};
    let (n, k) = (a.nrows(), a.ncols());
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(0x626f_6f74);
    let mut sum = vec![0.0; k];
    let mut sum2 = vec![0.0; k];
    for _ in 0..resamples {
        let rows: Vec<usize> = (0..n).map(|_| rng.random_range(0..n)).collect();
        let ar = a.select_rows(&rows);
        let br = DVector::from_iterator(n, rows.iter().map(|&i| b[i]));
        let x = nnls(&ar, &br);
        for j in 0..k {
            sum[j] += x[j];
            sum2[j] += x[j] * x[j];
        }
    }
    let m = resamples as f64;
    (0..k)
        .map(|j| ((sum2[j] / m - (sum[j] / m).powi(2)).max(0.0) * m / (m - 1.0)).sqrt())
        .collect()
}

fn scale(rows: &[[f64; K]], j: usize) -> f64 {
    rows.iter()
        .map(|r| r[j].abs())
        .fold(0.0, f64::max)
        .max(1e-300)
}

fn interpolate(points: &BTreeMap<u32, f64>, b: u32) -> f64 {
    if let Some(v) = points.get(&b) {
        return *v;
    }
    let below = points.range(..b).next_back();
    let above = points.range(b..).next();
    match (below, above) {
        (Some((&b0, &f0)), Some((&b1, &f1))) => f0 + (f1 - f0) * (b - b0) as f64 / (b1 - b0) as f64,
        (Some((_, &f)), None) | (None, Some((_, &f))) => f,
        (None, None) => 1.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(b: u32, l: u64, ms: f64) -> Observation {
        Observation {
            label: format!("decode B={b}"),
            shape: StepShape {
                seqs: b,
                tokens: b as u64,
                kv_read_tokens: b as u64 * l,
                attention_pairs: (b as u64 * l) as f64,
                passes: 1,
            },
            ms,
            decode: true,
            includes_latency: false,
            steps: 1,
        }
    }

    fn prefill(p: u64, ms: f64) -> Observation {
        Observation {
            label: format!("prefill {p}"),
            shape: StepShape {
                seqs: 1,
                tokens: p,
                kv_read_tokens: p,
                attention_pairs: p as f64 * p as f64 / 2.0,
                passes: p.div_ceil(512) as u32,
            },
            ms,
            decode: false,
            includes_latency: false,
            steps: 1,
        }
    }

    fn truth(o: &Observation) -> f64 {
        let s = &o.shape;
        2.0 * o.steps as f64
            + 0.8 * s.seqs as f64
            + 1.5 * s.passes as f64
            + 2e-4 * s.kv_read_tokens as f64
            + 0.4 * s.tokens as f64
            + 3e-4 * s.attention_pairs
    }

    /// Prefills of 16–1024 tokens and three decode probes at each batch size (100 tokens of
    /// context), every one timed exactly as `truth` says.
    fn three_rounds(batches: &[u32]) -> Vec<Observation> {
        let mut obs: Vec<Observation> = [16, 128, 512, 1024]
            .iter()
            .map(|&p| prefill(p, 0.0))
            .collect();
        for &b in batches {
            for _ in 0..3 {
                obs.push(decode(b, 100, 0.0));
            }
        }
        for o in obs.iter_mut() {
            o.ms = truth(o);
        }
        obs
    }

    #[test]
    fn nnls_recovers_a_nonnegative_solution() {
        let a = DMatrix::from_row_slice(3, 2, &[1.0, 0.0, 0.0, 1.0, 1.0, 1.0]);
        let b = DVector::from_vec(vec![2.0, -1.0, 1.0]);
        let x = nnls(&a, &b);
        assert!(x[1] == 0.0 && (x[0] - 1.5).abs() < 1e-9, "{x}");
    }

    #[test]
    fn fit_recovers_known_coefficients_from_noise_free_probes() {
        let mut obs = Vec::new();
        for p in [16, 64, 256, 512, 1024, 1536, 2048] {
            obs.push(prefill(p, 0.0));
        }
        for b in 1..=8 {
            for l in [64, 1024] {
                obs.push(decode(b, l, 0.0));
            }
        }
        for o in obs.iter_mut() {
            o.ms = truth(o);
        }
        let f = fit(&obs, 3.0).unwrap();
        let s = &f.step;
        assert!((s.overhead_ms - 2.0).abs() < 1e-6, "{s:?}");
        assert!((s.per_seq_ms - 0.8).abs() < 1e-6);
        assert!((s.weights_ms_per_pass - 1.5).abs() < 1e-6);
        assert!((s.kv_ns_per_token - 200.0).abs() < 1e-3);
        assert!((s.compute_us_per_token - 400.0).abs() < 1e-3);
        assert!((s.attention_ns_per_pair - 300.0).abs() < 1e-3);
        assert_eq!(s.request_latency_ms, 3.0);
        assert!(f.report.r2 > 0.999999);
        // What the fitted model says each probe took is what it took.
        for o in &obs {
            assert!((predicted_ms(s, o) - o.ms).abs() < 1e-6, "{}", o.label);
        }
        assert!(
            s.decode_batch_factors.is_empty(),
            "smooth data needs no correction"
        );
    }

    #[test]
    fn uneven_batch_sizes_get_a_correction_and_a_note() {
        let mut obs: Vec<Observation> = [16, 128, 512, 1024]
            .iter()
            .map(|&p| prefill(p, 0.0))
            .collect();
        for b in 1..=8 {
            obs.push(decode(b, 100, 0.0));
        }
        for o in obs.iter_mut() {
            o.ms = truth(o)
                * if o.decode && o.shape.seqs == 3 {
                    1.4
                } else {
                    1.0
                };
        }
        let f = fit(&obs, 0.0).unwrap();
        assert_eq!(f.step.decode_batch_factors.len(), 8);
        assert!(f.step.decode_batch_factors[2] > 1.2);
        assert!(f.report.notes.iter().any(|n| n.contains("not smooth")));
    }

    #[test]
    fn a_batch_size_off_by_less_than_the_noise_keeps_the_smooth_fit() {
        // Three rounds of probes; every shape repeats within ±8% (the server's drift). B = 2
        // came out 8% slow on average (inside that noise for three probes), B = 8 30% slow in
        // every round (an uneven batch size).
        let mut obs: Vec<Observation> = [16, 128, 512, 1024]
            .iter()
            .map(|&p| prefill(p, 0.0))
            .collect();
        for round in 0..3u32 {
            for b in 1..=8u32 {
                let mut o = decode(b, 100, 0.0);
                let drift = 1.0 + 0.08 * (((b + round) % 3) as f64 - 1.0);
                let uneven = match b {
                    2 => 1.08,
                    8 => 1.3,
                    _ => 1.0,
                };
                o.ms = truth(&o) * drift * uneven;
                obs.push(o);
            }
        }
        for o in obs.iter_mut().filter(|o| !o.decode) {
            o.ms = truth(o);
        }
        let f = fit(&obs, 0.0).unwrap();
        let factors = &f.step.decode_batch_factors;
        println!("{factors:?}\n{:?}", f.report.notes);
        assert_eq!(factors.len(), 8);
        assert_eq!(factors[1], 1.0, "B = 2 is within the noise");
        assert!(factors[7] > 1.2, "B = 8 is uneven");
        assert!(f
            .report
            .notes
            .iter()
            .any(|n| n.contains("B=2: +7%,") && n.contains("B=8: +24% (corrected)")));
        // The B = 8 probes agree with each other within the drift: none is a stray (before,
        // the slowest was left out and B = 8 came out +22%).
        assert!(!f.report.notes.iter().any(|n| n.contains("stray")));
    }

    #[test]
    fn a_stray_repeat_is_left_out_with_a_note() {
        let mut obs = three_rounds(&[1, 2, 4, 8]);
        // One of the three B = 4 probes ran while the machine stalled.
        obs[10].ms *= 3.0;
        let f = fit(&obs, 0.0).unwrap();
        assert!(
            f.report.notes.iter().any(|n| n.contains("stray")),
            "{:?}",
            f.report.notes
        );
        assert!((f.step.overhead_ms - 2.0).abs() < 1e-3, "{:?}", f.step);
        assert!(f.step.decode_batch_factors.is_empty());
    }

    #[test]
    fn repeats_that_agree_with_each_other_are_not_strays_however_far_the_fit_is() {
        // llama-server on 2 CPU cores: decode at B = 2 runs ~30% slower than the smooth form
        // through B = 1, 3, 4 (measured: 27.6 ms where the fit gave 20.5). Its three probes
        // differ by up to 23%, one inside the stray limit of the fit and one outside: all are the
        // engine, and the correction for B = 2 needs every one.
        let mut obs = three_rounds(&[1, 2, 3, 4]);
        let b2: Vec<usize> = (0..obs.len())
            .filter(|&i| obs[i].decode && obs[i].shape.seqs == 2)
            .collect();
        for (k, &i) in b2.iter().enumerate() {
            obs[i].ms *= [1.15, 1.42, 1.30][k];
        }
        let f = fit(&obs, 0.0).unwrap();
        assert!(
            !f.report.notes.iter().any(|n| n.contains("stray")),
            "{:?}",
            f.report.notes
        );
        let factor = f.step.decode_batch_factors[1];
        assert!(
            factor > 1.2,
            "B = 2 corrected: {factor} ({:?})",
            f.report.notes
        );
    }

    #[test]
    fn two_decode_probes_that_disagree_are_both_kept_and_averaged() {
        // Two rounds; of the two B = 2 probes one ran at the smooth form's time and one 46%
        // slower (llama-server on 2 cores: 26.5 and 38.8 ms in one calibration, and 40.5 ms at
        // C = 2 in the closed loop that followed). One against one cannot say which is the
        // server, so neither is a stray, and B = 2 is corrected by their mean.
        let mut obs: Vec<Observation> = [16, 128, 512, 1024]
            .iter()
            .map(|&p| prefill(p, 0.0))
            .collect();
        for _round in 0..2 {
            for b in [1, 2, 3, 4, 6, 8] {
                obs.push(decode(b, 100, 0.0));
            }
        }
        for o in obs.iter_mut() {
            o.ms = truth(o);
        }
        let b2 = (0..obs.len())
            .rfind(|&i| obs[i].decode && obs[i].shape.seqs == 2)
            .unwrap();
        obs[b2].ms *= 1.46;
        let f = fit(&obs, 0.0).unwrap();
        println!("{:?}", f.report.notes);
        assert!(!f.report.notes.iter().any(|n| n.contains("stray")));
        // The smooth fit at B = 2, times its correction, is the mean of the two probes.
        let factor = f.step.decode_batch_factors[1];
        let smooth = f.report.residuals[b2].fitted_ms;
        let mean = (obs[b2].ms + truth(&obs[b2])) / 2.0;
        println!("B = 2: smooth {smooth:.2} ms x {factor:.3}, probes' mean {mean:.2} ms");
        assert!(factor > 1.1, "B = 2 corrected: {factor}");
        assert!(
            (smooth * factor / mean - 1.0).abs() < 0.02,
            "B = 2 predicted {:.2} ms, its probes' mean {mean:.2} ms",
            smooth * factor
        );
        // A third probe that agrees with the fast one outvotes the slow one: a stall.
        let mut three = obs.clone();
        three.push(decode(2, 100, 0.0));
        let last = three.len() - 1;
        three[last].ms = truth(&three[last]);
        let f = fit(&three, 0.0).unwrap();
        assert!(
            f.report.notes.iter().any(|n| n.contains("stray")),
            "{:?}",
            f.report.notes
        );
    }

    #[test]
    fn constant_features_are_left_out_with_a_note() {
        let mut obs: Vec<Observation> = [16, 128, 256, 400]
            .iter()
            .map(|&p| prefill(p, 0.0))
            .collect();
        for b in 1..=4 {
            obs.push(decode(b, 100, 0.0));
        }
        for o in obs.iter_mut() {
            o.ms = truth(o);
        }
        let f = fit(&obs, 0.0).unwrap();
        assert_eq!(f.step.weights_ms_per_pass, 0.0);
        assert!(f
            .report
            .notes
            .iter()
            .any(|n| n.contains("weights_ms_per_pass")));
        // Predictions still match: the fixed per-pass cost moved into the overhead.
        assert!(f.report.rms_residual_ms < 1e-6);
    }

    #[test]
    fn chunked_prefills_count_the_fixed_cost_once_per_step() {
        // Prompts past a 512-token budget are timed over their chunks: the fit must see each
        // chunk's fixed cost, not one, to recover the true coefficients.
        let mut obs: Vec<Observation> = [16, 128, 256, 512]
            .iter()
            .map(|&p| prefill(p, 0.0))
            .collect();
        for p in [1024, 1536, 1900] {
            let (steps, shape) = StepShape::prefill_chunks(p, 512);
            obs.push(Observation {
                label: format!("prefill {p} in {steps} chunks"),
                shape,
                ms: 0.0,
                decode: false,
                includes_latency: false,
                steps,
            });
        }
        for b in 1..=4 {
            obs.push(decode(b, 100, 0.0));
            obs.push(decode(b, 900, 0.0));
        }
        // vLLM's way: one pass a step, no separate weight-read term (it cannot be told from
        // the fixed cost), 2 ms fixed per step.
        for o in obs.iter_mut() {
            o.ms = truth(o) - 1.5 * o.shape.passes as f64;
        }
        let f = fit(&obs, 0.0).unwrap();
        assert!((f.step.overhead_ms - 2.0).abs() < 1e-6, "{:?}", f.step);
        assert_eq!(f.step.weights_ms_per_pass, 0.0);
        assert!(
            (f.step.attention_ns_per_pair - 300.0).abs() < 1e-3,
            "{:?}",
            f.step
        );
    }

    #[test]
    fn request_latency_is_fitted_from_client_ttfts() {
        let mut obs: Vec<Observation> = [16, 128, 512, 1024, 2048]
            .iter()
            .map(|&p| prefill(p, 0.0))
            .collect();
        for b in 1..=4 {
            obs.push(decode(b, 100, 0.0));
            obs.push(decode(b, 900, 0.0));
        }
        for o in obs.iter_mut() {
            o.ms = truth(o);
            if !o.decode {
                o.includes_latency = true;
                o.ms += 7.0;
            }
        }
        let f = fit(&obs, 0.0).unwrap();
        assert!(
            (f.step.request_latency_ms - 7.0).abs() < 1e-6,
            "{:?}",
            f.step
        );
    }

    #[test]
    fn too_few_observations_is_an_error() {
        assert!(fit(&[prefill(10, 1.0)], 0.0).is_err());
    }
}
