//! The discrete-event simulation: clients, a router and replicas, on one integer clock.
//!
//! Events are ordered by (time, insertion number), so equal times resolve in insertion order
//! and a seeded run is bit-for-bit repeatable. The events are client arrivals, users ending
//! their think time, and engine steps ending: one event per engine step, never per token.
//! Requests submitted while a replica is idle start a step through a zero-delay kick, so that
//! requests arriving at the same instant share that step.

pub mod router;

pub use router::{Router, RouterKind};

use crate::engine::{Engine, EngineEvent, EngineRequest, EngineStats, ReqId};
use crate::metrics::{ItlStats, RequestRecord};
use crate::units::Nanos;
use crate::workload::{streams, Arrival, LengthDist, Workload};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// What one simulation produced.
pub struct SimOutput {
    pub records: Vec<RequestRecord>,
    pub itl: ItlStats,
    /// Time-average of requests in flight (sent, not finished) over the run.
    pub mean_in_flight: f64,
    /// Engine counters summed over replicas.
    pub engine: EngineStats,
    /// When the last event happened.
    pub end: Nanos,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    /// The next open-loop or trace arrival of a class.
    Arrival(u16),
    /// A closed-loop user of a class is ready to send.
    UserReady(u16, u32),
    /// A sent request reaches its replica's engine (after the request latency).
    Deliver(ReqId),
    Kick(u16),
    StepDone(u16),
    /// A request's client timeout: if it is still in flight, the client gives up.
    Timeout(ReqId),
}

/// The error of a request the client gave up on.
const TIMEOUT: &str = "timeout (the client gave up and closed the connection)";

const NONE: Nanos = Nanos::MAX;

#[derive(Clone, Copy)]
struct Req {
    class: u16,
    turn: u16,
    /// Session id (multi-turn), or u32::MAX.
    session: u32,
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
    replica: u16,
    preemptions: u16,
    /// It reached its engine (a request cancelled on the way never does).
    delivered: bool,
    error: Option<&'static str>,
}

struct Replica {
    engine: Box<dyn Engine>,
    busy: bool,
    kick_pending: bool,
    step_start: Nanos,
}

/// A closed-loop user's conversation in progress.
#[derive(Clone, Copy, Default)]
struct Session {
    id: u32,
    /// Turns sent so far (0: the next request starts a new conversation).
    turn: u32,
    /// Prompt + answer tokens of the conversation so far.
    context: u32,
    /// Where its first turn went: later turns follow it, to find their prefix cached.
    replica: u16,
}

/// One class of clients and its state.
struct ClassRun {
    w: Workload,
    issued: u64,
    total: u64,
    in_flight: u32,
    /// Open loop: when the next arrival is due.
    next_arrival: Nanos,
    pending: VecDeque<ReqId>,
    sessions: Vec<Session>,
    rng_arrivals: Xoshiro256PlusPlus,
    rng_lengths: Xoshiro256PlusPlus,
    rng_think: Xoshiro256PlusPlus,
}

impl ClassRun {
    fn new(w: &Workload, index: usize) -> ClassRun {
        // Class 0 keeps the streams it always had, so single-class runs are unchanged.
        let salt = streams::class_salt(index);
        let rng = |stream: u64| Xoshiro256PlusPlus::seed_from_u64(w.seed ^ stream ^ salt);
        let total = match &w.arrival {
            Arrival::Trace { rows, .. } => w.num_requests.min(rows.len() as u64),
            _ => w.num_requests,
        };
        let users = match &w.arrival {
            Arrival::Closed { users, turns, .. } if *turns > 1 => *users as usize,
            _ => 0,
        };
        ClassRun {
            w: Workload {
                classes: Vec::new(),
                ..w.clone()
            },
            issued: 0,
            total,
            in_flight: 0,
            next_arrival: Nanos::ZERO,
            pending: VecDeque::new(),
            sessions: vec![Session::default(); users],
            rng_arrivals: rng(streams::ARRIVALS),
            rng_lengths: rng(streams::LENGTHS),
            rng_think: rng(streams::THINK),
        }
    }

