//! What `capsim priors` prints and writes: the corpus (rows used, and why the others are
//! not), the fitted groups, every row's implied value, and the leave-one-GPU-out check.

use crate::cost::priors::PriorTable;
use crate::cost::EngineFamily;
use crate::study::corpus::{Kind, Row};
use crate::study::priors::{score_of, score_where, Fit, Held, SATURATED};
use std::collections::BTreeMap;
use std::fmt::Write;

/// Rows used and unused, by engine and kind, and the reasons rows are left out.
pub fn corpus(rows: &[Row]) -> String {
    let mut s = String::new();
    let used = rows.iter().filter(|r| r.used()).count();
    let gpus: std::collections::BTreeSet<&str> = rows
        .iter()
        .filter_map(|r| r.setup.as_ref().map(|s| s.gpu.as_str()))
        .collect();
    let published: Vec<&Row> = rows.iter().filter(|r| !r.by_capsim).collect();
    let own = rows.len() - published.len();
    let _ = writeln!(
        s,
        "corpus: {} published measurements from {} sources{}; {used} reproduced by capsim on {} GPUs",
        published.len(),
        published
            .iter()
            .map(|r| r.source_url.as_str())
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        if own > 0 {
            format!(", and {own} measured by capsim (data/corpus/measured.csv)")
        } else {
            String::new()
        },
        gpus.len()
    );
    let mut by: BTreeMap<(String, &str), usize> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.used()) {
        *by.entry((r.engine.clone(), r.kind.name())).or_default() += 1;
    }
    for ((engine, kind), n) in &by {
        let _ = writeln!(s, "  {engine:9} {kind:28} {n:4} rows");
    }
    let mut why: BTreeMap<String, usize> = BTreeMap::new();
    for r in rows {
        if let Some(w) = &r.unused {
            // Group reasons by their general part (before a colon naming the model).
            let key = w.split(':').next().unwrap_or(w).to_string();
            *why.entry(key).or_default() += 1;
        }
    }
    let mut why: Vec<(String, usize)> = why.into_iter().collect();
    why.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let _ = writeln!(s, "left out ({} rows):", rows.len() - used);
    for (w, n) in why {
        let _ = writeln!(s, "  {n:4}  {w}");
    }
    s
}

/// The fitted groups, most specific first.
pub fn table(t: &PriorTable) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "priors ({})", t.fitted_by);
    let _ = writeln!(
        s,
        "  {:44} {:>4} {:>5} {:>13} {:>13} {:>8} {:>13} {:>7} {:>6}",
        "group",
        "rows",
        "GPUs",
        "η_bw (±)",
        "η_f (±)",
        "layer ms",
        "batched (±)",
        "step ms",
        "req ms"
    );
    for p in &t.groups {
        let _ = writeln!(
            s,
            "  {:44} {:>4} {:>5} {:>6.3} ({:>3.0}%) {:>6.3} ({:>3.0}%) {:>8.3} {:>6.3} ({:>3.0}%) {:>7.2} {:>6.2}",
            p.label(),
            p.rows,
            p.gpus.len(),
            p.bw_efficiency,
            p.bw_spread * 100.0,
            p.flops_efficiency,
            p.flops_spread * 100.0,
            p.per_layer_ms,
            p.batch_factor,
            p.batch_spread * 100.0,
            p.overhead_ms,
            p.request_ms
        );
    }
    s
}

