//! The probe plan against a live server, inside a time budget: decode steps at increasing batch
//! sizes with short prompts (B requests sent together decode in lockstep; the median gap in the
//! middle of their streams is one decode step at batch B), decode at long context (KV-read
//! cost), prefill at one user across prompt lengths (client TTFT, and the server's own
//! `prompt_ms` where it reports timings; past vLLM's token budget, over its chunks), and
//! closed loops of one-token requests (requests, not tokens, as the work: whether the API
//! server's work takes the engine's time). It adapts to what the server says about itself:
//! llama-server's slot count and context per slot, vLLM's max_model_len.

use super::fit::Observation;
use crate::cost::StepShape;
use crate::live::client::{self, Prompt, Target};
use crate::live::discovery;
use crate::live::prompts::PromptMaker;
use crate::metrics::{median, summarize_measured, Point, RequestRecord, RunFacts};
use crate::results::ServerInfo;
use crate::spec::Api;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use std::time::{Duration, Instant};

/// What probing found.
pub struct Probed {
    pub observations: Vec<Observation>,
    pub server: ServerInfo,
    pub model: String,
    /// Probe requests sent.
    pub requests: u64,
    pub elapsed: Duration,
    /// Client TTFT minus the server's prompt time (median), where the server reports timings.
    pub request_latency_ms: f64,
    /// Step-to-step coefficient of variation at batch 1 (median over requests).
    pub step_cv: Option<f64>,
    /// Stalls among the batch-1 decode probes' step gaps (None: too few gaps).
    pub stalls: Option<crate::cost::Stalls>,
    /// How much later an idle server answers (None: not probed).
    pub idle_wakeup: Option<crate::cost::IdleWakeup>,
    /// llama-server: whether it runs slots that are not consecutive as separate forward
    /// passes (None: not probed).
    pub slot_split: Option<bool>,
    pub closed_loops: Vec<ClosedLoopRun>,
    pub notes: Vec<String>,
}

/// A closed loop of one-token requests: each user sends its next request as soon as the last
/// is answered, so requests, not tokens, are the server's work.
#[derive(Clone, Debug, PartialEq)]
pub struct ClosedLoopRun {
    pub users: u32,
    pub prompt_tokens: u32,
    /// Every request as sent and answered, seconds from the first send.
    pub records: Vec<RequestRecord>,
}

impl ClosedLoopRun {
    /// Requests sent (every one answered: a failed one ends calibration).
    pub fn requests(&self) -> u64 {
        self.records.len() as u64
    }

    /// Requests answered per second, by the one summary function (vllm bench's request
    /// throughput: completed over first send to last answer), as for a simulated run.
    pub fn throughput(&self) -> f64 {
        summarize_measured(Point::new(), &self.records, RunFacts::default()).request_throughput
    }
}

/// How to probe.
#[derive(Clone, Debug)]
pub struct ProbeOptions {
    pub url: String,
    pub model: Option<String>,
    pub budget: Duration,
    /// llama.cpp physical batch (`-ub`), for the forward passes of long prompts.
    pub n_ubatch: u32,
    pub seed: u64,
    /// The longest prompt one step prefills (vLLM's token budget, from the scenario): a longer
    /// prompt is prefilled in chunks of it, one step each, and its observation spans them.
    pub prefill_limit: Option<u32>,
    /// The most sequences the server runs at once (vLLM's `max_num_seqs`, from the scenario):
    /// a decode probe of more requests would queue the rest, and its gaps would show a smaller
    /// batch's step under a larger batch's label.
    pub max_seqs: Option<u32>,
    /// Run the closed loops of one-token requests (they are only of use with a scenario to
    /// simulate them against).
    pub closed_loops: bool,
}

impl ProbeOptions {
    /// Probing `url` for at most `budget_s` seconds, with fresh prompts (a seed from the
    /// clock, so no server cache answers a probe).
    pub fn new(
        url: String,
        model: Option<String>,
        budget_s: f64,
        n_ubatch: u32,
    ) -> Result<ProbeOptions, crate::error::InputError> {
        if !(budget_s.is_finite() && budget_s > 0.0) {
            return Err(crate::error::InputError::new(
                "--budget",
                format!("must be a positive number of seconds (got {budget_s})"),
            ));
        }
        Ok(ProbeOptions {
            url,
            model,
            budget: Duration::from_secs_f64(budget_s),
            n_ubatch,
            prefill_limit: None,
            max_seqs: None,
            closed_loops: false,
            seed: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64),
        })
    }
}

