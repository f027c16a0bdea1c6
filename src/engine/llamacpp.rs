//! llama.cpp `llama-server`: `--parallel N` slots, each with `ctx_size / N` tokens of context.
//!
//! A request waits in FIFO order until a slot frees. It takes the free slot whose cached prompt
//! shares the largest part of its own (over 10%, `--slot-prompt-similarity`: its conversation's
//! slot, or one that cached the shared system prompt), else the least recently used free slot
//! (a never used one first, the highest id among equals), as `get_available_slot` does. Each
//! step is one batch: first one sampled token for every generating slot, in slot order, then
//! prompt tokens of slots in prompt processing, until the batch holds `n_batch` tokens
//! (logical batch). The batch runs as forward passes (physical micro-batches), each reading the
//! weights: with a unified KV cache (`--kv-unified`, the default only when `--parallel` is
//! auto) ceil(tokens / `n_ubatch`) of them; otherwise (one KV stream per slot, what an explicit
//! `--parallel N` gives) the cache splits the batch with `split_equal(n_ubatch, sequential)`:
//! a micro-batch takes only sequences of consecutive slot ids, the same number of tokens from
//! each, so decodes in slots {0, 2} are two passes and a decode step with a prompt is at least
//! two. A prompt of at least the slot's context is refused (HTTP 400); generation stops when
//! the slot's context is full, so `max_tokens` beyond it is cut silently, as the server does
//! with context shift off (its default). Slots own their KV: no preemption. Which slot a
//! request takes depends on the server's history: the model starts from a fresh server.

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
    /// `-c`: total context: split evenly across slots, or (`kv_unified`) one pool every
    /// slot may fill alone.
    pub ctx_size: u32,
    /// `-b`: logical batch size (tokens per step).
    pub n_batch: u32,
    /// `-ub`: physical batch size (tokens per forward pass).
    pub n_ubatch: u32,
    /// Prompt caching in slots (`cache_prompt`, on by default) and a queue limit.
    pub admission: Admission,
    /// `--kv-unified`: one KV stream for all slots, a batch split only by size; otherwise
    /// one stream per slot and micro-batches of consecutive slots ([`micro_batches`]). A
    /// calibrated profile's measured `step.slot_split` decides it where present.
    pub kv_unified: bool,
}

impl LlamaCppConfig {
    /// The most tokens one slot holds: `ctx_size / parallel` with a KV stream per slot; the
    /// whole `ctx_size` with a unified cache (llama.cpp `llama_context`: `n_ctx_seq = n_ctx`
    /// when `kv_unified`), which the slots then share ([`RejectReason::ContextExceeded`]).
    pub fn slot_context(&self) -> u32 {
        if self.kv_unified {
            self.ctx_size
        } else {
            self.ctx_size / self.parallel.max(1)
        }
    }

    /// Whether the slots draw on one shared pool of `ctx_size` tokens that they can
    /// overfill together.
    fn shared_pool(&self) -> bool {
        self.kv_unified && self.parallel > 1
    }
}

/// `--slot-prompt-similarity` (llama-server's default): a free slot whose cached prompt
/// covers more than this share of a request's prompt takes it.
pub const SLOT_PROMPT_SIMILARITY: f64 = 0.1;

/// One slot of the server.
#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    /// The request it runs.
    holder: Option<ReqId>,
    /// Its request is generating (past its prompt).
    decoding: bool,
    /// When it last released a request (`t_last_used`; None: never used).
    last_used: Option<Nanos>,
    /// What its cache holds: the conversation of its last request, and whether it had the
    /// workload's shared prefix.
    conversation: Option<u64>,
    shared: bool,
}

/// llama-server's slots: which request each runs, and what decides the next one's slot. The
/// engine and the replay of recorded runs (`calibrate::runs`) share it.
#[derive(Clone, Debug)]
pub struct Slots {
    slots: Vec<Slot>,
}

/// What of a request decides its slot.
#[derive(Clone, Copy, Debug, Default)]
pub struct SlotAsk {
    pub id: ReqId,
    pub prompt: u32,
    /// The conversation it continues, and how many of its prompt's leading tokens that
    /// conversation's slot holds.
    pub conversation: Option<u64>,
    pub conversation_tokens: u32,
    /// Leading tokens shared by every request of the workload.
    pub shared: u32,
}

impl Slots {
    /// `n` slots of a fresh server.
    pub fn new(n: u32) -> Slots {
        Slots {
            slots: vec![Slot::default(); n.max(1) as usize],
        }
    }

