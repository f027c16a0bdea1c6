//! Scheduler models of serving engines, behind one trait the event loop drives.
//!
//! An engine works in steps: at a step's start it chooses the batch (which decodes run, which
//! prompt chunks are prefilled) and returns the step's duration from the cost model; at the
//! step's end it emits the tokens of that batch as events. Between steps new requests queue.
//! No engine loops over tokens, and none over all running sequences per step: aggregates and a
//! finish-time heap ([`batch::DecodeSet`]) keep a step at O(log n).

pub mod batch;
pub mod llamacpp;
pub mod vllm;

use crate::units::Nanos;

/// Index of a request in the run (its issue order).
pub type ReqId = u32;

/// A request as the engine sees it: prompt length and the number of tokens asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EngineRequest {
    pub id: ReqId,
    pub input_tokens: u32,
    pub output_tokens: u32,
    /// Leading prompt tokens the client's previous turn left in the server's prefix cache
    /// (the conversation so far); an engine with prefix caching prefills only the rest.
    pub cached_tokens: u32,
    /// Leading prompt tokens every request of the workload shares (a system prompt): cached
    /// once computed, for every later request.
    pub shared_prefix: u32,
    /// The conversation (session) it continues, if any: llama-server sends a later turn to the
    /// slot that holds its conversation.
    pub conversation: Option<u64>,
}

/// Why a server refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectReason {
    /// Prompt plus requested tokens exceed the model length (vLLM answers HTTP 400).
    ExceedsMaxModelLen,
    /// Prompt does not fit a llama.cpp slot's context (HTTP 400).
    ExceedsSlotContext,
    /// The sequence can never fit the KV cache.
    ExceedsKvCapacity,
    /// The server's queue is full (`engine.max_queue`): HTTP 429.
    QueueFull,
    /// llama-server with a unified KV cache: the slots together outgrew `ctx_size`, and every
    /// request in progress failed.
    ContextExceeded,
}

impl RejectReason {
    pub fn message(self) -> &'static str {
        match self {
            RejectReason::ExceedsMaxModelLen => {
                "HTTP 400: prompt + max_tokens exceeds max_model_len"
            }
            RejectReason::ExceedsSlotContext => "HTTP 400: prompt exceeds the slot's context size",
            RejectReason::ExceedsKvCapacity => "HTTP 400: sequence exceeds the KV cache capacity",
            RejectReason::QueueFull => "HTTP 429: server queue full",
            RejectReason::ContextExceeded => {
                "llama-server: Context size has been exceeded (the slots outgrew the unified KV cache; every request in progress failed)"
            }
        }
    }
}

/// What happened to requests at the end of a step (or at submission).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineEvent {
    /// The first output token of a request was produced.
    FirstToken { id: ReqId, at: Nanos },
    /// A request produced its last token; `output_tokens` may be fewer than asked for when the
    /// server cut it (llama.cpp slot context).
    Finished {
        id: ReqId,
        at: Nanos,
        output_tokens: u32,
    },
    /// The server refused the request.
    Rejected {
        id: ReqId,
        at: Nanos,
        reason: RejectReason,
    },
    /// A running request was preempted (its KV freed, to be recomputed).
    Preempted { id: ReqId },
    /// A request's leading prompt tokens came from the prefix cache.
    CacheHit { id: ReqId, tokens: u32 },
    /// A preempted request produced its next token after recompute: one inter-token gap of
    /// this length (the wait included).
    ResumedAfter { id: ReqId, gap: Nanos },
}

/// Counters an engine keeps over a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EngineStats {
    pub steps: u64,
    pub busy: Nanos,
    pub preemptions: u64,
    pub rejected: u64,
    pub max_running: u32,
    /// Prompt tokens served from the prefix cache instead of prefilled.
    pub cached_tokens: u64,
}

/// Refuses a request (a `Rejected` event, counted) or queues its prefill job (with a
/// `CacheHit` event when a cached prefix was reused): the tail of every engine's `submit`.
pub fn enqueue(
    job: Result<batch::PrefillJob, RejectReason>,
    id: ReqId,
    now: Nanos,
    waiting: &mut std::collections::VecDeque<batch::PrefillJob>,
    stats: &mut EngineStats,
    out: &mut Vec<EngineEvent>,
) {
    match job {
        Ok(job) => {
            if job.done > 0 {
                out.push(EngineEvent::CacheHit {
                    id,
                    tokens: job.done,
                });
            }
            waiting.push_back(job);
        }
        Err(reason) => {
            stats.rejected += 1;
            out.push(EngineEvent::Rejected {
                id,
                at: now,
                reason,
            });
        }
    }
}

