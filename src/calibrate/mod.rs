//! Calibration: fit the measured step model from a live server's probes ([`probe`]) or from
//! recorded runs ([`runs`]), and write it as a profile with its provenance, uncertainty and
//! fit quality. With a scenario (model shape and hardware datasheet) the profile also carries
//! efficiencies against the datasheet, so it can be projected to other GPUs.

pub mod fit;
pub mod probe;
pub mod runs;

use crate::cost::coefficients::{Estimate, MeasuredOn, ProfileCoefficients, Provenance};
use crate::cost::Profile;
use crate::spec::Spec;
use fit::Fit;

/// A gap over this many times its stream's median is no ordinary step: left out of the typical
/// step and of the step CV, and counted as a stall (one rule, so the two never overlap).
pub const OUTLIER_RATIO: f64 = 2.0;

/// A decode step from inter-token gaps (ms): their mean, leaving out gaps over twice the
/// median (steps that also carried another request's prefill, which the simulation models
/// itself). The mean, not the median, because TPOT is a mean.
pub fn typical_gap_ms(gaps: &mut [f64]) -> Option<f64> {
    let m = crate::metrics::median(gaps)?;
    let kept: Vec<f64> = gaps
        .iter()
        .copied()
        .filter(|g| *g <= OUTLIER_RATIO * m)
        .collect();
    Some(kept.iter().sum::<f64>() / kept.len().max(1) as f64)
}

/// The coefficient of variation of one request's decode gaps (gaps over twice the median
/// left out, as in [`typical_gap_ms`]): the step-to-step noise.
pub fn step_cv(gaps: &[f64]) -> Option<f64> {
    if gaps.len() < 10 {
        return None;
    }
    let mut g = gaps.to_vec();
    let m = crate::metrics::median(&mut g)?;
    let kept: Vec<f64> = g.into_iter().filter(|x| *x <= OUTLIER_RATIO * m).collect();
    let n = kept.len() as f64;
    let mean = kept.iter().sum::<f64>() / n;
    let var = kept.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
    (mean > 0.0).then(|| var.sqrt() / mean)
}

/// Stalls (see [`crate::cost::Stalls`]) from each request's decode gaps (ms): the gaps over
/// twice their request's median, their share of all gaps and their mean excess over that
/// median. None with fewer than [`STALL_MIN_GAPS`] gaps (too few to see a share of a percent).
pub fn stalls<'a>(streams: impl IntoIterator<Item = &'a [f64]>) -> Option<crate::cost::Stalls> {
    let (mut gaps, mut stalled, mut excess) = (0usize, 0usize, 0.0f64);
    for g in streams {
        let Some(m) = crate::metrics::median(&mut g.to_vec()) else {
            continue;
        };
        gaps += g.len();
        for x in g.iter().filter(|x| **x > OUTLIER_RATIO * m) {
            stalled += 1;
            excess += x - m;
        }
    }
    (gaps >= STALL_MIN_GAPS).then(|| crate::cost::Stalls {
        steps: gaps as u64,
        fraction: stalled as f64 / gaps as f64,
        mean_ms: if stalled > 0 {
            excess / stalled as f64
        } else {
            0.0
        },
    })
}

/// Decode gaps a stall measurement needs (see [`stalls`]).
pub const STALL_MIN_GAPS: usize = 200;

/// Requests after each pause an idle wake-up measurement needs (see [`idle_wakeup`]).
pub const IDLE_MIN_REQUESTS: usize = 4;

