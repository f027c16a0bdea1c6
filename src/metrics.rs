//! Request records and summaries, shared by simulations and spot runs so that prediction and
//! measurement compare field by field. Definitions follow `vllm bench serve`:
//!
//! - TTFT: send → first token. E2EL: send → last token.
//! - TPOT: (E2EL − TTFT) / (output tokens − 1), per request with more than one output token.
//! - ITL: every gap between successive tokens, pooled over all requests.
//! - request_throughput = completed / duration; output_throughput = output tokens / duration;
//!   total_token_throughput adds input tokens. Duration runs from the run's start (t = 0, the
//!   first scheduled send) to the last completion.
//! - Percentiles interpolate linearly between order statistics (numpy's default); ITL
//!   percentiles come from a histogram with 3 significant digits.

use crate::units::Nanos;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// One request, as simulated or measured (JSONL, one line each).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RequestRecord {
    pub id: u64,
    /// When the client meant to send it (open loop: the arrival time), seconds from start.
    pub scheduled_s: f64,
    /// When it was sent.
    pub sent_s: f64,
    pub first_token_s: Option<f64>,
    pub end_s: Option<f64>,
    pub input_tokens: u32,
    pub output_tokens: u32,
    /// Inter-token gaps, seconds, where recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub itl_s: Option<Vec<f64>>,
    /// Why it failed, or null.
    pub error: Option<Cow<'static, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica: Option<u32>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub preemptions: u32,
    /// Output tokens asked for, where the server produced a different number (or failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_output_tokens: Option<u32>,
    /// The workload class it belongs to, where the workload has several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    /// Multi-turn sessions: which session, and which turn of it (1-based).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn: Option<u32>,
    /// Prompt tokens the server took from its prefix cache (not prefilled again).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cached_tokens: u32,
    /// Spot runs against llama-server: the server's own prompt processing time (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_prompt_ms: Option<f64>,
}

fn is_zero(x: &u32) -> bool {
    *x == 0
}

impl RequestRecord {
    pub fn succeeded(&self) -> bool {
        self.error.is_none() && self.end_s.is_some() && self.first_token_s.is_some()
    }
    pub fn ttft_s(&self) -> Option<f64> {
        Some(self.first_token_s? - self.sent_s)
    }
    pub fn e2el_s(&self) -> Option<f64> {
        Some(self.end_s? - self.sent_s)
    }
    pub fn tpot_s(&self) -> Option<f64> {
        if self.output_tokens < 2 {
            return None;
        }
        Some((self.end_s? - self.first_token_s?) / (self.output_tokens - 1) as f64)
    }
}

/// Inter-token latencies pooled over a run: a histogram in nanoseconds plus an exact mean.
#[derive(Clone, Debug)]
pub struct ItlStats {
    hist: Histogram<u64>,
    sum_ns: u128,
    count: u64,
}

