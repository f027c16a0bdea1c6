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
    Arrival,
    UserReady(u32),
    /// A sent request reaches its replica's engine (after the request latency).
    Deliver(ReqId),
    Kick(u16),
    StepDone(u16),
}

const NONE: Nanos = Nanos::MAX;

#[derive(Clone, Copy)]
struct Req {
    scheduled: Nanos,
    sent: Nanos,
    first: Nanos,
    end: Nanos,
    input: u32,
    output: u32,
    user: u32,
    replica: u16,
    preemptions: u16,
    error: Option<&'static str>,
}

struct Replica {
    engine: Box<dyn Engine>,
    busy: bool,
    kick_pending: bool,
    step_start: Nanos,
}

struct Sim {
    workload: Workload,
    replicas: Vec<Replica>,
    router: Router,
    events: BinaryHeap<Reverse<(Nanos, u64, Event)>>,
    seq: u64,
    now: Nanos,
    reqs: Vec<Req>,
    issued: u64,
    /// Open loop: when the next arrival is due, and how many the trace still has.
    next_arrival: Nanos,
    pending: VecDeque<ReqId>,
    in_flight: u32,
    in_flight_area: u128,
    last_change: Nanos,
    last_completion: Nanos,
    work: VecDeque<EngineEvent>,
    buf: Vec<EngineEvent>,
    itl: ItlStats,
    rng_arrivals: Xoshiro256PlusPlus,
    rng_lengths: Xoshiro256PlusPlus,
    rng_think: Xoshiro256PlusPlus,
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
    let mut sim = Sim {
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
        reqs: Vec::with_capacity(workload.num_requests.min(1 << 24) as usize),
        issued: 0,
        next_arrival: Nanos::ZERO,
        pending: VecDeque::new(),
        in_flight: 0,
        in_flight_area: 0,
        last_change: Nanos::ZERO,
        last_completion: Nanos::ZERO,
        work: VecDeque::new(),
        buf: Vec::new(),
        itl: ItlStats::default(),
        rng_arrivals: rng(streams::ARRIVALS),
        rng_lengths: rng(streams::LENGTHS),
        rng_think: rng(streams::THINK),
        rng_latency: rng(streams::LATENCY),
        request_latency,
        workload,
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

    fn total_requests(&self) -> u64 {
        match &self.workload.arrival {
            Arrival::Trace { rows, .. } => self.workload.num_requests.min(rows.len() as u64),
            _ => self.workload.num_requests,
        }
    }

    fn start(&mut self) {
        if self.total_requests() == 0 {
            return;
        }
        match &self.workload.arrival {
            Arrival::Closed { users, .. } => {
                let users = (*users as u64).min(self.total_requests()) as u32;
                for u in 0..users {
                    self.push(Nanos::ZERO, Event::UserReady(u));
                }
            }
            Arrival::Open { .. } => self.push(Nanos::ZERO, Event::Arrival),
            Arrival::Trace { .. } => {
                let at = self.trace_time(0);
                self.push(at, Event::Arrival);
            }
        }
    }

    fn trace_time(&self, i: u64) -> Nanos {
        match &self.workload.arrival {
            Arrival::Trace {
                rows, time_scale, ..
            } => Nanos::from_secs_f64(rows[i as usize].at.as_secs_f64() / time_scale),
            _ => unreachable!("trace_time on a non-trace workload"),
        }
    }

    fn run_events(&mut self) {
        while let Some(Reverse((t, _, ev))) = self.events.pop() {
            self.advance_clock(t);
            match ev {
                Event::Arrival => self.on_arrival(),
                Event::UserReady(u) => {
                    if self.issued < self.total_requests() {
                        let id = self.issue(u);
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

    /// Creates the next request (lengths drawn now) for `user` (closed loop) or the stream.
    fn issue(&mut self, user: u32) -> ReqId {
        let i = self.issued;
        let (input, output) = match &self.workload.arrival {
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
                self.workload.input_tokens.sample(&mut self.rng_lengths),
                self.workload.output_tokens.sample(&mut self.rng_lengths),
            ),
        };
        self.issued += 1;
        self.reqs.push(Req {
            scheduled: self.now,
            sent: NONE,
            first: NONE,
            end: NONE,
            input,
            output,
            user,
            replica: 0,
            preemptions: 0,
            error: None,
        });
        i as ReqId
    }

    fn cap(&self) -> Option<u32> {
        match &self.workload.arrival {
            Arrival::Open { cap, .. } | Arrival::Trace { cap, .. } => *cap,
            Arrival::Closed { .. } => None,
        }
    }

    fn on_arrival(&mut self) {
        let id = self.issue(u32::MAX);
        if self.cap().is_some_and(|c| self.in_flight >= c) {
            self.pending.push_back(id);
        } else {
            self.dispatch(id);
        }
        if self.issued < self.total_requests() {
            let next = match &self.workload.arrival {
                Arrival::Open { process, .. } => {
                    self.next_arrival += process.next_gap(&mut self.rng_arrivals);
                    self.next_arrival
                }
                _ => self.trace_time(self.issued),
            };
            self.push(next.max(self.now), Event::Arrival);
        }
        self.handle_work();
    }

    /// Sends a request now: the router picks its replica, which sees it after the latency.
    fn dispatch(&mut self, id: ReqId) {
        let now = self.now;
        let replicas = &self.replicas;
        let r = self.router.pick(replicas.len(), |i| {
            let e = &replicas[i].engine;
            (e.outstanding(), e.kv_load())
        });
        let req = &mut self.reqs[id as usize];
        req.sent = now;
        req.replica = r as u16;
        self.set_in_flight(1);
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
        let req = &self.reqs[id as usize];
        let r = req.replica as usize;
        let er = EngineRequest {
            id,
            input_tokens: req.input,
            output_tokens: req.output,
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
                    if let Some(timeout) = self.workload.timeout {
                        if at - req.sent > timeout {
                            req.error = Some("timeout");
                        }
                    }
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
            }
        }
    }

    /// A request left the server (answered or refused): the client reacts.
    fn complete(&mut self, id: ReqId) {
        self.set_in_flight(-1);
        let user = self.reqs[id as usize].user;
        match &self.workload.arrival {
            Arrival::Closed { think_s, .. } => {
                let think = think_s
                    .as_ref()
                    .map(|d| Nanos::from_secs_f64(d.sample(&mut self.rng_think)))
                    .unwrap_or(Nanos::ZERO);
                if think > Nanos::ZERO {
                    self.push(self.now + think, Event::UserReady(user));
                } else if self.issued < self.total_requests() {
                    let next = self.issue(user);
                    self.dispatch(next);
                }
            }
            _ => {
                if let Some(next) = self.pending.pop_front() {
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
