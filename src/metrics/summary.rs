//! The one summary function: request records (and the run's pooled ITL gaps) → a [`Summary`]
//! with vllm bench's fields. Simulations stream their records through a [`SummaryBuilder`]
//! (keeping only the per-request latencies percentiles need); spot runs and imports call
//! [`summarize`] on their records. Both are the same code.

use super::itl::ItlStats;
use super::point::{Metric, Point};
use super::record::{nan_if_null, RequestRecord};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Mean, median, p90 and p99 of one latency, in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Quantiles {
    pub mean: f64,
    pub median: f64,
    pub p90: f64,
    pub p99: f64,
}

impl Quantiles {
    /// From raw values (any order; reordered in place). The percentiles are numpy's, exactly
    /// as of sorted data, found by selection (O(n): only the order statistics they need); the
    /// mean is the compensated sum over the count ([`compensated_sum`]). Neither depends on
    /// the order the values come in.
    pub fn of(values: &mut [f64]) -> Quantiles {
        if values.is_empty() {
            return Quantiles {
                mean: f64::NAN,
                median: f64::NAN,
                p90: f64::NAN,
                p99: f64::NAN,
            };
        }
        let mean = compensated_sum(values) / values.len() as f64;
        let [median, p90, p99] = percentiles_selecting(values, [50.0, 90.0, 99.0]);
        Quantiles {
            mean,
            median,
            p90,
            p99,
        }
    }
}

/// numpy's linear percentiles of unsorted values, ascending `pcts`, by selecting the order
/// statistics they interpolate between (equal to [`percentile_sorted`] of the sorted values).
fn percentiles_selecting<const N: usize>(values: &mut [f64], pcts: [f64; N]) -> [f64; N] {
    // values[..from] hold the smallest `from` values and values[from - 1] is in its sorted
    // place. The indices asked for never decrease, except that a percentile's lower index may
    // repeat the previous one's (both inside one gap), which was selected and is in place.
    let mut from = 0usize;
    let mut at = |k: usize, values: &mut [f64]| -> f64 {
        if k >= from {
            values[from..].select_nth_unstable_by(k - from, f64::total_cmp);
            from = k + 1;
        }
        values[k]
    };
    pcts.map(|pct| linear_percentile(values.len(), pct, |k| at(k, values)))
}

/// numpy's default (linear) percentile of `n` values, the `k`-th smallest given by `at`:
/// the rule [`percentile_sorted`] and the selecting path share.
fn linear_percentile(n: usize, pct: f64, mut at: impl FnMut(usize) -> f64) -> f64 {
    let rank = pct / 100.0 * (n - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    let low = at(lo);
    let high = at(hi);
    low + (high - low) * (rank - lo as f64)
}

/// The sum of the values, compensated (Neumaier): the exact rounding error of each addition
/// is carried and added back at the end, so the result is the exact sum rounded once, in any
/// order, unless that sum lies within the carried total's own error (about n²·2⁻¹⁰⁶ of it)
/// of a rounding boundary. A plain sum where any value is infinite or NaN.
pub fn compensated_sum(values: &[f64]) -> f64 {
    let (mut sum, mut carried) = (0.0f64, 0.0f64);
    for &x in values {
        let t = sum + x;
        carried += if sum.abs() >= x.abs() {
            (sum - t) + x
        } else {
            (x - t) + sum
        };
        sum = t;
    }
    if sum.is_finite() {
        sum + carried
    } else {
        sum
    }
}

/// The median of unsorted values (sorted in place), or None when there are none.
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some(percentile_sorted(values, 50.0))
}

/// numpy's default (linear) percentile of sorted data.
pub fn percentile_sorted(sorted: &[f64], pct: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    linear_percentile(sorted.len(), pct, |k| sorted[k])
}

/// Low and high prediction of one summary field.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Range {
    pub low: f64,
    pub high: f64,
}

impl Range {
    pub fn contains(&self, v: f64) -> bool {
        v >= self.low && v <= self.high
    }
}