    /// Gives `ask` a free slot and returns it (None: all busy): the one whose cache shares the
    /// most of its prompt (over [`SLOT_PROMPT_SIMILARITY`], the first among equals), else the
    /// least recently used (a never used one first, the last among equals).
    pub fn take(&mut self, ask: &SlotAsk) -> Option<usize> {
        let mut best: Option<(usize, f64)> = None;
        for (i, s) in self.slots.iter().enumerate() {
            if s.holder.is_some() {
                continue;
            }
            let common = if ask.conversation.is_some() && s.conversation == ask.conversation {
                ask.conversation_tokens.max(ask.shared)
            } else if s.shared {
                ask.shared
            } else {
                0
            };
            let f = common as f64 / ask.prompt.max(1) as f64;
            if f > SLOT_PROMPT_SIMILARITY && best.is_none_or(|(_, b)| f > b) {
                best = Some((i, f));
            }
        }
        let chosen = best.map(|(i, _)| i).or_else(|| {
            let mut lru: Option<usize> = None;
            for (i, s) in self.slots.iter().enumerate() {
                if s.holder.is_none() && lru.is_none_or(|j| s.last_used <= self.slots[j].last_used)
                {
                    lru = Some(i);
                }
            }
            lru
        })?;
        let s = &mut self.slots[chosen];
        s.holder = Some(ask.id);
        s.conversation = ask.conversation;
        s.shared = ask.shared > 0;
        Some(chosen)
    }

    /// The slot running request `id`.
    pub fn slot_of(&self, id: ReqId) -> Option<usize> {
        self.slots.iter().position(|s| s.holder == Some(id))
    }

    /// Request `id` is past its prompt.
    pub fn start_decoding(&mut self, id: ReqId) {
        if let Some(i) = self.slot_of(id) {
            self.slots[i].decoding = true;
        }
    }

    /// Request `id` is done (or dropped) at `now`: its slot is free, and used last now.
    pub fn release(&mut self, id: ReqId, now: Nanos) {
        if let Some(i) = self.slot_of(id) {
            let s = &mut self.slots[i];
            s.holder = None;
            s.decoding = false;
            s.last_used = Some(now);
        }
    }

    /// The slots whose request is generating, in slot order.
    pub fn decoding(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.slots.len()).filter(|&i| self.slots[i].decoding)
    }

    /// The slots running a request, in slot order.
    pub fn busy(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.slots.len()).filter(|&i| self.slots[i].holder.is_some())
    }

    /// The request slot `i` serves.
    pub fn holder(&self, i: usize) -> Option<ReqId> {
        self.slots.get(i).and_then(|s| s.holder)
    }
}

pub struct LlamaCppEngine {
    cfg: LlamaCppConfig,
    core: EngineCore,
    slots: Slots,
    /// Scratch for a step's micro-batch split: (slot, tokens) in batch order.
    entries: Vec<(u32, u64)>,
}

impl LlamaCppEngine {
    /// An engine stepping with `cost`; `seed` seeds its step noise.
    pub fn new(cfg: LlamaCppConfig, cost: CostModel, seed: u64) -> LlamaCppEngine {
        LlamaCppEngine {
            slots: Slots::new(cfg.parallel),
            cfg,
            core: EngineCore::new(cost, seed),
            entries: Vec::new(),
        }
    }

    /// Forward passes of the step just planned.
    fn passes(&mut self, tokens: u64) -> u32 {
        let n_ubatch = self.cfg.n_ubatch.max(1);
        if self.cfg.kv_unified || self.cfg.parallel <= 1 {
            return tokens.div_ceil(n_ubatch as u64) as u32;
        }
        let mut entries = std::mem::take(&mut self.entries);
        entries.clear();
        entries.extend(self.slots.decoding().map(|i| (i as u32, 1)));
        let decodes = entries.len();
        for (id, chunk) in self.core.batch.prefill.planned_chunks() {
            if let Some(i) = self.slots.slot_of(id) {
                entries.push((i as u32, chunk as u64));
            }
        }
        entries[decodes..].sort_unstable_by_key(|e| e.0);
        let passes = micro_batches(&mut entries, n_ubatch);
        self.entries = entries;
        passes
    }

