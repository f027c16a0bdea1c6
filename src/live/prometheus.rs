//! A server's Prometheus `/metrics` text, read for what a spot run needs: counters to take
//! before and after a run (preemptions, prefix-cache hit and queried tokens), gauges to watch
//! during it (requests running and waiting, KV-cache use), and the engine's configuration vLLM
//! publishes as labels of `vllm:cache_config_info`. Pure: text in, numbers out. Names of vLLM
//! 0.9–0.32 (`vllm:kv_cache_usage_perc`, with the older `vllm:gpu_*` spellings) and
//! llama-server (`llamacpp:requests_processing`, `llamacpp:requests_deferred`).

use std::collections::BTreeMap;

/// One sample: metric name, labels, value.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Parses the Prometheus text exposition format (comments and malformed lines skipped).
pub fn parse(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (head, value) = match line.rfind('}') {
            Some(close) => (&line[..=close], line[close + 1..].trim()),
            None => match line.split_once(char::is_whitespace) {
                Some((h, v)) => (h, v.trim()),
                None => continue,
            },
        };
        // A trailing timestamp may follow the value.
        let value = value.split_whitespace().next().unwrap_or("");
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        let (name, labels) = match head.find('{') {
            Some(open) => (&head[..open], labels(&head[open + 1..head.len() - 1])),
            None => (head, BTreeMap::new()),
        };
        out.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    out
}

/// `a="x",b="y"` → {a: x, b: y} (escaped quotes kept as written).
fn labels(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = text;
    while let Some(eq) = rest.find('=') {
        let key = rest[..eq].trim().trim_start_matches(',').trim().to_string();
        let after = &rest[eq + 1..];
        let Some(start) = after.find('"') else { break };
        let mut end = start + 1;
        let bytes = after.as_bytes();
        while end < bytes.len() && !(bytes[end] == b'"' && bytes[end - 1] != b'\\') {
            end += 1;
        }
        out.insert(key, after[start + 1..end.min(after.len())].to_string());
        rest = &after[(end + 1).min(after.len())..];
    }
    out
}

/// The sum of a metric over its label sets (several engines, or models), if it is there.
pub fn total(samples: &[Sample], names: &[&str]) -> Option<f64> {
    names.iter().find_map(|n| {
        let v: Vec<f64> = samples
            .iter()
            .filter(|s| s.name == *n)
            .map(|s| s.value)
            .collect();
        (!v.is_empty()).then(|| v.iter().sum())
    })
}

/// What a spot run reads from `/metrics` at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Reading {
    pub preemptions: Option<f64>,
    pub prefix_cache_hit_tokens: Option<f64>,
    pub prefix_cache_query_tokens: Option<f64>,
    pub running: Option<f64>,
    pub waiting: Option<f64>,
    pub kv_usage: Option<f64>,
}

impl Reading {
    pub fn of(text: &str) -> Reading {
        let s = parse(text);
        Reading {
            preemptions: total(&s, &["vllm:num_preemptions_total", "vllm:num_preemptions"]),
            prefix_cache_hit_tokens: total(
                &s,
                &[
                    "vllm:prefix_cache_hits_total",
                    "vllm:prefix_cache_hits",
                    "vllm:gpu_prefix_cache_hits_total",
                ],
            ),
            prefix_cache_query_tokens: total(
                &s,
                &[
                    "vllm:prefix_cache_queries_total",
                    "vllm:prefix_cache_queries",
                    "vllm:gpu_prefix_cache_queries_total",
                ],
            ),
            running: total(
                &s,
                &["vllm:num_requests_running", "llamacpp:requests_processing"],
            ),
            waiting: total(
                &s,
                &["vllm:num_requests_waiting", "llamacpp:requests_deferred"],
            ),
            kv_usage: total(
                &s,
                &[
                    "vllm:kv_cache_usage_perc",
                    "vllm:gpu_cache_usage_perc",
                    "llamacpp:kv_cache_usage_ratio",
                ],
            ),
        }
    }
}

/// vLLM's cache configuration (`vllm:cache_config_info` labels): block size, KV blocks,
/// whether prefix caching is on.
pub fn cache_config(text: &str) -> Option<BTreeMap<String, String>> {
    parse(text)
        .into_iter()
        .find(|s| s.name == "vllm:cache_config_info")
        .map(|s| s.labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VLLM: &str = r#"# HELP vllm:num_preemptions_total Cumulative number of preemption from the engine.
# TYPE vllm:num_preemptions_total counter
vllm:num_preemptions_total{engine="0",model_name="tiny-llama"} 10.0
vllm:prefix_cache_hits_total{engine="0",model_name="tiny-llama"} 2304.0
vllm:prefix_cache_queries_total{engine="0",model_name="tiny-llama"} 8000.0
vllm:num_requests_running{engine="0",model_name="tiny-llama"} 3.0
vllm:num_requests_waiting{engine="0",model_name="tiny-llama"} 1.0
vllm:kv_cache_usage_perc{engine="0",model_name="tiny-llama"} 0.25
vllm:cache_config_info{block_size="128",cache_dtype="auto",enable_prefix_caching="True",engine="0",num_gpu_blocks="12"} 1.0
"#;

    #[test]
    fn vllm_counters_gauges_and_cache_config_are_read() {
        let r = Reading::of(VLLM);
        assert_eq!(r.preemptions, Some(10.0));
        assert_eq!(r.prefix_cache_hit_tokens, Some(2304.0));
        assert_eq!(r.prefix_cache_query_tokens, Some(8000.0));
        assert_eq!(
            (r.running, r.waiting, r.kv_usage),
            (Some(3.0), Some(1.0), Some(0.25))
        );
        let c = cache_config(VLLM).unwrap();
        assert_eq!(c["block_size"], "128");
        assert_eq!(c["num_gpu_blocks"], "12");
    }

    #[test]
    fn llama_server_gauges_and_missing_metrics() {
        let r = Reading::of("llamacpp:requests_processing 4\nllamacpp:requests_deferred 2\n");
        assert_eq!((r.running, r.waiting), (Some(4.0), Some(2.0)));
        assert_eq!(r.preemptions, None);
        assert_eq!(Reading::of("garbage line\n{}\n"), Reading::default());
    }
}
