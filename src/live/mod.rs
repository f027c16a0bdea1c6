//! Spot runs: capsim's own load generator plays a scenario's workload against a live
//! OpenAI-compatible server and measures it with the same record and summary types as a
//! simulation.
//!
//! The request sequence is drawn from the same seeded random streams as the simulation (lengths
//! in issue order; open-loop arrival times), so a spot run and a simulation of one scenario see
//! the same requests. Open-loop send times are drawn in advance; with a concurrency cap a
//! request waits at the client, and `scheduled_s` keeps its intended time so latencies can
//! also be read from the scheduled send (coordinated omission). Records are written as each
//! request ends; Ctrl-C or a dead server stops the run and keeps them.

pub mod client;
pub mod discovery;
pub mod prompts;
pub mod recorder;
pub mod stream;

use crate::metrics::{self, ItlStats, RequestRecord, RunFacts, Summary};
use crate::scenario::{Api, Scenario};
use crate::workload::{streams, Arrival, Dist};
use client::{Failure, Prompt, Target};
use discovery::ServerInfo;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use recorder::Recorder;
use serde::Serialize;
use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{watch, Semaphore};

/// How to run one spot run.
#[derive(Clone, Debug)]
pub struct SpotOptions {
    /// Base URL of the server, e.g. `http://127.0.0.1:8080`.
    pub url: String,
    /// Model name to send (overrides the scenario's).
    pub model: Option<String>,
    /// Where request records go (JSONL, one line per request as it ends).
    pub records_path: PathBuf,
    /// Show a progress bar on stderr (hidden when stderr is not a terminal).
    pub progress: bool,
    /// Stop after this many consecutive requests find the server unreachable.
    pub unreachable_limit: u32,
}

impl SpotOptions {
    pub fn new(url: &str, records_path: PathBuf) -> SpotOptions {
        SpotOptions {
            url: url.trim_end_matches('/').to_string(),
            model: None,
            records_path,
            progress: true,
            unreachable_limit: 3,
        }
    }
}

/// Facts of a spot run, saved next to its records.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct RunMetadata {
    pub scenario: String,
    pub point: serde_json::Map<String, serde_json::Value>,
    /// The `[workload]` table the run played (validate simulates it again).
    pub workload: serde_json::Value,
    pub url: String,
    pub api: String,
    pub model: String,
    pub server: ServerInfo,
    pub started_unix_s: u64,
    pub warmup_requests: u32,
    pub planned_requests: u64,
    pub recorded_requests: u64,
    /// Requests whose generated token count differs from the one asked for.
    pub token_mismatches: u64,
    /// Chat: tokens the template adds around the content (measured).
    pub chat_template_tokens: Option<u32>,
    /// The server's own decode time per token (llama-server `timings`), mean over requests.
    pub server_ms_per_token: Option<f64>,
    /// Why the run stopped early, if it did.
    pub aborted: Option<String>,
    pub records_file: String,
}

/// What a spot run measured.
pub struct SpotRun {
    pub records: Vec<RequestRecord>,
    pub summary: Summary,
    pub metadata: RunMetadata,
    /// Per successful request, the server's (predicted_n, predicted_ms), where reported.
    pub server_timings: Vec<(u32, f64)>,
}

#[derive(Clone)]
struct Planned {
    id: u64,
    /// Open loop and trace: intended send time since the start.
    at: Option<Duration>,
    input: u32,
    output: u32,
    prompt: Prompt,
}

/// Shared by every request task of a run.
struct Ctx {
    http: reqwest::Client,
    target: Target,
    recorder: Recorder,
    start: Instant,
    stop_tx: watch::Sender<Option<String>>,
    unreachable_in_a_row: AtomicU32,
    unreachable_limit: u32,
    mismatches: AtomicU32,
    /// Multi-turn sessions started so far (their ids).
    next_session: std::sync::atomic::AtomicU64,
    server_timings: Mutex<Vec<(u32, f64)>>,
}

