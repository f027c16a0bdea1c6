//! The discrete-event simulation: clients, a router and replicas, on one integer clock.
//!
//! Events are ordered by (time, insertion number), so equal times resolve in insertion order
//! and a seeded run is bit-for-bit repeatable. The events are client arrivals, users ending
//! their think time, and engine steps ending: one event per engine step, never per token.
//! Requests submitted while a replica is idle start a step through a zero-delay kick, so that
//! requests arriving at the same instant share that step.
//!
//! What the clients send comes from the workload's [`RequestSource`], the same one spot runs
//! play. The loop keeps only the requests in flight (a window from the oldest unfinished one to
//! the newest sent) and hands each finished request's record to a sink in issue order, so a
//! run of millions of requests needs memory for what is in flight, not for what is done.

pub mod router;

pub use router::{Router, RouterKind};

use crate::engine::{Engine, EngineEvent, EngineRequest, EngineStats, ReqId};
use crate::metrics::{ItlStats, RequestRecord};
use crate::units::Nanos;
use crate::workload::{streams, Arrival, ClassSource, RequestSource, RequestSpec, Workload};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// What one simulation produced besides its records (which went to the sink).
pub struct SimOutput {
    pub itl: ItlStats,
    /// Engine counters summed over replicas.
    pub engine: EngineStats,
    /// When the last event happened.
    pub end: Nanos,
    /// Requests the clients sent or gave up on (records handed to the sink).
    pub requests: u64,
    /// The run stopped at [`HORIZON`]: an event fell later than any simulation should reach
    /// (an arrival rate or a step time far out of range); the requests left are incomplete.
    pub past_horizon: bool,
}

/// The latest simulated time a run may reach: 100 years. Events past it mean inputs far out
/// of range (a rate of one request a century, a step of years), and integer nanoseconds
/// saturate not far beyond (584 years), so the run stops there and says so.
pub const HORIZON: Nanos = Nanos(100 * 365 * 86_400 * 1_000_000_000);

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    /// The next open-loop or trace arrival of a class.
    Arrival(u16),
    /// A closed-loop user of a class is ready to send.
    UserReady(u16, u32),
    /// A sent request reaches its replica's engine (after the request latency).
    Deliver(ReqId, u16),
    Kick(u16),
    StepDone(u16),
    /// A replica's engine finished the API server's work for the requests in its intake.
    IntakeDone(u16),
    /// A request's client timeout: if it is still in flight, the client gives up.
    Timeout(ReqId),
}

/// The error of a request the client gave up on.
const TIMEOUT: &str = "timeout (the client gave up and closed the connection)";

const NONE: Nanos = Nanos::MAX;
/// The user of an open-loop or trace request.
const NO_USER: u32 = u32::MAX;

/// A request in flight (or waiting at the client); `ReqId` is its issue order.
#[derive(Clone, Copy)]
struct Req {
    /// The source's id (what the record carries).
    id: u64,
    class: u16,
    turn: u16,
    session: Option<u64>,
    /// Prompt tokens the previous turn left in the prefix cache (as sent by the client), and
    /// those the engine reused.
    cached: u32,
    cache_hit: u32,
    scheduled: Nanos,
    sent: Nanos,
    first: Nanos,
    end: Nanos,
    input: u32,
    output: u32,
    user: u32,
    /// Closed loop: the user's pause after the answer.
    think: Nanos,
    replica: u16,
    preemptions: u16,
    /// It reached its engine (a request cancelled on the way never does).
    delivered: bool,
    /// The client is done with it (answered, refused or given up on).
    done: bool,
    error: Option<&'static str>,
}

struct Replica {
    engine: Box<dyn Engine>,
    busy: bool,
    kick_pending: bool,
    /// Where the running streams' gap for the step now running began: the step's start, or
    /// the end of the step before when API-server work held the engine between them.
    step_start: Nanos,
    /// Requests routed here that its API server has not yet handed to the engine: the router
    /// counts them as outstanding, as a real router counts requests it has forwarded.
    in_transit: u32,
    /// When this replica's API server may take its next request (a serial frontend).
    frontend_free: Nanos,
    /// Requests whose API-server work waits for the engine's cores (`engine_share` above 0), with
    /// that work's duration.
    intake: VecDeque<(ReqId, Nanos)>,
    /// When the running streams' last step ended, if API-server work has held the engine
    /// since: their next token's gap starts there.
    stalled_since: Option<Nanos>,
    /// When its engine's cores last finished work (a step or API-server work).
    last_busy: Nanos,
}

