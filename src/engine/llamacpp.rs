//! llama.cpp `llama-server`: `--parallel N` slots, each with `ctx_size / N` tokens of context.
//!
//! A request waits in FIFO order until a slot frees. Each step is one unified batch: first one
//! sampled token for every generating slot, then prompt tokens of slots in prompt processing,
//! until the batch holds `n_batch` tokens (logical batch); the batch runs as
//! ceil(tokens / `n_ubatch`) forward passes (physical micro-batches), each reading the weights.
//! A prompt of at least the slot's context is refused (HTTP 400); generation stops when the
//! slot's context is full, so `max_tokens` beyond it is cut silently, as the server does with
//! context shift off (its default). Slots own their KV: no preemption.

use super::{
    Admission, Engine, EngineCore, EngineEvent, EngineRequest, EngineStats, RejectReason, ReqId,
};
use crate::cost::{CostModel, StepShape};
use crate::units::Nanos;

/// Server flags that shape scheduling.
#[derive(Clone, Debug, PartialEq)]
pub struct LlamaCppConfig {
    /// `--parallel`: number of slots.
    pub parallel: u32,
    /// `-c`: total context, split evenly across slots.
    pub ctx_size: u32,
    /// `-b`: logical batch size (tokens per step).
    pub n_batch: u32,
    /// `-ub`: physical batch size (tokens per forward pass).
    pub n_ubatch: u32,
    /// Prompt caching in slots (`cache_prompt`, on by default) and a queue limit.
    pub admission: Admission,
}

impl LlamaCppConfig {
    pub fn slot_context(&self) -> u32 {
        self.ctx_size / self.parallel.max(1)
    }
}

pub struct LlamaCppEngine {
    cfg: LlamaCppConfig,
    core: EngineCore,
}

impl LlamaCppEngine {
    /// An engine stepping with `cost`; `seed` seeds its step noise.
    pub fn new(cfg: LlamaCppConfig, cost: CostModel, seed: u64) -> LlamaCppEngine {
        LlamaCppEngine {
            cfg,
            core: EngineCore::new(cost, seed),
        }
    }
}

impl Engine for LlamaCppEngine {
    fn submit(&mut self, req: EngineRequest, now: Nanos, out: &mut Vec<EngineEvent>) {
        let slot_ctx = self.cfg.slot_context();
        if req.input_tokens >= slot_ctx {
            self.core.stats.rejected += 1;
            out.push(EngineEvent::Rejected {
                id: req.id,
                at: now,
                reason: RejectReason::ExceedsSlotContext,
            });
            return;
        }
        let output = req.output_tokens.min(slot_ctx - req.input_tokens).max(1);
        let job =
            self.cfg
                .admission
                .job(&req, output, self.core.waiting.len(), &mut self.core.stats);
        super::enqueue(
            job,
            req.id,
            now,
            &mut self.core.waiting,
            &mut self.core.stats,
            out,
        );
    }

    fn start_step(&mut self, _now: Nanos, out: &mut Vec<EngineEvent>) -> Option<Nanos> {
        self.core.drop_cancelled();
        // Free slots take queued requests in arrival order; a slot that served the shared
        // prefix before keeps it cached (one request a slot warms them all).
        while self.core.batch.running() < self.cfg.parallel {
            let Some(mut job) = self.core.waiting.pop_front() else {
                break;
            };
            let done =
                self.core
                    .done_at_admission(&job, &self.cfg.admission, self.cfg.parallel as u64);
            self.core.admit(&mut job, done, out);
            self.core.batch.prefill.push(job);
        }
        let mut shape = StepShape::default();
        self.core.batch.decode.add_to_shape(&mut shape);
        let mut room = (self.cfg.n_batch as u64).saturating_sub(shape.tokens);
        while room > 0 {
            let Some(job) = self.core.batch.prefill.next_unplanned() else {
                break;
            };
            let chunk = (job.remaining() as u64).min(room);
            self.core.batch.prefill.plan_chunk(chunk as u32, &mut shape);
            room -= chunk;
        }
        if shape.tokens == 0 {
            return None;
        }
        shape.passes = shape.tokens.div_ceil(self.cfg.n_ubatch.max(1) as u64) as u32;
        self.core.stats.max_running = self.core.stats.max_running.max(self.core.batch.running());
        Some(self.core.step(&shape))
    }

    fn finish_step(&mut self, now: Nanos, out: &mut Vec<EngineEvent>) -> u32 {
        self.core.batch.finish_step(now, out)
    }

    fn outstanding(&self) -> u32 {
        self.core.waiting.len() as u32 + self.core.batch.running()
    }

    fn kv_load(&self) -> f64 {
        self.core.batch.running() as f64 / self.cfg.parallel.max(1) as f64
    }

    fn stats(&self) -> EngineStats {
        self.core.stats
    }

    fn cancel(&mut self, id: ReqId) {
        self.core.cancelled.push(id);
    }
}
