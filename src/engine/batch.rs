//! Bookkeeping shared by the engine models: the set of decoding sequences and the queue of
//! prompts being prefilled.
//!
//! Every decoding sequence emits one token per step, so a sequence that joins after `s0` steps
//! with `r` tokens to go finishes after step `s0 + r`: finish steps go into a min-heap, and the
//! context sum Σ L_i grows by the member count each step. A step therefore costs O(1) plus
//! O(log n) per sequence that joins or leaves: no per-sequence or per-token loop.

use super::{EngineEvent, ReqId};
use crate::cost::StepShape;
use crate::units::Nanos;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

#[derive(Clone, Copy, Debug)]
struct Member {
    id: ReqId,
    prompt: u32,
    output: u32,
    /// Tokens generated when it joined.
    generated_at_join: u32,
    /// `steps_done` when it joined.
    joined_at_step: u64,
    /// Caller's label (vLLM: admission order, for "preempt the newest").
    tag: u64,
    /// Bumped when the slot is freed, so stale heap entries are recognised.
    generation: u32,
    live: bool,
}

/// A sequence that left the decode set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Departed {
    pub id: ReqId,
    pub tag: u64,
    pub prompt: u32,
    pub output: u32,
    /// Tokens generated so far (== output when it finished).
    pub generated: u32,
}

/// The decoding sequences of one engine.
#[derive(Default, Debug)]
pub struct DecodeSet {
    steps_done: u64,
    /// Σ L_i for the next step, where L_i = prompt + generated tokens.
    context_sum: u64,
    live: u32,
    members: Vec<Member>,
    free: Vec<u32>,
    finish: BinaryHeap<Reverse<(u64, u32, u32)>>,
}