/// How a server streamed a decode probe's tokens.
#[derive(Clone, Debug, Default)]
struct Streaming {
    /// Batch-1 probes: each request's middle step gaps (ms), for the step noise.
    single_gaps: Vec<Vec<f64>>,
    gaps: usize,
    /// Requests left out because their tokens arrived together.
    skipped: usize,
    /// Batch-1 requests, and those among them whose tokens arrived together: with one
    /// request the client is idle, so a burst there is the server's.
    single: usize,
    single_bursty: usize,
    /// Gaps under 0.2 ms: tokens that arrived together, not one step apart.
    near_zero: usize,
    tokens: u64,
    chunks: u64,
}

impl Streaming {
    /// Tokens arrive in bursts (several per chunk, or many at once): inter-token gaps do not
    /// show the server's step time.
    fn bursty(&self) -> Option<String> {
        let zero = self.near_zero as f64 / self.gaps.max(1) as f64;
        let per_chunk = self.tokens as f64 / self.chunks.max(1) as f64;
        let singles = self.single >= 3 && self.single_bursty * 5 >= self.single;
        (self.gaps >= 20 && (zero > 0.3 || per_chunk > 1.5 || singles)).then(|| {
            format!(
                "{} of {} single-request decode probes got their tokens in bursts, {:.0}% of all inter-token gaps are under 0.2 ms, a chunk carries {per_chunk:.1} tokens on average",
                self.single_bursty,
                self.single,
                zero * 100.0
            )
        })
    }
}

/// What every probe request needs: the client, where and how to send, and prompts.
struct Prober<'a> {
    http: &'a reqwest::Client,
    target: &'a Target,
    maker: &'a PromptMaker,
}

/// The slots a llama-server decode probe of `batch` requests pins them to: 0, 1, …, B − 1.
/// Consecutive slots run as one forward pass; left to the server, requests take the least
/// recently used slots, which depend on what ran before, and slots that are not consecutive
/// split the step into passes (see [`crate::engine::llamacpp::micro_batches`]).
fn contiguous(batch: u32) -> Vec<u32> {
    (0..batch).collect()
}

/// B requests sent together decode in lockstep: the typical gap in the middle of their
/// streams (see [`super::typical_gap_ms`]) is one decode step at batch B. On llama-server the
/// requests are pinned to `slots` (`id_slot`), one each; elsewhere `slots` only counts them.
async fn decode_probe(
    p: &Prober<'_>,
    rng: &mut Xoshiro256PlusPlus,
    slots: &[u32],
    prompt: u64,
    out: u32,
    streaming: &mut Streaming,
) -> anyhow::Result<Option<f64>> {
    let (http, maker) = (p.http, p.maker);
    let batch = slots.len() as u32;
    let targets: Vec<Target> = slots
        .iter()
        .map(|&slot| {
            let mut t = p.target.clone();
            if t.llama_cpp {
                t.extra.insert("id_slot".into(), slot.into());
            }
            t
        })
        .collect();
    let prompts: Vec<Prompt> = (0..batch)
        .map(|_| Prompt::Tokens(maker.token_ids(prompt as u32, rng)))
        .collect();
    let sends = prompts
        .iter()
        .zip(&targets)
        .map(|(p, target)| client::send(http, target, p, out, Instant::now()));
    let results = futures_util::future::join_all(sends).await;
    let mut gaps = Vec::new();
    for r in results {
        let tally = r.map_err(|f| {
            anyhow::anyhow!(
                "calibration probe (decode, batch {batch}) failed: {}",
                f.reason
            )
        })?;
        let itl = &tally.itl_s;
        let near_zero = itl.iter().filter(|g| **g < 2e-4).count();
        streaming.gaps += itl.len();
        streaming.near_zero += near_zero;
        streaming.tokens += tally.completion_tokens.unwrap_or(tally.tokens_seen) as u64;
        streaming.chunks += tally.chunks as u64;
        // One request whose tokens arrived together (the client was held up, or the server
        // flushed them at once) says nothing about a step: left out. Many such requests are a
        // bursty server, which `Streaming::bursty` refuses.
        let burst = near_zero * 10 > itl.len() * 3;
        if batch == 1 {
            streaming.single += 1;
            streaming.single_bursty += usize::from(burst);
        }
        if burst {
            streaming.skipped += 1;
            continue;
        }
        let (lo, hi) = (itl.len() / 5, itl.len() - itl.len() / 5);
        let middle: Vec<f64> = itl[lo..hi]
            .iter()
            .filter(|g| **g > 0.0)
            .map(|g| g * 1e3)
            .collect();
        gaps.extend_from_slice(&middle);
        if batch == 1 {
            streaming.single_gaps.push(middle);
        }
    }
    Ok(super::typical_gap_ms(&mut gaps))
}