    fn turns(&self) -> u32 {
        match self.w.arrival {
            Arrival::Closed { turns, .. } => turns,
            _ => 1,
        }
    }

    fn cap(&self) -> Option<u32> {
        match &self.w.arrival {
            Arrival::Open { cap, .. } | Arrival::Trace { cap, .. } => *cap,
            Arrival::Closed { .. } => None,
        }
    }

    fn trace_time(&self, i: u64) -> Nanos {
        match &self.w.arrival {
            Arrival::Trace {
                rows, time_scale, ..
            } => Nanos::from_secs_f64(rows[i as usize].at.as_secs_f64() / time_scale),
            _ => unreachable!("trace_time on a non-trace workload"),
        }
    }
}

struct Sim {
    classes: Vec<ClassRun>,
    next_session: u32,
    replicas: Vec<Replica>,
    router: Router,
    events: BinaryHeap<Reverse<(Nanos, u64, Event)>>,
    seq: u64,
    now: Nanos,
    reqs: Vec<Req>,
    in_flight: u32,
    in_flight_area: u128,
    last_change: Nanos,
    last_completion: Nanos,
    work: VecDeque<EngineEvent>,
    buf: Vec<EngineEvent>,
    itl: ItlStats,
    rng_latency: Xoshiro256PlusPlus,
    request_latency: Nanos,
}

/// Runs `workload` against `engines` (one per replica) behind a `router`. Each request reaches
/// its engine `request_latency` after it is sent (HTTP, tokenisation: measured by calibration).
pub fn run(
    workload: Workload,
    engines: Vec<Box<dyn Engine>>,
    router: RouterKind,
    request_latency: Nanos,
) -> SimOutput {
    assert!(!engines.is_empty(), "at least one replica");
    let seed = workload.seed;
    let rng = |stream: u64| Xoshiro256PlusPlus::seed_from_u64(seed ^ stream);
    let classes: Vec<ClassRun> = workload
        .all_classes()
        .enumerate()
        .map(|(i, w)| ClassRun::new(w, i))
        .collect();
    let capacity: u64 = classes.iter().map(|c| c.total).sum();
    let mut sim = Sim {
        classes,
        next_session: 0,
        router: Router::new(router, rng(streams::ROUTING)),
        replicas: engines
            .into_iter()
            .map(|engine| Replica {
                engine,
                busy: false,
                kick_pending: false,
                step_start: Nanos::ZERO,
            })
            .collect(),
        events: BinaryHeap::new(),
        seq: 0,
        now: Nanos::ZERO,
        reqs: Vec::with_capacity(capacity.min(1 << 24) as usize),
        in_flight: 0,
        in_flight_area: 0,
        last_change: Nanos::ZERO,
        last_completion: Nanos::ZERO,
        work: VecDeque::new(),
        buf: Vec::new(),
        itl: ItlStats::default(),
        rng_latency: rng(streams::LATENCY),
        request_latency,
    };
    sim.start();
    sim.run_events();
    sim.finish()
}

impl Sim {
    fn push(&mut self, at: Nanos, ev: Event) {
        self.events.push(Reverse((at, self.seq, ev)));
        self.seq += 1;
    }

    fn start(&mut self) {
        for c in 0..self.classes.len() {
            let class = &self.classes[c];
            if class.total == 0 {
                continue;
            }
            match &class.w.arrival {
                Arrival::Closed { users, .. } => {
                    let users = (*users as u64).min(class.total) as u32;
                    for u in 0..users {
                        self.push(Nanos::ZERO, Event::UserReady(c as u16, u));
                    }
                }
                Arrival::Open { .. } => self.push(Nanos::ZERO, Event::Arrival(c as u16)),
                Arrival::Trace { .. } => {
                    let at = class.trace_time(0);
                    self.push(at, Event::Arrival(c as u16));
                }
            }
        }
    }