impl DecodeSet {
    pub fn len(&self) -> u32 {
        self.live
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Σ L_i: KV tokens the next decode step reads (and holds after it).
    pub fn context_sum(&self) -> u64 {
        self.context_sum
    }

    /// Adds a sequence that has `generated` tokens (≥ 1) of `output`; returns its slot.
    pub fn join(&mut self, id: ReqId, tag: u64, prompt: u32, output: u32, generated: u32) -> u32 {
        debug_assert!(generated >= 1 && generated < output);
        let member = Member {
            id,
            tag,
            prompt,
            output,
            generated_at_join: generated,
            joined_at_step: self.steps_done,
            generation: 0,
            live: true,
        };
        let slot = match self.free.pop() {
            Some(s) => {
                let generation = self.members[s as usize].generation;
                self.members[s as usize] = Member {
                    generation,
                    ..member
                };
                s
            }
            None => {
                self.members.push(member);
                (self.members.len() - 1) as u32
            }
        };
        let m = &self.members[slot as usize];
        let finish_step = self.steps_done + (output - generated) as u64;
        self.finish.push(Reverse((finish_step, slot, m.generation)));
        self.context_sum += prompt as u64 + generated as u64;
        self.live += 1;
        slot
    }

    /// Adds this set's decode work to a step's shape.
    pub fn add_to_shape(&self, shape: &mut StepShape) {
        shape.seqs += self.live;
        shape.tokens += self.live as u64;
        shape.kv_read_tokens += self.context_sum;
        shape.attention_pairs += self.context_sum as f64;
    }

    fn generated(&self, m: &Member) -> u32 {
        m.generated_at_join + (self.steps_done - m.joined_at_step) as u32
    }

    /// Ends a step: every member emitted a token; members that reached their output leave.
    pub fn advance(&mut self, mut on_finish: impl FnMut(Departed)) {
        self.steps_done += 1;
        self.context_sum += self.live as u64;
        while let Some(&Reverse((step, slot, generation))) = self.finish.peek() {
            if step > self.steps_done {
                break;
            }
            self.finish.pop();
            let m = self.members[slot as usize];
            if !m.live || m.generation != generation {
                continue; // preempted earlier
            }
            let d = self.release(slot);
            on_finish(d);
        }
    }

    /// Removes a live member (preemption); returns what it had generated.
    pub fn remove(&mut self, slot: u32) -> Departed {
        self.release(slot)
    }

    fn release(&mut self, slot: u32) -> Departed {
        let m = self.members[slot as usize];
        debug_assert!(m.live);
        let generated = self.generated(&m);
        self.context_sum -= m.prompt as u64 + generated as u64;
        self.live -= 1;
        let entry = &mut self.members[slot as usize];
        entry.live = false;
        entry.generation = entry.generation.wrapping_add(1);
        self.free.push(slot);
        Departed {
            id: m.id,
            tag: m.tag,
            prompt: m.prompt,
            output: m.output,
            generated,
        }
    }

    /// Removes every live member whose id `gone` says (cancelled requests); a linear scan,
    /// done only in steps that follow a cancellation.
    pub fn remove_where(&mut self, gone: impl Fn(ReqId) -> bool) -> u32 {
        let slots: Vec<u32> = self
            .members
            .iter()
            .enumerate()
            .filter(|(_, m)| m.live && gone(m.id))
            .map(|(i, _)| i as u32)
            .collect();
        for &slot in &slots {
            self.release(slot);
        }
        slots.len() as u32
    }

    /// Σ ceil(L_i / b): KV blocks of `b` tokens the members hold after the next step (a
    /// linear scan: asked only when the cache may be full).
    pub fn blocks(&self, b: u64) -> u64 {
        self.members
            .iter()
            .filter(|m| m.live)
            .map(|m| (m.prompt as u64 + self.generated(m) as u64).div_ceil(b))
            .sum()
    }

    /// Whether `slot` still holds the member `id`.
    pub fn holds(&self, slot: u32, id: ReqId) -> bool {
        self.members
            .get(slot as usize)
            .is_some_and(|m| m.live && m.id == id)
    }

    /// The live member with the largest tag, as (slot, tag). A linear scan: only preemption,
    /// a rare event, asks.
    pub fn largest_tag(&self) -> Option<(u32, u64)> {
        self.members
            .iter()
            .enumerate()
            .filter(|(_, m)| m.live)
            .max_by_key(|(_, m)| m.tag)
            .map(|(i, m)| (i as u32, m.tag))
    }
}

/// A prompt being prefilled (or recomputed after preemption).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PrefillJob {
    pub id: ReqId,
    pub prompt: u32,
    pub output: u32,
    /// Tokens already generated (non-zero only for a recompute after preemption).
    pub generated: u32,
    /// Tokens of `target()` already computed.
    pub done: u32,
    /// Admission order (larger = newer).
    pub order: u64,
    /// When the request was preempted, for the inter-token gap it will report.
    pub preempted_at: Option<Nanos>,
    /// Leading prompt tokens shared by every request of the workload.
    pub shared: u32,
    /// After a preemption: the tokens it had computed, whose blocks stay in the prefix cache
    /// (vLLM frees them to the tail of its LRU queue, and the preempted request returns to the
    /// head of the waiting queue, so they are found again when it is re-admitted).
    pub recompute_cached: Option<u32>,
    /// The conversation (session) the request continues, if any.
    pub conversation: Option<u64>,
}

impl PrefillJob {
    pub fn fresh(id: ReqId, prompt: u32, output: u32) -> PrefillJob {
        PrefillJob {
            id,
            prompt,
            output,
            generated: 0,
            done: 0,
            order: 0,
            preempted_at: None,
            shared: 0,
            recompute_cached: None,
            conversation: None,
        }
    }

    /// Tokens this prefill computes: the prompt, plus generated tokens on recompute.
    pub fn target(&self) -> u32 {
        self.prompt + self.generated
    }

    pub fn remaining(&self) -> u32 {
        self.target() - self.done
    }
}

/// Prompts in prefill, in admission order; each step schedules a prefix of them.
#[derive(Default, Debug)]
pub struct PrefillQueue {
    jobs: VecDeque<PrefillJob>,
    /// Chunk sizes planned for the current step, for the first `planned.len()` jobs.
    planned: Vec<u32>,
    /// Σ done over jobs: KV tokens held by partial prefills.
    done_sum: u64,
}

/// Where a finished prefill goes.
pub enum PrefillOutcome {
    /// Needs more tokens: join the decode set with this many generated.
    Decode(PrefillJob),
    /// Done: its last token came out of the prefill.
    Finished(PrefillJob),
}