/// Whether an idle server answers later, from first tokens (ms; or their excess over a fitted
/// prefill) of requests sent warm (back to back), after a shorter pause and after a longer one
/// (`pauses_ms`): how much later each pause's first token comes than warm (medians), if after
/// the longer pause that is more than twice the difference's standard error (a robust spread);
/// the shorter pause's delay kept between 0 and the longer one's. With a note giving the
/// numbers, the samples named by `what`. None with fewer than [`IDLE_MIN_REQUESTS`] in a group.
/// Probes and recorded runs both measure it here.
pub fn idle_wakeup(
    samples: &[Vec<f64>; 3],
    pauses_ms: [f64; 2],
    what: &str,
) -> Option<(crate::cost::IdleWakeup, String)> {
    let stats = |v: &[f64]| -> Option<(f64, f64)> {
        let mut v = v.to_vec();
        let m = crate::metrics::median(&mut v)?;
        let mut dev: Vec<f64> = v.iter().map(|x| (x - m).abs()).collect();
        let sd = 1.4826 * crate::metrics::median(&mut dev)?;
        // The standard error of a median: 1.2533 σ / √n.
        Some((m, 1.2533 * sd / (v.len() as f64).sqrt()))
    };
    if samples.iter().any(|v| v.len() < IDLE_MIN_REQUESTS) {
        return None;
    }
    let (warm, se_w) = stats(&samples[0])?;
    let (short, se_s) = stats(&samples[1])?;
    let (long, se_l) = stats(&samples[2])?;
    let extra = long - warm;
    let seen = extra > 0.0 && extra > 2.0 * se_w.hypot(se_l);
    let extra_ms = if seen {
        [(short - warm).clamp(0.0, extra), extra]
    } else {
        [0.0, 0.0]
    };
    let [p1, p2] = pauses_ms;
    let note = format!(
        "idle: {what}: {warm:.2} ms back to back ({} requests), {short:.2} ms after a {p1:.0} ms pause ({}), {long:.2} ms after {p2:.0} ms ({}) (standard errors {se_w:.2}, {se_s:.2}, {se_l:.2}); {}",
        samples[0].len(),
        samples[1].len(),
        samples[2].len(),
        if seen {
            format!(
                "a request after {p1:.0} / {p2:.0} ms idle waits {:.2} / {:.2} ms longer (step.idle_wakeup)",
                extra_ms[0], extra_ms[1]
            )
        } else {
            "no slower after idle, within the noise".to_string()
        }
    );
    Some((
        crate::cost::IdleWakeup {
            after_ms: pauses_ms,
            extra_ms,
        },
        note,
    ))
}

/// The step noise of single-stream decode gaps (ms, a stream each): the median over streams
/// of each one's CV ([`step_cv`]), and the stalls among them ([`stalls`]). Probes and recorded
/// runs both measure it here.
pub fn step_noise(streams: &[Vec<f64>]) -> (Option<f64>, Option<crate::cost::Stalls>) {
    let mut cvs: Vec<f64> = streams.iter().filter_map(|g| step_cv(g)).collect();
    (
        crate::metrics::median(&mut cvs),
        stalls(streams.iter().map(Vec::as_slice)),
    )
}

/// Today's date (UTC), `YYYY-MM-DD`.
pub fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    // Civil from days (Howard Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    format!("{:04}-{:02}-{:02}", if m <= 2 { y + 1 } else { y }, m, d)
}

/// Efficiencies against the scenario's datasheet: η_bw reproduces the measured batch-1 decode
/// step at 512 tokens of context (everything but the per-sequence time attributed to memory
/// traffic, since a fit often folds the weight read into the fixed overhead), η_f the measured
/// compute per token. The fixed overhead is then 0 and the per-sequence time is kept, so the
/// roofline with these figures gives the measured decode step back on the measured GPU.
pub fn efficiencies(
    step: &crate::cost::MeasuredStep,
    stderr: &std::collections::BTreeMap<String, f64>,
    sc: &Spec,
) -> ProfileCoefficients {
    let s = step;
    let context = 512.0;
    let fp = &sc.cost.footprint;
    let tp = sc.cost.physics.parallel.concurrent_gpus().max(1) as f64;
    let decode_ms = s.overhead_ms
        + s.weights_ms_per_pass
        + s.kv_ns_per_token * context / 1e6
        + s.compute_us_per_token / 1e3
        + s.attention_ns_per_pair * context / 1e6;
    let memory_s = (decode_ms / 1e3).max(1e-9);
    let bytes = fp.weights_read(1).0 + fp.kv_per_token.0 * context;
    let bw = sc.device.bandwidth().0 * sc.cost.kernel.bandwidth_factor * tp;
    let eta_bw = (bytes / bw / memory_s).clamp(1e-4, 1.5);
    let peak = sc.cost.kernel.peak_flops * tp;
    let u = (s.compute_us_per_token / 1e6).max(1e-15);
    let eta_f = (fp.flops_per_token / peak / u).clamp(1e-4, 1.5);
    let rel = |name: &str, value: f64| {
        stderr
            .get(name)
            .filter(|_| value > 0.0)
            .map(|se| se / value)
    };
    let decode_rel = {
        let se: f64 = ["overhead_ms", "weights_ms_per_pass"]
            .iter()
            .filter_map(|k| stderr.get(*k))
            .map(|x| x * x)
            .sum::<f64>()
            .sqrt();
        (se / decode_ms.max(1e-9)).min(10.0)
    };
    ProfileCoefficients {
        overhead_ms: Estimate {
            value: 0.0,
            stderr: None,
        },
        per_layer_ms: None,
        per_seq_ms: Estimate {
            value: s.per_seq_ms,
            stderr: stderr.get("per_seq_ms").copied(),
        },
        bw_efficiency: Estimate {
            value: eta_bw,
            stderr: Some(decode_rel * eta_bw),
        },
        flops_efficiency: Estimate {
            value: eta_f,
            stderr: rel("compute_us_per_token", s.compute_us_per_token).map(|r| r * eta_f),
        },
    }
}

