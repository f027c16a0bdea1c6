//! The summary table people read (one row per point) and progress bars.

use crate::metrics::Summary;
use std::fmt::Write as _;

fn fmt_num(x: f64) -> String {
    if !x.is_finite() {
        "-".into()
    } else if x.abs() >= 1000.0 {
        format!("{x:.0}")
    } else if x.abs() >= 100.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

fn fmt_value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A fixed-width table of summaries, one row per point.
pub fn table(summaries: &[Summary]) -> String {
    let keys: Vec<String> = summaries
        .first()
        .map(|s| s.point.keys().cloned().collect())
        .unwrap_or_default();
    let mut header: Vec<String> = keys
        .iter()
        .map(|k| k.rsplit('.').next().unwrap_or(k).to_string())
        .collect();
    for h in [
        "ok",
        "fail",
        "req/s",
        "out tok/s",
        "TTFT p50",
        "TTFT p99",
        "TPOT p50",
        "TPOT p99",
        "ITL p99",
        "E2E p50",
        "E2E p99",
        "user tok/s",
        "preempt",
    ] {
        header.push(h.to_string());
    }
    // Latencies past 100 s read in seconds (32,078,100 ms is 8.9 hours).
    let seconds = summaries
        .iter()
        .any(|s| s.p99_e2el_ms >= 100_000.0 || s.p99_ttft_ms >= 100_000.0);
    let lat = |ms: f64| fmt_num(if seconds { ms / 1e3 } else { ms });
    let mut rows: Vec<Vec<String>> = Vec::new();
    for s in summaries {
        let mut row: Vec<String> = keys
            .iter()
            .map(|k| s.point.get(k).map(fmt_value).unwrap_or_default())
            .collect();
        row.extend([
            s.completed.to_string(),
            s.failed.to_string(),
            fmt_num(s.request_throughput),
            fmt_num(s.output_throughput),
            lat(s.median_ttft_ms),
            lat(s.p99_ttft_ms),
            lat(s.median_tpot_ms),
            lat(s.p99_tpot_ms),
            lat(s.p99_itl_ms),
            lat(s.median_e2el_ms),
            lat(s.p99_e2el_ms),
            fmt_num(s.mean_user_output_throughput),
            s.preemptions.to_string(),
        ]);
        rows.push(row);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            rows.iter()
                .map(|r| r[c].len())
                .chain([header[c].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    let line = |cells: &[String], out: &mut String| {
        let parts: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:>w$}"))
            .collect();
        let _ = writeln!(out, "{}", parts.join("  ").trim_end());
    };
    line(&header, &mut out);
    for r in &rows {
        line(r, &mut out);
    }
    let _ = writeln!(
        out,
        "(latencies in {}; TTFT/TPOT/ITL/E2E as in vllm bench serve)",
        if seconds { "s" } else { "ms" }
    );
    out
}

/// The summaries as CSV: one row per point, its swept keys then every summary field (vllm
/// bench names), band columns `FIELD_low`/`FIELD_high` where there is a band.
pub fn csv(summaries: &[Summary]) -> String {
    let mut keys: Vec<String> = Vec::new();
    for s in summaries {
        for k in s.point.keys() {
            if !keys.contains(k) {
                keys.push(k.clone());
            }
        }
    }
    let banded = summaries.iter().any(|s| s.band.is_some());
    let mut header: Vec<String> = keys.clone();
    header.extend(["source", "completed", "failed", "duration"].map(String::from));
    for m in crate::metrics::Metric::banded_metrics() {
        header.push(m.name().into());
        if banded {
            header.push(format!("{}_low", m.name()));
            header.push(format!("{}_high", m.name()));
        }
    }
    header.extend(["preemptions", "mean_in_flight"].map(String::from));
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(&header);
    for s in summaries {
        let mut row: Vec<String> = keys
            .iter()
            .map(|k| s.point.get(k).map(fmt_value).unwrap_or_default())
            .collect();
        row.extend([
            s.source.clone(),
            s.completed.to_string(),
            s.failed.to_string(),
            s.duration.to_string(),
        ]);
        for m in crate::metrics::Metric::banded_metrics() {
            row.push(s.metric(m).to_string());
            if banded {
                let r = s.band.as_ref().and_then(|b| b.get(&m));
                row.push(r.map_or(String::new(), |r| r.low.to_string()));
                row.push(r.map_or(String::new(), |r| r.high.to_string()));
            }
        }
        row.extend([s.preemptions.to_string(), s.mean_in_flight.to_string()]);
        let _ = w.write_record(&row);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// A progress bar on stderr for `len` units of work (hidden when stderr is not a terminal).
pub fn progress(len: u64, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(len),
        indicatif::ProgressDrawTarget::stderr(),
    );
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}",
        )
        .expect("valid template"),
    );
    bar.set_message(what.to_string());
    bar
}

/// `capsim bench` results, a line each.
pub fn bench(results: &[crate::study::bench::BenchResult]) -> String {
    let mut s = String::new();
    for r in results {
        if r.steps > 0 {
            let _ = writeln!(
                s,
                "{}: {} requests, {} engine steps in {:.1} ms ({:.1} ms with percentiles) = {:.0} simulated requests/s",
                r.name, r.requests, r.steps, r.simulate_s * 1e3, r.total_s * 1e3, r.requests_per_s
            );
        } else {
            let _ = writeln!(
                s,
                "{}: {} requests in {:.2} s = {:.0} requests/s",
                r.name, r.requests, r.simulate_s, r.requests_per_s
            );
        }
    }
    s
}

/// What `capsim merge` prints: the merged summaries and the sweep's analysis.
pub fn merged(m: &crate::study::Merged) -> String {
    match m {
        crate::study::Merged::Folder(f) => {
            let mut s = table(&f.summaries());
            if let Some(a) = &f.analysis {
                s.push_str(&a.describe());
            }
            s
        }
        crate::study::Merged::Plans(p) => format!("{} plan points\n", p.len()),
    }
}

/// What `spot` prints: where and what was measured, and the summary table.
pub fn spot(name: &str, folder: &crate::results::Folder) -> String {
    let header = folder
        .points
        .first()
        .and_then(|p| p.metadata.as_ref())
        .map(|m| {
            format!(
                "{name}: measured at {} ({}{}, model {}, {} api)\n",
                m.url,
                m.server.kind,
                m.server
                    .version
                    .as_ref()
                    .map(|v| format!(" {v}"))
                    .unwrap_or_default(),
                m.model,
                m.api
            )
        });
    format!(
        "{}{}",
        header.unwrap_or_default(),
        table(&folder.summaries())
    )
}