    fn run_events(&mut self) {
        while let Some(Reverse((t, _, ev))) = self.events.pop() {
            self.advance_clock(t);
            match ev {
                Event::Arrival(c) => self.on_arrival(c as usize),
                Event::UserReady(c, u) => {
                    let class = &self.classes[c as usize];
                    if class.issued < class.total {
                        let id = self.issue(c as usize, u);
                        self.dispatch(id);
                    }
                }
                Event::Deliver(id) => {
                    self.deliver(id);
                    self.handle_work();
                }
                Event::Kick(r) => {
                    let rep = &mut self.replicas[r as usize];
                    rep.kick_pending = false;
                    if !rep.busy {
                        self.try_start(r);
                    }
                }
                Event::Timeout(id) => {
                    let req = &mut self.reqs[id as usize];
                    if req.end == NONE && req.error.is_none() {
                        req.error = Some(TIMEOUT);
                        if req.delivered {
                            let r = req.replica as usize;
                            self.replicas[r].engine.cancel(id);
                        }
                        self.complete(id);
                        self.handle_work();
                    }
                }
                Event::StepDone(r) => {
                    let now = self.now;
                    let rep = &mut self.replicas[r as usize];
                    rep.busy = false;
                    let step = now - rep.step_start;
                    let weight = rep.engine.finish_step(now, &mut self.buf);
                    self.itl.record_n(step, weight as u64);
                    self.work.extend(self.buf.drain(..));
                    self.handle_work();
                    self.try_start(r);
                }
            }
        }
    }

    fn advance_clock(&mut self, t: Nanos) {
        debug_assert!(t >= self.now, "time went backwards");
        self.in_flight_area += self.in_flight as u128 * (t - self.last_change).0 as u128;
        self.last_change = t;
        self.now = t;
    }

    /// Changes the in-flight count at `now` (the clock has already integrated up to `now`).
    fn set_in_flight(&mut self, delta: i32) {
        self.in_flight = (self.in_flight as i32 + delta) as u32;
        if delta < 0 {
            self.last_completion = self.now;
        }
    }

    /// Creates the next request of class `c` (lengths drawn now) for `user` (closed loop;
    /// u32::MAX for open loop and traces). A session's turn carries its conversation so far.
    fn issue(&mut self, c: usize, user: u32) -> ReqId {
        let turns = self.classes[c].turns();
        let class = &mut self.classes[c];
        let i = class.issued;
        let (mut input, output) = match &class.w.arrival {
            Arrival::Trace {
                rows, token_scale, ..
            } => {
                let row = rows[i as usize];
                (
                    LengthDist::scale(row.input_tokens, *token_scale),
                    LengthDist::scale(row.output_tokens, *token_scale),
                )
            }
            _ => (
                class.w.input_tokens.sample(&mut class.rng_lengths),
                class.w.output_tokens.sample(&mut class.rng_lengths),
            ),
        };
        let (mut session, mut turn, mut cached) = (u32::MAX, 0u16, 0u32);
        if turns > 1 && user != u32::MAX {
            let s = &mut class.sessions[user as usize];
            if s.turn == 0 {
                s.id = self.next_session;
                self.next_session += 1;
                s.context = 0;
            }
            s.turn += 1;
            cached = s.context;
            input = input.saturating_add(s.context).min(LengthDist::MAX_TOKENS);
            session = s.id;
            turn = s.turn.min(u16::MAX as u32) as u16;
        }
        class.issued += 1;
        self.reqs.push(Req {
            class: c as u16,
            turn,
            session,
            cached,
            cache_hit: 0,
            scheduled: self.now,
            sent: NONE,
            first: NONE,
            end: NONE,
            input,
            output,
            user,
            replica: 0,
            preemptions: 0,
            delivered: false,
            error: None,
        });
        (self.reqs.len() - 1) as ReqId
    }

