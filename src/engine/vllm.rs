//! vLLM-style continuous batching (the V1 scheduler, and V0's prefill-first steps for vLLM
//! before 0.8; SGLang and TGI map here with their own defaults).
//!
//! Each step: every running decode gets one token; partial prefills continue in admission
//! order; then waiting requests are admitted (FIFO) while `max_num_seqs` and the token budget
//! `max_num_batched_tokens` allow, a long prompt taking a chunk of what is left (chunked
//! prefill). The KV cache is paged; block rounding is modelled as one spare block per running
//! sequence. When the running set would outgrow the cache, the newest running request is
//! preempted: its KV is freed and it goes back to the front of the queue, to be recomputed
//! (prompt plus the tokens it had generated) when admitted again. A request whose prompt plus
//! `max_tokens` exceeds `max_model_len` is refused (HTTP 400), as vLLM does.

use super::batch::PrefillJob;
use super::{Admission, EngineCore};
use super::{Engine, EngineEvent, EngineRequest, EngineStats, RejectReason, ReqId};
use crate::cost::{CostModel, StepShape};
use crate::units::{Bytes, Nanos};

/// Scheduler limits of a vLLM-style engine.
#[derive(Clone, Debug, PartialEq)]
pub struct VllmConfig {
    /// Most sequences running at once.
    pub max_num_seqs: u32,
    /// Token budget of one step (decodes + prefill chunks).
    pub max_num_batched_tokens: u32,
    /// Longest prompt + output a request may have.
    pub max_model_len: u32,
    /// Whether prompts longer than the budget are split across steps.
    pub chunked_prefill: bool,
    /// KV-cache capacity in tokens (whole replica).
    pub kv_capacity_tokens: u64,
    /// Paged-KV block size in tokens (one spare block per running sequence is reserved).
    pub block_size: u32,
    /// Prefix caching (`enable_prefix_caching`, on by default in vLLM v1) and a queue limit.
    pub admission: Admission,
    /// Which of vLLM's schedulers runs the steps.
    pub scheduler: Scheduler,
}

/// vLLM's two schedulers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheduler {
    /// V1 (vLLM ≥ 0.8): running requests first, then waiting ones, in one mixed step.
    V1,
    /// V0 (vLLM < 0.8) without chunked prefill: a step either prefills waiting prompts (as
    /// many whole prompts as fit, decodes wait) or decodes every running request
    /// (vllm/core/scheduler.py `_schedule_default`: "Don't schedule decodes if prefills are
    /// scheduled"). With chunked prefill V0 orders work as V1 does.
    V0,
}

/// KV-cache capacity in tokens, as vLLM sizes it: the memory share left after weights and the
/// activation peak of a full token budget.
pub fn kv_capacity_tokens(
    total_memory: Bytes,
    gpu_memory_utilization: f64,
    weights: Bytes,
    activation_reserve: Bytes,
    kv_per_token: Bytes,
) -> i64 {
    let free = total_memory.0 * gpu_memory_utilization - weights.0 - activation_reserve.0;
    (free / kv_per_token.0).floor() as i64
}

/// The activation and runtime memory vLLM sets aside: ~1 GiB of CUDA graphs and buffers, the
/// hidden and MLP activations of a full token budget in 16 bits, and fp32 logits for the
/// largest batch.
pub fn activation_reserve(
    max_num_batched_tokens: u32,
    max_num_seqs: u32,
    hidden: u32,
    intermediate: u32,
    vocab: u32,
) -> Bytes {
    let tokens = max_num_batched_tokens as f64;
    Bytes(
        Bytes::GIB
            + tokens * (4.0 * hidden as f64 + 2.0 * intermediate as f64) * 2.0
            + max_num_seqs as f64 * vocab as f64 * 4.0,
    )
}

pub struct VllmEngine {
    cfg: VllmConfig,
    core: EngineCore,
    next_order: u64,
    /// Start of the first prefill-only step since the decodes last emitted a token (V0).
    paused_since: Option<Nanos>,
}

impl VllmEngine {
    /// An engine stepping with `cost`; `seed` seeds its step noise.
    pub fn new(cfg: VllmConfig, cost: CostModel, seed: u64) -> VllmEngine {
        VllmEngine {
            cfg,
            core: EngineCore::new(cost, seed),
            next_order: 0,
            paused_since: None,
        }
    }

    /// KV blocks the cache holds for running sequences: the block pool less vLLM's null block.
    fn capacity_blocks(&self) -> u64 {
        (self.cfg.kv_capacity_tokens / self.block())
            .saturating_sub(1)
            .max(1)
    }

    fn block(&self) -> u64 {
        self.cfg.block_size.max(1) as u64
    }

