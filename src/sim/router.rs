//! Routing requests across replicas. Ties go to the lowest index, so runs are deterministic.

use rand::Rng;
use rand_xoshiro::Xoshiro256PlusPlus;

/// How a router picks a replica.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouterKind {
    RoundRobin,
    /// Fewest requests queued or running.
    LeastOutstanding,
    /// Lowest KV-cache use.
    LeastKv,
    /// Uniformly at random (seeded).
    Random,
}

impl RouterKind {
    pub fn parse(s: &str) -> Option<RouterKind> {
        Some(match s {
            "round-robin" | "round_robin" | "rr" => RouterKind::RoundRobin,
            "least-outstanding" | "least_outstanding" | "least-requests" => {
                RouterKind::LeastOutstanding
            }
            "least-kv" | "least_kv" | "least-kv-load" => RouterKind::LeastKv,
            "random" => RouterKind::Random,
            _ => return None,
        })
    }
    pub const NAMES: &'static str = "round-robin, least-outstanding, least-kv, random";
}

crate::keyword_deserialize!(RouterKind, "router");

pub struct Router {
    kind: RouterKind,
    next: usize,
    rng: Xoshiro256PlusPlus,
}

impl Router {
    pub fn new(kind: RouterKind, rng: Xoshiro256PlusPlus) -> Router {
        Router { kind, next: 0, rng }
    }

    /// Picks one of `n` replicas; `load(i)` gives replica i's (outstanding requests, KV use).
    pub fn pick(&mut self, n: usize, load: impl Fn(usize) -> (u32, f64)) -> usize {
        if n <= 1 {
            return 0;
        }
        match self.kind {
            RouterKind::RoundRobin => {
                let i = self.next;
                self.next = (i + 1) % n;
                i
            }
            RouterKind::Random => self.rng.random_range(0..n),
            RouterKind::LeastOutstanding => argmin((0..n).map(|i| load(i).0 as f64)),
            RouterKind::LeastKv => argmin((0..n).map(|i| {
                let (outstanding, kv) = load(i);
                kv + outstanding as f64 * 1e-9
            })),
        }
    }
}

fn argmin(values: impl Iterator<Item = f64>) -> usize {
    let mut best = (0, f64::INFINITY);
    for (i, v) in values.enumerate() {
        if v < best.1 {
            best = (i, v);
        }
    }
    best.0
}
