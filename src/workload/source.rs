//! The one request source: what each client class sends, in what order, when (open loop and
//! traces) and with what pause after the answer (closed loop). The simulation and spot runs
//! both draw their requests from here, so one scenario means one request sequence, whoever
//! plays it.
//!
//! Every quantity is drawn per request, in request order, from the class's own seeded streams
//! (lengths, arrival gaps, think times), so the sequence never depends on timing: the i-th
//! request of a class has the same lengths, arrival time and think time in a simulation and
//! in every spot run. Multi-turn sessions are consecutive runs of `turns` requests: a user
//! takes a whole session (its turns in order) and, when a turn fails, abandons the rest.

use super::{streams, Arrival, Workload};
use crate::units::Nanos;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

/// One request as the clients will send it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RequestSpec {
    /// Unique in the run: the class's first id plus its index in the class.
    pub id: u64,
    /// Workload class (0: the `[workload]` table itself).
    pub class: u16,
    /// Its place in the class's sequence.
    pub index: u64,
    /// Open loop and traces: when it is due, from the run's start.
    pub at: Option<Nanos>,
    /// New prompt tokens (a session's later turn also carries the conversation so far).
    pub input: u32,
    /// Output tokens asked for.
    pub output: u32,
    /// Closed loop: how long the user pauses after this request's answer.
    pub think: Nanos,
    /// Multi-turn: the session it belongs to (unique in the run) and its turn (1-based).
    pub session: Option<u64>,
    pub turn: u32,
}

/// The request sequence of one workload class.
#[derive(Clone, Debug)]
pub struct ClassSource {
    w: Workload,
    class: u16,
    id_base: u64,
    session_base: u64,
    total: u64,
    next: u64,
    /// Open loop: when the next request is due.
    t: Nanos,
    rng_lengths: Xoshiro256PlusPlus,
    rng_arrivals: Xoshiro256PlusPlus,
    rng_think: Xoshiro256PlusPlus,
}

impl ClassSource {
    fn new(w: &Workload, class: usize, id_base: u64, session_base: u64) -> ClassSource {
        let salt = streams::class_salt(class);
        let rng = |stream: u64| Xoshiro256PlusPlus::seed_from_u64(w.seed ^ stream ^ salt);
        ClassSource {
            w: Workload {
                classes: Vec::new(),
                ..w.clone()
            },
            class: class as u16,
            id_base,
            session_base,
            total: class_total(w),
            next: 0,
            t: Nanos::ZERO,
            rng_lengths: rng(streams::LENGTHS),
            rng_arrivals: rng(streams::ARRIVALS),
            rng_think: rng(streams::THINK),
        }
    }

    /// The class's workload.
    pub fn workload(&self) -> &Workload {
        &self.w
    }

    /// Requests in the class's whole sequence.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Requests not yet drawn.
    pub fn remaining(&self) -> u64 {
        self.total - self.next
    }

    /// Turns per session (1: no sessions).
    pub fn turns(&self) -> u32 {
        match self.w.arrival {
            Arrival::Closed { turns, .. } => turns.max(1),
            _ => 1,
        }
    }

    /// The next request of the sequence, or None when all are drawn.
    pub fn next_request(&mut self) -> Option<RequestSpec> {
        if self.next >= self.total {
            return None;
        }
        let i = self.next;
        self.next += 1;
        let (at, input, output) = match &self.w.arrival {
            Arrival::Trace {
                rows,
                time_scale,
                token_scale,
                ..
            } => {
                let row = rows[i as usize];
                (
                    Some(Nanos::from_secs_f64(row.at.as_secs_f64() / time_scale)),
                    super::LengthDist::scale(row.input_tokens, *token_scale),
                    super::LengthDist::scale(row.output_tokens, *token_scale),
                )
            }
            _ => {
                let input = self.w.input_tokens.sample(&mut self.rng_lengths);
                let output = self.w.output_tokens.sample(&mut self.rng_lengths);
                let at = match &self.w.arrival {
                    Arrival::Open { process, .. } => {
                        let at = self.t;
                        if self.next < self.total {
                            self.t += process.next_gap(&mut self.rng_arrivals);
                        }
                        Some(at)
                    }
                    _ => None,
                };
                (at, input, output)
            }
        };
        let think = match &self.w.arrival {
            Arrival::Closed {
                think_s: Some(d), ..
            } => Nanos::from_secs_f64(d.sample(&mut self.rng_think)),
            _ => Nanos::ZERO,
        };
        let turns = self.turns() as u64;
        let (session, turn) = if turns > 1 {
            (Some(self.session_base + i / turns), (i % turns) as u32 + 1)
        } else {
            (None, 0)
        };
        Some(RequestSpec {
            id: self.id_base + i,
            class: self.class,
            index: i,
            at,
            input,
            output,
            think,
            session,
            turn,
        })
    }