impl PrefillQueue {
    pub fn len(&self) -> usize {
        self.jobs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    pub fn done_sum(&self) -> u64 {
        self.done_sum
    }

    pub fn push(&mut self, job: PrefillJob) {
        self.done_sum += job.done as u64;
        self.jobs.push_back(job);
    }

    pub fn newest(&self) -> Option<&PrefillJob> {
        self.jobs.back()
    }

    /// Removes the newest job (preemption); only valid before a plan is made.
    pub fn pop_newest(&mut self) -> Option<PrefillJob> {
        debug_assert!(self.planned.is_empty());
        let job = self.jobs.pop_back()?;
        self.done_sum -= job.done as u64;
        Some(job)
    }

    /// Drops the jobs whose id `gone` says (cancelled requests); only between steps.
    pub fn remove_where(&mut self, gone: impl Fn(ReqId) -> bool) -> u32 {
        debug_assert!(self.planned.is_empty());
        let before = self.jobs.len();
        let mut freed = 0u64;
        self.jobs.retain(|j| {
            let keep = !gone(j.id);
            if !keep {
                freed += j.done as u64;
            }
            keep
        });
        self.done_sum -= freed;
        (before - self.jobs.len()) as u32
    }

    /// Σ ceil(done_j / b): KV blocks the partial prefills hold.
    pub fn blocks(&self, b: u64) -> u64 {
        self.jobs.iter().map(|j| (j.done as u64).div_ceil(b)).sum()
    }

    /// The job the next `plan_chunk` call would schedule.
    pub fn next_unplanned(&self) -> Option<&PrefillJob> {
        self.jobs.get(self.planned.len())
    }

    /// Schedules `chunk` tokens of the next unplanned job and adds them to the step shape.
    pub fn plan_chunk(&mut self, chunk: u32, shape: &mut StepShape) {
        let job = &self.jobs[self.planned.len()];
        debug_assert!(chunk > 0 && chunk <= job.remaining());
        shape.add_prefill_chunk(job.done as u64, chunk as u64);
        self.planned.push(chunk);
    }

    /// Drops the plan of the current step (its requests failed before it ran).
    pub fn unplan(&mut self) {
        self.planned.clear();
    }

    pub fn planned_jobs(&self) -> usize {
        self.planned.len()
    }

    /// The chunks planned for the current step: (request, tokens), in admission order.
    pub fn planned_chunks(&self) -> impl Iterator<Item = (ReqId, u32)> + '_ {
        self.planned
            .iter()
            .zip(&self.jobs)
            .map(|(chunk, job)| (job.id, *chunk))
    }

    /// Applies the planned chunks; jobs whose prompt is complete produce a token and leave.
    /// Emits first-token and resume events; returns the completed jobs through `on_complete`.
    pub fn complete_planned(
        &mut self,
        now: Nanos,
        out: &mut Vec<EngineEvent>,
        mut on_complete: impl FnMut(PrefillOutcome),
    ) {
        let planned = std::mem::take(&mut self.planned);
        for (i, chunk) in planned.iter().enumerate() {
            let job = &mut self.jobs[i];
            job.done += chunk;
            self.done_sum += *chunk as u64;
        }
        // Only the last planned job can be partial: all before it got their whole remainder.
        while let Some(job) = self.jobs.front() {
            if job.done < job.target() {
                break;
            }
            let mut job = self.jobs.pop_front().expect("front exists");
            self.done_sum -= job.done as u64;
            if job.generated == 0 {
                out.push(EngineEvent::FirstToken {
                    id: job.id,
                    at: now,
                });
            } else if let Some(at) = job.preempted_at {
                out.push(EngineEvent::ResumedAfter {
                    id: job.id,
                    gap: now - at,
                });
            }
            job.generated += 1;
            if job.generated >= job.output {
                on_complete(PrefillOutcome::Finished(job));
            } else {
                on_complete(PrefillOutcome::Decode(job));
            }
        }
    }
}

/// The running set of an engine: decoding sequences plus prompts in prefill.
#[derive(Default)]
pub struct RunningBatch {
    pub decode: DecodeSet,
    pub prefill: PrefillQueue,
    /// The current step runs prefills only; decodes wait (vLLM's V0 scheduler).
    pub decodes_paused: bool,
    scratch: Vec<PrefillOutcome>,
}

impl RunningBatch {
    /// Drops cancelled requests from the running set (between steps); how many were running.
    pub fn purge(&mut self, cancelled: &[ReqId]) -> u32 {
        if cancelled.is_empty() {
            return 0;
        }
        let gone = |id: ReqId| cancelled.contains(&id);
        self.decode.remove_where(gone) + self.prefill.remove_where(gone)
    }

