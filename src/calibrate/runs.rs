//! Step observations from recorded runs (capsim spot runs, vllm bench and GuideLLM imports,
//! read by [`crate::results::runs`]): a run with a steady batch gives a decode step at that
//! batch; a run at one user gives each request's prefill, seen from the client; how each
//! request found its server (busy, or idle since the last answer) is read from the clients'
//! send and end times, which is what an idle wake-up is measured from. Assumes the records'
//! times are the client's and the server is the only one behind its replica tag.

use super::fit::Observation;
use crate::cost::{IdleWakeup, StepShape};
use crate::metrics::RequestRecord;
use crate::results::Run;
use std::collections::BTreeMap;

/// A pause shorter than this (ms) between the server's last answer and the next request is
/// back to back: a closed loop's turnaround.
pub const WARM_MS: f64 = 5.0;
/// A pause at least this long (ms) is idling, whose wake-up [`super::idle_wakeup`] measures
/// (between the two: neither).
pub const PAUSE_MS: f64 = 10.0;

/// How a recorded request found its server (its replica's requests only).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Arrival {
    /// The first request: how long the server had idled is not known.
    Unknown,
    /// Another request was in flight when it was sent.
    Busy,
    /// Nothing was in flight: `ms` since the last answer ended. `warm`: back to back (under
    /// [`WARM_MS`]) after a request that itself came back to back or found the server busy
    /// (a server slowed by idling stays slow for a request or two, so one request after a
    /// pause does not make the next one warm).
    Idle { ms: f64, warm: bool },
}

/// How each of a run's records found its server (in the records' order), from the clients'
/// send and end times; requests never sent are [`Arrival::Unknown`], and so is every request
/// of an import without send times (a `vllm bench` result without `start_times` has them all
/// at 0): no idle time or overlap is invented.
pub fn arrivals(run: &Run) -> Vec<Arrival> {
    let recs = &run.records;
    let mut out = vec![Arrival::Unknown; recs.len()];
    let mut sent = recs.iter().map(|r| r.sent_s).filter(|t| t.is_finite());
    if let Some(first) = sent.next() {
        if recs.len() > 1 && sent.all(|t| t == first) {
            return out;
        }
    }
    let mut by_replica: BTreeMap<Option<u32>, Vec<usize>> = BTreeMap::new();
    for (i, r) in recs
        .iter()
        .enumerate()
        .filter(|(_, r)| r.sent_s.is_finite())
    {
        by_replica.entry(r.replica).or_default().push(i);
    }
    for idx in by_replica.values_mut() {
        idx.sort_by(|&a, &b| recs[a].sent_s.total_cmp(&recs[b].sent_s));
        // Of the requests sent so far, the one that ends last.
        let mut last: Option<usize> = None;
        for &i in idx.iter() {
            let r = &recs[i];
            if let Some(j) = last {
                let end = recs[j].finish_s();
                out[i] = if end > r.sent_s {
                    Arrival::Busy
                } else {
                    let ms = (r.sent_s - end) * 1e3;
                    let after_warm = match out[j] {
                        Arrival::Busy => true,
                        Arrival::Idle { ms, .. } => ms < WARM_MS,
                        Arrival::Unknown => false,
                    };
                    Arrival::Idle {
                        ms,
                        warm: ms < WARM_MS && after_warm,
                    }
                };
            }
            if last.is_none_or(|j| r.finish_s() > recs[j].finish_s()) {
                last = Some(i);
            }
        }
    }
    out
}

/// A request's TTFT as a prefill of its prompt, seen from the client (request latency
/// included); a prompt longer than `prefill_limit` (vLLM) spans a step per chunk, llama.cpp
/// runs its prompt in micro-batches of 512. None for a failed request, and for one that took
/// part of its prompt from the prefix cache (its TTFT is not its prompt's prefill).
fn prefill_observation(
    run: &Run,
    r: &RequestRecord,
    prefill_limit: Option<u32>,
) -> Option<Observation> {
    if !r.succeeded() || r.cached_tokens > 0 {
        return None;
    }
    let ttft = r.ttft_s()?;
    let (n_ubatch, limit) = if run.is_llama_cpp() {
        (512, None)
    } else {
        (u32::MAX, prefill_limit)
    };
    let (steps, shape) = StepShape::prompt_prefill(r.input_tokens as u64, n_ubatch, limit);
    let chunks = if steps > 1 {
        format!(" in {steps} chunks")
    } else {
        String::new()
    };
    Some(Observation {
        label: format!(
            "prefill {}{chunks} (client TTFT, {} #{})",
            r.input_tokens, run.source, r.id
        ),
        shape,
        ms: ttft * 1e3,
        decode: false,
        includes_latency: true,
        steps,
    })
}

