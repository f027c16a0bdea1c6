//! GuideLLM `benchmarks.json` (`guidellm benchmark --output-path`), every layout from v0.2 to
//! v0.7: one run per benchmark (a strategy at one concurrency or rate).
//!
//! Per-request timings become records (sent at `request_start`, first token at
//! `first_token_iteration`, end at `last_token_iteration`; v0.2/0.3: `start_time`,
//! `first_token_time`, `last_token_time`), relative to the benchmark's measurement window,
//! and capsim's summary function computes the measurement from them, with capsim's (vllm
//! bench's) definitions. GuideLLM's own statistics differ on purpose and are not copied: its
//! percentiles are lower order statistics (no interpolation), its TPOT includes the TTFT from
//! v0.4 on, and its records carry no per-token gaps (so ITL percentiles stay empty). A file
//! whose requests were sampled away (`--sample-requests N`) or stripped is read from its
//! `metrics` means and medians instead, mapping GuideLLM's inter-token latency to TPOT.

use super::{bad, number};
use crate::error::InputResult;
use crate::metrics::{Point, RequestRecord, Summary, Window};
use crate::results::runs::{Run, RunFormat};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

/// Whether a JSON document is a GuideLLM report.
pub fn is_report(v: &Value) -> bool {
    v.get("benchmarks")
        .and_then(Value::as_array)
        .and_then(|b| b.first())
        .is_some_and(|b| b.get("metrics").is_some() && b.get("requests").is_some())
}

/// Every benchmark of the report, as runs.
pub fn runs(path: &Path, v: &Value) -> InputResult<Vec<Run>> {
    let benchmarks = v
        .get("benchmarks")
        .and_then(Value::as_array)
        .ok_or_else(|| bad(path, "GuideLLM report without 'benchmarks'"))?;
    benchmarks
        .iter()
        .enumerate()
        .map(|(i, b)| benchmark(path, i, b))
        .collect()
}

fn benchmark(path: &Path, i: usize, b: &Value) -> InputResult<Run> {
    let at = |what: &str| bad(path, format!("benchmarks[{i}]: {what}"));
    let start = number(b.get("start_time")).ok_or_else(|| at("no start_time"))?;
    let end = number(b.get("end_time")).ok_or_else(|| at("no end_time"))?;
    if end.partial_cmp(&start) != Some(std::cmp::Ordering::Greater) {
        return Err(at("end_time is not after start_time"));
    }
    // v0.4+: config.strategy; v0.2/0.3: args.strategy.
    let strategy = b
        .pointer("/config/strategy")
        .or_else(|| b.pointer("/args/strategy"))
        .ok_or_else(|| at("no strategy (config.strategy or args.strategy)"))?;
    let kind = strategy
        .get("type_")
        .and_then(Value::as_str)
        .unwrap_or("unknown");
    let cap = super::concurrency(path, strategy.get("max_concurrency"), "max_concurrency")?;
    let mut point = Point::new();
    let (max_concurrency, request_rate, constant_rate) = match kind {
        "synchronous" => (Some(1), None, false),
        "concurrent" => (
            super::concurrency(path, strategy.get("streams"), "streams")?,
            None,
            false,
        ),
        "constant" | "poisson" => (cap, number(strategy.get("rate")), kind == "constant"),
        // throughput: everything at once, up to the cap.
        _ => (cap, None, false),
    };
    match request_rate {
        Some(r) => {
            point.insert("request_rate".into(), r.into());
        }
        None => {
            if let Some(c) = max_concurrency {
                point.insert("max_concurrency".into(), c.into());
            }
        }
    }
    point.insert("strategy".into(), kind.into());
    let records = records(path, i, b, start)?;
    Ok(Run {
        source: format!("{}#{}", path.display(), i + 1),
        format: RunFormat::GuideLlm,
        point: point.clone(),
        stated: Some(stated(b, point, end - start)),
        records,
        metadata: None,
        window: Some(Window {
            start_s: 0.0,
            end_s: end - start,
        }),
        max_concurrency,
        request_rate,
        burstiness: None,
        constant_rate,
    })
}

/// The first of these keys that holds a number.
fn first_number(v: &Value, paths: &[&str]) -> Option<f64> {
    paths.iter().find_map(|p| number(v.pointer(p)))
}