impl Ctx {
    fn stop(&self, why: String) {
        self.stop_tx.send_if_modified(|s| {
            if s.is_none() {
                *s = Some(why);
                true
            } else {
                false
            }
        });
    }

    fn stopped(&self) -> bool {
        self.stop_tx.borrow().is_some()
    }
}

/// Resolves when the run is told to stop.
async fn stopped(mut rx: watch::Receiver<Option<String>>) {
    let _ = rx.wait_for(|s| s.is_some()).await;
}

/// Runs the scenario point `sc` against the server in `opts`. Fails only when the run cannot
/// start (server unreachable at warm-up, no model name, records file not writable); a run that
/// stops early returns what it measured with `metadata.aborted` set.
pub fn spot(sc: &Scenario, opts: &SpotOptions) -> anyhow::Result<SpotRun> {
    let sessions = sc
        .workload
        .all_classes()
        .any(|w| matches!(w.arrival, Arrival::Closed { turns, .. } if turns > 1));
    if sessions && sc.endpoint.api != Api::Chat {
        return Err(crate::error::InputError::new(
            "endpoint.api",
            "multi-turn sessions send their conversation as chat messages: set api = \"chat\"",
        )
        .in_file(&sc.file)
        .into());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(run(sc, opts))
}

async fn run(sc: &Scenario, opts: &SpotOptions) -> anyhow::Result<SpotRun> {
    // A fresh connection per request, as `vllm bench serve` (a session per request) does: some
    // servers (llama-server) close a connection after a streamed answer without saying so,
    // and a reused dead connection would fail the next request.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .tcp_nodelay(true)
        .build()?;
    let base = opts.url.clone();
    let info = discovery::discover(&http, &base).await;
    let model = opts
        .model
        .clone()
        .or_else(|| sc.endpoint.model.clone())
        .or_else(|| info.models.first().cloned())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no model name: the server at {base} lists none under /v1/models (is it up?); pass --model or set endpoint.model"
            )
        })?;
    let timeout = sc
        .workload
        .timeout
        .map_or(Duration::from_secs(600), |t| Duration::from_nanos(t.0));
    let target = Target {
        base: base.clone(),
        api: sc.endpoint.api,
        model: model.clone(),
        extra: sc.endpoint.extra.clone(),
        ignore_eos: sc.endpoint.ignore_eos,
        llama_cpp: info.kind == "llama.cpp",
        timeout,
    };

    let seed = sc.workload.seed;
    // Fresh prompt content every run (lengths stay those of the seed): a second run against the
    // same server must not find its prompts in the server's prompt cache.
    let fresh = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut prompt_rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ PROMPTS_STREAM ^ fresh);
    let mut maker = prompts::PromptMaker::new(
        info.vocab_size,
        sc.endpoint.shared_prefix_tokens,
        info.has_tokenize,
        &mut prompt_rng,
    );
    let mut chat_template_tokens = None;
    if sc.endpoint.api == Api::Chat && info.has_tokenize {
        let overhead = measure_chat_overhead(&http, &target, &maker, &mut prompt_rng).await?;
        maker.chat_overhead = overhead;
        chat_template_tokens = Some(overhead);
    }
    let mut plans: Vec<Vec<Planned>> = Vec::new();
    let mut first_id = 0u64;
    for (c, w) in sc.workload.all_classes().enumerate() {
        let plan = plan_requests(sc, w, c, first_id, &http, &base, &maker, &mut prompt_rng).await;
        first_id += plan.len() as u64;
        plans.push(plan);
    }
    let planned_total: usize = plans.iter().map(Vec::len).sum();

    // Warm-up: a few sequential requests that are not measured; they also catch a wrong URL
    // or model name before the run starts.
    for i in 0..sc.endpoint.warmup_requests {
        let prompt = Prompt::Tokens(maker.token_ids(16, &mut prompt_rng));
        let prompt = match sc.endpoint.api {
            Api::Completions => prompt,
            Api::Chat => Prompt::Text(maker.chat_text(&http, &base, 32, &mut prompt_rng).await),
        };
        if let Err(f) = client::send(&http, &target, &prompt, 4, Instant::now()).await {
            anyhow::bail!("warm-up request {} to {base} failed: {}", i + 1, f.reason);
        }
    }

    let progress = if opts.progress {
        let bar =
            ProgressBar::with_draw_target(Some(planned_total as u64), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}",
            )
            .expect("valid template"),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let recorder = Recorder::create(&opts.records_path, progress)?;
    let (stop_tx, stop_rx) = watch::channel(None);
    let ctx = Arc::new(Ctx {
        http,
        target,
        recorder,
        start: Instant::now(),
        stop_tx,
        unreachable_in_a_row: AtomicU32::new(0),
        unreachable_limit: opts.unreachable_limit.max(1),
        next_session: std::sync::atomic::AtomicU64::new(0),
        mismatches: AtomicU32::new(0),
        server_timings: Mutex::new(Vec::new()),
    });
    let started_unix_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    {
        let ctx = Arc::downgrade(&ctx);
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                if let Some(ctx) = ctx.upgrade() {
                    ctx.stop("interrupted (Ctrl-C)".into());
                }
            }
        });
    }

    // Every class at once, each with its own driver.
    let named = !sc.workload.classes.is_empty();
    let drivers = sc
        .workload
        .all_classes()
        .zip(plans)
        .enumerate()
        .map(|(c, (w, plan))| {
            let plan = Arc::new(plan);
            let (ctx, stop_rx) = (ctx.clone(), stop_rx.clone());
            let class = ClassTag {
                name: named.then(|| w.name.clone()),
                seed: w.seed ^ streams::class_salt(c),
            };
            let arrival = w.arrival.clone();
            async move {
                match arrival {
                    Arrival::Closed {
                        users,
                        think_s,
                        turns,
                    } => run_closed(&ctx, &plan, users, think_s, turns, &class, &stop_rx).await,
                    Arrival::Open { cap, .. } | Arrival::Trace { cap, .. } => {
                        run_open(&ctx, &plan, cap, &class, &stop_rx).await
                    }
                }
            }
        });
    futures_util::future::join_all(drivers).await;

    let aborted = ctx.stop_tx.borrow().clone();
    let ctx =
        Arc::try_unwrap(ctx).map_err(|_| anyhow::anyhow!("request tasks outlived the run"))?;
    let records_file = ctx.recorder.path().display().to_string();
    let server_timings = ctx
        .server_timings
        .into_inner()
        .unwrap_or_else(|p| p.into_inner());
    let records = ctx.recorder.into_records();
    let summary = summarize_measured(sc, &records);
    let server_ms_per_token = (!server_timings.is_empty()).then(|| {
        server_timings
            .iter()
            .map(|(n, ms)| ms / (*n).max(1) as f64)
            .sum::<f64>()
            / server_timings.len() as f64
    });
    let metadata = RunMetadata {
        scenario: sc.name.clone(),
        point: sc.point.clone(),
        workload: sc.workload_table.clone(),
        url: base,
        api: match sc.endpoint.api {
            Api::Completions => "completions".into(),
            Api::Chat => "chat".into(),
        },
        model,
        server: info,
        started_unix_s,
        warmup_requests: sc.endpoint.warmup_requests,
        planned_requests: planned_total as u64,
        recorded_requests: records.len() as u64,
        token_mismatches: ctx.mismatches.load(Ordering::Relaxed) as u64,
        chat_template_tokens,
        server_ms_per_token,
        aborted,
        records_file,
    };
    Ok(SpotRun {
        records,
        summary,
        metadata,
        server_timings,
    })
}