    /// KV blocks the running set holds after the coming step (each decode with its next
    /// token, each partial prefill with what it computed): a cheap upper bound, Σ tokens / b
    /// plus one block a sequence, and the exact Σ ceil(tokens / b) only when the bound says
    /// the cache may be full.
    fn used_blocks(&self, room_for: u64) -> u64 {
        let b = self.block();
        let batch = &self.core.batch;
        let upper =
            (batch.decode.context_sum() + batch.prefill.done_sum()) / b + batch.running() as u64;
        if upper + room_for <= self.capacity_blocks() {
            upper
        } else {
            batch.decode.blocks(b) + batch.prefill.blocks(b)
        }
    }

    /// Preempts the newest running request back to the head of the queue; false when none runs.
    fn preempt_newest(&mut self, now: Nanos, out: &mut Vec<EngineEvent>) -> bool {
        let newest_decode = self.core.batch.decode.largest_tag();
        let newest_prefill = self.core.batch.prefill.newest().map(|j| j.order);
        let job = match (newest_decode, newest_prefill) {
            (None, None) => return false,
            (Some((slot, tag)), p) if p.is_none_or(|p| tag > p) => {
                let gone = self.core.batch.decode.remove(slot);
                PrefillJob {
                    id: gone.id,
                    prompt: gone.prompt,
                    output: gone.output,
                    generated: gone.generated,
                    done: 0,
                    order: 0,
                    preempted_at: Some(now),
                    shared: 0,
                    // Its newest token's KV is not computed yet.
                    recompute_cached: Some(gone.prompt + gone.generated - 1),
                    conversation: None,
                }
            }
            _ => {
                let mut job = self
                    .core
                    .batch
                    .prefill
                    .pop_newest()
                    .expect("a prefill runs");
                job.recompute_cached = Some(job.done.max(job.recompute_cached.unwrap_or(0)));
                job.done = 0;
                if job.generated > 0 && job.preempted_at.is_none() {
                    job.preempted_at = Some(now);
                }
                job
            }
        };
        out.push(EngineEvent::Preempted { id: job.id });
        self.core.stats.preemptions += 1;
        self.core.waiting.push_front(job);
        true
    }
}

impl VllmEngine {
    /// V0 without chunked prefill: admits whole waiting prompts (FIFO) while sequences, the
    /// token budget and the KV cache allow and runs them alone; None when none can start.
    fn v0_prefill_step(&mut self, now: Nanos, out: &mut Vec<EngineEvent>) -> Option<Nanos> {
        let (b, cap) = (self.block(), self.capacity_blocks());
        let mut shape = StepShape {
            passes: 1,
            ..StepShape::default()
        };
        let mut budget = self.cfg.max_num_batched_tokens as u64;
        let mut planned = 0u64;
        while self.core.batch.running() < self.cfg.max_num_seqs {
            let Some(front) = self.core.waiting.front() else {
                break;
            };
            let mut job = *front;
            let done = self.core.done_at_admission(&job, &self.cfg.admission, 1);
            let remaining = (job.target() - done) as u64;
            let whole = (job.target() as u64).div_ceil(b);
            if remaining > budget || self.used_blocks(planned + whole) + planned + whole > cap {
                break;
            }
            self.core.waiting.pop_front();
            self.core.admit(&mut job, done, out);
            job.order = self.next_order;
            self.next_order += 1;
            self.core.batch.prefill.push(job);
            self.core
                .batch
                .prefill
                .plan_chunk(remaining as u32, &mut shape);
            planned += whole - (done as u64).div_ceil(b);
            budget -= remaining;
        }
        if shape.tokens == 0 {
            return None;
        }
        if !self.core.batch.decode.is_empty() {
            self.core.batch.decodes_paused = true;
            self.paused_since.get_or_insert(now);
        }
        self.core.stats.max_running = self.core.stats.max_running.max(self.core.batch.running());
        Some(self.core.step(&shape))
    }
}

impl Engine for VllmEngine {
    fn submit(&mut self, req: EngineRequest, now: Nanos, out: &mut Vec<EngineEvent>) {
        let total = req.input_tokens as u64 + req.output_tokens as u64;
        let reason = if total > self.cfg.max_model_len as u64 {
            Some(RejectReason::ExceedsMaxModelLen)
        } else if total.div_ceil(self.block()) > self.capacity_blocks() {
            Some(RejectReason::ExceedsKvCapacity)
        } else {
            None
        };
        let job = match reason {
            Some(reason) => Err(reason),
            None => self.cfg.admission.job(
                &req,
                req.output_tokens,
                self.core.waiting.len(),
                &mut self.core.stats,
            ),
        };
        super::enqueue(
            job,
            req.id,
            now,
            &mut self.core.waiting,
            &mut self.core.stats,
            out,
        );
    }