impl Default for ItlStats {
    fn default() -> Self {
        ItlStats {
            // 1 ns to 1 hour at 3 significant digits; longer gaps saturate.
            hist: Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("valid bounds"),
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
        self.hist.saturating_record_n(gap.0.max(1), weight);
        self.sum_ns += gap.0 as u128 * weight as u128;
        self.count += weight;
    }

    pub fn merge(&mut self, other: &ItlStats) {
        let _ = self.hist.add(&other.hist);
        self.sum_ns += other.sum_ns;
        self.count += other.count;
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    fn mean_ms(&self) -> f64 {
        if self.count == 0 {
            return f64::NAN;
        }
        self.sum_ns as f64 / self.count as f64 / 1e6
    }

    fn quantile_ms(&self, q: f64) -> f64 {
        if self.count == 0 {
            return f64::NAN;
        }
        // The middle of the bucket, not its upper edge.
        self.hist.median_equivalent(self.hist.value_at_quantile(q)) as f64 / 1e6
    }

    /// Gathers the `itl_s` arrays of measured records.
    pub fn from_records(records: &[RequestRecord]) -> ItlStats {
        let mut s = ItlStats::default();
        for r in records.iter().filter(|r| r.succeeded()) {
            for gap in r.itl_s.iter().flatten() {
                s.record_n(Nanos::from_secs_f64(*gap), 1);
            }
        }
        s
    }
}

/// Mean, median, p90 and p99 of one latency, in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Quantiles {
    pub mean: f64,
    pub median: f64,
    pub p90: f64,
    pub p99: f64,
}

impl Quantiles {
    /// From raw values (any order; sorted in place).
    pub fn of(values: &mut [f64]) -> Quantiles {
        if values.is_empty() {
            return Quantiles {
                mean: f64::NAN,
                median: f64::NAN,
                p90: f64::NAN,
                p99: f64::NAN,
            };
        }
        values.sort_unstable_by(f64::total_cmp);
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        Quantiles {
            mean,
            median: percentile_sorted(values, 50.0),
            p90: percentile_sorted(values, 90.0),
            p99: percentile_sorted(values, 99.0),
        }
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
    let rank = pct / 100.0 * (sorted.len() - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo as f64)
}

/// Low and high prediction of one summary field.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Range {
    pub low: f64,
    pub high: f64,
}

/// Low and high predictions of each summary field, where parameter uncertainty is known.
pub type Band = BTreeMap<String, Range>;

/// The summary fields that bands, validation and errors are computed for.
pub const METRIC_FIELDS: &[&str] = &[
    "request_throughput",
    "output_throughput",
    "total_token_throughput",
    "mean_ttft_ms",
    "median_ttft_ms",
    "p90_ttft_ms",
    "p99_ttft_ms",
    "mean_tpot_ms",
    "median_tpot_ms",
    "p90_tpot_ms",
    "p99_tpot_ms",
    "mean_itl_ms",
    "median_itl_ms",
    "p90_itl_ms",
    "p99_itl_ms",
    "mean_e2el_ms",
    "median_e2el_ms",
    "p90_e2el_ms",
    "p99_e2el_ms",
    "mean_user_output_throughput",
];

impl Summary {
    /// A metric by its field name (see [`METRIC_FIELDS`]).
    pub fn metric(&self, field: &str) -> Option<f64> {
        Some(match field {
            "request_throughput" => self.request_throughput,
            "output_throughput" => self.output_throughput,
            "total_token_throughput" => self.total_token_throughput,
            "mean_ttft_ms" => self.mean_ttft_ms,
            "median_ttft_ms" => self.median_ttft_ms,
            "p90_ttft_ms" => self.p90_ttft_ms,
            "p99_ttft_ms" => self.p99_ttft_ms,
            "mean_tpot_ms" => self.mean_tpot_ms,
            "median_tpot_ms" => self.median_tpot_ms,
            "p90_tpot_ms" => self.p90_tpot_ms,
            "p99_tpot_ms" => self.p99_tpot_ms,
            "mean_itl_ms" => self.mean_itl_ms,
            "median_itl_ms" => self.median_itl_ms,
            "p90_itl_ms" => self.p90_itl_ms,
            "p99_itl_ms" => self.p99_itl_ms,
            "mean_e2el_ms" => self.mean_e2el_ms,
            "median_e2el_ms" => self.median_e2el_ms,
            "p90_e2el_ms" => self.p90_e2el_ms,
            "p99_e2el_ms" => self.p99_e2el_ms,
            "mean_user_output_throughput" => self.mean_user_output_throughput,
            "completed" => self.completed as f64,
            "failed" => self.failed as f64,
            "duration" => self.duration,
            "preemptions" => self.preemptions as f64,
            _ => return None,
        })
    }

    /// Band spanned by summaries of the same point simulated at parameter draws.
    pub fn band_of(draws: &[Summary]) -> Band {
        let mut band = Band::new();
        for field in METRIC_FIELDS {
            let values: Vec<f64> = draws
                .iter()
                .filter_map(|s| s.metric(field))
                .filter(|v| v.is_finite())
                .collect();
            if values.is_empty() {
                continue;
            }
            let low = values.iter().cloned().fold(f64::INFINITY, f64::min);
            let high = values.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            band.insert(field.to_string(), Range { low, high });
        }
        band
    }
}

/// serde_json writes a NaN (a metric with no samples) as null; read it back as NaN.
fn nan_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// One scenario point's results (vLLM bench field names).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The swept keys and their values at this point.
    pub point: serde_json::Map<String, serde_json::Value>,
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
    /// Failed requests by reason.
    pub failed_by_reason: BTreeMap<String, u64>,
    /// Where step costs came from (datasheet projection, calibration profile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub band: Option<Band>,
}