/// How an engine takes a new request: prefix-cache hit and queue limit, shared by engines.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Admission {
    /// Reuse the KV of a prompt prefix the same conversation left (vLLM
    /// `enable_prefix_caching`, llama.cpp `cache_prompt` slot reuse).
    pub prefix_caching: bool,
    /// Requests allowed to wait; one more is refused with HTTP 429 (None: unbounded).
    pub max_queue: Option<u32>,
    /// Prefix-cache hits come in whole blocks of this many tokens (vLLM: its KV block size;
    /// llama.cpp reuses a slot's cache token by token: 1).
    pub hit_granularity: u32,
}

impl Admission {
    /// The prefill job for a request, its cached prefix already done; or the refusal.
    pub fn job(
        &self,
        req: &EngineRequest,
        output: u32,
        waiting: usize,
        stats: &mut EngineStats,
    ) -> Result<batch::PrefillJob, RejectReason> {
        if self.max_queue.is_some_and(|q| waiting >= q as usize) {
            return Err(RejectReason::QueueFull);
        }
        let mut job = batch::PrefillJob::fresh(req.id, req.input_tokens, output);
        job.shared = req.shared_prefix;
        job.conversation = req.conversation;
        if self.prefix_caching {
            // At least the last prompt token is computed: it yields the first output token;
            // and the cache answers in whole blocks.
            let g = self.hit_granularity.max(1);
            job.done = req.cached_tokens.min(req.input_tokens.saturating_sub(1)) / g * g;
            stats.cached_tokens += job.done as u64;
        }
        Ok(job)
    }
}

/// What every engine keeps: its cost model, the prompts waiting, the running batch, the
/// requests the client gave up on (dropped at the next step) and its counters.
pub struct EngineCore {
    pub cost: crate::cost::CostModel,
    pub waiting: std::collections::VecDeque<batch::PrefillJob>,
    pub batch: batch::RunningBatch,
    pub cancelled: Vec<ReqId>,
    pub stats: EngineStats,
    /// Requests with the shared prefix admitted so far.
    shared_admitted: u64,
    noise: StepNoise,
}

/// Step-to-step noise: each step's duration times a lognormal factor of mean 1 and the cost
/// model's coefficient of variation, drawn from the replica's own seeded stream (so runs stay
/// bit-identical). It is what keeps closed-loop users from moving in lockstep forever, as real
/// servers' users do not. Where calibration measured stalls, that share of steps also takes
/// an exponential pause of their mean length, from a stream of its own (so the lognormal draws
/// are those of a model without stalls).
struct StepNoise {
    mu: f64,
    sigma: f64,
    rng: rand_xoshiro::Xoshiro256PlusPlus,
    /// The share of steps that stall (0: none, and no draws).
    stall_fraction: f64,
    /// A stall's mean length, ns.
    stall_mean_ns: f64,
    stall_rng: rand_xoshiro::Xoshiro256PlusPlus,
}

/// The random stream of stalls (mixed with the replica's noise seed).
const STALL_STREAM: u64 = 0x7374_616c_6c00_0000;

impl StepNoise {
    fn new(cv: f64, stalls: Option<crate::cost::Stalls>, seed: u64) -> StepNoise {
        use rand::SeedableRng;
        let sigma2 = (1.0 + cv * cv).ln();
        let stalls = stalls.filter(|s| s.fraction > 0.0 && s.mean_ms > 0.0);
        StepNoise {
            mu: -sigma2 / 2.0,
            sigma: sigma2.sqrt(),
            rng: rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed),
            stall_fraction: stalls.map_or(0.0, |s| s.fraction),
            stall_mean_ns: stalls.map_or(0.0, |s| s.mean_ms * 1e6),
            stall_rng: rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed ^ STALL_STREAM),
        }
    }

    #[inline]
    fn apply(&mut self, dt: Nanos) -> Nanos {
        let mut t = if self.sigma == 0.0 {
            dt
        } else {
            let z: f64 =
                rand_distr::Distribution::sample(&rand_distr::StandardNormal, &mut self.rng);
            let factor = (self.mu + self.sigma * z).exp();
            Nanos(crate::units::round_half_away(dt.0 as f64 * factor).max(1))
        };
        if self.stall_fraction > 0.0 {
            let u: f64 = rand::Rng::random(&mut self.stall_rng);
            if u < self.stall_fraction {
                let e: f64 =
                    rand_distr::Distribution::sample(&rand_distr::Exp1, &mut self.stall_rng);
                t = Nanos(t.0 + crate::units::round_half_away(e * self.stall_mean_ns));
            }
        }
        t
    }
}

