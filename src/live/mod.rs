//! Spot runs: capsim's own load generator plays a scenario's workload against a live
//! OpenAI-compatible server and measures it with the same record and summary types as a
//! simulation.
//!
//! The requests come from the workload's [`RequestSource`], the one the simulation draws from:
//! the same lengths, open-loop arrival times, think times and sessions. Open-loop send times
//! are fixed in advance; with a concurrency cap a request waits at the client, and
//! `scheduled_s` keeps its intended time so latencies can also be read from the scheduled send
//! (coordinated omission). A closed-loop user's `scheduled_s` is the end of its previous
//! request plus its think time. Records are written as each request ends; Ctrl-C or a dead
//! server stops the run and keeps them. The driver talks to a [`Server`]: a real endpoint
//! ([`HttpServer`]) or, in tests, a double.

pub mod client;
pub mod discovery;
pub mod prometheus;
pub mod prompts;
pub mod recorder;
pub mod server;
pub mod stream;

pub use server::{HttpServer, Server};

use crate::metrics::{summarize_measured, RequestRecord, RunFacts, Summary};
use crate::results::{RunMetadata, ServerCounters, ServerInfo};
use crate::spec::{Api, Spec};
use crate::workload::{streams, Arrival, RequestSource, RequestSpec};
use client::{Failure, Prompt, Target};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use recorder::Recorder;
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

/// What a spot run measured.
pub struct SpotRun {
    pub records: Vec<RequestRecord>,
    pub summary: Summary,
    pub metadata: RunMetadata,
    /// Per successful request, the server's (predicted_n, predicted_ms), where reported.
    pub server_timings: Vec<(u32, f64)>,
}

/// One request of the plan, with its prompt.
#[derive(Clone)]
struct Planned {
    spec: RequestSpec,
    prompt: Prompt,
}

/// Shared by every request task of a run.
struct Ctx<S: Server> {
    server: S,
    recorder: Recorder,
    start: Instant,
    stop_tx: watch::Sender<Option<String>>,
    unreachable_in_a_row: AtomicU32,
    unreachable_limit: u32,
    mismatches: AtomicU32,
    server_timings: Mutex<Vec<(u32, f64)>>,
}

impl<S: Server> Ctx<S> {
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

    fn since_start(&self, t: Instant) -> f64 {
        t.saturating_duration_since(self.start).as_secs_f64()
    }
}

/// Resolves when the run is told to stop.
async fn stopped(mut rx: watch::Receiver<Option<String>>) {
    let _ = rx.wait_for(|s| s.is_some()).await;
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// Checks that the endpoint can play the workload (sessions need chat).
fn check_endpoint(sc: &Spec) -> anyhow::Result<()> {
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
    Ok(())
}

/// Runs the scenario point `sc` against the HTTP server in `opts`. Fails only when the run
/// cannot start (server unreachable at warm-up, no model name, records file not writable); a
/// run that stops early returns what it measured with `metadata.aborted` set.
pub fn spot(sc: &Spec, opts: &SpotOptions) -> anyhow::Result<SpotRun> {
    check_endpoint(sc)?;
    runtime()?.block_on(async {
        let target = Target {
            base: opts.url.clone(),
            api: sc.endpoint.api,
            model: String::new(),
            extra: sc.endpoint.extra.clone(),
            ignore_eos: sc.endpoint.ignore_eos,
            llama_cpp: false,
            timeout: sc
                .workload
                .timeout
                .map_or(Duration::from_secs(600), |t| Duration::from_nanos(t.0)),
        };
        let mut server = HttpServer::new(&opts.url, target)?;
        let info = server.discover().await;
        let model = opts
            .model
            .clone()
            .or_else(|| sc.endpoint.model.clone())
            .or_else(|| info.models.first().cloned())
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "no model name: the server at {} lists none under /v1/models (is it up?); pass --model or set endpoint.model",
                    opts.url
                )
            })?;
        let t = server.target_mut();
        t.model = model.clone();
        t.llama_cpp = info.kind == "llama.cpp";
        run(sc, server, info, model, opts).await
    })
}

/// Runs the scenario point against any [`Server`] (a test double, for one): the driver
/// itself, without HTTP set-up.
pub fn spot_with<S: Server>(sc: &Spec, server: S, opts: &SpotOptions) -> anyhow::Result<SpotRun> {
    check_endpoint(sc)?;
    runtime()?.block_on(async {
        let info = server.discover().await;
        let model = opts
            .model
            .clone()
            .or_else(|| info.models.first().cloned())
            .unwrap_or_else(|| "model".into());
        run(sc, server, info, model, opts).await
    })
}

