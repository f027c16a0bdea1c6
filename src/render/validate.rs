//! The validation table: per point, predicted (band), measured, error and in-band for the
//! headline metrics; then the MAPE per metric.

use crate::metrics::Metric;
use crate::study::validate::{coverage, mape, PointValidation};

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
