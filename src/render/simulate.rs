//! What `simulate` prints: the scenario's header (model, hardware, engine limits, cost
//! model), capacity facts, the summary table, the sweep's knee and plateau, and per-class,
//! per-turn and per-task results where the workload has them.

use super::table::table;
use crate::spec::EngineSpec;
use crate::study::simulate::Study;

/// The header line of a study.
pub fn header(study: &Study) -> String {
    let first = &study.specs[0];
    format!(
        "{}: {} on {}{} ({}), {} replica(s); cost model: {}\n",
        first.name,
        first.model.name,
        if first.cost.gpus() > 1 {
            format!("{}x ", first.cost.gpus())
        } else {
            String::new()
        },
        first.device.name,
        match &first.engine {
            EngineSpec::Vllm { flavor, config } => format!(
                "{flavor}: max_num_seqs {}, budget {} tokens, KV {} tokens, max_model_len {}",
                config.max_num_seqs,
                config.max_num_batched_tokens,
                config.kv_capacity_tokens,
                config.max_model_len
            ),
            EngineSpec::LlamaCpp(c) => format!(
                "llama.cpp: {} slots x {} tokens, n_batch {}, n_ubatch {}{}",
                c.parallel,
                c.slot_context(),
                c.n_batch,
                c.n_ubatch,
                match (c.parallel > 1, c.kv_unified) {
                    (false, _) => "",
                    (true, true) => ", unified KV cache (the slots share ctx_size; together over it, every request in progress fails)",
                    (true, false) =>
                        ", a KV stream per slot (slots that are not consecutive step as separate passes)",
                }
            ),
        },
        first.replicas,
        first.cost_source
    )
}

/// Capacity lines: one per distinct fact, at most six.
pub fn capacity(study: &Study) -> String {
    let capacities: Vec<_> = study
        .folder
        .points
        .iter()
        .filter_map(|p| p.capacity.as_ref())
        .collect();
    let mut out = String::new();
    let mut seen: Vec<&str> = Vec::new();
    let varies = capacities
        .iter()
        .any(|x| x.summary != capacities[0].summary);
    for c in &capacities {
        if seen.contains(&c.summary.as_str()) {
            continue;
        }
        seen.push(&c.summary);
        let at = c.point.label();
        if varies && !at.is_empty() {
            out.push_str(&format!("capacity at {at}: {}\n", c.summary));
        } else {
            out.push_str(&format!("capacity: {}\n", c.summary));
        }
        if seen.len() == 6 && capacities.len() > 6 {
            out.push_str("capacity: … (every point in capacity.json with --out)\n");
            break;
        }
    }
    out
}

/// Per class and turn, and agent tasks.
pub fn structure(study: &Study) -> String {
    let mut out = String::new();
    for p in &study.folder.points {
        if !p.breakdown.is_empty() {
            out.push_str(&format!("by class and turn:\n{}", table(&p.breakdown)));
        }
        for t in &p.tasks {
            let s = &t.stats;
            let solo = t.solo_task_s;
            out.push_str(&format!(
                "tasks{}: {} done ({} failed), mean {:.2} s{}; all done after {:.2} s{}; effective {:.1} output tok/s, {:.1} per task; {:.0}% of prompt tokens from the prefix cache\n",
                s.class.as_ref().map(|c| format!(" ({c})")).unwrap_or_default(),
                s.tasks,
                s.failed_tasks,
                s.mean_task_s,
                solo.map(|x| format!(" (alone {x:.2} s: contention {:.2}x)", s.mean_task_s / x))
                    .unwrap_or_default(),
                s.batch_completion_s,
                solo.map(|x| format!(" (one after another, alone: {:.2} s)", x * s.tasks as f64))
                    .unwrap_or_default(),
                s.effective_output_throughput,
                s.mean_task_output_throughput,
                s.cached_share * 100.0,
            ));
        }
    }
    out
}

/// Everything `simulate` prints for people.
pub fn text(study: &Study) -> String {
    let described = study
        .folder
        .analysis
        .as_ref()
        .map(|a| a.describe())
        .unwrap_or_default();
    let notes: String = study.specs[0]
        .notes
        .iter()
        .map(|n| format!("note: {n}\n"))
        .collect();
    format!(
        "{}{notes}{}{}{described}{}",
        header(study),
        capacity(study),
        table(&study.summaries()),
        structure(study)
    )
}
