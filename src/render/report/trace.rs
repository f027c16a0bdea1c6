//! The report of a trace itself: arrival rate over time and the distributions of prompt and
//! output lengths, so a replay can be read against the shape of the load it replays.

use super::chart::{Chart, Curve};
use super::Figure;
use crate::workload::TraceRow;
use std::fmt::Write as _;

/// A trace given to `capsim report` (a CSV file or `builtin:NAME`).
#[derive(Clone, Debug)]
pub struct TraceInput {
    pub name: String,
    pub rows: Vec<TraceRow>,
}

fn percentile(sorted: &[u32], q: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// The empirical CDF of token counts, at most ~200 points.
fn cdf(sorted: &[u32]) -> Vec<(f64, f64)> {
    let n = sorted.len();
    let step = (n / 200).max(1);
    let mut pts: Vec<(f64, f64)> = (0..n)
        .step_by(step)
        .map(|i| (sorted[i] as f64, (i + 1) as f64 / n as f64))
        .collect();
    if let Some(&last) = sorted.last() {
        pts.push((last as f64, 1.0));
    }
    pts
}

/// The most bins the arrivals chart has before it moves to a coarser unit.
const MAX_BINS: f64 = 1500.0;

/// The charts and a markdown section for one trace.
pub fn section(t: &TraceInput, color: usize) -> (String, Vec<(Figure, Chart)>) {
    let rows = &t.rows;
    let span_s = rows.last().map_or(0.0, |r| r.at.as_secs_f64());
    // Requests per second, minute, hour or day: the finest bin that keeps the chart under
    // MAX_BINS points (a trace loads only if it spans a year or less).
    let (bin_s, unit) = [(1.0, "s"), (60.0, "min"), (3600.0, "h"), (86_400.0, "day")]
        .into_iter()
        .find(|(bin, _)| span_s / bin < MAX_BINS)
        .unwrap_or((86_400.0, "day"));
    let bins = (span_s / bin_s).floor() as usize + 1;
    let mut counts = vec![0u32; bins];
    for r in rows {
        counts[((r.at.as_secs_f64() / bin_s) as usize).min(bins - 1)] += 1;
    }
    let mut rate = Chart::new(
        &format!("Arrivals over time: {}", t.name),
        &format!("time since the first request ({unit})"),
        &format!("requests per {unit}"),
    );
    rate.curves.push(Curve {
        label: t.name.clone(),
        points: counts
            .iter()
            .enumerate()
            .map(|(i, c)| (i as f64, *c as f64))
            .collect(),
        band: Vec::new(),
        measured: false,
        dashed: false,
        color,
    });
    let mut input: Vec<u32> = rows.iter().map(|r| r.input_tokens).collect();
    let mut output: Vec<u32> = rows.iter().map(|r| r.output_tokens).collect();
    input.sort_unstable();
    output.sort_unstable();
    let mut lengths = Chart::new(
        &format!("Request lengths: {}", t.name),
        "tokens",
        "fraction of requests at or below",
    );
    for (i, (label, v, dashed)) in [("prompt", &input, false), ("output", &output, true)]
        .into_iter()
        .enumerate()
    {
        lengths.curves.push(Curve {
            label: format!("{} {label}", t.name),
            points: cdf(v),
            band: Vec::new(),
            measured: false,
            dashed,
            color: color * 2 + i,
        });
    }
    let stem = t
        .name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect::<String>();
    let figures = vec![
        (
            Figure {
                title: rate.title.clone(),
                stem: format!("trace-{stem}-arrivals"),
                caption: format!("Requests arriving per {unit}, before any time scaling."),
            },
            rate,
        ),
        (
            Figure {
                title: lengths.title.clone(),
                stem: format!("trace-{stem}-lengths"),
                caption: "Cumulative distribution of prompt (solid) and output (dashed) tokens."
                    .into(),
            },
            lengths,
        ),
    ];
    let mut md = String::new();
    let mean_rate = if span_s > 0.0 {
        rows.len() as f64 / span_s
    } else {
        f64::NAN
    };
    let peak = counts.iter().max().copied().unwrap_or(0);
    let _ = writeln!(
        md,
        "- **{}**: {} requests over {:.0} s ({:.2} req/s on average, peak {peak} in one {unit}); prompt tokens p50 {} / p90 {} / p99 {} / max {}; output tokens p50 {} / p90 {} / p99 {} / max {}",
        t.name,
        rows.len(),
        span_s,
        mean_rate,
        percentile(&input, 0.5),
        percentile(&input, 0.9),
        percentile(&input, 0.99),
        input.last().copied().unwrap_or(0),
        percentile(&output, 0.5),
        percentile(&output, 0.9),
        percentile(&output, 0.99),
        output.last().copied().unwrap_or(0),
    );
    (md, figures)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::Nanos;

    #[test]
    fn a_trace_gets_its_rate_and_length_charts() {
        let rows: Vec<TraceRow> = (0..100)
            .map(|i| TraceRow {
                at: Nanos::from_secs_f64(i as f64 * 0.5),
                input_tokens: 100 + i,
                output_tokens: 10,
            })
            .collect();
        let (md, figs) = section(
            &TraceInput {
                name: "t".into(),
                rows,
            },
            0,
        );
        assert!(md.contains("100 requests over 50 s"), "{md}");
        assert!(md.contains("prompt tokens p50 150"), "{md}");
        assert_eq!(figs.len(), 2);
        let arrivals: f64 = figs[0].1.curves[0].points.iter().map(|p| p.1).sum();
        assert_eq!(arrivals, 100.0);
        assert!(figs.iter().all(|(_, c)| c.has_data()));
    }
}