    fn on_arrival(&mut self, c: usize) {
        let id = self.issue(c, u32::MAX);
        let class = &self.classes[c];
        if class.cap().is_some_and(|cap| class.in_flight >= cap) {
            self.classes[c].pending.push_back(id);
        } else {
            self.dispatch(id);
        }
        let class = &mut self.classes[c];
        if class.issued < class.total {
            let next = match &class.w.arrival {
                Arrival::Open { process, .. } => {
                    class.next_arrival += process.next_gap(&mut class.rng_arrivals);
                    class.next_arrival
                }
                _ => class.trace_time(class.issued),
            };
            self.push(next.max(self.now), Event::Arrival(c as u16));
        }
        self.handle_work();
    }

    /// Sends a request now: the router picks its replica, which sees it after the latency.
    fn dispatch(&mut self, id: ReqId) {
        let now = self.now;
        let replicas = &self.replicas;
        let req = self.reqs[id as usize];
        // A session's later turns go where its first went (prefix-aware routing).
        let sticky = (req.turn > 1).then(|| {
            let class = &self.classes[req.class as usize];
            class.sessions[req.user as usize].replica as usize
        });
        let r = sticky.unwrap_or_else(|| {
            self.router.pick(replicas.len(), |i| {
                let e = &replicas[i].engine;
                (e.outstanding(), e.kv_load())
            })
        });
        if req.turn == 1 {
            let class = &mut self.classes[req.class as usize];
            class.sessions[req.user as usize].replica = r as u16;
        }
        let req = &mut self.reqs[id as usize];
        req.sent = now;
        req.replica = r as u16;
        let class = req.class as usize;
        self.classes[class].in_flight += 1;
        self.set_in_flight(1);
        if let Some(timeout) = self.classes[class].w.timeout {
            self.push(now + timeout, Event::Timeout(id));
        }
        if self.request_latency > Nanos::ZERO {
            // Real request latency varies (±25% here), which is what keeps closed-loop users from
            // moving in lockstep forever.
            let jitter: f64 = self.rng_latency.random_range(0.75..1.25);
            let delay = Nanos::from_secs_f64(self.request_latency.as_secs_f64() * jitter);
            self.push(now + delay, Event::Deliver(id));
        } else {
            self.deliver(id);
        }
    }

    /// The request reaches its replica's engine now.
    fn deliver(&mut self, id: ReqId) {
        let now = self.now;
        if self.reqs[id as usize].error.is_some() {
            return; // the client gave up before the request arrived
        }
        self.reqs[id as usize].delivered = true;
        let req = &self.reqs[id as usize];
        let r = req.replica as usize;
        let er = EngineRequest {
            id,
            input_tokens: req.input,
            output_tokens: req.output,
            cached_tokens: req.cached,
        };
        let rep = &mut self.replicas[r];
        rep.engine.submit(er, now, &mut self.buf);
        if !rep.busy && !rep.kick_pending {
            rep.kick_pending = true;
            // An idle server picks up requests that arrive within a moment of each other in one
            // step (its loop wakes, parses, schedules): half the request latency here.
            let window = Nanos(self.request_latency.0 / 2);
            self.push(now + window, Event::Kick(r as u16));
        }
        self.work.extend(self.buf.drain(..));
    }