    /// Sequences holding a place in the batch (slots or `max_num_seqs` entries).
    pub fn running(&self) -> u32 {
        self.decode.len() + self.prefill.len() as u32
    }

    /// Ends the step: decodes advance one token, planned prefill chunks are applied, finished
    /// prompts join the decode set (tagged with their admission order) or finish. Returns the
    /// step's ITL sample weight (sequences that decoded).
    pub fn finish_step(&mut self, now: Nanos, out: &mut Vec<EngineEvent>) -> u32 {
        let decoded = if self.decodes_paused {
            self.decodes_paused = false;
            0
        } else {
            let n = self.decode.len();
            self.decode.advance(|d| {
                out.push(EngineEvent::Finished {
                    id: d.id,
                    at: now,
                    output_tokens: d.output,
                })
            });
            n
        };
        let mut completed = std::mem::take(&mut self.scratch);
        self.prefill
            .complete_planned(now, out, |outcome| completed.push(outcome));
        for outcome in completed.drain(..) {
            match outcome {
                PrefillOutcome::Finished(job) => out.push(EngineEvent::Finished {
                    id: job.id,
                    at: now,
                    output_tokens: job.output,
                }),
                PrefillOutcome::Decode(job) => {
                    self.decode
                        .join(job.id, job.order, job.prompt, job.output, job.generated);
                }
            }
        }
        self.scratch = completed;
        decoded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_set_finishes_each_sequence_after_its_remaining_steps() {
        let mut d = DecodeSet::default();
        d.join(1, 0, 100, 4, 1); // 3 steps to go
        d.join(2, 1, 10, 2, 1); // 1 step to go
        assert_eq!(d.context_sum(), 101 + 11);
        let mut done = Vec::new();
        d.advance(|x| done.push(x));
        assert_eq!(
            done,
            vec![Departed {
                id: 2,
                tag: 1,
                prompt: 10,
                output: 2,
                generated: 2
            }]
        );
        assert_eq!(d.context_sum(), 102);
        d.advance(|x| done.push(x));
        d.advance(|x| done.push(x));
        assert_eq!(done.len(), 2);
        assert_eq!(done[1].generated, 4);
        assert_eq!(d.context_sum(), 0);
        assert!(d.is_empty());
    }

    #[test]
    fn removed_members_do_not_finish_later() {
        let mut d = DecodeSet::default();
        let s = d.join(7, 0, 50, 10, 1);
        d.advance(|_| panic!("too early"));
        let gone = d.remove(s);
        assert_eq!(gone.generated, 2);
        assert_eq!(d.context_sum(), 0);
        let s2 = d.join(8, 1, 5, 3, 1); // reuses the slot
        assert_eq!(s, s2);
        assert!(!d.holds(s, 7) && d.holds(s, 8));
        let mut done = Vec::new();
        for _ in 0..10 {
            d.advance(|x| done.push(x.id));
        }
        assert_eq!(done, vec![8]);
    }

    #[test]
    fn prefill_queue_completes_a_prefix_and_keeps_the_partial_job() {
        let mut q = PrefillQueue::default();
        q.push(PrefillJob::fresh(1, 100, 5));
        q.push(PrefillJob::fresh(2, 300, 1));
        let mut shape = StepShape::default();
        q.plan_chunk(100, &mut shape);
        q.plan_chunk(150, &mut shape);
        assert_eq!(shape.tokens, 250);
        let mut out = Vec::new();
        let mut completed = 0;
        q.complete_planned(Nanos(10), &mut out, |_| completed += 1);
        assert_eq!(completed, 1);
        assert_eq!(
            out,
            vec![EngineEvent::FirstToken {
                id: 1,
                at: Nanos(10)
            }]
        );
        assert_eq!(q.done_sum(), 150);
        q.plan_chunk(150, &mut shape);
        let mut fin = None;
        q.complete_planned(Nanos(20), &mut out, |o| {
            if let PrefillOutcome::Finished(j) = o {
                fin = Some(j.id)
            }
        });
        assert_eq!(fin, Some(2));
        assert!(q.is_empty());
        assert_eq!(q.done_sum(), 0);
    }
}
