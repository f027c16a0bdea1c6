//! What `plan` prints: per sweep point the answer and which way the search went, the binding
//! SLO with its value, limit and headroom (or how far over), what limits the answer, the
//! neighbouring candidate when the answer sits on a cliff, what each seed alone gives, and how
//! failed requests were counted; or, when no candidate works, the closest one and its misses.

use crate::study::plan::PlanResult;

fn value(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

/// The plan's text for people.
pub fn text(results: &[PlanResult], seeds: u32, seconds: f64) -> String {
    let mut human = String::new();
    for r in results {
        if results.len() > 1 || !r.point.is_empty() {
            human.push_str(&format!("point {}: ", r.point.label()));
        }
        match &r.answer {
            Some(a) => {
                human.push_str(&format!(
                    "{}: {a} (the {} that meets {})\n",
                    r.find,
                    r.direction,
                    r.slo.join(", ")
                ));
                if let (Some(m), Some(v), Some(limit), Some(margin)) =
                    (r.binding, r.binding_value, r.binding_limit, r.margin_pct)
                {
                    let room = if margin >= 0.0 {
                        format!("{margin:.1}% headroom")
                    } else {
                        format!("over by {:.1}%", -margin)
                    };
                    human.push_str(&format!(
                        "  binding SLO: {} = {} against its limit {} ({room})\n",
                        m.name(),
                        value(v),
                        value(limit)
                    ));
                }
            }
            None => human.push_str(&format!(
                "{}: none — {}\n",
                r.find,
                r.unmet.as_deref().unwrap_or("no candidate meets the SLOs")
            )),
        }
        if let Some(m) = &r.mechanism {
            human.push_str(&format!("  what binds: {m}\n"));
        }
        if let (Some(n), Some(v), Some(m)) = (&r.neighbour, r.neighbour_value, r.binding) {
            human.push_str(&format!(
                "  {}at {} = {n}: {} = {}\n",
                if r.cliff {
                    "on a cliff: "
                } else {
                    "next candidate: "
                },
                r.find,
                m.name(),
                value(v)
            ));
        }
        if r.seed_answers.len() > 1 && r.answer.is_some() {
            // How many seeds alone give each answer, in the answers' order.
            let mut tally: Vec<(String, usize)> = Vec::new();
            let mut sorted: Vec<&Option<serde_json::Value>> = r.seed_answers.iter().collect();
            sorted.sort_by(|a, b| {
                let f = |v: &Option<serde_json::Value>| {
                    v.as_ref().and_then(|v| v.as_f64()).unwrap_or(f64::INFINITY)
                };
                f(a).total_cmp(&f(b))
            });
            for a in sorted {
                let name = a.as_ref().map_or("none".into(), |v| v.to_string());
                match tally.last_mut() {
                    Some((n, k)) if *n == name => *k += 1,
                    _ => tally.push((name, 1)),
                }
            }
            let answer = r.answer.as_ref().map(|v| v.to_string()).unwrap_or_default();
            let agree = tally
                .iter()
                .find(|(n, _)| *n == answer)
                .map_or(0, |(_, k)| *k);
            let why = if agree == 0 {
                ": no seed alone needs it, but some seed misses at each smaller value (the binding value sits within the seeds' noise of its limit)"
            } else {
                ""
            };
            human.push_str(&format!(
                "  seeds: alone, {} ({agree} of {} agree with {answer}); the answer meets the SLOs at every seed{why}\n",
                tally
                    .iter()
                    .map(|(n, k)| format!("{k} seed(s) give {n}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                r.seed_answers.len(),
            ));
        }
        human.push_str(if r.failures_allowed {
            "  failed requests allowed (--allow-failures)\n"
        } else {
            "  failed requests counted: a candidate with any failure misses (--allow-failures to accept them)\n"
        });
        for n in &r.notes {
            human.push_str(&format!("note: {n}\n"));
        }
    }
    let candidates: usize = results.iter().map(|r| r.evaluated.len()).sum();
    human.push_str(&format!(
        "{candidates} candidates simulated at {} seed(s) each in {seconds:.2} s\n",
        seeds.max(1),
    ));
    human
}
