//! Inter-token latencies pooled over a run. A simulation records them per engine step, weighted
//! by the sequences that decoded in it, into an HDR histogram (3 significant digits: a bucket
//! is within 0.05% of its value) with an exact mean; a measured or imported run keeps its raw
//! gaps, so its percentiles are exactly numpy's, as `vllm bench serve` reports them.

use super::summary::percentile_sorted;
use crate::units::Nanos;
use hdrhistogram::Histogram;

/// Pooled inter-token gaps of one run.
#[derive(Clone, Debug)]
pub enum ItlStats {
    /// Weighted step durations (simulation).
    Histogram {
        hist: Box<Histogram<u64>>,
        sum_ns: u128,
        count: u64,
    },
    /// Every gap, in milliseconds, sorted (measurement).
    Exact(Vec<f64>),
}

impl Default for ItlStats {
    fn default() -> Self {
        ItlStats::Histogram {
            // 1 ns to 1 hour at 3 significant digits; longer gaps saturate.
            hist: Box::new(
                Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("valid bounds"),
            ),
            sum_ns: 0,
            count: 0,
        }
    }
}

impl ItlStats {
    /// Records `weight` gaps of the same length (one step's decode tokens).
    #[inline]
    pub fn record_n(&mut self, gap: Nanos, weight: u64) {
        if weight == 0 {
            return;
        }
        match self {
            ItlStats::Histogram {
                hist,
                sum_ns,
                count,
            } => {
                hist.saturating_record_n(gap.0.max(1), weight);
                *sum_ns += gap.0 as u128 * weight as u128;
                *count += weight;
            }
            ItlStats::Exact(v) => {
                let ms = gap.as_millis_f64();
                v.extend(std::iter::repeat_n(ms, weight as usize));
                v.sort_unstable_by(f64::total_cmp);
            }
        }
    }

    /// Adds another run's gaps (both simulated, or both measured).
    pub fn merge(&mut self, other: &ItlStats) {
        match (self, other) {
            (
                ItlStats::Histogram {
                    hist,
                    sum_ns,
                    count,
                },
                ItlStats::Histogram {
                    hist: h,
                    sum_ns: s,
                    count: c,
                },
            ) => {
                let _ = hist.add(h.as_ref());
                *sum_ns += s;
                *count += c;
            }
            (ItlStats::Exact(a), ItlStats::Exact(b)) => {
                a.extend_from_slice(b);
                a.sort_unstable_by(f64::total_cmp);
            }
            (me, other) => {
                // Mixed: fall back to the histogram, which takes both.
                let mut h = ItlStats::default();
                for s in [&*me, other] {
                    match s {
                        ItlStats::Exact(v) => {
                            for ms in v {
                                h.record_n(Nanos::from_millis_f64(*ms), 1);
                            }
                        }
                        hist => h.merge(hist),
                    }
                }
                *me = h;
            }
        }
    }

    pub fn count(&self) -> u64 {
        match self {
            ItlStats::Histogram { count, .. } => *count,
            ItlStats::Exact(v) => v.len() as u64,
        }
    }

    pub(crate) fn mean_ms(&self) -> f64 {
        match self {
            ItlStats::Histogram { sum_ns, count, .. } => {
                if *count == 0 {
                    return f64::NAN;
                }
                *sum_ns as f64 / *count as f64 / 1e6
            }
            ItlStats::Exact(v) => {
                if v.is_empty() {
                    return f64::NAN;
                }
                v.iter().sum::<f64>() / v.len() as f64
            }
        }
    }

    /// The `pct` percentile (0–100), ms.
    pub(crate) fn percentile_ms(&self, pct: f64) -> f64 {
        match self {
            ItlStats::Histogram { hist, count, .. } => {
                if *count == 0 {
                    return f64::NAN;
                }
                // The middle of the bucket, not its upper edge.
                hist.median_equivalent(hist.value_at_quantile(pct / 100.0)) as f64 / 1e6
            }
            ItlStats::Exact(v) => percentile_sorted(v, pct),
        }
    }

    /// The raw `itl_s` gaps of measured records (successful requests only), kept exactly.
    pub fn from_records(records: &[super::RequestRecord]) -> ItlStats {
        let mut v: Vec<f64> = records
            .iter()
            .filter(|r| r.succeeded())
            .flat_map(|r| r.itl_s.iter().flatten())
            .map(|gap| gap * 1e3)
            .collect();
        v.sort_unstable_by(f64::total_cmp);
        ItlStats::Exact(v)
    }
}