impl EngineCore {
    /// A core stepping with `cost`; `seed` seeds its step noise.
    pub fn new(cost: crate::cost::CostModel, seed: u64) -> EngineCore {
        let noise = StepNoise::new(cost.step_cv(), cost.step_stalls(), seed);
        EngineCore {
            noise,
            cost,
            waiting: std::collections::VecDeque::new(),
            batch: batch::RunningBatch::default(),
            cancelled: Vec::new(),
            stats: EngineStats::default(),
            shared_admitted: 0,
        }
    }

    /// What a waiting job would have computed when admitted now: its cached conversation,
    /// or the workload's shared prefix once `warm_after` requests carrying it were admitted
    /// (vLLM: 1, its blocks are hashed as they are allocated; llama.cpp: one a slot, each
    /// slot caching its own prompt), in whole blocks of `admission.hit_granularity`.
    pub fn done_at_admission(
        &self,
        job: &batch::PrefillJob,
        admission: &Admission,
        warm_after: u64,
    ) -> u32 {
        let g = admission.hit_granularity.max(1);
        if let Some(cached) = job.recompute_cached {
            // A preempted request finds its own blocks again (whole blocks, never its last
            // token), when the engine caches prefixes.
            return if admission.prefix_caching {
                job.done.max(cached.min(job.target() - 1) / g * g)
            } else {
                job.done
            };
        }
        if job.shared == 0
            || !admission.prefix_caching
            || job.generated > 0
            || self.shared_admitted < warm_after
        {
            return job.done;
        }
        job.done
            .max(job.shared.min(job.prompt.saturating_sub(1)) / g * g)
    }

    /// A waiting job joins the running batch having computed `done` tokens (from
    /// [`EngineCore::done_at_admission`]): a cache hit beyond what it had is counted and told.
    pub fn admit(&mut self, job: &mut batch::PrefillJob, done: u32, out: &mut Vec<EngineEvent>) {
        if job.recompute_cached.is_some() {
            // vLLM counts a preempted request's hits apart (`preempted_hits`), not in
            // `prefix_cache_hits_total` nor in the request's `cached_tokens`.
            job.done = job.done.max(done);
        } else if done > job.done {
            self.stats.cached_tokens += (done - job.done) as u64;
            job.done = done;
            out.push(EngineEvent::CacheHit {
                id: job.id,
                tokens: done,
            });
        }
        if job.shared > 0 {
            self.shared_admitted += 1;
        }
    }

    /// A step of this shape: its duration (noise included), counted.
    pub fn step(&mut self, shape: &crate::cost::StepShape) -> Nanos {
        let dt = self.noise.apply(self.cost.step_time(shape));
        self.stats.steps += 1;
        self.stats.busy += dt;
        dt
    }

    /// Drops requests the client gave up on: from the queue and from the running set.
    pub fn drop_cancelled(&mut self) {
        if self.cancelled.is_empty() {
            return;
        }
        let gone = std::mem::take(&mut self.cancelled);
        self.waiting.retain(|j| !gone.contains(&j.id));
        self.batch.purge(&gone);
    }
}

/// A serving engine's scheduler, as driven by the event loop.
pub trait Engine: Send {
    /// A request reaches the server at `now`; a refusal is reported through `out` at once.
    fn submit(&mut self, req: EngineRequest, now: Nanos, out: &mut Vec<EngineEvent>);
    /// Plans the next step at `now` and returns its duration, or `None` when there is no work.
    fn start_step(&mut self, now: Nanos, out: &mut Vec<EngineEvent>) -> Option<Nanos>;
    /// Completes the step started last, at `now`. Returns how many sequences emitted a decode
    /// token whose previous token came at the step's start (the step's ITL sample weight).
    fn finish_step(&mut self, now: Nanos, out: &mut Vec<EngineEvent>) -> u32;
    /// Requests held by the server: queued plus running.
    fn outstanding(&self) -> u32;
    /// Fraction of the KV cache in use, 0..1.
    fn kv_load(&self) -> f64;
    /// The client gave up on request `id` (timeout) and closed its connection: the server
    /// drops it, waiting or running, and frees its KV before its next step. No further
    /// events come for it.
    fn cancel(&mut self, id: ReqId);
    fn stats(&self) -> EngineStats;
    /// How long an idle engine waits after a request arrives before it starts a step, so that
    /// requests arriving within that moment share it. llama-server's loop wakes, takes every
    /// task queued by then, and schedules them together: half the request latency (what the
    /// real server showed, issue 5).
    fn idle_window(&self, request_latency: Nanos) -> Nanos {
        Nanos(request_latency.0 / 2)
    }
    /// When the decode tokens the step now finishing emits had their previous token: the
    /// step's start, or earlier when steps without decodes came between (vLLM V0's
    /// prefill-only steps). Asked before `finish_step`.
    fn decode_gap_start(&self, step_start: Nanos) -> Nanos {
        step_start
    }
}