const PROMPTS_STREAM: u64 = 0x7072_6f6d_7074_7300;

/// Summary of measured records, by the same code as simulations.
pub fn summarize_measured(sc: &Scenario, records: &[RequestRecord]) -> Summary {
    summarize_records(sc.point.clone(), records)
}

/// Summary of measured records for a point.
pub fn summarize_records(
    point: serde_json::Map<String, serde_json::Value>,
    records: &[RequestRecord],
) -> Summary {
    let itl = ItlStats::from_records(records);
    let start = records
        .iter()
        .map(|r| r.scheduled_s)
        .fold(f64::INFINITY, f64::min);
    let end = records
        .iter()
        .filter_map(|r| r.end_s)
        .fold(0.0_f64, f64::max);
    let duration = end - start.min(end);
    let busy: f64 = records
        .iter()
        .filter_map(|r| Some(r.end_s? - r.sent_s))
        .sum();
    metrics::summarize(
        point,
        "measured",
        records,
        &itl,
        RunFacts {
            mean_in_flight: if duration > 0.0 { busy / duration } else { 0.0 },
            preemptions: 0,
            cost_model: None,
        },
    )
}

/// Tokens the chat template adds: one probe request whose content length is known.
async fn measure_chat_overhead(
    http: &reqwest::Client,
    target: &Target,
    maker: &prompts::PromptMaker,
    rng: &mut Xoshiro256PlusPlus,
) -> anyhow::Result<u32> {
    let text = maker.chat_text(http, &target.base, 64, rng).await;
    let content = discovery::tokenize(http, &target.base, &text, false)
        .await
        .map_or(0, |t| t.len() as u32);
    let tally = client::send(http, target, &Prompt::Text(text), 1, Instant::now())
        .await
        .map_err(|f| {
            anyhow::anyhow!("chat probe request to {} failed: {}", target.base, f.reason)
        })?;
    Ok(tally
        .prompt_tokens
        .unwrap_or(content)
        .saturating_sub(content))
}