/// A closed-loop user: the rest of the session it is in, and the conversation so far.
#[derive(Clone, Default)]
struct User {
    /// Turns of its current session not yet sent.
    rest: VecDeque<RequestSpec>,
    /// Prompt + answer tokens of the conversation so far.
    context: u32,
    /// Where its session's first turn went: later turns follow it, to find their prefix cached.
    replica: u16,
}

/// One class of clients and its state.
struct ClassRun {
    src: ClassSource,
    in_flight: u32,
    /// Open loop and traces: the next request to arrive.
    next: Option<RequestSpec>,
    /// Requests waiting at the client for the concurrency cap.
    pending: VecDeque<ReqId>,
    users: Vec<User>,
}

impl ClassRun {
    fn cap(&self) -> Option<u32> {
        match &self.src.workload().arrival {
            Arrival::Open { cap, .. } | Arrival::Trace { cap, .. } => *cap,
            Arrival::Closed { .. } => None,
        }
    }
}

struct Sim<'s> {
    classes: Vec<ClassRun>,
    names: Option<Vec<String>>,
    replicas: Vec<Replica>,
    router: Router,
    events: BinaryHeap<Reverse<(Nanos, u64, Event)>>,
    seq: u64,
    now: Nanos,
    /// Requests from the oldest unfinished one (`base`) to the newest issued.
    reqs: VecDeque<Req>,
    base: ReqId,
    issued: u64,
    work: VecDeque<EngineEvent>,
    buf: Vec<EngineEvent>,
    itl: ItlStats,
    rng_latency: Xoshiro256PlusPlus,
    request_latency: Nanos,
    /// The request latency is one API-server process's work, taken one request at a time:
    /// when the next request may start it.
    frontend_serial: bool,
    /// The part of the request latency that is API-server work on the engine's cores (0: none):
    /// it also takes the engine's time.
    engine_share: f64,
    /// How much later a request to an idle replica reaches its engine.
    wakeup: Option<crate::cost::IdleWakeup>,
    /// Tokens every prompt starts with (the workload's shared prefix).
    shared_prefix: u32,
    past_horizon: bool,
    sink: &'s mut dyn FnMut(RequestRecord),
}

/// How requests travel from client to engine: the request latency (HTTP, tokenisation:
/// measured by calibration, or the API server's work per request), jittered ±25% from a
/// stream seeded by `noise_seed`; with `serial`, requests queue for it one at a time (one
/// API-server process), so a burst of arrivals waits in line. With an `engine_share` above 0
/// the API server computes on the engine's own cores (a CPU-only server): that share of the
/// request latency is its work there, and it takes the engine's time between its steps, the
/// queued requests' work back to back, before the engine sees the requests (the rest of the
/// latency only delays the request; at idle the TTFT is the same, under load the running
/// streams wait too).
#[derive(Clone, Copy, Debug)]
pub struct Transport {
    pub request_latency: Nanos,
    pub noise_seed: u64,
    pub serial: bool,
    /// 0 (the API server on its own cores) to 1 (all of its work on the engine's).
    pub engine_share: f64,
    /// A request that finds its replica idle (nothing in flight, its cores free) reaches the
    /// engine later by what calibration measured after that much idling (None: never).
    pub wakeup: Option<crate::cost::IdleWakeup>,
}