/// Low and high predictions of each banded metric, where the uncertainty is known.
pub type Band = BTreeMap<Metric, Range>;

/// One scenario point's results (vLLM bench field names).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The swept keys and their values at this point.
    pub point: Point,
    /// "simulated" or "measured".
    pub source: String,
    pub completed: u64,
    pub failed: u64,
    /// Seconds.
    #[serde(deserialize_with = "nan_if_null")]
    pub duration: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub request_throughput: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub output_throughput: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub total_token_throughput: f64,
    pub total_input_tokens: u64,
    pub total_output_tokens: u64,
    #[serde(deserialize_with = "nan_if_null")]
    pub mean_ttft_ms: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub median_ttft_ms: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub p90_ttft_ms: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub p99_ttft_ms: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub mean_tpot_ms: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub median_tpot_ms: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub p90_tpot_ms: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub p99_tpot_ms: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub mean_itl_ms: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub median_itl_ms: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub p90_itl_ms: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub p99_itl_ms: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub mean_e2el_ms: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub median_e2el_ms: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub p90_e2el_ms: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub p99_e2el_ms: f64,
    /// Mean over requests of output tokens / (E2EL − TTFT): the speed one user sees.
    #[serde(deserialize_with = "nan_if_null")]
    pub mean_user_output_throughput: f64,
    /// Time-average of requests in flight (sent, not finished).
    #[serde(deserialize_with = "nan_if_null")]
    pub mean_in_flight: f64,
    /// Preemptions (KV cache exhausted, request recomputed).
    pub preemptions: u64,
    /// Prompt tokens served from the server's prefix cache (successful requests).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub prefix_cache_hit_tokens: u64,
    /// Failed requests by reason.
    pub failed_by_reason: BTreeMap<String, u64>,
    /// Where step costs came from (datasheet projection, calibration profile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub band: Option<Band>,
}

impl Summary {
    /// A metric's value (NaN where the run has none, e.g. no completed request).
    pub fn metric(&self, m: Metric) -> f64 {
        match m {
            Metric::RequestThroughput => self.request_throughput,
            Metric::OutputThroughput => self.output_throughput,
            Metric::TotalTokenThroughput => self.total_token_throughput,
            Metric::MeanTtft => self.mean_ttft_ms,
            Metric::MedianTtft => self.median_ttft_ms,
            Metric::P90Ttft => self.p90_ttft_ms,
            Metric::P99Ttft => self.p99_ttft_ms,
            Metric::MeanTpot => self.mean_tpot_ms,
            Metric::MedianTpot => self.median_tpot_ms,
            Metric::P90Tpot => self.p90_tpot_ms,
            Metric::P99Tpot => self.p99_tpot_ms,
            Metric::MeanItl => self.mean_itl_ms,
            Metric::MedianItl => self.median_itl_ms,
            Metric::P90Itl => self.p90_itl_ms,
            Metric::P99Itl => self.p99_itl_ms,
            Metric::MeanE2el => self.mean_e2el_ms,
            Metric::MedianE2el => self.median_e2el_ms,
            Metric::P90E2el => self.p90_e2el_ms,
            Metric::P99E2el => self.p99_e2el_ms,
            Metric::MeanUserOutputThroughput => self.mean_user_output_throughput,
            Metric::Completed => self.completed as f64,
            Metric::Failed => self.failed as f64,
            Metric::Duration => self.duration,
            Metric::Preemptions => self.preemptions as f64,
            Metric::PrefixCacheHitTokens => self.prefix_cache_hit_tokens as f64,
        }
    }

    /// Band spanned by summaries of the same point simulated at parameter draws.
    pub fn band_of(draws: &[Summary]) -> Band {
        let mut band = Band::new();
        for m in Metric::banded_metrics() {
            let values: Vec<f64> = draws
                .iter()
                .map(|s| s.metric(m))
                .filter(|v| v.is_finite())
                .collect();
            if values.is_empty() {
                continue;
            }
            let low = values.iter().cloned().fold(f64::INFINITY, f64::min);
            let high = values.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            band.insert(m, Range { low, high });
        }
        band
    }
}

