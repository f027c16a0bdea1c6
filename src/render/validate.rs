//! The validation table: per point, predicted (band), measured, error and in-band for the
//! headline metrics, and what the server counted (preemptions, prefix-cache hits) where it
//! reported them; then the MAPE per metric.

use crate::metrics::Metric;
use crate::study::validate::{coverage, mape, Counted, PointValidation, ServerCounted};

/// A human table: per point, predicted / measured / error for the headline metrics; then MAPE.
pub fn table(points: &[PointValidation]) -> String {
    use std::fmt::Write as _;
    let fields = [
        (Metric::OutputThroughput, "out tok/s"),
        (Metric::RequestThroughput, "req/s"),
        (Metric::MedianTtft, "TTFT p50"),
        (Metric::P99Ttft, "TTFT p99"),
        (Metric::MeanTpot, "TPOT mean"),
        (Metric::P99Itl, "ITL p99"),
        (Metric::MedianE2el, "E2E p50"),
    ];
    let mut s = String::new();
    for p in points {
        let at = p.point.label();
        let _ = writeln!(s, "point {}", if at.is_empty() { "-".into() } else { at });
        let _ = writeln!(
            s,
            "  {:<12} {:>22} {:>10} {:>8} {:>7}",
            "metric", "predicted (band)", "measured", "error", "in band"
        );
        for (f, name) in fields {
            let pred = p.predicted.metric(f);
            let meas = p.measured.metric(f);
            let band = p
                .predicted
                .band
                .as_ref()
                .and_then(|b| b.get(&f))
                .map_or(String::new(), |r| format!(" ({:.1}–{:.1})", r.low, r.high));
            let err = p
                .error_pct
                .get(&f)
                .map_or("-".into(), |e| format!("{e:+.1}%"));
            let inb = p
                .in_band
                .get(&f)
                .map_or("-", |b| if *b { "yes" } else { "no" });
            let _ = writeln!(
                s,
                "  {:<12} {:>22} {:>10.1} {:>8} {:>7}",
                name,
                format!("{pred:.1}{band}"),
                meas,
                err,
                inb
            );
        }
        if let Some(line) = p.server_counted.as_ref().and_then(counted_line) {
            let _ = writeln!(s, "  {line}");
        }
    }
    let m = mape(points);
    let _ = writeln!(s, "MAPE over {} point(s):", points.len());
    for (f, name) in fields {
        if let Some(v) = m.get(&f) {
            let _ = writeln!(s, "  {name:<12} {v:>6.1}%");
        }
    }
    s.push_str(&coverage_line(points));
    s
}

/// "counted by the server: preemptions 26 predicted, 25 counted; …" for the counters the
/// server reported over the run (None when it reported none).
fn counted_line(c: &ServerCounted) -> Option<String> {
    let item = |name: &str, c: Option<Counted>| {
        c.map(|c| format!("{name} {} predicted, {} counted", c.predicted, c.counted))
    };
    let items: Vec<String> = [
        item("preemptions", c.preemptions),
        item("prefix-cache hit tokens", c.prefix_cache_hit_tokens),
    ]
    .into_iter()
    .flatten()
    .collect();
    (!items.is_empty()).then(|| format!("counted by the server: {}", items.join("; ")))
}

/// "band coverage: …" (or that there are no bands): how many measured headline values
/// (throughput, TPOT, TTFT p50/p99, E2E p50) fell inside their predicted bands, and how wide
/// the bands are, so a band that covers by being wide shows as wide.
pub fn coverage_line(points: &[PointValidation]) -> String {
    match coverage(points) {
        Some(c) => format!(
            "band coverage: {} of {} measured values inside their predicted bands ({:.0}%); median band width {:.0}% of the prediction\n",
            c.inside,
            c.total,
            c.share() * 100.0,
            c.median_relative_width * 100.0
        ),
        None => "band coverage: no bands (the cost model carries no uncertainty)\n".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{summarize_measured, Point, RunFacts};
    use crate::study::validate::compare;

    fn point(counted: Option<ServerCounted>) -> PointValidation {
        let s = summarize_measured(Point::new(), &[], RunFacts::default());
        let mut p = compare(Point::new(), s.clone(), s);
        p.server_counted = counted;
        p
    }

    #[test]
    fn the_table_shows_what_the_server_counted_and_only_that() {
        let both = ServerCounted {
            preemptions: Some(Counted {
                predicted: 26,
                counted: 25,
            }),
            prefix_cache_hit_tokens: Some(Counted {
                predicted: 4352,
                counted: 4096,
            }),
        };
        let text = table(&[point(Some(both))]);
        println!("{text}");
        assert!(text.contains(
            "counted by the server: preemptions 26 predicted, 25 counted; prefix-cache hit tokens 4352 predicted, 4096 counted"
        ));
        let only_hits = ServerCounted {
            preemptions: None,
            ..both
        };
        let text = table(&[point(Some(only_hits))]);
        assert!(text.contains("counted by the server: prefix-cache hit tokens"));
        assert!(!text.contains("preemptions"));
        // A run without server counters (llama-server, imports) claims no count.
        assert!(!table(&[point(None)]).contains("counted by the server"));
    }
}