/// Builds a measured profile from a fit.
pub fn profile_from_fit(
    name: &str,
    fit: Fit,
    provenance: Provenance,
    mut measured_on: MeasuredOn,
    scenario: Option<&Spec>,
    notes: Vec<String>,
) -> Profile {
    let coefficients = scenario.map(|sc| efficiencies(&fit.step, &fit.stderr, sc));
    if let Some(sc) = scenario {
        measured_on.model = Some(sc.model.name.clone());
        measured_on.hardware = Some(sc.device.name.clone());
        measured_on.weight_dtype = Some(format!("{:?}", sc.weight_dtype).to_lowercase());
        measured_on.shape = Some(sc.model.identity(sc.weight_dtype, sc.kv_dtype));
    }
    let mut report = fit.report;
    report.notes.extend(notes);
    Profile {
        capsim_profile: 1,
        name: name.to_string(),
        provenance,
        measured_on,
        coefficients,
        step: Some(fit.step),
        step_stderr: fit.stderr,
        fit: Some(report),
    }
}

/// A profile moved to another GPU: its efficiencies kept, the measured step model (which
/// belongs to the hardware it was measured on) dropped, provenance `projected`.
pub fn project(
    profile: &Profile,
    hardware: &crate::hardware::Device,
) -> Result<Profile, crate::error::InputError> {
    if profile.coefficients.is_none() {
        return Err(crate::error::InputError::new(
            "--project",
            format!(
                "profile '{}' has no efficiencies to project (calibrate it with --scenario)",
                profile.name
            ),
        ));
    }
    let from = profile
        .measured_on
        .hardware
        .clone()
        .unwrap_or_else(|| "?".into());
    let mut out = profile.clone();
    out.name = format!("{}-projected-{}", profile.name, hardware.name);
    out.provenance = Provenance {
        kind: "projected".into(),
        server: profile.provenance.server.clone(),
        server_version: profile.provenance.server_version.clone(),
        date: Some(today()),
        notes: Some(format!(
            "efficiencies of '{}' (measured on {from}, {}) applied to the {} datasheet ({:.0} GB/s, {:.1} dense 16-bit TFLOP/s); nothing measured on {}",
            profile.name,
            profile.provenance.date.clone().unwrap_or_default(),
            hardware.name,
            hardware.bandwidth_gb_s,
            hardware.tflops_16bit,
            hardware.name
        )),
    };
    out.measured_on.hardware = Some(hardware.name.clone());
    out.step = None;
    out.step_stderr.clear();
    Ok(out)
}

/// Reads the profile at `path` and projects it to the GPU named `gpu`: (source, projected).
pub fn project_file(
    path: &std::path::Path,
    gpu: &str,
) -> crate::error::InputResult<(Profile, Profile)> {
    let source = Profile::load(path)?;
    let device = crate::hardware::lookup(gpu).ok_or_else(|| {
        crate::error::InputError::new(
            "--hardware",
            format!(
                "unknown GPU '{gpu}'; known: {}",
                crate::hardware::names().join(", ")
            ),
        )
    })?;
    let projected = project(&source, &device)?;
    Ok((source, projected))
}

/// How much to trust a fitted profile.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sanity {
    /// The fit is nonsense: no profile is written.
    pub refusals: Vec<String>,
    /// Written, flagged in the profile and printed (errors under `--strict`).
    pub warnings: Vec<String>,
}

