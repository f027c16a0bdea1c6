//! `vllm bench serve --save-result` JSON (and the older `benchmarks/benchmark_serving.py`).
//!
//! With `--save-detailed` the file holds per-request arrays (`input_lens`, `output_lens`,
//! `ttfts`, `itls`, `errors`, and in newer versions `start_times`, `latencies`,
//! `queue_times`); they become request records, summarised by capsim's own summary function
//! over the file's own window (`duration`: vLLM's benchmark start to the last request's end,
//! which the arrays cannot give). `start_times` are raw `time.perf_counter()` readings, so
//! they are taken relative to the earliest. Without the arrays the file's summary fields are
//! the measurement. Definitions match capsim's: TTFT and E2EL per successful request, TPOT
//! over requests with more than one output token, ITL pooled over every chunk gap, numpy's
//! linear percentiles; `request_goodput:` (the old misspelling) and unknown keys are ignored.

use super::{bad, number};
use crate::error::InputResult;
use crate::metrics::{Point, RequestRecord, Summary, Window};
use crate::results::runs::{Run, RunFormat};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

/// Whether a JSON document is a vllm bench result.
pub fn is_result(v: &serde_json::Value) -> bool {
    v.get("duration").is_some()
        && v.get("completed").is_some()
        && (v.get("request_throughput").is_some() || v.get("ttfts").is_some())
}

/// The run a result describes; `index` numbers results appended to one file.
pub fn run(path: &Path, v: &serde_json::Value, index: usize) -> InputResult<Run> {
    let source = if index == 0 {
        path.display().to_string()
    } else {
        format!("{}#{}", path.display(), index + 1)
    };
    let duration = number(v.get("duration"))
        .filter(|d| d.is_finite() && *d > 0.0)
        .ok_or_else(|| bad(path, "vllm bench result has no positive 'duration'"))?;
    let rate = number(v.get("request_rate")).filter(|r| r.is_finite());
    if let Some(r) = rate.filter(|r| *r <= 0.0) {
        return Err(bad(
            path,
            format!("request_rate is {r}: vllm bench sends at a positive rate or inf"),
        ));
    }
    let max_concurrency = super::concurrency(path, v.get("max_concurrency"), "max_concurrency")?;
    let mut point = Point::new();
    match rate {
        Some(r) => {
            point.insert("request_rate".into(), r.into());
        }
        None => {
            if let Some(c) = max_concurrency {
                point.insert("max_concurrency".into(), c.into());
            }
        }
    }
    let records = if v.get("ttfts").is_some() || v.get("input_lens").is_some() {
        records(path, v)?
    } else {
        Vec::new()
    };
    Ok(Run {
        source,
        format: RunFormat::VllmBench,
        point: point.clone(),
        records,
        metadata: None,
        window: Some(Window {
            start_s: 0.0,
            end_s: duration,
        }),
        stated: Some(stated(v, point, duration)),
        max_concurrency,
        request_rate: rate,
        burstiness: number(v.get("burstiness")),
        constant_rate: false,
    })
}

