//! `[workload]` and its `[[workload.class]]` tables → the resolved [`Workload`]: arrival
//! process, lengths, traces, sessions; every key checked and named in errors.

use super::file::WorkloadSection;
use super::ArrivalKind;
use crate::error::{InputError, InputResult};
use crate::units::Nanos;
use crate::workload::{trace, Arrival, ArrivalProcess, Dist, LengthDist, Workload};
use std::path::Path;
use std::sync::Arc;

/// Input and output length distributions (absent for traces, which carry their own).
struct Lengths {
    input: Option<LengthDist>,
    output: Option<LengthDist>,
}

pub(super) fn resolve_workload(section: &WorkloadSection, base: &Path) -> InputResult<Workload> {
    let parse = |v: &Option<toml::Value>, key: &str| {
        v.as_ref()
            .map(|v| LengthDist::from_toml(v, key, base))
            .transpose()
    };
    let lengths = Lengths {
        input: parse(&section.input_tokens, "workload.input_tokens")?,
        output: parse(&section.output_tokens, "workload.output_tokens")?,
    };
    let mut main = resolve_section(section, "workload", base, lengths)?;
    main.name = section.name.clone().unwrap_or_else(|| "main".into());
    main.shared_prefix = section.shared_prefix_tokens.unwrap_or(0);
    for (i, class) in section.class.iter().flatten().enumerate() {
        let prefix = format!("workload.class[{i}]");
        if class.shared_prefix_tokens.is_some() {
            return Err(InputError::new(
                format!("{prefix}.shared_prefix_tokens"),
                "is set for the whole workload, in [workload]",
            ));
        }
        if class.class.is_some() {
            return Err(InputError::new(
                format!("{prefix}.class"),
                "classes do not nest",
            ));
        }
        let parse = |v: &Option<toml::Value>, key: &str| {
            v.as_ref()
                .map(|v| LengthDist::from_toml(v, &format!("{prefix}.{key}"), base))
                .transpose()
        };
        let lengths = Lengths {
            input: parse(&class.input_tokens, "input_tokens")?,
            output: parse(&class.output_tokens, "output_tokens")?,
        };
        let mut w = resolve_section(class, &prefix, base, lengths)?;
        w.name = class
            .name
            .clone()
            .unwrap_or_else(|| format!("class{}", i + 1));
        if class.seed.is_none() {
            w.seed = main.seed.wrapping_add(i as u64 + 1);
        }
        main.classes.push(w);
    }
    let mut names: Vec<&str> = main.all_classes().map(|w| w.name.as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(InputError::new(
            "workload.class",
            format!("two classes are named '{}'", w[0]),
        ));
    }
    Ok(main)
}