fn is_zero(x: &u64) -> bool {
    *x == 0
}

/// The run's own window, where it states one (a `vllm bench` file's benchmark duration).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Window {
    pub start_s: f64,
    pub end_s: f64,
}

/// Facts a summary needs besides the records.
#[derive(Clone, Debug, Default)]
pub struct RunFacts {
    /// Preemptions the engine (simulated) or the server (`/metrics`) counted.
    pub preemptions: u64,
    pub cost_model: Option<String>,
    /// The run's window; None: from its records (first scheduled send to last end).
    pub window: Option<Window>,
}

/// Seconds → whole nanoseconds, rounded half away from zero (records of simulations hold
/// exact nanoseconds as f64 seconds, so this recovers them; measured times round to the
/// nanosecond). Spelled out because `f64::round` is a library call on baseline x86-64.
#[inline]
fn ns(s: f64) -> i64 {
    let x = s * 1e9;
    (if x >= 0.0 { x + 0.5 } else { x - 0.5 }) as i64
}

/// Accumulates request records one at a time (in id order, for sums that repeat exactly) and
/// keeps only what the summary needs.
#[derive(Clone, Debug)]
pub struct SummaryBuilder {
    ttft_ms: Vec<f64>,
    tpot_ms: Vec<f64>,
    e2el_ms: Vec<f64>,
    user_sum: f64,
    user_count: u64,
    completed: u64,
    failed: u64,
    total_in: u64,
    total_out: u64,
    cached: u64,
    start_s: f64,
    end_s: f64,
    /// Σ (finish − sent) in nanoseconds.
    busy_ns: i64,
    failed_by_reason: BTreeMap<String, u64>,
    seen: u64,
}

impl Default for SummaryBuilder {
    fn default() -> Self {
        SummaryBuilder {
            ttft_ms: Vec::new(),
            tpot_ms: Vec::new(),
            e2el_ms: Vec::new(),
            user_sum: 0.0,
            user_count: 0,
            completed: 0,
            failed: 0,
            total_in: 0,
            total_out: 0,
            cached: 0,
            start_s: f64::INFINITY,
            end_s: f64::NEG_INFINITY,
            busy_ns: 0,
            failed_by_reason: BTreeMap::new(),
            seen: 0,
        }
    }
}

impl SummaryBuilder {
    /// With room for `n` requests.
    pub fn with_capacity(n: usize) -> SummaryBuilder {
        SummaryBuilder {
            ttft_ms: Vec::with_capacity(n),
            tpot_ms: Vec::with_capacity(n),
            e2el_ms: Vec::with_capacity(n),
            ..SummaryBuilder::default()
        }
    }

    pub fn push(&mut self, r: &RequestRecord) {
        self.seen += 1;
        self.start_s = self.start_s.min(r.scheduled_s);
        let finish = r.finish_s();
        self.end_s = self.end_s.max(finish);
        if r.sent_s.is_finite() && finish.is_finite() {
            self.busy_ns += ns(finish) - ns(r.sent_s);
        }
        if !r.succeeded() {
            self.failed += 1;
            let reason = r.error.as_deref().unwrap_or("incomplete").to_string();
            *self.failed_by_reason.entry(reason).or_insert(0) += 1;
            return;
        }
        self.completed += 1;
        self.total_in += r.input_tokens as u64;
        self.total_out += r.output_tokens as u64;
        self.cached += r.cached_tokens as u64;
        if let Some(t) = r.ttft_s() {
            self.ttft_ms.push(t * 1e3);
        }
        if let Some(t) = r.tpot_s() {
            self.tpot_ms.push(t * 1e3);
        }
        if let Some(t) = r.e2el_s() {
            self.e2el_ms.push(t * 1e3);
        }
        if let (Some(end), Some(first)) = (r.end_s, r.first_token_s) {
            let gen = end - first;
            if r.output_tokens > 1 && gen > 0.0 {
                self.user_sum += (r.output_tokens - 1) as f64 / gen;
                self.user_count += 1;
            }
        }
    }