/// Pauses before the idle probe's requests after a pause (short, long), ms.
const IDLE_PAUSES_MS: [u64; 2] = [20, 200];
/// Rounds of the idle probe at most (each pause half of them), inside a tenth of the budget;
/// fewer than half of them is too few to tell (see [`super::idle_wakeup`]).
const IDLE_ROUNDS: usize = 16;
/// Requests sent back to back before each pause (the last two are the warm reference).
const IDLE_RUN: usize = 4;

/// Whether a server that sat idle answers later: rounds of [`IDLE_RUN`] requests of 16 tokens
/// (4 out) sent back to back, the server kept busy as a closed loop keeps it, then a pause
/// (each of [`IDLE_PAUSES_MS`] in turn) and one more, until [`IDLE_ROUNDS`] rounds or `time`
/// is spent. Their client TTFTs (ms): the last two of each run (warm), then those after each
/// pause. A single request after a pause is not the reference: a server slowed by idling
/// stays slow for a few requests (clocks and caches warm up under sustained load), as a
/// closed loop of think-time users shows.
async fn idle_probe(
    p: &Prober<'_>,
    rng: &mut Xoshiro256PlusPlus,
    time: std::time::Duration,
) -> anyhow::Result<[Vec<f64>; 3]> {
    let start = Instant::now();
    let mut ttfts: [Vec<f64>; 3] = Default::default();
    for round in 0..IDLE_ROUNDS {
        if start.elapsed() >= time {
            break;
        }
        let which = 1 + round % 2;
        for i in 0..=IDLE_RUN {
            let pause = if i == IDLE_RUN {
                IDLE_PAUSES_MS[which - 1]
            } else {
                0
            };
            if pause > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
            }
            let prompt = Prompt::Tokens(p.maker.token_ids(16, rng));
            let tally = client::send(p.http, p.target, &prompt, 4, Instant::now())
                .await
                .map_err(|f| {
                    anyhow::anyhow!(
                        "calibration probe (a request after {pause} ms idle) failed: {}",
                        f.reason
                    )
                })?;
            let Some(t) = tally.first_token else { continue };
            let ms = t.as_secs_f64() * 1e3;
            if i == IDLE_RUN {
                ttfts[which].push(ms);
            } else if i + 2 >= IDLE_RUN {
                ttfts[0].push(ms);
            }
        }
    }
    Ok(ttfts)
}

/// `users` closed-loop users, `per_user` one-token requests of `prompt` tokens each.
async fn closed_loop_probe(
    p: &Prober<'_>,
    rng: &mut Xoshiro256PlusPlus,
    users: u32,
    per_user: u32,
    prompt: u32,
) -> anyhow::Result<ClosedLoopRun> {
    let (http, target, maker) = (p.http, p.target, p.maker);
    let prompts: Vec<Vec<Prompt>> = (0..users)
        .map(|_| {
            (0..per_user)
                .map(|_| Prompt::Tokens(maker.token_ids(prompt, rng)))
                .collect()
        })
        .collect();
    let start = Instant::now();
    let since = |t: Instant| t.duration_since(start).as_secs_f64();
    let loops = prompts.iter().enumerate().map(|(user, mine)| async move {
        let mut records = Vec::with_capacity(mine.len());
        for p in mine {
            let sent = Instant::now();
            let tally = client::send(http, target, p, 1, sent).await.map_err(|f| {
                anyhow::anyhow!(
                    "calibration probe (closed loop of {users} users, one-token requests) failed: {}",
                    f.reason
                )
            })?;
            let sent_s = since(sent);
            records.push(RequestRecord {
                id: 0,
                user: Some(user as u32),
                scheduled_s: sent_s,
                sent_s,
                first_token_s: tally.first_token.map(|d| sent_s + d.as_secs_f64()),
                end_s: Some(tally.last_token.map_or_else(|| since(Instant::now()), |d| {
                    sent_s + d.as_secs_f64()
                })),
                input_tokens: tally.prompt_tokens.unwrap_or(prompt),
                output_tokens: tally.completion_tokens.unwrap_or(tally.tokens_seen),
                ..Default::default()
            });
        }
        Ok::<_, anyhow::Error>(records)
    });
    let mut records: Vec<RequestRecord> = futures_util::future::try_join_all(loops)
        .await?
        .into_iter()
        .flatten()
        .collect();
    records.sort_by(|a, b| a.sent_s.total_cmp(&b.sent_s));
    for (i, r) in records.iter_mut().enumerate() {
        r.id = i as u64;
    }
    Ok(ClosedLoopRun {
        users,
        prompt_tokens: prompt,
        records,
    })
}