/// Requests of any run that found their server idle, as prefill observations with how long
/// the server had idled (ms): those sent back to back (warm) and those after a pause of at
/// least [`PAUSE_MS`], the pauses in ascending order. What [`super::idle_wakeup`] compares.
pub fn idle_arrivals(
    runs: &[Run],
    prefill_limit: Option<u32>,
) -> (Vec<Observation>, Vec<(f64, Observation)>) {
    let (mut warm, mut paused) = (Vec::new(), Vec::new());
    for run in runs {
        for (r, how) in run.records.iter().zip(arrivals(run)) {
            let Arrival::Idle { ms, warm: w } = how else {
                continue;
            };
            let Some(o) = prefill_observation(run, r, prefill_limit) else {
                continue;
            };
            if w {
                warm.push(o);
            } else if ms >= PAUSE_MS {
                paused.push((ms, o));
            }
        }
    }
    paused.sort_by(|a, b| a.0.total_cmp(&b.0));
    (warm, paused)
}

/// Step observations from recorded runs: a run with a steady batch (all slots busy, or a whole
/// number of requests in flight) gives its typical inter-token gap (the mean of the gaps up to
/// twice the median) as a decode step at that batch; at one user (under 1.2 in flight on
/// average), each request's TTFT that found nothing else in flight ([`arrivals`]) is a prefill
/// of its prompt, seen from the client (request latency included). A prompt longer than `prefill_limit` (vLLM's token budget, from
/// the scenario) was prefilled in chunks, a step each, and its observation spans them. With a
/// measured idle `wakeup`, a request that found the server idle is observed without it (the
/// simulation adds it back).
///
/// With `split_slots` (llama-server with one KV stream per slot, which runs slots that are not
/// consecutive as separate forward passes), a decode observation is left out, with a note,
/// where [`split_share`] says over a tenth of its steps ran so: the gap would be a mix of one-
/// and two-pass steps under a one-pass label.
pub fn observations(
    runs: &[Run],
    prefill_limit: Option<u32>,
    wakeup: Option<&IdleWakeup>,
    split_slots: bool,
) -> (Vec<Observation>, Vec<String>) {
    let mut obs = Vec::new();
    let mut notes = Vec::new();
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
        // Replayed only for a decode observation this run would otherwise give.
        let share = (split_slots && steady && typical.is_some())
            .then(|| split_share(run, batch))
            .flatten();
        let split = share.filter(|&s| s > MAX_SPLIT_SHARE);
        if let Some(share) = split {
            notes.push(format!(
                "decode at B={batch} from {} left out: replaying llama-server's slot choice (least recently used, from a fresh server's order), {:.0}% of its time at {batch} in flight had slots that are not consecutive, steps of several forward passes",
                run.source,
                share * 100.0
            ));
        }
        if let Some(ms) = typical.filter(|_| steady && split.is_none()) {
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
            let arrived = arrivals(run);
            for (r, how) in run.records.iter().zip(arrived) {
                let Some(mut o) = prefill_observation(run, r, prefill_limit) else {
                    continue;
                };
                match (how, wakeup) {
                    // Sent while another request ran: its first token waited on that one's
                    // steps, no prefill alone.
                    (Arrival::Busy, _) => continue,
                    (Arrival::Idle { ms, .. }, Some(w)) => o.ms -= w.extra_after(ms),
                    _ => {}
                }
                obs.push(o);
            }
        }
    }
    (obs, notes)
}

/// A decode observation is left out where more of its run's time than this had slots that
/// are not consecutive.
pub const MAX_SPLIT_SHARE: f64 = 0.1;