    fn try_start(&mut self, r: u16) {
        let now = self.now;
        let rep = &mut self.replicas[r as usize];
        if let Some(dt) = rep.engine.start_step(now, &mut self.buf) {
            rep.busy = true;
            rep.step_start = now;
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
            if self.reqs[id as usize].error == Some(TIMEOUT) {
                continue; // given up on: what the server still does for it goes unseen
            }
            match ev {
                EngineEvent::FirstToken { id, at } => self.reqs[id as usize].first = at,
                EngineEvent::Finished {
                    id,
                    at,
                    output_tokens,
                } => {
                    let req = &mut self.reqs[id as usize];
                    req.end = at;
                    req.output = output_tokens;
                    self.complete(id);
                }
                EngineEvent::Rejected { id, reason, .. } => {
                    self.reqs[id as usize].error = Some(reason.message());
                    self.complete(id);
                }
                EngineEvent::Preempted { id } => {
                    let req = &mut self.reqs[id as usize];
                    req.preemptions = req.preemptions.saturating_add(1);
                }
                EngineEvent::ResumedAfter { gap, .. } => self.itl.record_n(gap, 1),
                EngineEvent::CacheHit { id, tokens } => self.reqs[id as usize].cache_hit = tokens,
            }
        }
    }

    /// A request left the server (answered or refused): the client reacts.
    fn complete(&mut self, id: ReqId) {
        self.set_in_flight(-1);
        let req = self.reqs[id as usize];
        let c = req.class as usize;
        let turns = self.classes[c].turns();
        let class = &mut self.classes[c];
        class.in_flight -= 1;
        if req.session != u32::MAX {
            let s = &mut class.sessions[req.user as usize];
            if req.error.is_some() || s.turn >= turns {
                s.turn = 0; // the conversation ends (done, or its turn failed)
            } else {
                s.context = req.input.saturating_add(req.output);
            }
        }
        let think = match &class.w.arrival {
            Arrival::Closed { think_s, .. } => Some(
                think_s
                    .as_ref()
                    .map(|d| Nanos::from_secs_f64(d.sample(&mut class.rng_think)))
                    .unwrap_or(Nanos::ZERO),
            ),
            _ => None,
        };
        let more = class.issued < class.total;
        match think {
            Some(t) if t > Nanos::ZERO => {
                self.push(self.now + t, Event::UserReady(c as u16, req.user));
            }
            Some(_) => {
                if more {
                    let next = self.issue(c, req.user);
                    self.dispatch(next);
                }
            }
            None => {
                if let Some(next) = self.classes[c].pending.pop_front() {
                    self.dispatch(next);
                }
            }
        }
    }

    fn finish(self) -> SimOutput {
        let mut engine = EngineStats::default();
        for rep in &self.replicas {
            let s = rep.engine.stats();
            engine.steps += s.steps;
            engine.busy += s.busy;
            engine.preemptions += s.preemptions;
            engine.rejected += s.rejected;
            engine.max_running = engine.max_running.max(s.max_running);
        }
        let secs = |t: Nanos| (t != NONE).then(|| t.as_secs_f64());
        let named = self.classes.len() > 1;
        let records = self
            .reqs
            .iter()
            .enumerate()
            .map(|(i, r)| RequestRecord {
                id: i as u64,
                scheduled_s: r.scheduled.as_secs_f64(),
                sent_s: secs(r.sent).unwrap_or(f64::NAN),
                first_token_s: if r.error.is_some() {
                    None
                } else {
                    secs(r.first)
                },
                end_s: if r.error.is_some() { None } else { secs(r.end) },
                input_tokens: r.input,
                output_tokens: if r.error.is_some() { 0 } else { r.output },
                itl_s: None,
                error: r.error.map(Cow::Borrowed),
                replica: Some(r.replica as u32),
                preemptions: r.preemptions as u32,
                requested_output_tokens: None,
                class: named.then(|| self.classes[r.class as usize].w.name.clone()),
                session: (r.session != u32::MAX).then_some(r.session as u64),
                turn: (r.session != u32::MAX).then_some(r.turn as u32),
                cached_tokens: r.cache_hit,
                server_prompt_ms: None,
            })
            .collect();
        let span = self.last_completion.0.max(1) as f64;
        SimOutput {
            records,
            itl: self.itl,
            mean_in_flight: self.in_flight_area as f64 / span,
            engine,
            end: self.now,
        }
    }
}