/// The run's requests: lengths (and open-loop times) from the simulation's random streams,
/// prompts from the prompt maker.
#[allow(clippy::too_many_arguments)]
async fn plan_requests(
    sc: &Scenario,
    w: &crate::workload::Workload,
    class: usize,
    first_id: u64,
    http: &reqwest::Client,
    base: &str,
    maker: &prompts::PromptMaker,
    prompt_rng: &mut Xoshiro256PlusPlus,
) -> Vec<Planned> {
    let salt = streams::class_salt(class);
    let mut lengths = Xoshiro256PlusPlus::seed_from_u64(w.seed ^ streams::LENGTHS ^ salt);
    let mut arrivals = Xoshiro256PlusPlus::seed_from_u64(w.seed ^ streams::ARRIVALS ^ salt);
    let mut shape = Vec::new();
    match &w.arrival {
        Arrival::Trace {
            rows,
            time_scale,
            token_scale,
            ..
        } => {
            for (i, row) in rows.iter().take(w.num_requests as usize).enumerate() {
                let at = Duration::from_secs_f64(row.at.as_secs_f64() / time_scale);
                shape.push((
                    i as u64,
                    Some(at),
                    crate::workload::LengthDist::scale(row.input_tokens, *token_scale),
                    crate::workload::LengthDist::scale(row.output_tokens, *token_scale),
                ));
            }
        }
        Arrival::Open { process, .. } => {
            let mut t = crate::units::Nanos::ZERO;
            for i in 0..w.num_requests {
                let input = w.input_tokens.sample(&mut lengths);
                let output = w.output_tokens.sample(&mut lengths);
                shape.push((i, Some(Duration::from_nanos(t.0)), input, output));
                t += process.next_gap(&mut arrivals);
            }
        }
        Arrival::Closed { .. } => {
            for i in 0..w.num_requests {
                let input = w.input_tokens.sample(&mut lengths);
                let output = w.output_tokens.sample(&mut lengths);
                shape.push((i, None, input, output));
            }
        }
    }
    let mut plan = Vec::with_capacity(shape.len());
    for (id, at, input, output) in shape {
        let prompt = match sc.endpoint.api {
            Api::Completions => Prompt::Tokens(maker.token_ids(input, prompt_rng)),
            Api::Chat => Prompt::Text(maker.chat_text(http, base, input, prompt_rng).await),
        };
        plan.push(Planned {
            id: first_id + id,
            at,
            input,
            output,
            prompt,
        });
    }
    plan
}