/// Runs `workload` against `engines` (one per replica) behind a `router`, handing each
/// request's record to `sink` (in issue order) as it finishes. Each request reaches its
/// engine after the transport's latency.
pub fn run(
    workload: &Workload,
    engines: Vec<Box<dyn Engine>>,
    router: RouterKind,
    transport: Transport,
    sink: &mut dyn FnMut(RequestRecord),
) -> SimOutput {
    let request_latency = transport.request_latency;
    assert!(!engines.is_empty(), "at least one replica");
    let seed = workload.seed;
    let rng = |stream: u64| Xoshiro256PlusPlus::seed_from_u64(seed ^ stream);
    let source = RequestSource::new(workload);
    let named = source.classes.len() > 1;
    let classes: Vec<ClassRun> = source
        .classes
        .into_iter()
        .map(|src| {
            let users = match &src.workload().arrival {
                Arrival::Closed { users, .. } => *users as usize,
                _ => 0,
            };
            ClassRun {
                users: vec![User::default(); users.min(src.total() as usize)],
                src,
                in_flight: 0,
                next: None,
                pending: VecDeque::new(),
            }
        })
        .collect();
    let names = named.then(|| {
        classes
            .iter()
            .map(|c| c.src.workload().name.clone())
            .collect()
    });
    let mut sim = Sim {
        classes,
        names,
        router: Router::new(router, rng(streams::ROUTING)),
        replicas: engines
            .into_iter()
            .map(|engine| Replica {
                engine,
                busy: false,
                kick_pending: false,
                step_start: Nanos::ZERO,
                in_transit: 0,
                frontend_free: Nanos::ZERO,
                intake: VecDeque::new(),
                stalled_since: None,
                last_busy: Nanos::ZERO,
            })
            .collect(),
        events: BinaryHeap::new(),
        seq: 0,
        now: Nanos::ZERO,
        reqs: VecDeque::new(),
        base: 0,
        issued: 0,
        work: VecDeque::new(),
        buf: Vec::new(),
        itl: ItlStats::default(),
        rng_latency: Xoshiro256PlusPlus::seed_from_u64(transport.noise_seed ^ streams::LATENCY),
        request_latency,
        frontend_serial: transport.serial,
        engine_share: transport.engine_share,
        wakeup: transport.wakeup,
        shared_prefix: workload.shared_prefix,
        past_horizon: false,
        sink,
    };
    sim.start();
    sim.run_events();
    sim.finish()
}