/// Checks a fitted profile: a step model that predicts no time, a fit that explains little,
/// per-batch corrections far from 1 are refused; a mediocre fit, efficiencies above the
/// datasheet, and coefficients the probes could not separate are warnings.
pub fn sanity(profile: &Profile) -> Sanity {
    let mut s = Sanity::default();
    if let (Some(step), Some(fit)) = (&profile.step, &profile.fit) {
        let decode = step.overhead_ms
            + step.per_seq_ms
            + step.weights_ms_per_pass
            + step.compute_us_per_token / 1e3
            + (step.kv_ns_per_token + step.attention_ns_per_pair) * 512.0 / 1e6;
        if decode.is_nan() || decode <= 1e-3 {
            s.refusals.push(format!(
                "the fitted model gives a batch-1 decode step of {decode:.4} ms: it predicts no time"
            ));
        }
        if fit.r2 < 0.8 {
            s.refusals.push(format!(
                "the fit explains too little of the measurements (R² {:.3} < 0.8)",
                fit.r2
            ));
        } else if fit.r2 < 0.95 {
            s.warnings.push(format!(
                "a mediocre fit (R² {:.3}, RMS residual {:.2} ms): predictions carry it",
                fit.r2, fit.rms_residual_ms
            ));
        }
        if let Some(f) = step
            .decode_batch_factors
            .iter()
            .find(|f| !(0.2..=5.0).contains(*f))
        {
            s.refusals.push(format!(
                "a per-batch-size decode correction of {f:.2}x: the step model does not describe this server's decode"
            ));
        }
        for n in fit.notes.iter().filter(|n| n.contains("not identifiable")) {
            s.warnings.push(n.clone());
        }
    }
    if let Some(c) = &profile.coefficients {
        for (name, e) in [
            ("bandwidth", &c.bw_efficiency),
            ("compute", &c.flops_efficiency),
        ] {
            if e.value > 1.0 {
                s.warnings.push(format!(
                    "{name} efficiency {:.2} is above the datasheet's peak: the scenario's hardware figures are too low for what was measured (non-physical)",
                    e.value
                ));
            }
        }
    }
    s
}

/// Why a calibration wrote no profile.
#[derive(Debug, thiserror::Error)]
#[error("calibration refused, no profile written: {}", .0.join("; "))]
pub struct Refused(pub Vec<String>);

/// The profile with its sanity flags recorded, or the refusal: nonsense always, warnings too
/// under `strict`.
pub fn checked(mut profile: Profile, strict: bool) -> Result<Profile, Refused> {
    let s = sanity(&profile);
    if !s.refusals.is_empty() {
        return Err(Refused(s.refusals));
    }
    if strict && !s.warnings.is_empty() {
        let mut why = s.warnings;
        why.push("(--strict makes these errors)".into());
        return Err(Refused(why));
    }
    if let Some(fit) = profile.fit.as_mut() {
        fit.flags = s.warnings;
    }
    Ok(profile)
}

/// Probes the live server in `opts` and fits a profile named `name` (with efficiencies when
/// `scenario` gives the model and datasheet).
pub fn from_server(
    opts: &probe::ProbeOptions,
    name: &str,
    scenario: Option<&Spec>,
) -> anyhow::Result<Profile> {
    let mut opts = opts.clone();
    opts.closed_loops = scenario.is_some();
    if let Some(crate::spec::EngineSpec::Vllm { config, .. }) = scenario.map(|sc| &sc.engine) {
        opts.prefill_limit = Some(config.max_num_batched_tokens);
        opts.max_seqs = Some(config.max_num_seqs);
    }
    let mut probed = probe::probe(&opts)?;
    let mut fitted = fit::fit(&probed.observations, probed.request_latency_ms)
        .map_err(|e| anyhow::anyhow!("cannot fit the step model: {e}"))?;
    (fitted.step.step_cv, fitted.step.stalls) = (probed.step_cv, probed.stalls);
    fitted.step.idle_wakeup = probed.idle_wakeup;
    fitted.step.slot_split = probed.slot_split;
    match scenario {
        Some(sc) if !probed.closed_loops.is_empty() => {
            let (share, note) = api_server_layout(sc, &fitted.step, &probed.closed_loops);
            fitted.step.api_server_engine_share = Some(share);
            probed.notes.push(note);
        }
        _ => probed.notes.push(
            "whether the API server's work takes the engine's time is not measured without --scenario (the closed-loop probes need the server's limits to be simulated): set engine.api_server_shares_cores for a CPU-only server".into(),
        ),
    }
    let provenance = Provenance {
        kind: "measured".into(),
        server: Some(probed.server.kind.clone()),
        server_version: probed.server.version.clone(),
        date: Some(today()),
        notes: Some(format!(
            "probed {} ({} requests, {:.1} s)",
            opts.url,
            probed.requests,
            probed.elapsed.as_secs_f64()
        )),
    };
    let measured_on = MeasuredOn {
        hardware: None,
        model: Some(probed.model.clone()),
        engine: Some(probed.server.kind.clone()),
        weight_dtype: None,
        shape: None,
    };
    Ok(profile_from_fit(
        name,
        fitted,
        provenance,
        measured_on,
        scenario,
        probed.notes,
    ))
}