/// Per-request records from the detailed arrays.
fn records(path: &Path, v: &serde_json::Value) -> InputResult<Vec<RequestRecord>> {
    let array = |key: &str| -> InputResult<&Vec<serde_json::Value>> {
        v.get(key).and_then(|x| x.as_array()).ok_or_else(|| {
            bad(
                path,
                format!("vllm bench result has per-request arrays but lacks '{key}'"),
            )
        })
    };
    let inputs = array("input_lens")?;
    let outputs = array("output_lens")?;
    let ttfts = array("ttfts")?;
    let itls = array("itls")?;
    let n = inputs.len();
    let optional = |key: &str| v.get(key).and_then(|x| x.as_array());
    let (errors, starts, latencies, queues) = (
        optional("errors"),
        optional("start_times"),
        optional("latencies"),
        optional("queue_times"),
    );
    for (key, len) in [
        ("output_lens", Some(outputs.len())),
        ("ttfts", Some(ttfts.len())),
        ("itls", Some(itls.len())),
        ("errors", errors.map(Vec::len)),
        ("start_times", starts.map(Vec::len)),
        ("latencies", latencies.map(Vec::len)),
        ("queue_times", queues.map(Vec::len)),
    ] {
        if let Some(len) = len.filter(|l| *l != n) {
            return Err(bad(
                path,
                format!("'{key}' has {len} entries but 'input_lens' has {n}"),
            ));
        }
    }
    let t0 = starts
        .map(|s| {
            s.iter()
                .filter_map(|x| x.as_f64())
                .fold(f64::INFINITY, f64::min)
        })
        .filter(|t| t.is_finite())
        .unwrap_or(0.0);
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let num = |x: &serde_json::Value, what: &str| {
            x.as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0)
                .ok_or_else(|| bad(path, format!("{what}[{i}] is not a non-negative number")))
        };
        let input = num(&inputs[i], "input_lens")? as u32;
        let output = num(&outputs[i], "output_lens")? as u32;
        let ttft = num(&ttfts[i], "ttfts")?;
        let gaps: Vec<f64> = itls[i]
            .as_array()
            .ok_or_else(|| bad(path, format!("itls[{i}] is not a list")))?
            .iter()
            .map(|g| num(g, "itls"))
            .collect::<InputResult<_>>()?;
        let error = errors
            .and_then(|e| e.get(i))
            .and_then(|e| e.as_str())
            .filter(|e| !e.is_empty())
            .map(|e| Cow::Owned(e.to_string()));
        let ok = match errors {
            Some(_) => error.is_none(),
            None => output > 0,
        };
        let sent = match starts {
            Some(s) => num(&s[i], "start_times")? - t0,
            None => 0.0,
        };
        let latency = match latencies {
            Some(l) => num(&l[i], "latencies")?,
            None => ttft + gaps.iter().sum::<f64>(),
        };
        let queued = match queues {
            Some(q) => num(&q[i], "queue_times")?,
            None => 0.0,
        };
        out.push(RequestRecord {
            id: i as u64,
            scheduled_s: sent - queued,
            sent_s: sent,
            first_token_s: ok.then_some(sent + ttft),
            end_s: Some(sent + if ok { latency } else { 0.0 }),
            input_tokens: input,
            output_tokens: output,
            itl_s: ok.then_some(gaps),
            error: if ok {
                None
            } else {
                Some(error.unwrap_or(Cow::Borrowed("failed")))
            },
            ..Default::default()
        });
    }
    Ok(out)
}

/// The summary fields the file states (NaN where it has none: vllm bench writes p99 and the
/// median by default, p90 and e2el only when asked).
fn stated(v: &serde_json::Value, point: Point, duration: f64) -> Summary {
    let f = |key: &str| number(v.get(key)).unwrap_or(f64::NAN);
    let u = |key: &str| number(v.get(key)).map_or(0, |x| x.max(0.0) as u64);
    let completed = u("completed");
    let failed = match v.get("failed") {
        Some(_) => u("failed"),
        None => u("num_prompts").saturating_sub(completed),
    };
    let mean_in_flight = v
        .get("latencies")
        .and_then(|l| l.as_array())
        .map(|l| l.iter().filter_map(|x| x.as_f64()).sum::<f64>() / duration)
        .unwrap_or(f64::NAN);
    Summary {
        point,
        source: "measured".into(),
        completed,
        failed,
        duration,
        request_throughput: f("request_throughput"),
        output_throughput: f("output_throughput"),
        total_token_throughput: f("total_token_throughput"),
        total_input_tokens: u("total_input_tokens"),
        total_output_tokens: u("total_output_tokens"),
        mean_ttft_ms: f("mean_ttft_ms"),
        median_ttft_ms: f("median_ttft_ms"),
        p90_ttft_ms: f("p90_ttft_ms"),
        p99_ttft_ms: f("p99_ttft_ms"),
        mean_tpot_ms: f("mean_tpot_ms"),
        median_tpot_ms: f("median_tpot_ms"),
        p90_tpot_ms: f("p90_tpot_ms"),
        p99_tpot_ms: f("p99_tpot_ms"),
        mean_itl_ms: f("mean_itl_ms"),
        median_itl_ms: f("median_itl_ms"),
        p90_itl_ms: f("p90_itl_ms"),
        p99_itl_ms: f("p99_itl_ms"),
        mean_e2el_ms: f("mean_e2el_ms"),
        median_e2el_ms: f("median_e2el_ms"),
        p90_e2el_ms: f("p90_e2el_ms"),
        p99_e2el_ms: f("p99_e2el_ms"),
        mean_user_output_throughput: f64::NAN,
        mean_in_flight,
        preemptions: 0,
        prefix_cache_hit_tokens: 0,
        failed_by_reason: if failed > 0 {
            BTreeMap::from([("failed (vllm bench aggregate)".to_string(), failed)])
        } else {
            BTreeMap::new()
        },
        cost_model: None,
        band: None,
    }
}