/// Which class a driver plays, for its records and its random streams.
#[derive(Clone)]
struct ClassTag {
    /// Written into records when the workload has several classes.
    name: Option<String>,
    seed: u64,
}

/// A request's place in a conversation, for its record.
#[derive(Clone, Default)]
struct Turn {
    class: Option<String>,
    session: Option<u64>,
    turn: Option<u32>,
}

async fn run_closed(
    ctx: &Arc<Ctx>,
    plan: &Arc<Vec<Planned>>,
    users: u32,
    think: Option<Dist>,
    turns: u32,
    class: &ClassTag,
    stop_rx: &watch::Receiver<Option<String>>,
) {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for user in 0..users.min(plan.len() as u32) {
        let (ctx, plan, next, think, stop_rx, class) = (
            ctx.clone(),
            plan.clone(),
            next.clone(),
            think.clone(),
            stop_rx.clone(),
            class.clone(),
        );
        tasks.spawn(async move {
            let mut rng =
                Xoshiro256PlusPlus::seed_from_u64(class.seed ^ streams::THINK ^ user as u64);
            // Multi-turn: the conversation so far, and the turn about to be sent.
            let mut conversation: Vec<(String, String)> = Vec::new();
            let (mut turn, mut session) = (0u32, 0u64);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= plan.len() || ctx.stopped() {
                    break;
                }
                let now = Instant::now();
                let mut tag = Turn {
                    class: class.name.clone(),
                    ..Turn::default()
                };
                let answer = if turns > 1 {
                    if turn == 0 {
                        conversation.clear();
                        session = ctx.next_session.fetch_add(1, Ordering::Relaxed);
                    }
                    turn += 1;
                    tag.session = Some(session);
                    tag.turn = Some(turn);
                    let text = match &plan[i].prompt {
                        Prompt::Text(t) => t.clone(),
                        other => format!("{other:?}"),
                    };
                    conversation.push(("user".into(), text));
                    let p = Planned {
                        prompt: Prompt::Conversation(conversation.clone()),
                        ..plan[i].clone()
                    };
                    let answer = one_request(&ctx, &p, now, now, &tag, stop_rx.clone()).await;
                    match answer {
                        Some(a) if turn < turns => conversation.push(("assistant".into(), a)),
                        _ => turn = 0, // done, or the turn failed: the next one starts afresh
                    }
                    None
                } else {
                    one_request(&ctx, &plan[i], now, now, &tag, stop_rx.clone()).await
                };
                drop(answer);
                if let Some(d) = &think {
                    let pause = Duration::from_secs_f64(d.sample(&mut rng));
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => {}
                        _ = stopped(stop_rx.clone()) => break,
                    }
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}

async fn run_open(
    ctx: &Arc<Ctx>,
    plan: &Arc<Vec<Planned>>,
    cap: Option<u32>,
    class: &ClassTag,
    stop_rx: &watch::Receiver<Option<String>>,
) {
    let tag = Turn {
        class: class.name.clone(),
        ..Turn::default()
    };
    let cap = cap.map(|c| Arc::new(Semaphore::new(c as usize)));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..plan.len() {
        let due = ctx.start + plan[i].at.unwrap_or_default();
        tokio::select! {
            _ = tokio::time::sleep_until(due.into()) => {}
            _ = stopped(stop_rx.clone()) => break,
        }
        let permit = match &cap {
            Some(sem) => tokio::select! {
                p = sem.clone().acquire_owned() => match p { Ok(p) => Some(p), Err(_) => break },
                _ = stopped(stop_rx.clone()) => break,
            },
            None => None,
        };
        let (ctx, plan, stop_rx, tag) = (ctx.clone(), plan.clone(), stop_rx.clone(), tag.clone());
        tasks.spawn(async move {
            let sent = Instant::now();
            one_request(&ctx, &plan[i], due, sent, &tag, stop_rx).await;
            drop(permit);
        });
        // Reap finished tasks as we go, so a long run does not hold them all.
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
}

/// Sends one request and records it, whatever happens; returns the answer's text when it
/// succeeded.
async fn one_request(
    ctx: &Ctx,
    p: &Planned,
    scheduled: Instant,
    sent: Instant,
    tag: &Turn,
    stop_rx: watch::Receiver<Option<String>>,
) -> Option<String> {
    let mut answer = None;
    let outcome = tokio::select! {
        r = client::send(&ctx.http, &ctx.target, &p.prompt, p.output, sent) => r,
        _ = stopped(stop_rx.clone()) => Err(Failure {
            reason: format!("cancelled: {}", stop_rx.borrow().clone().unwrap_or_default()),
            tokens_seen: 0,
            unreachable: false,
        }),
    };
    let since_start = |t: Instant| t.saturating_duration_since(ctx.start).as_secs_f64();
    let sent_s = since_start(sent);
    let record = match outcome {
        Ok(tally) => {
            ctx.unreachable_in_a_row.store(0, Ordering::Relaxed);
            let output = tally.completion_tokens.unwrap_or(tally.tokens_seen);
            if output != p.output {
                ctx.mismatches.fetch_add(1, Ordering::Relaxed);
            }
            if let Some(t) = tally.server_predicted {
                ctx.server_timings
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(t);
            }
            let prompt_tokens = tally.prompt_tokens.unwrap_or(p.input);
            // The server's own prompt count says how much it took from its cache.
            let cached = tally
                .server_prompt
                .map_or(0, |(n, _)| prompt_tokens.saturating_sub(n));
            answer = Some(tally.text.clone());
            RequestRecord {
                id: p.id,
                class: tag.class.clone(),
                session: tag.session,
                turn: tag.turn,
                cached_tokens: cached,
                server_prompt_ms: tally.server_prompt.map(|(_, ms)| ms),
                scheduled_s: since_start(scheduled),
                sent_s,
                first_token_s: tally.first_token.map(|d| sent_s + d.as_secs_f64()),
                end_s: tally.last_token.map(|d| sent_s + d.as_secs_f64()),
                input_tokens: tally.prompt_tokens.unwrap_or(p.input),
                output_tokens: output,
                itl_s: Some(tally.itl_s),
                error: None,
                replica: None,
                preemptions: 0,
                requested_output_tokens: (output != p.output).then_some(p.output),
            }
        }
        Err(f) => {
            if f.unreachable {
                let n = ctx.unreachable_in_a_row.fetch_add(1, Ordering::Relaxed) + 1;
                if n >= ctx.unreachable_limit {
                    ctx.stop(format!(
                        "the server at {} stopped answering ({}); {n} requests in a row could not connect",
                        ctx.target.base, f.reason
                    ));
                }
            }
            RequestRecord {
                id: p.id,
                class: tag.class.clone(),
                session: tag.session,
                turn: tag.turn,
                scheduled_s: since_start(scheduled),
                sent_s,
                first_token_s: None,
                end_s: None,
                input_tokens: p.input,
                output_tokens: f.tokens_seen,
                itl_s: None,
                error: Some(Cow::Owned(f.reason)),
                replica: None,
                preemptions: 0,
                requested_output_tokens: Some(p.output),
                ..Default::default()
            }
        }
    };
    if let Err(e) = ctx.recorder.write(record) {
        ctx.stop(format!(
            "cannot write records to {}: {e}",
            ctx.recorder.path().display()
        ));
    }
    answer
}