    /// The next whole session (all its turns; fewer when the sequence ends), or the next
    /// single request when the class has no sessions. Empty when all are drawn.
    pub fn next_task(&mut self) -> Vec<RequestSpec> {
        let mut task = Vec::new();
        while let Some(spec) = self.next_request() {
            task.push(spec);
            if spec.turn == 0 || spec.turn >= self.turns() {
                break;
            }
        }
        task
    }
}

/// Requests a class sends in all (a trace sends at most its rows).
fn class_total(w: &Workload) -> u64 {
    match &w.arrival {
        Arrival::Trace { rows, .. } => w.num_requests.min(rows.len() as u64),
        _ => w.num_requests,
    }
}

/// The request sequences of every class of a workload. Ids are unique across classes (each
/// class's ids follow the previous class's), as are session ids.
#[derive(Clone, Debug)]
pub struct RequestSource {
    pub classes: Vec<ClassSource>,
}

impl RequestSource {
    pub fn new(workload: &Workload) -> RequestSource {
        let mut id_base = 0;
        let mut session_base = 0;
        let classes = workload
            .all_classes()
            .enumerate()
            .map(|(i, w)| {
                let c = ClassSource::new(w, i, id_base, session_base);
                id_base += c.total;
                if c.turns() > 1 {
                    session_base += c.total.div_ceil(c.turns() as u64);
                }
                c
            })
            .collect();
        RequestSource { classes }
    }

    /// Every request of every class, in class order then request order.
    pub fn all(mut self) -> Vec<Vec<RequestSpec>> {
        self.classes
            .iter_mut()
            .map(|c| std::iter::from_fn(|| c.next_request()).collect())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::{ArrivalProcess, Dist, LengthDist};

    fn closed(turns: u32, think: Option<Dist>) -> Workload {
        Workload {
            name: "main".into(),
            arrival: Arrival::Closed {
                users: 2,
                think_s: think,
                turns,
            },
            num_requests: 7,
            input_tokens: LengthDist(Dist::fixed(10.0)),
            output_tokens: LengthDist(Dist::fixed(5.0)),
            seed: 3,
            timeout: None,
            classes: Vec::new(),
            warnings: Vec::new(),
            shared_prefix: 0,
        }
    }

    #[test]
    fn sessions_are_consecutive_turns_and_tasks_take_them_whole() {
        let mut src = RequestSource::new(&closed(3, None));
        let c = &mut src.classes[0];
        let a = c.next_task();
        assert_eq!(
            a.iter().map(|s| (s.session, s.turn)).collect::<Vec<_>>(),
            vec![(Some(0), 1), (Some(0), 2), (Some(0), 3)]
        );
        let b = c.next_task();
        assert_eq!(b[0].session, Some(1));
        let last = c.next_task();
        assert_eq!(last.len(), 1, "7 requests: the third session is cut short");
        assert!(c.next_task().is_empty());
    }

    #[test]
    fn the_sequence_does_not_depend_on_who_draws_it() {
        let think = Some(
            Dist::from_toml(
                &toml::Value::try_from(toml::toml! { dist = "exponential"
                mean = 2.0 })
                .unwrap(),
                "t",
                std::path::Path::new("."),
            )
            .unwrap(),
        );
        let w = closed(1, think);
        let a = RequestSource::new(&w).all();
        let mut src = RequestSource::new(&w);
        let mut b = Vec::new();
        while let Some(s) = src.classes[0].next_request() {
            b.push(s);
        }
        assert_eq!(a[0], b);
        assert!(b.windows(2).any(|p| p[0].think != p[1].think));
    }

    #[test]
    fn open_loop_starts_at_zero_and_ids_are_unique_across_classes() {
        let mut w = closed(1, None);
        w.arrival = Arrival::Open {
            process: ArrivalProcess::poisson(5.0),
            cap: None,
        };
        let mut side = closed(2, None);
        side.name = "side".into();
        w.classes.push(side);
        let all = RequestSource::new(&w).all();
        assert_eq!(all[0][0].at, Some(Nanos::ZERO));
        assert!(all[0].windows(2).all(|p| p[0].at < p[1].at));
        assert_eq!(all[1][0].id, 7);
        assert_eq!(all[1][0].session, Some(0));
    }
}