/// Extra facts a summary needs besides the records.
#[derive(Clone, Debug, Default)]
pub struct RunFacts {
    pub mean_in_flight: f64,
    pub preemptions: u64,
    pub cost_model: Option<String>,
}

/// Summarises records with the ITL samples of the same run.
pub fn summarize(
    point: serde_json::Map<String, serde_json::Value>,
    source: &str,
    records: &[RequestRecord],
    itl: &ItlStats,
    facts: RunFacts,
) -> Summary {
    let ok: Vec<&RequestRecord> = records.iter().filter(|r| r.succeeded()).collect();
    let failed = (records.len() - ok.len()) as u64;
    let start = records
        .iter()
        .map(|r| r.scheduled_s)
        .fold(f64::INFINITY, f64::min);
    let end = records
        .iter()
        .filter_map(|r| r.end_s.or(Some(r.sent_s)))
        .fold(f64::NEG_INFINITY, f64::max);
    let duration = if records.is_empty() {
        0.0
    } else {
        (end - start).max(0.0)
    };
    let total_in: u64 = ok.iter().map(|r| r.input_tokens as u64).sum();
    let total_out: u64 = ok.iter().map(|r| r.output_tokens as u64).sum();
    let per_s = |x: f64| {
        if duration > 0.0 {
            x / duration
        } else {
            f64::NAN
        }
    };
    let ms = |f: fn(&RequestRecord) -> Option<f64>| -> Vec<f64> {
        ok.iter().filter_map(|r| f(r)).map(|s| s * 1e3).collect()
    };
    let ttft = Quantiles::of(&mut ms(RequestRecord::ttft_s));
    let tpot = Quantiles::of(&mut ms(RequestRecord::tpot_s));
    let e2el = Quantiles::of(&mut ms(RequestRecord::e2el_s));
    let user: Vec<f64> = ok
        .iter()
        .filter_map(|r| {
            let gen = r.end_s? - r.first_token_s?;
            (r.output_tokens > 1 && gen > 0.0).then(|| (r.output_tokens - 1) as f64 / gen)
        })
        .collect();
    let mut failed_by_reason = BTreeMap::new();
    for r in records.iter().filter(|r| !r.succeeded()) {
        let reason = r.error.as_deref().unwrap_or("incomplete").to_string();
        *failed_by_reason.entry(reason).or_insert(0) += 1;
    }
    Summary {
        point,
        source: source.to_string(),
        completed: ok.len() as u64,
        failed,
        duration,
        request_throughput: per_s(ok.len() as f64),
        output_throughput: per_s(total_out as f64),
        total_token_throughput: per_s((total_in + total_out) as f64),
        total_input_tokens: total_in,
        total_output_tokens: total_out,
        mean_ttft_ms: ttft.mean,
        median_ttft_ms: ttft.median,
        p90_ttft_ms: ttft.p90,
        p99_ttft_ms: ttft.p99,
        mean_tpot_ms: tpot.mean,
        median_tpot_ms: tpot.median,
        p90_tpot_ms: tpot.p90,
        p99_tpot_ms: tpot.p99,
        mean_itl_ms: itl.mean_ms(),
        median_itl_ms: itl.quantile_ms(0.5),
        p90_itl_ms: itl.quantile_ms(0.9),
        p99_itl_ms: itl.quantile_ms(0.99),
        mean_e2el_ms: e2el.mean,
        median_e2el_ms: e2el.median,
        p90_e2el_ms: e2el.p90,
        p99_e2el_ms: e2el.p99,
        mean_user_output_throughput: if user.is_empty() {
            f64::NAN
        } else {
            user.iter().sum::<f64>() / user.len() as f64
        },
        mean_in_flight: facts.mean_in_flight,
        preemptions: facts.preemptions,
        failed_by_reason,
        cost_model: facts.cost_model,
        band: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