    /// Admits queued requests to free slots and plans the next step: every decode, then
    /// prompt chunks up to `n_batch`. None when there is nothing to run.
    fn plan_step(&mut self, now: Nanos, out: &mut Vec<EngineEvent>) -> Option<StepShape> {
        for &id in &self.core.cancelled {
            self.slots.release(id, now);
        }
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
            self.slots.take(&SlotAsk {
                id: job.id,
                prompt: job.prompt,
                conversation: job.conversation,
                conversation_tokens: job.done,
                shared: job.shared,
            });
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
        shape.passes = self.passes(shape.tokens);
        Some(shape)
    }

    /// Whether the step planned would hold more KV tokens than the unified pool has: what
    /// every slot in progress holds after it (decodes, prompts so far and this step's chunks).
    fn overfills(&self) -> bool {
        let batch = &self.core.batch;
        let chunks: u64 = batch.prefill.planned_chunks().map(|(_, c)| c as u64).sum();
        batch.decode.context_sum() + batch.prefill.done_sum() + chunks > self.cfg.ctx_size as u64
    }

    /// llama-server when a decode finds no room in a unified KV cache, even one token at a
    /// time (`update_slots`: "Context size has been exceeded."): every slot in progress gets
    /// the error and is released.
    fn fail_all_processing(&mut self, now: Nanos, out: &mut Vec<EngineEvent>) {
        self.core.batch.prefill.unplan();
        let held: Vec<ReqId> = self
            .slots
            .busy()
            .filter_map(|i| self.slots.holder(i))
            .collect();
        self.core.batch.purge(&held);
        for id in held {
            self.slots.release(id, now);
            out.push(EngineEvent::Rejected {
                id,
                at: now,
                reason: RejectReason::ContextExceeded,
            });
        }
    }
}

/// How many micro-batches (forward passes) llama.cpp's KV cache with one stream per sequence
/// splits a batch into: `llama_batch_allocr::split_equal(n_ubatch, sequential = true)`, as
/// `llama_kv_cache::init_batch` calls it. `entries` are (sequence id, tokens) in batch order
/// (each sequence's tokens together); they are used up. Each micro-batch takes, scanning the
/// batch in order, the first sequence with tokens left and then only the next id up
/// ("accept only increasing sequence ids"), and from each of them the same number of tokens:
/// as many as the one with the fewest left has, at most `n_ubatch / sequences` (at least 1).
pub fn micro_batches(entries: &mut [(u32, u64)], n_ubatch: u32) -> u32 {
    let n_ubatch = n_ubatch.max(1) as u64;
    let mut passes = 0;
    loop {
        // The scan is run twice over the same entries (it picks the same set both times):
        // once to size the micro-batch, once to take its tokens, so no set is stored.
        let (mut members, mut fewest) = (0u64, u64::MAX);
        micro_batch_members(entries, n_ubatch, |e| {
            members += 1;
            fewest = fewest.min(e.1);
        });
        if members == 0 {
            return passes;
        }
        let each = fewest.min((n_ubatch / members).max(1));
        micro_batch_members(entries, n_ubatch, |e| e.1 -= each);
        passes += 1;
    }
}