    fn start_step(&mut self, now: Nanos, out: &mut Vec<EngineEvent>) -> Option<Nanos> {
        self.core.drop_cancelled();
        let v0 = self.cfg.scheduler == Scheduler::V0 && !self.cfg.chunked_prefill;
        if v0 && self.core.batch.prefill.is_empty() {
            if let Some(dt) = self.v0_prefill_step(now, out) {
                return Some(dt);
            }
        }
        let (b, cap) = (self.block(), self.capacity_blocks());
        // Running decodes first: each needs the block its next token goes into; while they do
        // not fit, the newest running request is preempted (vLLM v1 recompute).
        let mut preempted = false;
        while !self.core.batch.decode.is_empty() && self.used_blocks(0) > cap {
            preempted |= self.preempt_newest(now, out);
        }
        let mut shape = StepShape {
            passes: 1,
            ..StepShape::default()
        };
        self.core.batch.decode.add_to_shape(&mut shape);
        let mut budget = (self.cfg.max_num_batched_tokens as u64).saturating_sub(shape.tokens);
        // Blocks the chunks planned so far add.
        let mut planned = 0u64;
        // Partial prefills continue, oldest first.
        while budget > 0 {
            let Some(job) = self.core.batch.prefill.next_unplanned() else {
                break;
            };
            let chunk = (job.remaining() as u64).min(budget);
            let done = job.done as u64;
            let need = (done + chunk).div_ceil(b) - done.div_ceil(b);
            if self.used_blocks(planned + need) + planned + need > cap {
                if shape.tokens == 0 && self.core.batch.prefill.len() > 1 {
                    // Only partial prefills hold the cache: free the newest so the oldest moves.
                    preempted |= self.preempt_newest(now, out);
                    continue;
                }
                // Otherwise wait for decodes to finish and free blocks.
                break;
            }
            self.core.batch.prefill.plan_chunk(chunk as u32, &mut shape);
            planned += need;
            budget -= chunk;
        }
        // Admit waiting requests (FIFO) while sequences, budget and blocks allow; none in a
        // step that preempted (vLLM v1). An unscheduled partial prefill keeps its place.
        while !preempted
            && !v0
            && budget > 0
            && self.core.batch.running() < self.cfg.max_num_seqs
            && self.core.batch.prefill.next_unplanned().is_none()
        {
            let Some(front) = self.core.waiting.front() else {
                break;
            };
            let mut job = *front;
            let done = self.core.done_at_admission(&job, &self.cfg.admission, 1);
            let remaining = (job.target() - done) as u64;
            if !self.cfg.chunked_prefill && remaining > budget {
                break;
            }
            let chunk = remaining.min(budget);
            // A cached prefix holds its blocks from admission on. vLLM v1 admits a waiting
            // request only when its whole sequence fits in the free blocks
            // (`scheduler_reserve_full_isl`, on by default), though it allocates the chunk.
            let need = (done as u64 + chunk).div_ceil(b);
            let whole = (job.target() as u64).div_ceil(b);
            if self.used_blocks(planned + whole) + planned + whole > cap {
                break;
            }
            self.core.waiting.pop_front();
            self.core.admit(&mut job, done, out);
            job.order = self.next_order;
            self.next_order += 1;
            self.core.batch.prefill.push(job);
            self.core.batch.prefill.plan_chunk(chunk as u32, &mut shape);
            // The job now counts in used_blocks with its cached prefix; the chunk is planned.
            planned += need - (done as u64).div_ceil(b);
            budget -= chunk;
        }
        if shape.tokens == 0 {
            return None;
        }
        self.core.stats.max_running = self.core.stats.max_running.max(self.core.batch.running());
        Some(self.core.step(&shape))
    }

    fn finish_step(&mut self, now: Nanos, out: &mut Vec<EngineEvent>) -> u32 {
        if !self.core.batch.decodes_paused {
            self.paused_since = None;
        }
        self.core.batch.finish_step(now, out)
    }

    fn decode_gap_start(&self, step_start: Nanos) -> Nanos {
        self.paused_since.unwrap_or(step_start)
    }

    fn outstanding(&self) -> u32 {
        self.core.waiting.len() as u32 + self.core.batch.running()
    }

    fn kv_load(&self) -> f64 {
        let b = self.block();
        let held = self.core.batch.decode.context_sum() + self.core.batch.prefill.done_sum();
        held as f64 / (self.capacity_blocks() * b) as f64
    }

    fn stats(&self) -> EngineStats {
        self.core.stats
    }

    fn cancel(&mut self, id: ReqId) {
        self.core.cancelled.push(id);
    }

    /// vLLM's engine loop blocks on its input queue when idle and schedules the moment a
    /// request arrives: no window.
    fn idle_window(&self, _request_latency: Nanos) -> Nanos {
        Nanos::ZERO
    }
}
