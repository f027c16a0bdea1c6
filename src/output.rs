//! Showing and saving results: the summary table people read, and the `--out` folder
//! (summary.json plus one JSONL file of request records per point).

use crate::metrics::{RequestRecord, Summary};
use std::fmt::Write as _;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

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
            fmt_num(s.median_ttft_ms),
            fmt_num(s.p99_ttft_ms),
            fmt_num(s.median_tpot_ms),
            fmt_num(s.p99_tpot_ms),
            fmt_num(s.p99_itl_ms),
            fmt_num(s.median_e2el_ms),
            fmt_num(s.p99_e2el_ms),
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
        "(latencies in ms; TTFT/TPOT/ITL/E2E as in vllm bench serve)"
    );
    out
}

/// Writes `summary.json` and the request records of each point into `dir`. Record files are
/// named by each point's index in the whole sweep (`records.jsonl` for a single point,
/// `records-007.jsonl`…), so the folders of a sharded sweep merge by copying.
pub fn write_results(
    dir: &Path,
    summaries: &[Summary],
    records: &[&[RequestRecord]],
    indices: &[usize],
    total_points: usize,
) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    let summary_path = dir.join("summary.json");
    let mut text = serde_json::to_string_pretty(summaries).map_err(std::io::Error::other)?;
    text.push('\n');
    std::fs::write(&summary_path, text)?;
    written.push(summary_path);
    for (recs, &index) in records.iter().zip(indices) {
        let path = dir.join(crate::shard::records_name(index, total_points));
        let mut w = BufWriter::new(std::fs::File::create(&path)?);
        for r in recs.iter() {
            serde_json::to_writer(&mut w, r).map_err(std::io::Error::other)?;
            w.write_all(b"\n")?;
        }
        w.flush()?;
        written.push(path);
    }
    Ok(written)
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