async fn run<S: Server>(
    sc: &Spec,
    server: S,
    info: ServerInfo,
    model: String,
    opts: &SpotOptions,
) -> anyhow::Result<SpotRun> {
    let base = server.base().to_string();
    let seed = sc.workload.seed;
    // Fresh prompt content every run (lengths stay those of the seed): a second run against the
    // same server must not find its prompts in the server's prompt cache.
    let fresh = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut prompt_rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ PROMPTS_STREAM ^ fresh);
    let mut maker = prompts::PromptMaker::new(
        info.vocab_size,
        sc.workload.shared_prefix,
        info.has_tokenize,
        &mut prompt_rng,
    );
    let mut chat_template_tokens = None;
    if sc.endpoint.api == Api::Chat && info.has_tokenize {
        let overhead = measure_chat_overhead(&server, &maker, &mut prompt_rng).await?;
        maker.chat_overhead = overhead;
        chat_template_tokens = Some(overhead);
    }
    let mut plans: Vec<Vec<Planned>> = Vec::new();
    for specs in RequestSource::new(&sc.workload).all() {
        let mut plan = Vec::with_capacity(specs.len());
        for spec in specs {
            let prompt = match sc.endpoint.api {
                Api::Completions => Prompt::Tokens(maker.token_ids(spec.input, &mut prompt_rng)),
                Api::Chat => {
                    Prompt::Text(maker.chat_text(&server, spec.input, &mut prompt_rng).await)
                }
            };
            plan.push(Planned { spec, prompt });
        }
        plans.push(plan);
    }
    let planned_total: usize = plans.iter().map(Vec::len).sum();

    // Warm-up: a few sequential requests that are not measured; they also catch a wrong URL
    // or model name before the run starts.
    for i in 0..sc.endpoint.warmup_requests {
        let prompt = match sc.endpoint.api {
            Api::Completions => Prompt::Tokens(maker.token_ids(16, &mut prompt_rng)),
            Api::Chat => Prompt::Text(maker.chat_text(&server, 32, &mut prompt_rng).await),
        };
        if let Err(f) = server.send(&prompt, 4, Instant::now()).await {
            anyhow::bail!("warm-up request {} to {base} failed: {}", i + 1, f.reason);
        }
    }
    // llama-server gives a request the least recently used free slot, so the slots a run's
    // requests take, and with them whether a step's slots are consecutive (one forward pass) or
    // not (several; see `engine::llamacpp`), depend on what the server ran before. One request
    // pinned to each slot, the highest first, leaves them in the order a fresh server takes
    // them in: the order the simulation starts from.
    if info.kind == "llama.cpp" {
        let slots = info.slots.unwrap_or(1);
        for slot in (0..slots).rev().filter(|_| slots > 1) {
            let prompt = match sc.endpoint.api {
                Api::Completions => Prompt::Tokens(maker.token_ids(8, &mut prompt_rng)),
                Api::Chat => Prompt::Text(maker.chat_text(&server, 8, &mut prompt_rng).await),
            };
            if let Err(f) = server.send_to_slot(&prompt, 1, slot).await {
                anyhow::bail!(
                    "warm-up request to llama-server slot {slot} at {base} failed: {}",
                    f.reason
                );
            }
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
    let before = server.metrics().await.map(|t| prometheus::Reading::of(&t));
    let recorder = Recorder::create(&opts.records_path, progress)?;
    let (stop_tx, stop_rx) = watch::channel(None);
    let ctx = Arc::new(Ctx {
        server,
        recorder,
        start: Instant::now(),
        stop_tx,
        unreachable_in_a_row: AtomicU32::new(0),
        unreachable_limit: opts.unreachable_limit.max(1),
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

    // The server's gauges, polled while the run lasts (peaks of running, waiting, KV use).
    let watching = Arc::new(std::sync::atomic::AtomicBool::new(before.is_some()));
    let poller = {
        let (ctx, watching) = (ctx.clone(), watching.clone());
        tokio::spawn(async move {
            let mut peaks = ServerCounters::default();
            while watching.load(Ordering::Relaxed) {
                if let Some(text) = ctx.server.metrics().await {
                    let r = prometheus::Reading::of(&text);
                    peaks.polls += 1;
                    let max_u32 = |p: Option<u32>, v: Option<f64>| match (p, v) {
                        (p, Some(v)) => Some(p.unwrap_or(0).max(v.round() as u32)),
                        (p, None) => p,
                    };
                    peaks.peak_running = max_u32(peaks.peak_running, r.running);
                    peaks.peak_waiting = max_u32(peaks.peak_waiting, r.waiting);
                    if let Some(k) = r.kv_usage {
                        peaks.peak_kv_usage = Some(peaks.peak_kv_usage.unwrap_or(0.0).max(k));
                    }
                }
                tokio::time::sleep(POLL_INTERVAL).await;
            }
            peaks
        })
    };

    // Every class at once, each with its own driver.
    let named = !sc.workload.classes.is_empty();
    let drivers = sc.workload.all_classes().zip(plans).map(|(w, plan)| {
        let plan = Arc::new(plan);
        let (ctx, stop_rx) = (ctx.clone(), stop_rx.clone());
        let class = named.then(|| w.name.clone());
        let arrival = w.arrival.clone();
        async move {
            match arrival {
                Arrival::Closed { users, turns, .. } => {
                    run_closed(&ctx, &plan, users, turns, class, &stop_rx).await
                }
                Arrival::Open { cap, .. } | Arrival::Trace { cap, .. } => {
                    run_open(&ctx, &plan, cap, class, &stop_rx).await
                }
            }
        }
    });
    futures_util::future::join_all(drivers).await;
    watching.store(false, Ordering::Relaxed);
    let mut server_counters = poller.await.unwrap_or_default();
    if let (Some(b), Some(a)) = (
        before,
        ctx.server
            .metrics()
            .await
            .map(|t| prometheus::Reading::of(&t)),
    ) {
        let delta = |x: Option<f64>, y: Option<f64>| Some((y? - x?).max(0.0).round() as u64);
        server_counters.preemptions = delta(b.preemptions, a.preemptions);
        server_counters.prefix_cache_hit_tokens =
            delta(b.prefix_cache_hit_tokens, a.prefix_cache_hit_tokens);
        server_counters.prefix_cache_query_tokens =
            delta(b.prefix_cache_query_tokens, a.prefix_cache_query_tokens);
    }

    let aborted = ctx.stop_tx.borrow().clone();
    let ctx =
        Arc::try_unwrap(ctx).map_err(|_| anyhow::anyhow!("request tasks outlived the run"))?;
    let records_file = ctx.recorder.path().display().to_string();
    let server_timings = ctx
        .server_timings
        .into_inner()
        .unwrap_or_else(|p| p.into_inner());
    let records = ctx.recorder.into_records();
    let summary = summarize_measured(
        sc.point.clone(),
        &records,
        RunFacts {
            preemptions: server_counters.preemptions.unwrap_or(0),
            ..RunFacts::default()
        },
    );
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
        server_counters,
    };
    Ok(SpotRun {
        records,
        summary,
        metadata,
        server_timings,
    })
}

const PROMPTS_STREAM: u64 = 0x7072_6f6d_7074_7300;

/// How often a spot run reads the server's `/metrics` while it runs: rarely enough that
/// the reading costs the server (a Python exposition on the same cores) nothing measurable.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Tokens the chat template adds: one probe request whose content length is known.
async fn measure_chat_overhead<S: Server>(
    server: &S,
    maker: &prompts::PromptMaker,
    rng: &mut Xoshiro256PlusPlus,
) -> anyhow::Result<u32> {
    let text = maker.chat_text(server, 64, rng).await;
    let content = server.tokenize(&text).await.map_or(0, |t| t.len() as u32);
    let tally = server
        .send(&Prompt::Text(text), 1, Instant::now())
        .await
        .map_err(|f| {
            anyhow::anyhow!(
                "chat probe request to {} failed: {}",
                server.base(),
                f.reason
            )
        })?;
    Ok(tally
        .prompt_tokens
        .unwrap_or(content)
        .saturating_sub(content))
}

/// Where a request sits in the workload, for its record.
#[derive(Clone, Default)]
struct Tag {
    class: Option<String>,
    user: Option<u32>,
}

/// Closed loop: each user takes a task (a request, or a whole session of turns) from the
/// plan in order, sends its turns one after another (a session sends the conversation so far:
/// the real answers), pausing each request's think time after its answer. A failed turn ends
/// its session.
async fn run_closed<S: Server>(
    ctx: &Arc<Ctx<S>>,
    plan: &Arc<Vec<Planned>>,
    users: u32,
    turns: u32,
    class: Option<String>,
    stop_rx: &watch::Receiver<Option<String>>,
) {
    let turns = turns.max(1) as usize;
    let tasks_total = plan.len().div_ceil(turns);
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for user in 0..(users as usize).min(plan.len()) as u32 {
        let (ctx, plan, next, stop_rx) = (ctx.clone(), plan.clone(), next.clone(), stop_rx.clone());
        let tag = Tag {
            class: class.clone(),
            user: Some(user),
        };
        tasks.spawn(async move {
            // When the user means to send next: the run's start, then the end of its last
            // request plus that request's think time.
            let mut due = ctx.start;
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= tasks_total || ctx.stopped() {
                    break;
                }
                let task = &plan[k * turns..((k + 1) * turns).min(plan.len())];
                let mut conversation: Vec<(String, String)> = Vec::new();
                for p in task {
                    if ctx.stopped() {
                        break;
                    }
                    tokio::select! {
                        _ = tokio::time::sleep_until(due.into()) => {}
                        _ = stopped(stop_rx.clone()) => break,
                    }
                    let sent = Instant::now();
                    let answer = if turns > 1 {
                        let text = match &p.prompt {
                            Prompt::Text(t) => t.clone(),
                            other => format!("{other:?}"),
                        };
                        conversation.push(("user".into(), text));
                        let turn = Planned {
                            prompt: Prompt::Conversation(conversation.clone()),
                            ..p.clone()
                        };
                        one_request(&ctx, &turn, due, sent, &tag, stop_rx.clone()).await
                    } else {
                        one_request(&ctx, p, due, sent, &tag, stop_rx.clone()).await
                    };
                    due = Instant::now() + Duration::from_nanos(p.spec.think.0);
                    match answer {
                        Some(a) => conversation.push(("assistant".into(), a)),
                        None => break, // a failed turn ends its session
                    }
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}

/// Open loop and traces: each request at its planned time, or when the cap lets it go.
async fn run_open<S: Server>(
    ctx: &Arc<Ctx<S>>,
    plan: &Arc<Vec<Planned>>,
    cap: Option<u32>,
    class: Option<String>,
    stop_rx: &watch::Receiver<Option<String>>,
) {
    let tag = Tag { class, user: None };
    let cap = cap.map(|c| Arc::new(Semaphore::new(c as usize)));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..plan.len() {
        let at = plan[i].spec.at.unwrap_or_default();
        let due = ctx.start + Duration::from_nanos(at.0);
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
async fn one_request<S: Server>(
    ctx: &Ctx<S>,
    p: &Planned,
    scheduled: Instant,
    sent: Instant,
    tag: &Tag,
    stop_rx: watch::Receiver<Option<String>>,
) -> Option<String> {
    let mut answer = None;
    let outcome = tokio::select! {
        r = ctx.server.send(&p.prompt, p.spec.output, sent) => r,
        _ = stopped(stop_rx.clone()) => Err(Failure {
            reason: format!("cancelled: {}", stop_rx.borrow().clone().unwrap_or_default()),
            tokens_seen: 0,
            unreachable: false,
        }),
    };
    let sent_s = ctx.since_start(sent);
    let mut record = RequestRecord {
        id: p.spec.id,
        class: tag.class.clone(),
        user: tag.user,
        session: p.spec.session,
        turn: p.spec.session.map(|_| p.spec.turn),
        scheduled_s: ctx.since_start(scheduled),
        sent_s,
        input_tokens: p.spec.input,
        ..Default::default()
    };
    match outcome {
        Ok(tally) => {
            ctx.unreachable_in_a_row.store(0, Ordering::Relaxed);
            let output = tally.completion_tokens.unwrap_or(tally.tokens_seen);
            if output != p.spec.output {
                ctx.mismatches.fetch_add(1, Ordering::Relaxed);
            }
            if let Some(t) = tally.server_predicted {
                ctx.server_timings
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(t);
            }
            let prompt_tokens = tally.prompt_tokens.unwrap_or(p.spec.input);
            // The server says how much it took from its cache: vLLM in `usage`, llama-server
            // by the prompt tokens it processed.
            record.cached_tokens = tally.cached_tokens.unwrap_or_else(|| {
                tally
                    .server_prompt
                    .map_or(0, |(n, _)| prompt_tokens.saturating_sub(n))
            });
            record.server_prompt_ms = tally.server_prompt.map(|(_, ms)| ms);
            record.first_token_s = tally.first_token.map(|d| sent_s + d.as_secs_f64());
            record.end_s = tally.last_token.map(|d| sent_s + d.as_secs_f64());
            record.input_tokens = prompt_tokens;
            record.output_tokens = output;
            record.requested_output_tokens = (output != p.spec.output).then_some(p.spec.output);
            answer = Some(tally.text.clone());
            record.itl_s = Some(tally.itl_s);
        }
        Err(f) => {
            if f.unreachable {
                let n = ctx.unreachable_in_a_row.fetch_add(1, Ordering::Relaxed) + 1;
                if n >= ctx.unreachable_limit {
                    ctx.stop(format!(
                        "the server at {} stopped answering ({}); {n} requests in a row could not connect",
                        ctx.server.base(),
                        f.reason
                    ));
                }
            }
            record.end_s = Some(ctx.since_start(Instant::now()));
            record.output_tokens = f.tokens_seen;
            record.error = Some(Cow::Owned(f.reason));
            record.requested_output_tokens = Some(p.spec.output);
        }
    }
    if let Err(e) = ctx.recorder.write(record) {
        ctx.stop(format!(
            "cannot write records to {}: {e}",
            ctx.recorder.path().display()
        ));
    }
    answer
}

#[allow(unused)]
fn _streams_used() -> u64 {
    streams::THINK
}