/// Every row's implied coefficient.
pub fn implied(fit: &Fit, rows: &[Row]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "per-layer launch cost fitted: {}",
        fit.per_layer_ms
            .iter()
            .map(|((f, a), v)| {
                format!(
                    "{}{} {v:.3} ms",
                    f.name(),
                    a.as_ref().map_or(String::new(), |a| format!(" on {a}"))
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(s, "implied by each row:");
    for r in rows.iter().filter(|r| r.used()) {
        if let Some((p, v)) = fit.implied.get(&r.id) {
            let _ = writeln!(
                s,
                "  {:9} {:16} {:28} {:>10.1} → {} {}",
                r.id,
                r.setup.as_ref().map_or("", |x| x.gpu.as_str()),
                r.kind.name(),
                r.value,
                p.name(),
                v.map_or("(no value explains it)".to_string(), |v| format!("{v:.4}"))
            );
        }
    }
    s
}

/// The held-out predictions and their scores.
pub fn cross_validation(held: &[Held]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "leave-one-GPU-out: each GPU's rows predicted by priors fitted without that GPU"
    );
    let _ = writeln!(
        s,
        "  {:9} {:16} {:28} {:>10} {:>10} {:>7} {:>21} {:6}  group",
        "row", "GPU", "measured", "value", "predicted", "error", "band", "inside"
    );
    for h in held {
        let _ = writeln!(
            s,
            "  {:9} {:16} {:28} {} {:6}  {}",
            h.id,
            h.gpu,
            h.kind.name(),
            prediction(h),
            if h.inside() { "yes" } else { "no" },
            h.group
        );
    }
    let _ = writeln!(s, "scores:");
    for k in Kind::ALL {
        for (family, label) in [
            (None, "all"),
            (Some(EngineFamily::LlamaCpp), "llamacpp"),
            (Some(EngineFamily::Vllm), "vllm"),
        ] {
            if let Some((n, mape, inside)) = score_of(held, k, family) {
                let _ = writeln!(
                    s,
                    "  {:28} {label:9} {n:4} rows  MAPE {mape:5.1}%  inside the band {inside:5.1}%",
                    k.name()
                );
            }
        }
    }
    for k in Kind::ALL {
        if let Some((n, mape, inside)) = score_where(held, |h| h.kind == k && !h.saturated) {
            let _ = writeln!(
                s,
                "  {:28} ≤{SATURATED:<3} in flight {n:4} rows  MAPE {mape:5.1}%  inside the band {inside:5.1}%",
                k.name()
            );
        }
    }
    let n = held.len() as f64;
    let inside = held.iter().filter(|h| h.inside()).count() as f64;
    let _ = writeln!(
        s,
        "  {:28} {:4} rows  inside the band {:5.1}%",
        "all",
        held.len(),
        inside / n.max(1.0) * 100.0
    );
    s
}

/// A held-out row's measured value, prediction, error and band, in the columns the
/// cross-validation table and `--add-profile` share.
fn prediction(h: &Held) -> String {
    format!(
        "{:>10.1} {:>10.1} {:>+6.0}% {:>21}",
        h.measured,
        h.predicted,
        h.error() * 100.0,
        h.band
            .map_or("-".into(), |b| format!("{:.1}–{:.1}", b.low, b.high))
    )
}

/// Rows `capsim priors --add-profile` appended, each beside what the shipped priors predict
/// for it (`held`, in the same order).
pub fn added(rows: &[Row], held: &[Held]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "  {:24} {:16} {:28} {:>10} {:>10} {:>7} {:>21}  setup",
        "row", "GPU", "measured", "value", "shipped", "error", "band"
    );
    for (r, h) in rows.iter().zip(held) {
        let setup = r.setup.as_ref().expect("added rows are used");
        let _ = writeln!(
            s,
            "  {:24} {:16} {:28} {}  prompt {}, output {}; {}",
            r.id,
            h.gpu,
            r.kind.name(),
            prediction(h),
            setup.prompt,
            setup.output_most,
            setup.note
        );
    }
    s
}

/// What `capsim priors` prints: the corpus, the table (fitted now, or the shipped one), what
/// each row implied, and the cross-validation when run.
pub fn text(rows: &[Row], fit: Option<&Fit>, held: Option<&[Held]>) -> String {
    let mut s = corpus(rows);
    match fit {
        Some(f) => {
            s.push_str(&table(&f.table));
            s.push_str(&implied(f, rows));
        }
        None => s.push_str(&table(PriorTable::shipped())),
    }
    if let Some(h) = held {
        s.push_str(&cross_validation(h));
    }
    s
}

/// The whole report as markdown (text tables in code blocks).
pub fn report(rows: &[Row], fit: &Fit, held: &[Held]) -> String {
    format!(
        "# Priors from published measurements\n\nRegenerate with `capsim priors --write data/priors/fitted.json --report reports/priors.md` (fits the corpus in `data/corpus/`, writes the shipped table, and cross-validates it).\n\n## Corpus\n\n```\n{}```\n\n## Fitted priors\n\nEach group's value is the median of what its rows imply; ± is the spread (1.4826 × median absolute deviation of the logs, at least 5%, and at least the coarser group's with fewer than 6 rows). A datasheet projection uses the most specific group for its engine, GPU generation, weight format and dense/MoE, and its band draws from these spreads.\n\n```\n{}```\n\n```\n{}```\n\n## Leave-one-GPU-out cross-validation\n\nFor each GPU the fit is redone without its rows, and its rows are predicted as `capsim simulate` predicts a scenario (central value and 90% band from 19 draws).\n\n```\n{}```\n",
        corpus(rows),
        table(&fit.table),
        implied(fit, rows),
        cross_validation(held)
    )
}