    /// The summary of everything pushed, with the run's pooled ITL gaps.
    pub fn finish(
        mut self,
        point: Point,
        source: &str,
        itl: &ItlStats,
        facts: RunFacts,
    ) -> Summary {
        let (start, end) = match facts.window {
            Some(w) => (w.start_s, w.end_s),
            None => (self.start_s, self.end_s),
        };
        let duration = if self.seen == 0 || !(end - start).is_finite() {
            0.0
        } else {
            (end - start).max(0.0)
        };
        let per_s = |x: f64| {
            if duration > 0.0 {
                x / duration
            } else {
                f64::NAN
            }
        };
        let span_ns = ns(end) - ns(start);
        let mean_in_flight = if span_ns > 0 {
            self.busy_ns as f64 / span_ns as f64
        } else {
            0.0
        };
        let ttft = Quantiles::of(&mut self.ttft_ms);
        let tpot = Quantiles::of(&mut self.tpot_ms);
        let e2el = Quantiles::of(&mut self.e2el_ms);
        Summary {
            point,
            source: source.to_string(),
            completed: self.completed,
            failed: self.failed,
            duration,
            request_throughput: per_s(self.completed as f64),
            output_throughput: per_s(self.total_out as f64),
            total_token_throughput: per_s((self.total_in + self.total_out) as f64),
            total_input_tokens: self.total_in,
            total_output_tokens: self.total_out,
            mean_ttft_ms: ttft.mean,
            median_ttft_ms: ttft.median,
            p90_ttft_ms: ttft.p90,
            p99_ttft_ms: ttft.p99,
            mean_tpot_ms: tpot.mean,
            median_tpot_ms: tpot.median,
            p90_tpot_ms: tpot.p90,
            p99_tpot_ms: tpot.p99,
            mean_itl_ms: itl.mean_ms(),
            median_itl_ms: itl.percentile_ms(50.0),
            p90_itl_ms: itl.percentile_ms(90.0),
            p99_itl_ms: itl.percentile_ms(99.0),
            mean_e2el_ms: e2el.mean,
            median_e2el_ms: e2el.median,
            p90_e2el_ms: e2el.p90,
            p99_e2el_ms: e2el.p99,
            mean_user_output_throughput: if self.user_count == 0 {
                f64::NAN
            } else {
                self.user_sum / self.user_count as f64
            },
            mean_in_flight,
            preemptions: facts.preemptions,
            prefix_cache_hit_tokens: self.cached,
            failed_by_reason: self.failed_by_reason,
            cost_model: facts.cost_model,
            band: None,
        }
    }
}

