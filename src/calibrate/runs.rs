//! Step observations from recorded runs (capsim spot runs, vllm bench and GuideLLM imports,
//! read by [`crate::results::runs`]): a run with a steady batch gives a decode step at that
//! batch; a run at one user gives each request's prefill, seen from the client.

use super::fit::Observation;
use crate::cost::StepShape;
use crate::metrics::RequestRecord;
use crate::results::Run;

/// Step observations from recorded runs: a run with a steady batch (all slots busy, or a whole
/// number of requests in flight) gives its typical inter-token gap (the mean of the gaps up to
/// twice the median) as a decode step at that batch; at one user, each request's TTFT is a prefill of its prompt, seen from the client
/// (request latency included). A prompt longer than `prefill_limit` (vLLM's token budget, from
/// the scenario) was prefilled in chunks, a step each, and its observation spans them.
pub fn observations(runs: &[Run], prefill_limit: Option<u32>) -> Vec<Observation> {
    let mut obs = Vec::new();
    for run in runs {
        let ok: Vec<&RequestRecord> = run.records.iter().filter(|r| r.succeeded()).collect();
        if ok.is_empty() {
            continue;
        }
        let in_flight = run.mean_in_flight();
        // A decode step at a known batch needs a steady batch: every slot busy, or a whole
        // number of requests in flight (a closed loop). Light open-loop traffic moves between
        // batch sizes, and its median gap belongs to none of them.
        let full = run.slots().is_some_and(|s| in_flight >= s as f64 - 0.25);
        let batch = match run.slots() {
            Some(s) if full => s.max(1),
            _ => in_flight.round().max(1.0) as u32,
        };
        let steady =
            full || (in_flight - in_flight.round()).abs() <= 0.1 * in_flight.round().max(1.0);
        let mean_in = ok.iter().map(|r| r.input_tokens as f64).sum::<f64>() / ok.len() as f64;
        let mean_out = ok.iter().map(|r| r.output_tokens as f64).sum::<f64>() / ok.len() as f64;
        let mut gaps: Vec<f64> = ok
            .iter()
            .flat_map(|r| r.itl_s.iter().flatten())
            .filter(|g| **g > 0.0)
            .map(|g| g * 1e3)
            .collect();
        let typical = super::typical_gap_ms(&mut gaps);
        if let Some(ms) = typical.filter(|_| steady) {
            let l = (mean_in + mean_out / 2.0).round() as u64;
            obs.push(Observation {
                label: format!("decode B={batch} L={l} ({})", run.source),
                shape: StepShape::decode(batch, l),
                ms,
                decode: true,
                includes_latency: false,
                steps: 1,
            });
        }
        if in_flight < 1.2 {
            let (n_ubatch, limit) = if run.is_llama_cpp() {
                (512, None)
            } else {
                (u32::MAX, prefill_limit)
            };
            for r in &ok {
                if let Some(ttft) = r.ttft_s() {
                    let (steps, shape) =
                        StepShape::prompt_prefill(r.input_tokens as u64, n_ubatch, limit);
                    let chunks = if steps > 1 {
                        format!(" in {steps} chunks")
                    } else {
                        String::new()
                    };
                    obs.push(Observation {
                        label: format!(
                            "prefill {}{chunks} (client TTFT, {} #{})",
                            r.input_tokens, run.source, r.id
                        ),
                        shape,
                        ms: ttft * 1e3,
                        decode: false,
                        includes_latency: true,
                        steps,
                    });
                }
            }
        }
    }
    obs
}

/// Each request's middle decode gaps (ms; its first and last fifth left out), from runs at
/// one user: the steps of a server running one stream, whose noise
/// ([`super::step_noise`]) a profile records.
pub fn single_stream_gaps(runs: &[Run]) -> Vec<Vec<f64>> {
    runs.iter()
        .filter(|r| r.mean_in_flight() < 1.2)
        .flat_map(|r| r.records.iter().filter(|x| x.succeeded()))
        .filter_map(|r| {
            let g = r.itl_s.as_ref()?;
            let (lo, hi) = (g.len() / 5, g.len() - g.len() / 5);
            Some(g[lo..hi].iter().map(|x| x * 1e3).collect())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::runs::load;
    use std::path::PathBuf;

    fn write(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("capsim-obs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn vllm_bench_detailed_results_become_decode_observations() {
        let p = write(
            "bench.json",
            r#"{"date":"20250101-000000","backend":"vllm","model_id":"m","num_prompts":2,"request_rate":"inf","burstiness":1.0,"max_concurrency":2,
                "duration":0.081,"completed":2,"request_throughput":24.7,"input_lens":[100,200],"output_lens":[3,3],"ttfts":[0.05,0.06],"itls":[[0.01,0.012],[0.011,0.01]],"errors":["",""]}"#,
        );
        let runs = load(&[p]).unwrap();
        let r = &runs[0];
        assert_eq!(r.records.len(), 2);
        assert_eq!(r.max_concurrency, Some(2));
        assert_eq!(r.request_rate, None, "inf is no rate");
        assert!((r.records[0].end_s.unwrap() - 0.072).abs() < 1e-9);
        let obs = observations(&runs, None);
        assert_eq!(
            obs.len(),
            1,
            "one decode observation; two users means no prefill ones"
        );
        assert_eq!(obs[0].shape.seqs, 2);
    }

    /// vLLM prefills a prompt longer than its token budget in chunks, a step each: a recorded
    /// TTFT of such a prompt spans them all, and is fitted so (the fixed cost once a step).
    #[test]
    fn a_recorded_prompt_past_the_token_budget_is_observed_as_its_chunks() {
        let p = write(
            "long.json",
            r#"{"date":"20250101-000000","backend":"vllm","model_id":"m","num_prompts":2,"request_rate":"inf","burstiness":1.0,"max_concurrency":1,
                "duration":0.5,"completed":2,"request_throughput":4.0,"input_lens":[1300,300],"output_lens":[2,2],"ttfts":[0.2,0.05],"itls":[[0.01],[0.01]],"errors":["",""]}"#,
        );
        let runs = load(&[p]).unwrap();
        let prefills = |limit| -> Vec<(u64, u32)> {
            observations(&runs, limit)
                .iter()
                .filter(|o| !o.decode)
                .map(|o| (o.shape.tokens, o.steps))
                .collect()
        };
        assert_eq!(prefills(Some(512)), vec![(1300, 3), (300, 1)]);
        assert_eq!(prefills(None), vec![(1300, 1), (300, 1)]);
    }
}