/// One `[workload]` table (the main one or a class) → its workload; `prefix` names its keys.
fn resolve_section(
    w: &WorkloadSection,
    prefix: &str,
    base: &Path,
    lengths: Lengths,
) -> InputResult<Workload> {
    let kind = w.arrival.unwrap_or(ArrivalKind::Closed);
    let arrival_name = kind.name();
    let positive = |v: Option<f64>, key: &str| -> InputResult<Option<f64>> {
        match v {
            Some(x) if !(x.is_finite() && x > 0.0) => Err(InputError::new(
                key,
                format!("must be a positive number (got {x})"),
            )),
            other => Ok(other),
        }
    };
    let rate = positive(w.rate, &format!("{prefix}.rate"))?;
    let burstiness = positive(w.burstiness, &format!("{prefix}.burstiness"))?.unwrap_or(1.0);
    let time_scale = positive(w.time_scale, &format!("{prefix}.time_scale"))?.unwrap_or(1.0);
    let token_scale = positive(w.token_scale, &format!("{prefix}.token_scale"))?.unwrap_or(1.0);
    let timeout = positive(w.timeout_s, &format!("{prefix}.timeout_s"))?.map(Nanos::from_secs_f64);
    if w.concurrency == Some(0) {
        return Err(InputError::new(
            format!("{prefix}.concurrency"),
            "must be at least 1",
        ));
    }
    if w.num_requests == Some(0) {
        return Err(InputError::new(
            format!("{prefix}.num_requests"),
            "must be at least 1",
        ));
    }
    let need_rate = || {
        rate.ok_or_else(|| {
            InputError::new(
                format!("{prefix}.rate"),
                format!("arrival = \"{arrival_name}\" needs a rate (requests/s)"),
            )
        })
    };
    let mut warnings = Vec::new();
    // Keys this arrival process has no use for: said, not silently dropped.
    let unused: Vec<&str> = [
        (
            "rate",
            w.rate.is_some()
                && matches!(
                    kind,
                    ArrivalKind::Closed | ArrivalKind::Swarm | ArrivalKind::Trace
                ),
        ),
        (
            "burstiness",
            w.burstiness.is_some() && !matches!(kind, ArrivalKind::Gamma),
        ),
        (
            "time_scale",
            w.time_scale.is_some() && !matches!(kind, ArrivalKind::Trace),
        ),
        (
            "token_scale",
            w.token_scale.is_some() && !matches!(kind, ArrivalKind::Trace),
        ),
    ]
    .into_iter()
    .filter_map(|(k, unused)| unused.then_some(k))
    .collect();
    if !unused.is_empty() {
        warnings.push(format!(
            "{prefix}: arrival = \"{arrival_name}\" does not use {}: ignored",
            unused.join(", ")
        ));
    }
    let arrival = match kind {
        ArrivalKind::Closed => {
            let users = w.concurrency.ok_or_else(|| {
                InputError::new(
                    format!("{prefix}.concurrency"),
                    "arrival = \"closed\" needs the number of users",
                )
            })?;
            let think_s = w
                .think_time_s
                .as_ref()
                .map(|v| Dist::from_toml(v, &format!("{prefix}.think_time_s"), base))
                .transpose()?;
            let turns = w.turns.unwrap_or(1);
            if turns == 0 {
                return Err(InputError::new(
                    format!("{prefix}.turns"),
                    "must be at least 1",
                ));
            }
            Arrival::Closed {
                users,
                think_s,
                turns,
            }
        }
        ArrivalKind::Swarm => {
            // C agents at once, each one task of `turns` calls in a row (no think time).
            let users = w.concurrency.ok_or_else(|| {
                InputError::new(
                    format!("{prefix}.concurrency"),
                    "arrival = \"swarm\" needs the number of agents",
                )
            })?;
            if w.think_time_s.is_some() {
                return Err(InputError::new(
                    format!("{prefix}.think_time_s"),
                    "a swarm's agents do not think between calls; use arrival = \"closed\" with turns",
                ));
            }
            let turns = w.turns.unwrap_or(1).max(1);
            Arrival::Closed {
                users,
                think_s: None,
                turns,
            }
        }
        ArrivalKind::Poisson => Arrival::Open {
            process: ArrivalProcess::poisson(need_rate()?),
            cap: w.concurrency,
        },
        ArrivalKind::Gamma => Arrival::Open {
            process: ArrivalProcess::gamma(need_rate()?, burstiness),
            cap: w.concurrency,
        },
        ArrivalKind::Constant => Arrival::Open {
            process: ArrivalProcess::constant(need_rate()?),
            cap: w.concurrency,
        },
        ArrivalKind::Trace => {
            let file = w.trace.as_ref().ok_or_else(|| {
                InputError::new(
                    format!("{prefix}.trace"),
                    "arrival = \"trace\" needs a trace file",
                )
            })?;
            let (rows, skipped) =
                trace::load_with(&base.join(file), w.skip_bad_rows.unwrap_or(false))?;
            if let Some((line, problem)) = skipped.first() {
                warnings.push(format!(
                    "{file}: skipped {} bad row(s) (first: line {line}: {problem})",
                    skipped.len()
                ));
            }
            Arrival::Trace {
                rows: Arc::new(rows),
                time_scale,
                token_scale,
                cap: w.concurrency,
            }
        }
    };
    let is_trace = matches!(arrival, Arrival::Trace { .. });
    let (input_tokens, output_tokens) = match (lengths.input, lengths.output) {
        (Some(i), Some(o)) => (i, o),
        (i, o) if is_trace => (
            i.unwrap_or(LengthDist::fixed(1)),
            o.unwrap_or(LengthDist::fixed(1)),
        ),
        (None, _) => {
            return Err(InputError::new(
                format!("{prefix}.input_tokens"),
                "is required (a number or a distribution)",
            ))
        }
        (_, None) => {
            return Err(InputError::new(
                format!("{prefix}.output_tokens"),
                "is required (a number or a distribution)",
            ))
        }
    };
    let num_requests = match (&arrival, w.num_requests) {
        (Arrival::Trace { rows, .. }, n) => n.unwrap_or(rows.len() as u64),
        (Arrival::Closed { users, turns, .. }, None) if kind == ArrivalKind::Swarm => {
            *users as u64 * *turns as u64
        }
        (_, Some(n)) => n,
        (_, None) => 1000,
    };
    if num_requests > 100_000_000 {
        return Err(InputError::new(
            format!("{prefix}.num_requests"),
            format!("{num_requests} is more than 100000000"),
        ));
    }
    if w.turns.is_some() && !matches!(kind, ArrivalKind::Closed | ArrivalKind::Swarm) {
        return Err(InputError::new(
            format!("{prefix}.turns"),
            format!("applies to closed-loop users and swarms, not arrival = \"{arrival_name}\""),
        ));
    }
    Ok(Workload {
        name: String::new(),
        classes: Vec::new(),
        warnings,
        arrival,
        num_requests,
        input_tokens,
        output_tokens,
        seed: w.seed.unwrap_or(0),
        timeout,
        shared_prefix: 0,
    })
}