fn records(path: &Path, i: usize, b: &Value, t0: f64) -> InputResult<Vec<RequestRecord>> {
    let mut out = Vec::new();
    for status in ["successful", "errored", "incomplete"] {
        let Some(list) = b
            .pointer(&format!("/requests/{status}"))
            .and_then(Value::as_array)
        else {
            continue;
        };
        for r in list {
            let start = first_number(r, &["/info/timings/request_start", "/start_time"]);
            let first = first_number(
                r,
                &["/info/timings/first_token_iteration", "/first_token_time"],
            );
            let last = first_number(
                r,
                &["/info/timings/last_token_iteration", "/last_token_time"],
            );
            let end = first_number(r, &["/info/timings/request_end", "/end_time"]);
            let Some(start) = start else {
                // Stripped records (sample_size 0) carry no timings: use the stated metrics.
                return Ok(Vec::new());
            };
            let ok = status == "successful";
            let output = number(r.get("output_tokens")).unwrap_or(0.0);
            let input = number(r.get("prompt_tokens")).unwrap_or(0.0);
            if !(output >= 0.0 && input >= 0.0) {
                return Err(bad(
                    path,
                    format!("benchmarks[{i}]: a request has negative token counts"),
                ));
            }
            let error = r
                .pointer("/info/error")
                .or_else(|| r.get("error"))
                .and_then(Value::as_str)
                .map(|e| e.to_string())
                .unwrap_or_else(|| status.to_string());
            out.push(RequestRecord {
                id: out.len() as u64,
                scheduled_s: start - t0,
                sent_s: start - t0,
                first_token_s: if ok { first.map(|f| f - t0) } else { None },
                end_s: if ok {
                    last.or(end).map(|e| e - t0)
                } else {
                    end.map(|e| e - t0)
                },
                input_tokens: input as u32,
                output_tokens: output as u32,
                error: (!ok).then_some(Cow::Owned(error)),
                ..Default::default()
            });
        }
    }
    out.sort_by(|a, b| a.sent_s.total_cmp(&b.sent_s));
    for (k, r) in out.iter_mut().enumerate() {
        r.id = k as u64;
    }
    Ok(out)
}

/// Means and medians GuideLLM states (successful requests), in capsim's fields.
fn stated(b: &Value, point: Point, duration: f64) -> Summary {
    let m = |metric: &str, stat: &str| {
        number(b.pointer(&format!("/metrics/{metric}/successful/{stat}"))).unwrap_or(f64::NAN)
    };
    let totals = |k: &str| {
        b.pointer(&format!("/metrics/request_totals/{k}"))
            .or_else(|| b.pointer(&format!("/request_totals/{k}")))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    let completed = totals("successful");
    let failed = totals("errored") + totals("incomplete");
    let out_total = m("output_token_count", "total_sum");
    let in_total = m("prompt_token_count", "total_sum");
    Summary {
        point,
        source: "measured".into(),
        completed,
        failed,
        duration,
        request_throughput: completed as f64 / duration,
        output_throughput: out_total / duration,
        total_token_throughput: (out_total + in_total) / duration,
        total_input_tokens: if in_total.is_finite() {
            in_total as u64
        } else {
            0
        },
        total_output_tokens: if out_total.is_finite() {
            out_total as u64
        } else {
            0
        },
        mean_ttft_ms: m("time_to_first_token_ms", "mean"),
        median_ttft_ms: m("time_to_first_token_ms", "median"),
        p90_ttft_ms: m("time_to_first_token_ms", "percentiles/p90"),
        p99_ttft_ms: m("time_to_first_token_ms", "percentiles/p99"),
        mean_tpot_ms: m("inter_token_latency_ms", "mean"),
        median_tpot_ms: m("inter_token_latency_ms", "median"),
        p90_tpot_ms: m("inter_token_latency_ms", "percentiles/p90"),
        p99_tpot_ms: m("inter_token_latency_ms", "percentiles/p99"),
        mean_itl_ms: m("inter_token_latency_ms", "mean"),
        median_itl_ms: f64::NAN,
        p90_itl_ms: f64::NAN,
        p99_itl_ms: f64::NAN,
        mean_e2el_ms: m("request_latency", "mean") * 1e3,
        median_e2el_ms: m("request_latency", "median") * 1e3,
        p90_e2el_ms: m("request_latency", "percentiles/p90") * 1e3,
        p99_e2el_ms: m("request_latency", "percentiles/p99") * 1e3,
        mean_user_output_throughput: f64::NAN,
        mean_in_flight: m("request_concurrency", "mean"),
        preemptions: 0,
        prefix_cache_hit_tokens: 0,
        failed_by_reason: if failed > 0 {
            BTreeMap::from([("failed (GuideLLM)".to_string(), failed)])
        } else {
            BTreeMap::new()
        },
        cost_model: None,
        band: None,
    }
}