/// Why a bursty stream cannot be calibrated, and what to do.
fn bursty(base: &str, how: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "the server at {base} streams tokens in bursts ({how}), so the gaps between tokens do not show its step time and a profile fitted from them would be wrong; capsim will not write one. vLLM does this on a few CPU cores in its default multi-process layout (the engine busy-polls the core the API server needs): start it with VLLM_ENABLE_V1_MULTIPROCESSING=0 and --distributed-executor-backend uni, or fit from recorded runs with `capsim calibrate --from`"
    )
}

/// Runs the probe plan. Any failed probe request ends calibration with its reason: a profile is
/// never fitted from a server that broke halfway.
pub fn probe(opts: &ProbeOptions) -> anyhow::Result<Probed> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(run(opts))
}

async fn run(opts: &ProbeOptions) -> anyhow::Result<Probed> {
    let start = Instant::now();
    let http = crate::http::client().pool_max_idle_per_host(0).build()?;
    let base = opts.url.trim_end_matches('/').to_string();
    let server = discovery::discover(&http, &base).await;
    let model = opts
        .model
        .clone()
        .or_else(|| server.models.first().cloned())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "the server at {base} lists no model under /v1/models (is it up?); pass --model"
            )
        })?;
    // Probes measure full prefills: llama-server must not reuse a cached prompt.
    let mut extra = serde_json::Map::new();
    if server.kind == "llama.cpp" {
        extra.insert("cache_prompt".into(), false.into());
    }
    let target = Target {
        base: base.clone(),
        api: Api::Completions,
        model: model.clone(),
        extra,
        ignore_eos: true,
        llama_cpp: server.kind == "llama.cpp",
        timeout: Duration::from_secs(120),
    };
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(opts.seed);
    let maker = PromptMaker::new(server.vocab_size, 0, false, &mut rng);
    let context = server
        .n_ctx_slot
        .or(server.max_model_len)
        .unwrap_or(4096)
        .max(64) as u64;
    let max_batch = match server.slots {
        Some(s) => s.clamp(1, 64),
        None => opts.max_seqs.map_or(32, |m| m.clamp(1, 32)),
    };
    let batches: Vec<u32> = if server.slots.is_some() {
        (1..=max_batch).collect()
    } else {
        let mut b: Vec<u32> = [1, 2, 4, 8, 16, 32]
            .into_iter()
            .filter(|&b| b < max_batch)
            .collect();
        b.push(max_batch);
        b
    };
    let n_ubatch = if server.kind == "llama.cpp" {
        opts.n_ubatch
    } else {
        u32::MAX
    };
    let capacity = match (server.slots, server.kv_cache_tokens, server.block_size) {
        (Some(s), _, _) => format!("{s} slot(s)"),
        (None, Some(kv), Some(b)) => format!("KV cache {kv} tokens in blocks of {b}"),
        _ => "slots unknown".to_string(),
    };
    let mut notes = vec![format!(
        "server: {} {}, {capacity}, {context} tokens of context per sequence",
        server.kind,
        server.version.clone().unwrap_or_default(),
    )];
    if server.slots.is_none() && opts.max_seqs.is_some_and(|m| m < 32) {
        notes.push(format!(
            "decode probes go up to batch {max_batch}, the scenario's max_num_seqs (a larger probe would queue)"
        ));
    }
    let mut observations = Vec::new();
    let mut requests = 0u64;
    let deadline = start + opts.budget.mul_f64(0.85);
    let over = || Instant::now() >= deadline;

    // Warm-up, not measured.
    for _ in 0..2 {
        let prompt = Prompt::Tokens(maker.token_ids(16, &mut rng));
        client::send(&http, &target, &prompt, 32, Instant::now())
            .await
            .map_err(|f| {
                anyhow::anyhow!("calibration warm-up request to {base} failed: {}", f.reason)
            })?;
        requests += 1;
    }

    let decode_out: u32 = 64;
    let short_prompt: u64 = 32;
    let decode_at = |batch: u32, prompt: u64, ms: Option<f64>, obs: &mut Vec<Observation>| {
        if let Some(ms) = ms {
            let l = prompt + decode_out as u64 / 2;
            obs.push(Observation {
                label: format!("decode B={batch} L={l}"),
                shape: StepShape::decode(batch, l),
                ms,
                decode: true,
                includes_latency: false,
                steps: 1,
            });
        }
    };

    // 1. Decode at batch 1, short context.
    let mut streaming = Streaming::default();
    let prober = Prober {
        http: &http,
        target: &target,
        maker: &maker,
    };
    // Three of them, one after another: enough to see whether the server streams in bursts
    // (then calibration stops here), and a first look at the single-stream step.
    for _ in 0..3 {
        let ms = decode_probe(
            &prober,
            &mut rng,
            &contiguous(1),
            short_prompt,
            decode_out,
            &mut streaming,
        )
        .await?;
        requests += 1;
        decode_at(1, short_prompt, ms, &mut observations);
    }
    if let Some(how) = streaming.bursty() {
        return Err(bursty(&base, &how));
    }

    // 2. Prefill across prompt lengths at one user.
    let longest = (context * 9 / 10).clamp(32, 4096);
    let mut lengths = vec![
        16u64, 32, 64, 128, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096,
    ];
    lengths.retain(|&p| p <= longest);
    // 2, 3 and 4. Prefill at one user across prompt lengths, decode across batch sizes with
    // short prompts, and decode at longer contexts (what reading the KV cache and attending
    // over it cost, at the operating points of real workloads), in rounds spread over the
    // budget, so that repeated probes show how much the server drifts (their spread enters
    // the standard errors). What is left of the budget goes to more rounds of prefill and
    // short decode (a shared machine drifts; more rounds average it and show how much), at
    // most thirty.
    #[derive(Clone, Copy)]
    enum Stage {
        Prefill,
        Decode,
        LongDecode,
        ClosedLoop,
        Idle,
    }
    let plan = [
        Stage::Prefill,
        Stage::Decode,
        Stage::ClosedLoop,
        Stage::Decode,
        Stage::Prefill,
        Stage::Decode,
        Stage::LongDecode,
        Stage::ClosedLoop,
        // Last of the plan: the step model comes first where the budget is short.
        Stage::Idle,
    ];
    let stages = plan
        .into_iter()
        .chain(std::iter::repeat_n([Stage::Prefill, Stage::Decode], 30).flatten());
    let mid_batch = (max_batch / 4).clamp(2, 8);
    let mut latencies = Vec::new();
    let mut closed_loops = Vec::new();
    let mut idle = None;
    let mut idle_probed = false;
    let mut prefill_rounds = 0;
    // llama-server: decode in slots that are not consecutive ([`APART`]), and gaps of those
    // probes and of the contiguous ones of as many requests.
    let apart: Vec<u32> = match server.slots {
        Some(n) if target.llama_cpp && n >= 4 => APART[1].to_vec(),
        Some(3) if target.llama_cpp => APART[0].to_vec(),
        _ => Vec::new(),
    };
    let mut together_ms: Vec<f64> = Vec::new();
    let mut apart_ms: Vec<f64> = Vec::new();
    // Stages run to their last probe (the plan's, then the extra rounds').
    let mut finished = 0;
    for stage in stages {
        // Whether the budget ended this stage before its last probe.
        let mut cut = false;
        if over() {
            break;
        }
        match stage {
            Stage::Prefill => {
                prefill_rounds += 1;
                for &p in &lengths {
                    if over() {
                        cut = true;
                        break;
                    }
                    let prompt = Prompt::Tokens(maker.token_ids(p as u32, &mut rng));
                    let sent = Instant::now();
                    let tally = client::send(&http, &target, &prompt, 1, sent)
                        .await
                        .map_err(|f| {
                            anyhow::anyhow!(
                                "calibration probe (prefill {p} tokens) failed: {}",
                                f.reason
                            )
                        })?;
                    requests += 1;
                    let Some(ttft) = tally.first_token else {
                        continue;
                    };
                    let ttft_ms = ttft.as_secs_f64() * 1e3;
                    // A prompt longer than the token budget is prefilled in chunks, a step
                    // each, one after another: its TTFT spans them all.
                    let (steps, shape) = StepShape::prompt_prefill(p, n_ubatch, opts.prefill_limit);
                    let what = if steps > 1 {
                        format!("prefill {p} in {steps} chunks")
                    } else {
                        format!("prefill {p}")
                    };
                    let (ms, label, includes_latency) = match tally.server_prompt {
                        Some((n, prompt_ms)) if n as u64 == p => {
                            latencies.push(ttft_ms - prompt_ms);
                            (
                                prompt_ms,
                                format!("{what} (server prompt_ms, round {prefill_rounds})"),
                                false,
                            )
                        }
                        _ => (
                            ttft_ms,
                            format!("{what} (client TTFT, round {prefill_rounds})"),
                            true,
                        ),
                    };
                    observations.push(Observation {
                        label,
                        shape,
                        ms,
                        decode: false,
                        includes_latency,
                        steps,
                    });
                }
            }
            Stage::Decode => {
                for &b in &batches {
                    if over() {
                        cut = true;
                        break;
                    }
                    let ms = decode_probe(
                        &prober,
                        &mut rng,
                        &contiguous(b),
                        short_prompt,
                        decode_out,
                        &mut streaming,
                    )
                    .await?;
                    requests += b as u64;
                    if b == apart.len() as u32 {
                        together_ms.extend(ms);
                    }
                    decode_at(b, short_prompt, ms, &mut observations);
                }
                // Whether the server splits a batch whose slots are not consecutive (one KV
                // stream per slot) into a forward pass each.
                if !apart.is_empty() && !over() {
                    let ms = decode_probe(
                        &prober,
                        &mut rng,
                        &apart,
                        short_prompt,
                        decode_out,
                        &mut streaming,
                    )
                    .await?;
                    requests += apart.len() as u64;
                    apart_ms.extend(ms);
                }
            }
            // As many users as the server runs sequences (at least 2, at most 8), six requests
            // each, 16-token prompts; only where asked for (nothing to skip otherwise).
            Stage::ClosedLoop if opts.closed_loops => {
                if over() {
                    cut = true;
                } else {
                    let users = max_batch.clamp(2, 8);
                    let run = closed_loop_probe(&prober, &mut rng, users, 6, 16).await?;
                    requests += run.requests();
                    closed_loops.push(run);
                }
            }
            Stage::ClosedLoop => {}
            Stage::Idle => {
                if over() {
                    cut = true;
                } else {
                    idle_probed = true;
                    let ttfts = idle_probe(&prober, &mut rng, opts.budget / 10).await?;
                    requests += ttfts.iter().map(|v| v.len() as u64).sum::<u64>();
                    let pauses = IDLE_PAUSES_MS.map(|p| p as f64);
                    match super::idle_wakeup(
                        &ttfts,
                        pauses,
                        "first tokens of 16-token requests (4 out; medians)",
                    ) {
                        Some((w, note)) => {
                            idle = Some(w);
                            notes.push(note);
                        }
                        None => notes.push(format!(
                            "idle: {} requests after a pause fit in a tenth of the budget, too few to tell whether an idle server answers later (not measured)",
                            ttfts[1].len() + ttfts[2].len()
                        )),
                    }
                }
            }
            Stage::LongDecode => {
                for frac in [2u64, 6] {
                    let long_prompt = (context * frac / 10).min(8192);
                    if long_prompt <= short_prompt * 4 {
                        continue;
                    }
                    for b in [1, mid_batch, max_batch] {
                        if over() {
                            cut = true;
                            break;
                        }
                        let ms = decode_probe(
                            &prober,
                            &mut rng,
                            &contiguous(b),
                            long_prompt,
                            decode_out,
                            &mut streaming,
                        )
                        .await?;
                        requests += b as u64;
                        decode_at(b, long_prompt, ms, &mut observations);
                    }
                }
            }
        }
        if !cut {
            finished += 1;
        }
    }
    if let Some(how) = streaming.bursty() {
        return Err(bursty(&base, &how));
    }
    if streaming.skipped > 0 {
        notes.push(format!(
            "{} decode probe request(s) left out: their tokens arrived together (the client or the server was held up)",
            streaming.skipped
        ));
    }
    if finished < plan.len() {
        notes.push(format!(
            "the {:.0} s budget ended the probe plan early",
            opts.budget.as_secs_f64()
        ));
    }
    if !idle_probed {
        notes.push(
            "idle: not probed (the budget ended first, the plan's last stage): an idle server is simulated as answering as soon as a busy one".into(),
        );
    }
    let slot_split = slot_split(&apart, &mut together_ms, &mut apart_ms).map(|(split, note)| {
        notes.push(note);
        let l = short_prompt + decode_out as u64 / 2;
        let b = apart.len() as u32;
        for &ms in &apart_ms {
            let mut shape = StepShape::decode(b, l);
            shape.passes = if split { 2 } else { 1 };
            observations.push(Observation {
                label: format!(
                    "decode B={b} L={l} in slots {apart:?} ({} pass)",
                    shape.passes
                ),
                shape,
                ms,
                decode: true,
                includes_latency: false,
                steps: 1,
            });
        }
        split
    });
    let (step_cv, stalls) = super::step_noise(&streaming.single_gaps);
    let request_latency_ms = median(&mut latencies).unwrap_or(0.0).max(0.0);
    if latencies.is_empty() {
        notes.push(
            "the server reports no prompt timings: the request latency is fitted from client TTFTs"
                .into(),
        );
    } else {
        notes.push(format!(
            "request latency (client TTFT minus the server's prompt time, median of {}): {request_latency_ms:.2} ms",
            latencies.len()
        ));
    }
    notes.push(format!(
        "{requests} probe requests in {:.1} s",
        start.elapsed().as_secs_f64()
    ));
    Ok(Probed {
        observations,
        server,
        model,
        requests,
        elapsed: start.elapsed(),
        request_latency_ms,
        step_cv,
        stalls,
        idle_wakeup: idle,
        slot_split,
        closed_loops,
        notes,
    })
}