/// How much of the request latency is the API server's work on the engine's cores: the
/// closed-loop probes' throughput (one-token requests, so the requests are the work) against
/// the simulator's prediction from the fitted step model, both by the one summary function. The
/// share runs from 0 (its own cores: the latency only delays) to 1 (all of it takes the
/// engine's time); the prediction falls as it grows, and the share whose prediction matches the
/// measurement is the answer (0 or 1 where the measurement lies outside), by bisection. The
/// note gives the measurement and both ends.
fn api_server_layout(
    sc: &Spec,
    step: &crate::cost::MeasuredStep,
    runs: &[probe::ClosedLoopRun],
) -> (f64, String) {
    use crate::workload::{Arrival, LengthDist};
    let measured: Vec<f64> = runs.iter().map(|r| r.throughput()).collect();
    let mean = measured.iter().sum::<f64>() / measured.len() as f64;
    let first = &runs[0];
    let cost = sc.cost.clone().with_measured(step.clone());
    let mut workload = sc.workload.clone();
    workload.arrival = Arrival::Closed {
        users: first.users,
        think_s: None,
        turns: 1,
    };
    // Longer than the probe, so the prediction is the steady state.
    workload.num_requests = first.requests() * 8;
    workload.input_tokens = LengthDist::fixed(first.prompt_tokens);
    workload.output_tokens = LengthDist::fixed(1);
    workload.timeout = None;
    workload.classes.clear();
    workload.shared_prefix = 0;
    // Both sides by the one summary function: its request throughput.
    let predict = |share: f64| {
        let mut builder = crate::metrics::SummaryBuilder::default();
        let out = crate::sim::run(
            &workload,
            sc.engines_with(&cost),
            sc.router,
            crate::sim::Transport {
                engine_share: share,
                ..sc.transport(&cost, workload.seed)
            },
            &mut |r| builder.push(&r),
        );
        builder
            .finish(
                crate::metrics::Point::new(),
                "simulated",
                &out.itl,
                Default::default(),
            )
            .request_throughput
    };
    let (own, shared) = (predict(0.0), predict(1.0));
    let share = if mean >= own {
        0.0
    } else if mean <= shared {
        1.0
    } else {
        // Bisection in the share; the predictions fall as it grows.
        let (mut lo, mut hi) = (0.0f64, 1.0f64);
        for _ in 0..12 {
            let mid = 0.5 * (lo + hi);
            if predict(mid) > mean {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        // To the percent: the loops' own repeats differ by more.
        (0.5 * (lo + hi) * 100.0).round() / 100.0
    };
    let runs_text: Vec<String> = measured.iter().map(|x| format!("{x:.1}")).collect();
    let note = format!(
        "closed loops of {} users, one-token requests of {} tokens: {mean:.1} req/s measured ({}); the fitted step model predicts {own:.1} with the API server on its own cores, {shared:.1} with all its work ({:.2} ms a request) on the engine's: {}",
        first.users,
        first.prompt_tokens,
        runs_text.join(", "),
        step.request_latency_ms,
        if share > 0.0 {
            format!(
                "{:.0}% of the request latency is API-server work on the engine's cores (api_server_engine_share {share})",
                share * 100.0
            )
        } else {
            "the API server has its own cores".to_string()
        }
    );
    (share, note)
}

/// Whether the recorded server answered later after idling: the first tokens of requests that
/// found it idle, beyond what the step model `step` says their prefill takes, back to back
/// against after a pause ([`idle_wakeup`]); the paused requests split at their median pause
/// into a shorter and a longer half, each at its median pause. None, with a note saying why,
/// where the runs have too few of either, or pauses too alike to tell a short from a long one.
fn idle_from_runs(
    recorded: &[crate::results::Run],
    prefill_limit: Option<u32>,
    step: &crate::cost::MeasuredStep,
) -> (Option<crate::cost::IdleWakeup>, String) {
    let (warm, paused) = runs::idle_arrivals(recorded, prefill_limit);
    let excess = |o: &fit::Observation| o.ms - fit::predicted_ms(step, o);
    let half = paused.len() / 2;
    if warm.len() < IDLE_MIN_REQUESTS || half < IDLE_MIN_REQUESTS {
        return (
            None,
            format!(
                "idle: not measured: {} requests found the server idle back to back and {} after a pause of {} ms or more; telling whether an idle server answers later takes {IDLE_MIN_REQUESTS} and {} (closed loops at one user with runs at a light rate or with think time)",
                warm.len(),
                paused.len(),
                runs::PAUSE_MS,
                2 * IDLE_MIN_REQUESTS
            ),
        );
    }
    let pause = |v: &[(f64, fit::Observation)]| {
        crate::metrics::median(&mut v.iter().map(|(ms, _)| *ms).collect::<Vec<_>>()).unwrap_or(0.0)
    };
    let (shorter, longer) = paused.split_at(half);
    let pauses = [pause(shorter), pause(longer)];
    if pauses[1] < 1.5 * pauses[0] {
        return (
            None,
            format!(
                "idle: not measured: the {} requests after a pause came after {:.0} to {:.0} ms (medians of the two halves), too alike to tell how the delay grows with the pause",
                paused.len(),
                pauses[0],
                pauses[1]
            ),
        );
    }
    let samples = [
        warm.iter().map(excess).collect(),
        shorter.iter().map(|(_, o)| excess(o)).collect(),
        longer.iter().map(|(_, o)| excess(o)).collect(),
    ];
    match idle_wakeup(
        &samples,
        pauses,
        "first tokens beyond their fitted prefill (recorded requests that found the server idle; medians)",
    ) {
        Some((w, note)) => (Some(w), note),
        None => (None, "idle: not measured".into()),
    }
}

/// Fits a profile named `name` from recorded runs.
pub fn from_runs(
    recorded: &[crate::results::Run],
    name: &str,
    scenario: Option<&Spec>,
) -> crate::error::InputResult<Profile> {
    // vLLM prefills a prompt longer than its token budget in chunks, a step each: the
    // scenario says how large the budget is.
    let prefill_limit = match scenario.map(|sc| &sc.engine) {
        Some(crate::spec::EngineSpec::Vllm { config, .. }) => Some(config.max_num_batched_tokens),
        _ => None,
    };
    // llama-server with one KV stream per slot (its default with an explicit `--parallel`;
    // the scenario may say otherwise) runs slots that are not consecutive as separate passes.
    let split_slots = match scenario.map(|sc| &sc.engine) {
        Some(crate::spec::EngineSpec::LlamaCpp(cfg)) => !cfg.kv_unified,
        _ => true,
    };
    let fit_runs = |wakeup: Option<&crate::cost::IdleWakeup>| {
        let (observations, split_notes) =
            runs::observations(recorded, prefill_limit, wakeup, split_slots);
        let fitted = fit::fit(&observations, 0.0).map_err(|e| {
            crate::error::InputError::new(
                "--from",
                format!("cannot fit the step model from these runs: {e}"),
            )
        })?;
        Ok::<_, crate::error::InputError>((observations, fitted, split_notes))
    };
    let (mut observations, mut fitted, mut split_notes) = fit_runs(None)?;
    let (idle, idle_note) = idle_from_runs(recorded, prefill_limit, &fitted.step);
    if let Some(w) = idle.filter(crate::cost::IdleWakeup::seen) {
        // The TTFTs at one user the step model was fitted from include the wake-up of those
        // that found the server idle: fitted again without it (the simulation adds it).
        (observations, fitted, split_notes) = fit_runs(Some(&w))?;
    }
    (fitted.step.step_cv, fitted.step.stalls) = step_noise(&runs::single_stream_gaps(recorded));
    fitted.step.idle_wakeup = idle;
    let server = recorded
        .iter()
        .find_map(|r| r.metadata.as_ref().map(|m| m.server.clone()));
    let provenance = Provenance {
        kind: "measured".into(),
        server: server.as_ref().map(|s| s.kind.clone()),
        server_version: server.as_ref().and_then(|s| s.version.clone()),
        date: Some(today()),
        notes: Some(format!("fitted from {} recorded run(s)", recorded.len())),
    };
    let measured_on = MeasuredOn {
        hardware: None,
        model: recorded
            .iter()
            .find_map(|r| r.metadata.as_ref().map(|m| m.model.clone())),
        engine: server.map(|s| s.kind),
        weight_dtype: None,
        shape: None,
    };
    let mut notes = vec![
        format!(
            "{} step observations from {} run(s)",
            observations.len(),
            recorded.len()
        ),
        idle_note,
    ];
    notes.append(&mut split_notes);
    if prefill_limit.is_none()
        && recorded.iter().any(|r| !r.is_llama_cpp())
        && observations.iter().any(|o| !o.decode)
    {
        notes.push(
            "each prompt's TTFT is fitted as one prefill step: without a vLLM --scenario the token budget (max_num_batched_tokens) that splits longer prompts into chunks is not known".into(),
        );
    }
    Ok(profile_from_fit(
        name,
        fitted,
        provenance,
        measured_on,
        scenario,
        notes,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stalls_are_the_gaps_over_twice_their_streams_median() {
        // Two streams of 150 gaps: one at 4 ms with 3 gaps of 12 ms (8 ms over its median),
        // one at 10 ms with 1 gap of 19 ms (under twice its median: noise, not a stall) and
        // 2 of 30 ms (20 ms over).
        let mut a = vec![4.0; 147];
        a.extend([12.0; 3]);
        let mut b = vec![10.0; 147];
        b.extend([19.0, 30.0, 30.0]);
        let s = stalls([a.as_slice(), b.as_slice()]).unwrap();
        assert_eq!(s.steps, 300);
        assert!((s.fraction - 5.0 / 300.0).abs() < 1e-12, "{s:?}");
        assert!(
            (s.mean_ms - (3.0 * 8.0 + 2.0 * 20.0) / 5.0).abs() < 1e-12,
            "{s:?}"
        );
        // Too few gaps to see a share of a percent: no measurement.
        assert_eq!(stalls([a.as_slice()]), None);
        // Steady streams: a measured share of 0.
        let steady = vec![4.0; 250];
        assert_eq!(stalls([steady.as_slice()]).unwrap().fraction, 0.0);
    }

    #[test]
    fn an_idle_wakeup_is_what_a_pause_adds_beyond_the_noise() {
        const PAUSES: [f64; 2] = [20.0, 200.0];
        // Twelve first tokens around `at` ms, ±0.5 ms.
        let around =
            |at: f64| -> Vec<f64> { (0..12).map(|i| at + (i % 5) as f64 * 0.25 - 0.5).collect() };
        let (w, note) =
            idle_wakeup(&[around(15.0), around(17.0), around(19.5)], PAUSES, "t").unwrap();
        assert_eq!(w.after_ms, [20.0, 200.0]);
        assert_eq!(w.extra_ms, [2.0, 4.5], "{note}");
        // Between the pauses, linear; from no pause, linear; past the longer, flat.
        assert!((w.extra_after(110.0) - 3.25).abs() < 1e-12);
        assert!((w.extra_after(10.0) - 1.0).abs() < 1e-12);
        assert_eq!(w.extra_after(5000.0), 4.5);
        // The short pause's delay is kept between none and the long one's.
        let (w, _) = idle_wakeup(&[around(15.0), around(14.0), around(19.0)], PAUSES, "t").unwrap();
        assert_eq!(w.extra_ms, [0.0, 4.0]);
        // A difference within the noise is none.
        let noisy: Vec<f64> = (0..12).map(|i| 15.0 + (i % 4) as f64 * 3.0).collect();
        let shifted: Vec<f64> = noisy.iter().map(|x| x + 1.0).collect();
        let (w, note) = idle_wakeup(&[noisy.clone(), noisy, shifted], PAUSES, "t").unwrap();
        assert_eq!(w.extra_ms, [0.0, 0.0], "{note}");
        assert!(note.contains("within the noise"), "{note}");
    }
}

#[cfg(test)]
mod idle_from_runs_tests {
    use super::*;
    use std::path::PathBuf;

    /// A records file of requests at one user, each sent `pause` ms after the last one ended
    /// (the first at 0): prompts of 100 and 300 tokens in turn, a first token 5 + 0.02 ms a
    /// prompt token later (±0.3 ms), plus `wake(pause)`; then 8 tokens 4 ms apart.
    fn one_user(name: &str, pauses: &[f64], wake: impl Fn(f64) -> f64) -> PathBuf {
        let mut t = 0.0;
        let mut lines = String::new();
        for (i, pause) in pauses.iter().enumerate() {
            if i > 0 {
                t += pause / 1e3;
            }
            let prompt = if i % 2 == 0 { 100 } else { 300 };
            let jitter = (i % 5) as f64 * 0.15 - 0.3;
            let ttft = (5.0 + 0.02 * prompt as f64 + jitter + wake(*pause)) / 1e3;
            let end = t + ttft + 7.0 * 0.004;
            lines += &serde_json::json!({
                "id": i, "scheduled_s": t, "sent_s": t, "first_token_s": t + ttft, "end_s": end,
                "input_tokens": prompt, "output_tokens": 8, "itl_s": vec![0.004; 7], "error": null,
            })
            .to_string();
            lines.push('\n');
            t = end;
        }
        let p = scratch(name);
        std::fs::write(&p, lines).unwrap();
        p
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("capsim-idle-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    /// The same requests as [`one_user`], as a `vllm bench serve --save-result
    /// --save-detailed` file whose `start_times` are raw perf-counter readings.
    fn one_user_vllm_bench(name: &str, pauses: &[f64], wake: impl Fn(f64) -> f64) -> PathBuf {
        let records = std::fs::read_to_string(one_user(name, pauses, wake)).unwrap();
        let recs: Vec<serde_json::Value> = records
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let f = |k: &str| -> Vec<f64> { recs.iter().map(|r| r[k].as_f64().unwrap()).collect() };
        let (sent, first, end) = (f("sent_s"), f("first_token_s"), f("end_s"));
        let n = recs.len();
        let json = serde_json::json!({
            "date": "20260101-000000", "backend": "vllm", "model_id": "m", "num_prompts": n,
            "request_rate": "inf", "burstiness": 1.0, "max_concurrency": 1,
            "duration": end[n - 1], "completed": n,
            "input_lens": recs.iter().map(|r| r["input_tokens"].clone()).collect::<Vec<_>>(),
            "output_lens": vec![8; n],
            "ttfts": (0..n).map(|i| first[i] - sent[i]).collect::<Vec<_>>(),
            "itls": vec![vec![0.004; 7]; n],
            "latencies": (0..n).map(|i| end[i] - sent[i]).collect::<Vec<_>>(),
            "start_times": sent.iter().map(|t| 81234.5 + t).collect::<Vec<_>>(),
            "errors": vec![""; n],
        });
        let p = scratch(&format!("{name}.json"));
        std::fs::write(&p, json.to_string()).unwrap();
        p
    }

    /// 3 ms later after any pause of 10 ms or more.
    fn wakes(pause: f64) -> f64 {
        if pause >= 10.0 {
            3.0
        } else {
            0.0
        }
    }

    #[test]
    fn recorded_requests_after_a_pause_measure_the_idle_wakeup_and_leave_the_prefill_fit_alone() {
        // A closed loop at one user (1 ms turnaround), and a light open loop whose requests
        // come after pauses of 15 to ~900 ms.
        let closed = one_user("closed.jsonl", &[1.0; 40], wakes);
        let pauses: Vec<f64> = (0..30).map(|i| 15.0 * 1.15f64.powi(i)).collect();
        let light = one_user("light.jsonl", &pauses, wakes);
        let runs = crate::results::runs::load(&[closed.clone(), light]).unwrap();
        let p = from_runs(&runs, "t", None).unwrap();
        let notes = p.fit.as_ref().unwrap().notes.join("\n");
        println!("{notes}");
        let step = p.step.as_ref().unwrap();
        let w = step.idle_wakeup.expect("measured");
        // The light run's first request is of unknown idling; the other 29 split in halves.
        assert!(
            w.after_ms[0] > 10.0 && w.after_ms[1] > 1.5 * w.after_ms[0],
            "{w:?}"
        );
        for x in w.extra_ms {
            assert!((x - 3.0).abs() < 0.35, "{w:?}");
        }
        // The prefill fit is the warm server's: a 100-token prompt's first token 7 ms after
        // it is sent, not pulled up by the paused requests' wake-ups (which the simulation
        // adds back).
        let ttft_100 = fit::predicted_ms(
            step,
            &fit::Observation {
                label: String::new(),
                shape: crate::cost::StepShape::prompt_prefill(100, u32::MAX, None).1,
                ms: 0.0,
                decode: false,
                includes_latency: true,
                steps: 1,
            },
        );
        assert!((ttft_100 - 7.0).abs() < 0.3, "{ttft_100}");

        // The same requests imported from vllm bench results (send times from `start_times`)
        // measure the same.
        let closed_bench = one_user_vllm_bench("closed-bench", &[1.0; 40], wakes);
        let light_bench = one_user_vllm_bench("light-bench", &pauses, wakes);
        let runs = crate::results::runs::load(&[closed_bench, light_bench]).unwrap();
        let p_bench = from_runs(&runs, "t", None).unwrap();
        let wb = p_bench
            .step
            .as_ref()
            .unwrap()
            .idle_wakeup
            .expect("measured");
        for (a, b) in wb.extra_ms.iter().zip(w.extra_ms) {
            assert!((a - b).abs() < 1e-6, "{wb:?} vs {w:?}");
        }

        // Back-to-back requests alone cannot tell: not measured, and the note says why (the
        // first request idled for an unknown time, so the second is not yet warm).
        let runs = crate::results::runs::load(&[closed]).unwrap();
        let p = from_runs(&runs, "t", None).unwrap();
        assert_eq!(p.step.as_ref().unwrap().idle_wakeup, None);
        let notes = p.fit.as_ref().unwrap().notes.join("\n");
        assert!(
            notes.contains("idle: not measured: 38 requests found the server idle back to back and 0 after a pause"),
            "{notes}"
        );
    }
}