/// A llama-server run replayed through the server's slot choice
/// ([`crate::engine::llamacpp::Slots`], from a fresh server's order, as a spot run leaves it):
/// of the time it had `batch` requests in flight, the share whose busy slots are not
/// consecutive (more than one forward pass per decode step). None: not a llama-server run of
/// several slots, or never `batch` in flight.
pub fn split_share(run: &Run, batch: u32) -> Option<f64> {
    use crate::engine::llamacpp::{micro_batches, SlotAsk, Slots};
    use crate::units::Nanos;
    let n = run.slots().filter(|&n| n > 1 && run.is_llama_cpp())?;
    // Sends and ends in time order, an end before a send at the same instant.
    let mut events: Vec<(f64, bool, u32)> = Vec::new();
    for (i, r) in run.records.iter().enumerate() {
        if let (true, Some(end)) = (r.sent_s.is_finite(), r.end_s) {
            events.push((r.sent_s, true, i as u32));
            events.push((end, false, i as u32));
        }
    }
    events.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut slots = Slots::new(n);
    let (mut at_batch, mut split) = (0.0, 0.0);
    let mut entries: Vec<(u32, u64)> = Vec::new();
    for k in 0..events.len() {
        let (t, send, id) = events[k];
        if send {
            slots.take(&SlotAsk {
                id,
                prompt: run.records[id as usize].input_tokens,
                ..SlotAsk::default()
            });
        } else {
            slots.release(id, Nanos::from_secs_f64(t.max(0.0)));
        }
        let Some(&(next, _, _)) = events.get(k + 1) else {
            break;
        };
        entries.clear();
        entries.extend(slots.busy().map(|i| (i as u32, 1)));
        if entries.len() as u32 == batch {
            at_batch += next - t;
            if micro_batches(&mut entries, u32::MAX) > 1 {
                split += next - t;
            }
        }
    }
    (at_batch > 0.0).then(|| split / at_batch)
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
        let (obs, _) = observations(&runs, None, None, false);
        assert_eq!(
            obs.len(),
            1,
            "one decode observation; two users means no prefill ones"
        );
        assert_eq!(obs[0].shape.seqs, 2);
    }

    #[test]
    fn a_request_found_its_server_busy_idle_after_a_pause_or_warm() {
        // (sent, end) in seconds; the last two went to a second replica.
        let times = [
            (0.0, 0.1),   // the first: idled for an unknown time before
            (0.05, 0.2),  // sent while the first ran
            (0.201, 0.3), // 1 ms after the last answer, the server busy before: warm
            (0.302, 0.4), // 2 ms after a warm one: warm
            (0.6, 0.7),   // after 200 ms idle
            (0.701, 0.8), // 1 ms after a paused one: not yet warm
            (0.703, 0.9), // while the previous ran
            (0.75, 0.76), // replica 1's first
            (0.79, 0.8),  // replica 1: 30 ms after its own last answer, whatever replica 0 did
        ];
        let text: String = times
            .iter()
            .enumerate()
            .map(|(i, (sent, end))| {
                let replica = if i >= 7 { 1 } else { 0 };
                format!(
                    "{{\"id\":{i},\"scheduled_s\":{sent},\"sent_s\":{sent},\"first_token_s\":{sent},\"end_s\":{end},\"input_tokens\":10,\"output_tokens\":1,\"error\":null,\"replica\":{replica}}}\n"
                )
            })
            .collect();
        let runs = load(&[write("arrivals.jsonl", &text)]).unwrap();
        let got = arrivals(&runs[0]);
        let idle = |ms: f64, warm| Arrival::Idle { ms, warm };
        let expected = [
            Arrival::Unknown,
            Arrival::Busy,
            idle(1.0, true),
            idle(2.0, true),
            idle(200.0, false),
            idle(1.0, false),
            Arrival::Busy,
            Arrival::Unknown,
            idle(30.0, false),
        ];
        for (i, (g, e)) in got.iter().zip(expected).enumerate() {
            match (g, e) {
                (Arrival::Idle { ms: a, warm: x }, Arrival::Idle { ms: b, warm: y }) => {
                    assert!((a - b).abs() < 1e-6 && *x == y, "#{i}: {g:?} vs {e:?}")
                }
                _ => assert_eq!(*g, e, "#{i}"),
            }
        }
        // An import without send times (all at 0) invents neither overlap nor idling.
        let p = write(
            "no-starts.json",
            r#"{"date":"20250101-000000","backend":"vllm","model_id":"m","num_prompts":2,"request_rate":"inf","burstiness":1.0,"max_concurrency":1,
                "duration":0.5,"completed":2,"request_throughput":4.0,"input_lens":[100,300],"output_lens":[2,2],"ttfts":[0.02,0.05],"itls":[[0.01],[0.01]],"errors":["",""]}"#,
        );
        let runs = load(&[p]).unwrap();
        assert_eq!(arrivals(&runs[0]), vec![Arrival::Unknown; 2]);
    }

    /// A closed loop of `users` on a 4-slot llama-server: each user's requests take 1 s plus
    /// 10 ms per user index (so they drift apart), 20 tokens 20 ms apart, back to back.
    fn llama_closed_loop(users: u32) -> Run {
        let mut text = String::new();
        let mut id = 0;
        for u in 0..users {
            let mut t = 0.0;
            for _ in 0..12 {
                let end = t + 1.0 + 0.01 * u as f64;
                text.push_str(&format!(
                    "{{\"id\":{id},\"scheduled_s\":{t},\"sent_s\":{t},\"first_token_s\":{},\"end_s\":{end},\"input_tokens\":30,\"output_tokens\":20,\"itl_s\":[{}],\"error\":null,\"user\":{u}}}\n",
                    t + 0.6,
                    vec!["0.02"; 19].join(",")
                ));
                id += 1;
                t = end;
            }
        }
        let mut run = load(&[write(&format!("llama-{users}.jsonl"), &text)])
            .unwrap()
            .remove(0);
        run.metadata = Some(crate::results::RunMetadata {
            scenario: "s".into(),
            point: crate::metrics::Point::new(),
            workload: serde_json::Value::Null,
            url: String::new(),
            api: "completions".into(),
            model: "m".into(),
            server: crate::results::ServerInfo {
                kind: "llama.cpp".into(),
                slots: Some(4),
                ..Default::default()
            },
            started_unix_s: 0,
            warmup_requests: 0,
            planned_requests: 0,
            recorded_requests: 0,
            token_mismatches: 0,
            chat_template_tokens: None,
            server_ms_per_token: None,
            aborted: None,
            records_file: String::new(),
            server_counters: Default::default(),
        });
        run
    }

    #[test]
    fn a_llama_run_whose_slots_were_not_consecutive_gives_no_decode_observation() {
        // Three users drifting apart on four slots rotate through slots that are not
        // consecutive ({0, 1, 3}, {0, 2, 3}, ...) half of the time here (a real server, 65%);
        // four fill every slot.
        let three = llama_closed_loop(3);
        let share = split_share(&three, 3).unwrap();
        eprintln!("three users: {:.0}% of the time split", share * 100.0);
        assert!((0.4..0.9).contains(&share), "{share}");
        assert_eq!(split_share(&llama_closed_loop(4), 4), Some(0.0));
        // Where the server splits them, the run's gap is no one-pass step at B = 3: left out,
        // with a note; a server with a unified KV cache (or another engine) keeps it.
        let (obs, notes) = observations(std::slice::from_ref(&three), None, None, true);
        assert!(obs.iter().all(|o| !o.decode), "{obs:?}");
        assert!(
            notes[0].contains("decode at B=3") && notes[0].contains("left out"),
            "{notes:?}"
        );
        let (obs, notes) = observations(&[three], None, None, false);
        assert_eq!(obs.iter().filter(|o| o.decode).count(), 1);
        assert!(notes.is_empty());
    }

    #[test]
    fn a_prompt_partly_from_the_prefix_cache_is_no_prefill_observation() {
        let line = |id: u32, sent: f64, cached: u32| {
            format!(
                "{{\"id\":{id},\"scheduled_s\":{sent},\"sent_s\":{sent},\"first_token_s\":{},\"end_s\":{},\"input_tokens\":300,\"output_tokens\":1,\"error\":null,\"cached_tokens\":{cached}}}\n",
                sent + 0.02,
                sent + 0.02
            )
        };
        let text = [line(0, 0.0, 0), line(1, 0.1, 256), line(2, 0.2, 0)].concat();
        let runs = load(&[write("cached.jsonl", &text)]).unwrap();
        let prefills: Vec<String> = observations(&runs, None, None, false)
            .0
            .into_iter()
            .filter(|o| !o.decode)
            .map(|o| o.label)
            .collect();
        assert_eq!(prefills.len(), 2, "{prefills:?}");
        assert!(prefills.iter().all(|l| !l.contains("#1)")), "{prefills:?}");
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
            observations(&runs, limit, None, false)
                .0
                .iter()
                .filter(|o| !o.decode)
                .map(|o| (o.shape.tokens, o.steps))
                .collect()
        };
        assert_eq!(prefills(Some(512)), vec![(1300, 3), (300, 1)]);
        assert_eq!(prefills(None), vec![(1300, 1), (300, 1)]);
    }
}