/// Slots that are not consecutive, for a server of 3 slots and of 4 or more: with one KV
/// stream per slot, {0, 2} runs as two passes of one sequence, {0, 1, 3} as a pass of two and
/// one of one.
const APART: [&[u32]; 2] = [&[0, 2], &[0, 1, 3]];

/// Decodes in slots that are not consecutive over as many in consecutive ones (medians of
/// their probes' gaps) beyond this says the server splits them into two forward passes. On
/// llama-server's test model on 2 CPU cores, {0, 1, 3} over {0, 1, 2} measured 1.5× on two
/// machines; a unified cache runs any slots alike (1×, within the noise). {0, 2} over {0, 1}
/// is a weaker test (1.1× on one of those machines, where two sequences cost about twice one):
/// the three-slot one is used wherever the server has four slots.
pub const SPLIT_RATIO: f64 = 1.25;

/// Whether llama-server splits a batch whose slots are not consecutive, from the decode gaps
/// of requests in the slots `apart` and in as many consecutive ones, with the note saying so;
/// None when either was not probed.
fn slot_split(
    apart: &[u32],
    together_ms: &mut [f64],
    apart_ms: &mut [f64],
) -> Option<(bool, String)> {
    let together = median(together_ms)?;
    let split_ms = median(apart_ms)?;
    let ratio = split_ms / together;
    let split = ratio > SPLIT_RATIO;
    let consecutive: Vec<u32> = (0..apart.len() as u32).collect();
    Some((
        split,
        format!(
            "slots: decodes in slots {apart:?} take {split_ms:.2} ms a step, in slots {consecutive:?} {together:.2} ms ({ratio:.2}×): {}",
            if split {
                format!("over {SPLIT_RATIO}×, so the server runs slots that are not consecutive as separate forward passes (one KV stream per slot), and so does the simulation (step.slot_split)")
            } else {
                format!("within {SPLIT_RATIO}×, so the server batches any slots in one pass (a unified KV cache), and so does the simulation (step.slot_split)")
            }
        ),
    ))
}