impl Sim<'_> {
    fn push(&mut self, at: Nanos, ev: Event) {
        self.events.push(Reverse((at, self.seq, ev)));
        self.seq += 1;
    }

    /// The request with this id, unless the client is already done with it and it has left
    /// the window (events for it are then stale).
    #[inline]
    fn req(&mut self, id: ReqId) -> Option<&mut Req> {
        id.checked_sub(self.base)
            .and_then(|i| self.reqs.get_mut(i as usize))
    }

    fn start(&mut self) {
        for c in 0..self.classes.len() {
            let class = &mut self.classes[c];
            match class.src.workload().arrival {
                Arrival::Closed { .. } => {
                    for u in 0..class.users.len() as u32 {
                        self.push(Nanos::ZERO, Event::UserReady(c as u16, u));
                    }
                }
                Arrival::Open { .. } | Arrival::Trace { .. } => {
                    class.next = class.src.next_request();
                    if let Some(at) = class.next.and_then(|s| s.at) {
                        self.push(at, Event::Arrival(c as u16));
                    }
                }
            }
        }
    }

    fn run_events(&mut self) {
        while let Some(Reverse((t, _, ev))) = self.events.pop() {
            debug_assert!(t >= self.now, "time went backwards");
            if t > HORIZON {
                self.past_horizon = true;
                return;
            }
            self.now = t;
            match ev {
                Event::Arrival(c) => self.on_arrival(c as usize),
                Event::UserReady(c, u) => self.user_sends(c as usize, u),
                Event::Deliver(id, r) if self.engine_share > 0.0 => {
                    // Its work queues for the engine's cores, run between steps.
                    let work = self.request_latency_jittered().scaled(self.engine_share);
                    let rep = &mut self.replicas[r as usize];
                    rep.intake.push_back((id, work));
                    if !rep.busy {
                        self.start_intake(r);
                    }
                }
                Event::Deliver(id, r) => {
                    self.replicas[r as usize].in_transit -= 1;
                    self.deliver(id);
                    self.handle_work();
                }
                Event::IntakeDone(r) => {
                    let rep = &mut self.replicas[r as usize];
                    rep.busy = false;
                    rep.last_busy = self.now;
                    let (id, _) = rep.intake.pop_front().expect("an intake was running");
                    rep.in_transit -= 1;
                    self.deliver(id);
                    self.handle_work();
                    self.engine_free(r);
                }
                Event::Kick(r) => {
                    let rep = &mut self.replicas[r as usize];
                    rep.kick_pending = false;
                    if !rep.busy {
                        self.try_start(r);
                    }
                }
                Event::Timeout(id) => {
                    let Some(req) = self.req(id) else { continue };
                    if req.done {
                        continue;
                    }
                    req.error = Some(TIMEOUT);
                    if req.delivered {
                        let r = req.replica as usize;
                        self.replicas[r].engine.cancel(id);
                    }
                    self.complete(id);
                    self.handle_work();
                }
                Event::StepDone(r) => {
                    let now = self.now;
                    let rep = &mut self.replicas[r as usize];
                    rep.busy = false;
                    rep.last_busy = now;
                    let step = now - rep.engine.decode_gap_start(rep.step_start);
                    let weight = rep.engine.finish_step(now, &mut self.buf);
                    self.itl.record_n(step, weight as u64);
                    self.work.extend(self.buf.drain(..));
                    self.handle_work();
                    let rep = &mut self.replicas[r as usize];
                    if !rep.intake.is_empty() {
                        rep.stalled_since = Some(now);
                    }
                    self.engine_free(r);
                }
            }
            self.retire();
        }
    }

    /// A closed-loop user sends its next request: the next turn of its session, or the first
    /// of a new task from the source (nothing when the source is spent).
    fn user_sends(&mut self, c: usize, u: u32) {
        let class = &mut self.classes[c];
        let user = &mut class.users[u as usize];
        let spec = match user.rest.pop_front() {
            Some(s) => s,
            None => {
                let Some(first) = class.src.next_request() else {
                    return;
                };
                // A session: the user takes all its turns.
                if first.turn == 1 {
                    let turns = class.src.turns();
                    for _ in 1..turns {
                        match class.src.next_request() {
                            Some(s) => user.rest.push_back(s),
                            None => break,
                        }
                    }
                }
                user.context = 0;
                first
            }
        };
        let id = self.issue(spec, u);
        self.dispatch(id);
    }

    /// Creates a request for `spec`, sent by `user` (closed loop) or by nobody in particular.
    /// A session's later turn carries its conversation so far.
    fn issue(&mut self, spec: RequestSpec, user: u32) -> ReqId {
        let mut input = spec.input;
        let mut cached = 0;
        if spec.turn > 0 && user != NO_USER {
            let context = self.classes[spec.class as usize].users[user as usize].context;
            cached = context;
            input = input
                .saturating_add(context)
                .min(crate::workload::LengthDist::MAX_TOKENS);
        }
        let id = self.issued as ReqId;
        self.issued += 1;
        self.reqs.push_back(Req {
            id: spec.id,
            class: spec.class,
            turn: spec.turn.min(u16::MAX as u32) as u16,
            session: spec.session,
            cached,
            cache_hit: 0,
            scheduled: self.now,
            sent: NONE,
            first: NONE,
            end: NONE,
            input,
            output: spec.output,
            user,
            think: spec.think,
            replica: 0,
            preemptions: 0,
            delivered: false,
            done: false,
            error: None,
        });
        id
    }

    fn on_arrival(&mut self, c: usize) {
        let Some(spec) = self.classes[c].next.take() else {
            return;
        };
        let id = self.issue(spec, NO_USER);
        let class = &self.classes[c];
        if class.cap().is_some_and(|cap| class.in_flight >= cap) {
            self.classes[c].pending.push_back(id);
        } else {
            self.dispatch(id);
        }
        let class = &mut self.classes[c];
        class.next = class.src.next_request();
        if let Some(at) = class.next.and_then(|s| s.at) {
            self.push(at.max(self.now), Event::Arrival(c as u16));
        }
        self.handle_work();
    }

    /// Sends a request now: the router picks its replica, which sees it after the latency.
    fn dispatch(&mut self, id: ReqId) {
        let now = self.now;
        let req = *self.req(id).expect("a request being sent is in the window");
        // A session's later turns go where its first went (prefix-aware routing).
        let sticky = (req.turn > 1)
            .then(|| self.classes[req.class as usize].users[req.user as usize].replica as usize);
        let replicas = &self.replicas;
        let r = sticky.unwrap_or_else(|| {
            self.router.pick(replicas.len(), |i| {
                let e = &replicas[i].engine;
                (e.outstanding() + replicas[i].in_transit, e.kv_load())
            })
        });
        if req.turn == 1 {
            self.classes[req.class as usize].users[req.user as usize].replica = r as u16;
        }
        let req = self.req(id).expect("in the window");
        req.sent = now;
        req.replica = r as u16;
        let class = req.class as usize;
        self.classes[class].in_flight += 1;
        if let Some(timeout) = self.classes[class].src.workload().timeout {
            self.push(now + timeout, Event::Timeout(id));
        }
        // A replica idle long enough takes longer to see the request (before anything else).
        let rep = &self.replicas[r];
        let wake = match self.wakeup {
            Some(w) if !rep.busy && rep.in_transit == 0 && rep.engine.outstanding() == 0 => {
                let idle_ms = (now - rep.last_busy).as_secs_f64() * 1e3;
                Nanos::from_millis_f64(w.extra_after(idle_ms))
            }
            _ => Nanos::ZERO,
        };
        if self.request_latency > Nanos::ZERO || wake > Nanos::ZERO {
            let now = now + wake;
            let at = if self.engine_share >= 1.0 {
                // The work is the engine's too: it joins the intake now (see Deliver).
                now
            } else if self.engine_share > 0.0 {
                // The rest of the latency first, then the work joins the intake (see Deliver).
                now + self
                    .request_latency_jittered()
                    .scaled(1.0 - self.engine_share)
            } else {
                let delay = self.request_latency_jittered();
                let rep = &mut self.replicas[r];
                if self.frontend_serial {
                    rep.frontend_free = rep.frontend_free.max(now) + delay;
                    rep.frontend_free
                } else {
                    now + delay
                }
            };
            let rep = &mut self.replicas[r];
            rep.in_transit += 1;
            self.push(at, Event::Deliver(id, r as u16));
        } else {
            self.deliver(id);
        }
    }

    /// The request reaches its replica's engine now.
    fn deliver(&mut self, id: ReqId) {
        let now = self.now;
        let Some(req) = self.req(id) else { return };
        if req.error.is_some() {
            return; // the client gave up before the request arrived
        }
        req.delivered = true;
        let (r, input, output, cached, session) = (
            req.replica as usize,
            req.input,
            req.output,
            req.cached,
            req.session,
        );
        let er = EngineRequest {
            id,
            input_tokens: input,
            output_tokens: output,
            cached_tokens: cached,
            shared_prefix: self.shared_prefix.min(input),
            conversation: session,
        };
        let rep = &mut self.replicas[r];
        rep.engine.submit(er, now, &mut self.buf);
        if !rep.busy && !rep.kick_pending {
            rep.kick_pending = true;
            // An idle server picks up requests that arrive within a moment of each other in one
            // step (the engine's own window).
            let window = rep.engine.idle_window(self.request_latency);
            self.push(now + window, Event::Kick(r as u16));
        }
        self.work.extend(self.buf.drain(..));
    }

    /// One request's latency: real request latency varies (±25% here), which is what keeps
    /// closed-loop users from moving in lockstep forever.
    fn request_latency_jittered(&mut self) -> Nanos {
        let jitter: f64 = self.rng_latency.random_range(0.75..1.25);
        Nanos::from_secs_f64(self.request_latency.as_secs_f64() * jitter)
    }

    /// The engine's cores are free: queued API-server work runs first, back to back; then the
    /// engine steps with every request it was handed (vLLM batches a burst of arrivals).
    fn engine_free(&mut self, r: u16) {
        if self.replicas[r as usize].intake.is_empty() {
            self.try_start(r);
        } else {
            self.start_intake(r);
        }
    }

    /// The engine's cores run the API server's work for the first request in the intake.
    fn start_intake(&mut self, r: u16) {
        let rep = &mut self.replicas[r as usize];
        let (_, work) = *rep.intake.front().expect("a request in the intake");
        rep.busy = true;
        self.push(self.now + work, Event::IntakeDone(r));
    }

    fn try_start(&mut self, r: u16) {
        let now = self.now;
        let rep = &mut self.replicas[r as usize];
        let stalled_since = rep.stalled_since.take();
        if let Some(dt) = rep.engine.start_step(now, &mut self.buf) {
            rep.busy = true;
            // The running streams' gap began when API-server work held the engine, if it did.
            rep.step_start = stalled_since.unwrap_or(now);
            self.push(now + dt, Event::StepDone(r));
        }
        self.work.extend(self.buf.drain(..));
        self.handle_work();
    }

    fn handle_work(&mut self) {
        while let Some(ev) = self.work.pop_front() {
            let id = match ev {
                EngineEvent::FirstToken { id, .. }
                | EngineEvent::Finished { id, .. }
                | EngineEvent::Rejected { id, .. }
                | EngineEvent::Preempted { id }
                | EngineEvent::ResumedAfter { id, .. }
                | EngineEvent::CacheHit { id, .. } => id,
            };
            let Some(req) = self.req(id) else { continue };
            if req.error == Some(TIMEOUT) {
                continue; // given up on: what the server still does for it goes unseen
            }
            match ev {
                EngineEvent::FirstToken { at, .. } => req.first = at,
                EngineEvent::Finished {
                    at, output_tokens, ..
                } => {
                    req.end = at;
                    req.output = output_tokens;
                    self.complete(id);
                }
                EngineEvent::Rejected { reason, .. } => {
                    req.error = Some(reason.message());
                    self.complete(id);
                }
                EngineEvent::Preempted { .. } => {
                    req.preemptions = req.preemptions.saturating_add(1);
                }
                EngineEvent::ResumedAfter { gap, .. } => self.itl.record_n(gap, 1),
                EngineEvent::CacheHit { tokens, .. } => req.cache_hit = tokens,
            }
        }
    }

    /// A request left the server (answered, refused or given up on): the client reacts.
    fn complete(&mut self, id: ReqId) {
        let now = self.now;
        let req = self.req(id).expect("a request completing is in the window");
        req.done = true;
        if req.error.is_some() {
            req.end = now;
        }
        let req = *req;
        let c = req.class as usize;
        let class = &mut self.classes[c];
        class.in_flight -= 1;
        if req.user == NO_USER {
            if let Some(next) = class.pending.pop_front() {
                self.dispatch(next);
            }
            return;
        }
        let user = &mut class.users[req.user as usize];
        if req.error.is_some() {
            // A failed turn ends its session: the rest of it is not sent.
            user.rest.clear();
        } else if req.session.is_some() {
            user.context = req.input.saturating_add(req.output);
        }
        if req.think > Nanos::ZERO {
            self.push(now + req.think, Event::UserReady(c as u16, req.user));
        } else {
            self.user_sends(c, req.user);
        }
    }

    /// Hands the records of finished requests at the front of the window to the sink.
    fn retire(&mut self) {
        while self.reqs.front().is_some_and(|r| r.done) {
            let r = self.reqs.pop_front().expect("front exists");
            self.base += 1;
            let secs = |t: Nanos| (t != NONE).then(|| t.as_secs_f64());
            let failed = r.error.is_some();
            (self.sink)(RequestRecord {
                id: r.id,
                scheduled_s: r.scheduled.as_secs_f64(),
                sent_s: secs(r.sent).unwrap_or(f64::NAN),
                first_token_s: if failed { None } else { secs(r.first) },
                end_s: secs(r.end),
                input_tokens: r.input,
                output_tokens: if failed { 0 } else { r.output },
                itl_s: None,
                error: r.error.map(Cow::Borrowed),
                replica: Some(r.replica as u32),
                preemptions: r.preemptions as u32,
                requested_output_tokens: None,
                class: self.names.as_ref().map(|n| n[r.class as usize].clone()),
                user: (r.user != NO_USER).then_some(r.user),
                session: r.session,
                turn: r.session.map(|_| r.turn as u32),
                cached_tokens: r.cache_hit,
                server_prompt_ms: None,
            });
        }
    }

    fn finish(mut self) -> SimOutput {
        // Requests never sent (a run cut short) still get their records.
        for r in self.reqs.iter_mut() {
            r.done = true;
        }
        self.retire();
        let mut engine = EngineStats::default();
        for rep in &self.replicas {
            let s = rep.engine.stats();
            engine.steps += s.steps;
            engine.busy += s.busy;
            engine.preemptions += s.preemptions;
            engine.rejected += s.rejected;
            engine.cached_tokens += s.cached_tokens;
            engine.max_running = engine.max_running.max(s.max_running);
        }
        SimOutput {
            itl: self.itl,
            engine,
            end: self.now,
            requests: self.issued,
            past_horizon: self.past_horizon,
        }
    }
}