/// Summarises records with the ITL gaps of the same run: the one summary function.
pub fn summarize(
    point: Point,
    source: &str,
    records: &[RequestRecord],
    itl: &ItlStats,
    facts: RunFacts,
) -> Summary {
    let mut b = SummaryBuilder::with_capacity(records.len());
    for r in records {
        b.push(r);
    }
    b.finish(point, source, itl, facts)
}
/// Summary of measured records (their raw ITL gaps), by the one summary function: what spot
/// runs and imported runs measured.
pub fn summarize_measured(point: Point, records: &[RequestRecord], facts: RunFacts) -> Summary {
    summarize(
        point,
        "measured",
        records,
        &ItlStats::from_records(records),
        facts,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::Nanos;

    use proptest::prelude::*;

    proptest! {
        #[test]
        fn selected_percentiles_are_those_of_sorted_data_and_the_mean_ignores_order(
            mut values in proptest::collection::vec(
                prop_oneof![0.0f64..1e6, (0u32..20).prop_map(f64::from)], 1..300),
            seed in 0u64..1000,
        ) {
            let mut sorted = values.clone();
            sorted.sort_unstable_by(f64::total_cmp);
            let q = Quantiles::of(&mut values.clone());
            prop_assert_eq!(q.median.to_bits(), percentile_sorted(&sorted, 50.0).to_bits());
            prop_assert_eq!(q.p90.to_bits(), percentile_sorted(&sorted, 90.0).to_bits());
            prop_assert_eq!(q.p99.to_bits(), percentile_sorted(&sorted, 99.0).to_bits());
            // Any order gives the same mean, bit for bit.
            let n = values.len();
            for i in 0..n {
                values.swap(i, (seed as usize * 31 + i * 17) % n);
            }
            prop_assert_eq!(Quantiles::of(&mut values).mean.to_bits(), q.mean.to_bits());
        }
    }

    #[test]
    fn the_compensated_sum_keeps_the_small_terms() {
        // A plain left-to-right sum loses the small terms here.
        assert_eq!(compensated_sum(&[1e16, 1.0, -1e16, 1.0]), 2.0);
        assert_eq!(compensated_sum(&[1.0, 1e100, 1.0, -1e100]), 2.0);
        assert_eq!(compensated_sum(&[0.1; 10]), 1.0);
        assert_eq!(compensated_sum(&[]), 0.0);
        assert!(compensated_sum(&[1.0, f64::NAN]).is_nan());
    }

    fn rec(id: u64, sent: f64, first: f64, end: f64, out: u32) -> RequestRecord {
        RequestRecord {
            id,
            scheduled_s: sent,
            sent_s: sent,
            first_token_s: Some(first),
            end_s: Some(end),
            input_tokens: 10,
            output_tokens: out,
            itl_s: None,
            error: None,
            replica: None,
            preemptions: 0,
            requested_output_tokens: None,
            ..Default::default()
        }
    }

    #[test]
    fn percentiles_interpolate_like_numpy() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile_sorted(&v, 50.0), 2.5);
        assert!((percentile_sorted(&v, 90.0) - 3.7).abs() < 1e-12);
        assert_eq!(percentile_sorted(&[5.0], 99.0), 5.0);
    }

    #[test]
    fn summary_follows_vllm_bench_definitions() {
        let records = vec![rec(0, 0.0, 0.1, 1.1, 11), rec(1, 0.5, 0.7, 2.0, 1)];
        let mut itl = ItlStats::default();
        itl.record_n(Nanos::from_millis_f64(100.0), 10);
        let s = summarize(
            Default::default(),
            "simulated",
            &records,
            &itl,
            RunFacts::default(),
        );
        assert_eq!(s.completed, 2);
        assert_eq!(s.duration, 2.0);
        assert_eq!(s.request_throughput, 1.0);
        assert_eq!(s.output_throughput, 6.0);
        assert_eq!(s.total_token_throughput, 16.0);
        assert!((s.mean_ttft_ms - 150.0).abs() < 1e-9);
        // TPOT only for the request with more than one token: (1.1 - 0.1) / 10.
        assert!((s.mean_tpot_ms - 100.0).abs() < 1e-9);
        assert!((s.mean_itl_ms - 100.0).abs() < 1e-9);
        assert!(
            (s.median_itl_ms / 100.0 - 1.0).abs() < 1e-3,
            "{}",
            s.median_itl_ms
        );
    }

    #[test]
    fn failures_are_counted_by_reason_and_excluded_from_latency() {
        let mut bad = rec(2, 0.0, 0.0, 0.0, 0);
        bad.first_token_s = None;
        bad.end_s = None;
        bad.error = Some("HTTP 400".into());
        let records = vec![rec(0, 0.0, 0.1, 1.1, 11), bad];
        let s = summarize(
            Default::default(),
            "measured",
            &records,
            &ItlStats::default(),
            RunFacts::default(),
        );
        assert_eq!((s.completed, s.failed), (1, 1));
        assert_eq!(s.failed_by_reason["HTTP 400"], 1);
        assert!(s.mean_itl_ms.is_nan());
        // NaN serialises as null, so JSON output stays valid.
        assert!(serde_json::to_string(&s)
            .unwrap()
            .contains("\"mean_itl_ms\":null"));
    }
}