/// Calls `take` on each entry the next micro-batch takes tokens from, in batch order: the
/// first with tokens left, then only the next sequence id up, until more than `n_ubatch`.
fn micro_batch_members(
    entries: &mut [(u32, u64)],
    n_ubatch: u64,
    mut take: impl FnMut(&mut (u32, u64)),
) {
    let mut last: Option<u32> = None;
    let mut members = 0u64;
    for e in entries.iter_mut() {
        if e.1 == 0 {
            continue;
        }
        let seq = e.0;
        if last.is_none_or(|l| seq == l + 1) {
            take(e);
            last = Some(seq);
            members += 1;
            if members > n_ubatch {
                break;
            }
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

    fn start_step(&mut self, now: Nanos, out: &mut Vec<EngineEvent>) -> Option<Nanos> {
        loop {
            let shape = self.plan_step(now, out)?;
            if self.cfg.shared_pool() && self.overfills() {
                self.fail_all_processing(now, out);
                continue;
            }
            self.core.stats.max_running =
                self.core.stats.max_running.max(self.core.batch.running());
            return Some(self.core.step(&shape));
        }
    }

    fn finish_step(&mut self, now: Nanos, out: &mut Vec<EngineEvent>) -> u32 {
        let from = out.len();
        let decoded = self.core.batch.finish_step(now, out);
        for event in &out[from..] {
            match *event {
                EngineEvent::FirstToken { id, .. } => self.slots.start_decoding(id),
                EngineEvent::Finished { id, .. } => self.slots.release(id, now),
                _ => {}
            }
        }
        decoded
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

#[cfg(test)]
mod tests {
    use super::*;

    fn passes(entries: &[(u32, u64)], n_ubatch: u32) -> u32 {
        micro_batches(&mut entries.to_vec(), n_ubatch)
    }

    #[test]
    fn decodes_in_consecutive_slots_are_one_pass_and_a_gap_splits_them() {
        // What llama-server measured with requests pinned to slots (one KV stream per slot):
        // {0,1}, {2,3}, {1,2,3} and {0,1,2,3} one step each; {0,2} two single steps; {0,1,3}
        // the pair plus a single.
        for slots in [&[0u32, 1][..], &[2, 3], &[1, 2, 3], &[0, 1, 2, 3], &[3]] {
            let e: Vec<(u32, u64)> = slots.iter().map(|&s| (s, 1)).collect();
            assert_eq!(passes(&e, 512), 1, "slots {slots:?}");
        }
        assert_eq!(passes(&[(0, 1), (2, 1)], 512), 2);
        assert_eq!(passes(&[(0, 1), (1, 1), (3, 1)], 512), 2);
        assert_eq!(passes(&[(0, 1), (2, 1), (3, 1)], 512), 2);
    }

    #[test]
    fn a_prompt_beside_decodes_takes_a_pass_of_its_own_and_long_prompts_split_by_size() {
        // Decodes in slots 0 and 1, a 300-token prompt in slot 2: one pass takes one token of
        // each (the decodes have no more), the next the prompt's other 299.
        assert_eq!(passes(&[(0, 1), (1, 1), (2, 300)], 512), 2);
        // Two prompts in consecutive slots share passes, 256 tokens of each at most.
        assert_eq!(passes(&[(1, 300), (2, 300)], 512), 2);
        // Apart, each runs alone: 300 tokens is one pass each.
        assert_eq!(passes(&[(0, 300), (2, 300)], 512), 2);
        // One prompt alone is split by size only.
        assert_eq!(passes(&[(0, 1200)], 512), 3);
        assert_eq!(passes(&[], 512), 0);
    }

    fn engine(parallel: u32) -> LlamaCppEngine {
        let cfg = LlamaCppConfig {
            parallel,
            ctx_size: 4096 * parallel,
            n_batch: 2048,
            n_ubatch: 512,
            admission: Admission {
                prefix_caching: true,
                max_queue: None,
                hit_granularity: 1,
            },
            kv_unified: false,
        };
        let cost = crate::cost::CostModel::new(
            &crate::model::ModelShape::preset("mistral-7b").unwrap(),
            crate::model::Dtype::Bf16,
            crate::model::Dtype::Bf16,
            &crate::hardware::lookup("rtx4090").unwrap(),
            crate::cost::Coefficients::datasheet_defaults(),
            crate::cost::Physics::plain(crate::cost::EngineFamily::LlamaCpp),
        )
        .with_measured(crate::cost::MeasuredStep {
            overhead_ms: 0.0,
            per_seq_ms: 2.0,
            weights_ms_per_pass: 12.0,
            kv_ns_per_token: 0.0,
            compute_us_per_token: 1500.0,
            attention_ns_per_pair: 0.0,
            request_latency_ms: 0.0,
            decode_batch_factors: Vec::new(),
            step_cv: Some(0.0),
            api_server_engine_share: None,
            stalls: None,
            idle_wakeup: None,
            slot_split: None,
        });
        LlamaCppEngine::new(cfg, cost, 1)
    }

    fn request(id: ReqId, conversation: Option<u64>, cached: u32) -> EngineRequest {
        EngineRequest {
            id,
            input_tokens: 100,
            output_tokens: 3,
            cached_tokens: cached,
            shared_prefix: 0,
            conversation,
        }
    }

    fn holders(e: &LlamaCppEngine) -> Vec<Option<ReqId>> {
        e.slots.slots.iter().map(|s| s.holder).collect()
    }

    /// Finishes the step started at `now` and runs steps until no work is left; returns the
    /// time.
    fn drain(
        e: &mut LlamaCppEngine,
        started: Option<(Nanos, Nanos)>,
        out: &mut Vec<EngineEvent>,
    ) -> Nanos {
        let mut now = Nanos(0);
        if let Some((at, dt)) = started {
            now = at + dt;
            e.finish_step(now, out);
        }
        while let Some(dt) = e.start_step(now, out) {
            now += dt;
            e.finish_step(now, out);
        }
        now
    }

    #[test]
    fn a_request_takes_the_least_recently_used_slot_and_a_fresh_server_fills_from_the_top() {
        let mut e = engine(4);
        let mut out = Vec::new();
        for id in 0..2 {
            e.submit(request(id, None, 0), Nanos(0), &mut out);
        }
        let dt = e.start_step(Nanos(0), &mut out).unwrap();
        // Never used slots tie; llama-server's `<=` keeps the last of them.
        assert_eq!(holders(&e), vec![None, None, Some(1), Some(0)]);
        let now = drain(&mut e, Some((Nanos(0), dt)), &mut out);
        // Slots 0 and 1 were never used: the next two go there, 1 first.
        for id in 2..4 {
            e.submit(request(id, None, 0), now, &mut out);
        }
        let dt = e.start_step(now, &mut out).unwrap();
        assert_eq!(holders(&e), vec![Some(3), Some(2), None, None]);
        let now = drain(&mut e, Some((now, dt)), &mut out);
        // All used now: slot 3 was released first of the first two (both at the same time, the
        // last of equals wins), so the least recently used are 2 and 3 again.
        e.submit(request(4, None, 0), now, &mut out);
        e.start_step(now, &mut out);
        assert_eq!(holders(&e), vec![None, None, None, Some(4)]);
    }

    #[test]
    fn a_later_turn_goes_to_the_slot_holding_its_conversation() {
        let mut e = engine(4);
        let mut out = Vec::new();
        e.submit(request(0, Some(7), 0), Nanos(0), &mut out);
        let now = drain(&mut e, None, &mut out);
        assert_eq!(e.slots.slots[3].conversation, Some(7));
        // Another request takes the least recently used slot (2, never used); the next turn of
        // conversation 7, 60 of its 100 tokens cached, its slot 3.
        e.submit(request(1, None, 0), now, &mut out);
        e.submit(request(2, Some(7), 60), now, &mut out);
        e.start_step(now, &mut out);
        assert_eq!(holders(&e), vec![None, None, Some(1), Some(2)]);
    }

    #[test]
    fn decodes_in_slots_apart_step_slower_than_side_by_side() {
        // Two requests decoding in slots 2 and 3 (a fresh server's first two) step as one pass;
        // with a third in slot 1 they still do; one in slot 0 with slot 1 empty splits them.
        let step_of = |slots: &[usize]| {
            let mut e = engine(4);
            for (k, &i) in slots.iter().enumerate() {
                e.slots.slots[i].holder = Some(k as ReqId);
                e.slots.slots[i].decoding = true;
            }
            e.passes(slots.len() as u64)
        };
        assert_eq!(step_of(&[2, 3]), 1);
        assert_eq!(step_of(&[1, 2, 3]), 1);
        assert_eq!(step_of(&[0, 2, 3]), 2);
        assert_eq!(step_of(&[0, 3]), 2);
    }

    #[test]
    fn a_unified_cache_lets_one_slot_fill_it_and_fails_every_slot_when_they_overfill_it() {
        // 4 slots sharing 1000 tokens: one 700-token prompt fits (a slot of its own would
        // hold 250); two of them, 1400 tokens together, exceed the pool: both fail at once,
        // as llama-server answers "Context size has been exceeded" to every slot in progress.
        let mut e = engine(4);
        e.cfg.ctx_size = 1000;
        e.cfg.kv_unified = true;
        assert_eq!(e.cfg.slot_context(), 1000);
        let long = |id| EngineRequest {
            input_tokens: 700,
            ..request(id, None, 0)
        };
        let mut out = Vec::new();
        e.submit(long(0), Nanos(0), &mut out);
        drain(&mut e, None, &mut out);
        assert!(out
            .iter()
            .any(|ev| matches!(ev, EngineEvent::Finished { id: 0, .. })));
        out.clear();
        e.submit(long(1), Nanos(0), &mut out);
        e.submit(long(2), Nanos(0), &mut out);
        drain(&mut e, None, &mut out);
        let mut failed: Vec<ReqId> = out
            .iter()
            .filter_map(|ev| match ev {
                EngineEvent::Rejected {
                    id,
                    reason: RejectReason::ContextExceeded,
                    ..
                } => Some(*id),
                _ => None,
            })
            .collect();
        failed.sort_unstable();
        assert_eq!(failed, vec![1, 2], "{out:?}");
        assert_eq!(e.slots.busy().count(), 0, "every slot is released");
        // With a stream per slot the same prompt is refused up front (HTTP 400).
        e.cfg.kv_unified = false;
        assert_eq!(e.cfg.slot_context(), 250);
    }
}
