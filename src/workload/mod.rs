//! Who sends what, when: arrival processes, length distributions and traces.
//!
//! Open-loop arrivals follow `vllm bench serve`: the first request goes at t = 0, then gaps are
//! exponential (Poisson), gamma with shape = `burstiness` and mean 1/rate (burstiness 1 is
//! Poisson, < 1 burstier), or constant. A concurrency cap holds requests at the client until one
//! in flight completes (latency is then measured from the actual send, and `scheduled_s` keeps
//! the intended time). Closed loop: N users each send, wait for the answer, think, send again.

pub mod dist;
pub mod source;
pub mod trace;

pub use dist::{Dist, LengthDist};
pub use source::{ClassSource, RequestSource, RequestSpec};
pub use trace::TraceRow;

use crate::units::Nanos;
use rand::Rng;
use rand_distr::{Distribution, Exp, Gamma};
use std::sync::Arc;

/// Gaps between open-loop arrivals.
#[derive(Clone, Debug)]
pub enum ArrivalProcess {
    Poisson {
        rate: f64,
        d: Exp<f64>,
    },
    Gamma {
        rate: f64,
        burstiness: f64,
        d: Gamma<f64>,
    },
    Constant {
        rate: f64,
        gap: Nanos,
    },
}

impl ArrivalProcess {
    /// `rate` in requests/s (> 0); `burstiness` is the gamma shape (> 0).
    pub fn poisson(rate: f64) -> ArrivalProcess {
        ArrivalProcess::Poisson {
            rate,
            d: Exp::new(rate).expect("rate validated positive"),
        }
    }
    pub fn gamma(rate: f64, burstiness: f64) -> ArrivalProcess {
        ArrivalProcess::Gamma {
            rate,
            burstiness,
            d: Gamma::new(burstiness, 1.0 / (rate * burstiness)).expect("validated positive"),
        }
    }
    pub fn constant(rate: f64) -> ArrivalProcess {
        ArrivalProcess::Constant {
            rate,
            gap: Nanos::from_secs_f64(1.0 / rate),
        }
    }

    /// Requests per second.
    pub fn rate(&self) -> f64 {
        match self {
            ArrivalProcess::Poisson { rate, .. }
            | ArrivalProcess::Gamma { rate, .. }
            | ArrivalProcess::Constant { rate, .. } => *rate,
        }
    }

    /// The same process at another rate (> 0).
    pub fn with_rate(&self, rate: f64) -> ArrivalProcess {
        match self {
            ArrivalProcess::Poisson { .. } => ArrivalProcess::poisson(rate),
            ArrivalProcess::Gamma { burstiness, .. } => ArrivalProcess::gamma(rate, *burstiness),
            ArrivalProcess::Constant { .. } => ArrivalProcess::constant(rate),
        }
    }

    pub fn next_gap<R: Rng + ?Sized>(&self, rng: &mut R) -> Nanos {
        match self {
            ArrivalProcess::Poisson { d, .. } => Nanos::from_secs_f64(d.sample(rng)),
            ArrivalProcess::Gamma { d, .. } => Nanos::from_secs_f64(d.sample(rng)),
            ArrivalProcess::Constant { gap, .. } => *gap,
        }
    }
}

/// How requests arrive.
#[derive(Clone, Debug)]
pub enum Arrival {
    /// `users` closed-loop clients with a think time (seconds) between answer and next request.
    /// With `turns` > 1 each user holds multi-turn sessions: turn k's prompt is the conversation
    /// so far (every earlier prompt and answer) plus new input, and after `turns` turns the user
    /// starts a new conversation. A swarm is this with no think time: C agents, one task of
    /// `turns` calls each.
    Closed {
        users: u32,
        think_s: Option<Dist>,
        turns: u32,
    },
    /// Open-loop arrivals, optionally capped in concurrency.
    Open {
        process: ArrivalProcess,
        cap: Option<u32>,
    },
    /// Replay of a trace: arrival times divided by `time_scale`, token counts multiplied by
    /// `token_scale`.
    Trace {
        rows: Arc<Vec<TraceRow>>,
        time_scale: f64,
        token_scale: f64,
        cap: Option<u32>,
    },
}

/// Everything the clients do in one run.
#[derive(Clone, Debug)]
pub struct Workload {
    /// The class's name (`[[workload.class]]`), "main" for the `[workload]` table itself.
    pub name: String,
    pub arrival: Arrival,
    /// Requests to send in all (a trace sends at most its rows).
    pub num_requests: u64,
    pub input_tokens: LengthDist,
    pub output_tokens: LengthDist,
    pub seed: u64,
    /// Client timeout per request (from send to last token).
    pub timeout: Option<Nanos>,
    /// Other classes of clients running at the same time (`[[workload.class]]`), each with
    /// its own arrivals, lengths and counts.
    pub classes: Vec<Workload>,
    /// What reading the workload let pass with a warning (skipped trace rows).
    pub warnings: Vec<String>,
    /// Tokens every prompt of every class starts with (a shared system prompt): a server with
    /// prefix caching computes them once and serves them from its cache after.
    pub shared_prefix: u32,
}

impl Workload {
    /// This workload and its side classes, in class order (index 0 is this one).
    pub fn all_classes(&self) -> impl Iterator<Item = &Workload> {
        std::iter::once(self).chain(self.classes.iter())
    }

    /// Whether results should be broken down by class or turn.
    pub fn has_structure(&self) -> bool {
        !self.classes.is_empty()
            || self
                .all_classes()
                .any(|w| matches!(w.arrival, Arrival::Closed { turns, .. } if turns > 1))
    }
}

/// Independent random streams, so changing one source does not perturb the others.
pub mod streams {
    pub const ARRIVALS: u64 = 0x6172_7269_7661_6c73;
    pub const LENGTHS: u64 = 0x6c65_6e67_7468_7300;
    pub const THINK: u64 = 0x7468_696e_6b00_0000;
    pub const ROUTING: u64 = 0x726f_7574_696e_6700;
    pub const LATENCY: u64 = 0x6c61_7465_6e63_7900;

    /// Mixed into every stream of workload class `index` (0 for the main class, so a
    /// single-class workload keeps its streams).
    pub fn class_salt(index: usize) -> u64 {
        (index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }
}
