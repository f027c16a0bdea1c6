//! Results broken down by workload class and by turn, and what agent tasks (multi-turn
//! sessions, swarm tasks) took. Pure functions over request records, so simulations and spot
//! runs are read alike.

use crate::metrics::{summarize, ItlStats, Point, RequestRecord, RunFacts, Summary};
use serde::Serialize;
use std::collections::BTreeMap;

/// One summary per class (all its requests: `turn = "all"`) and per turn of multi-turn
/// classes; each summary's `point` gains `class` ("-" without classes) and `turn` keys. ITL needs per-token gaps, which
/// subsets do not keep: their ITL fields are NaN (shown as "-").
pub fn breakdown(point: &Point, source: &str, records: &[RequestRecord]) -> Vec<Summary> {
    let mut classes: Vec<Option<&str>> = Vec::new();
    for r in records {
        let c = r.class.as_deref();
        if !classes.contains(&c) {
            classes.push(c);
        }
    }
    let mut out = Vec::new();
    let sub = |extra: &[(&str, serde_json::Value)], recs: Vec<RequestRecord>| {
        let mut p = point.clone();
        for (k, v) in extra {
            p.insert((*k).into(), v.clone());
        }
        summarize(p, source, &recs, &ItlStats::default(), RunFacts::default())
    };
    for class in classes {
        let of_class: Vec<&RequestRecord> = records
            .iter()
            .filter(|r| r.class.as_deref() == class)
            .collect();
        let label: Vec<(&str, serde_json::Value)> =
            vec![("class", serde_json::Value::from(class.unwrap_or("-")))];
        let mut total = label.clone();
        total.push(("turn", "all".into()));
        out.push(sub(&total, of_class.iter().map(|r| (*r).clone()).collect()));
        let mut turns: BTreeMap<u32, Vec<RequestRecord>> = BTreeMap::new();
        for r in &of_class {
            if let Some(t) = r.turn {
                turns.entry(t).or_default().push((*r).clone());
            }
        }
        if turns.len() > 1 {
            for (t, recs) in turns {
                let mut l = label.clone();
                l.push(("turn", t.into()));
                out.push(sub(&l, recs));
            }
        }
    }
    out
}

/// What agent tasks took: a task is one session (all its turns), e.g. one swarm agent's job.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct TaskStats {
    pub class: Option<String>,
    pub tasks: u64,
    /// Tasks with a failed call.
    pub failed_tasks: u64,
    /// From the first call's send to the last call's end, seconds.
    #[serde(deserialize_with = "crate::metrics::nan_if_null")]
    pub mean_task_s: f64,
    #[serde(deserialize_with = "crate::metrics::nan_if_null")]
    pub max_task_s: f64,
    /// A task's output tokens over its duration, averaged over tasks.
    #[serde(deserialize_with = "crate::metrics::nan_if_null")]
    pub mean_task_output_throughput: f64,
    /// All output tokens over the wall time from the first send to the last end.
    #[serde(deserialize_with = "crate::metrics::nan_if_null")]
    pub effective_output_throughput: f64,
    /// First send to last end: when the whole batch of tasks is done, seconds.
    #[serde(deserialize_with = "crate::metrics::nan_if_null")]
    pub batch_completion_s: f64,
    /// Prompt tokens served from the prefix cache, over all prompt tokens.
    #[serde(deserialize_with = "crate::metrics::nan_if_null")]
    pub cached_share: f64,
}

/// Task statistics per class with sessions (None where records have no sessions).
pub fn tasks(records: &[RequestRecord]) -> Vec<TaskStats> {
    let mut by: BTreeMap<(Option<String>, u64), Vec<&RequestRecord>> = BTreeMap::new();
    for r in records {
        if let Some(s) = r.session {
            by.entry((r.class.clone(), s)).or_default().push(r);
        }
    }
    let mut classes: BTreeMap<Option<String>, Vec<Vec<&RequestRecord>>> = BTreeMap::new();
    for ((class, _), recs) in by {
        classes.entry(class).or_default().push(recs);
    }
    classes
        .into_iter()
        .map(|(class, sessions)| {
            let mut durations = Vec::new();
            let mut speeds = Vec::new();
            let mut failed = 0;
            let (mut first, mut last, mut tokens) = (f64::INFINITY, 0.0_f64, 0u64);
            let (mut prompt, mut cached) = (0u64, 0u64);
            for recs in &sessions {
                let start = recs.iter().map(|r| r.sent_s).fold(f64::INFINITY, f64::min);
                let end = recs.iter().filter_map(|r| r.end_s).fold(0.0_f64, f64::max);
                let out: u64 = recs.iter().map(|r| r.output_tokens as u64).sum();
                if recs.iter().any(|r| !r.succeeded()) {
                    failed += 1;
                } else if end > start {
                    durations.push(end - start);
                    speeds.push(out as f64 / (end - start));
                }
                first = first.min(start);
                last = last.max(end);
                tokens += out;
                prompt += recs.iter().map(|r| r.input_tokens as u64).sum::<u64>();
                cached += recs.iter().map(|r| r.cached_tokens as u64).sum::<u64>();
            }
            let mean = |v: &[f64]| {
                if v.is_empty() {
                    f64::NAN
                } else {
                    v.iter().sum::<f64>() / v.len() as f64
                }
            };
            let wall = last - first;
            TaskStats {
                class,
                tasks: sessions.len() as u64,
                failed_tasks: failed,
                mean_task_s: mean(&durations),
                max_task_s: durations.iter().cloned().fold(f64::NAN, f64::max),
                mean_task_output_throughput: mean(&speeds),
                effective_output_throughput: if wall > 0.0 {
                    tokens as f64 / wall
                } else {
                    f64::NAN
                },
                batch_completion_s: wall,
                cached_share: if prompt > 0 {
                    cached as f64 / prompt as f64
                } else {
                    0.0
                },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(class: &str, session: u64, turn: u32, sent: f64, end: f64) -> RequestRecord {
        RequestRecord {
            id: 0,
            scheduled_s: sent,
            sent_s: sent,
            first_token_s: Some(sent + 0.1),
            end_s: Some(end),
            input_tokens: 100 * turn,
            output_tokens: 10,
            class: Some(class.into()),
            session: Some(session),
            turn: Some(turn),
            cached_tokens: if turn > 1 { 100 * (turn - 1) } else { 0 },
            ..Default::default()
        }
    }

    #[test]
    fn breaks_down_by_class_and_turn() {
        let recs = vec![
            rec("agent", 0, 1, 0.0, 1.0),
            rec("agent", 0, 2, 1.0, 2.0),
            rec("side", 1, 1, 0.0, 0.5),
        ];
        let b = breakdown(&Default::default(), "simulated", &recs);
        let labels: Vec<String> = b
            .iter()
            .map(|s| {
                format!(
                    "{}/{}",
                    s.point["class"].as_str().unwrap(),
                    s.point
                        .get("turn")
                        .map(|t| t.to_string())
                        .unwrap_or_default()
                )
            })
            .collect();
        assert_eq!(
            labels,
            ["agent/\"all\"", "agent/1", "agent/2", "side/\"all\""]
        );
        assert_eq!(b[0].completed, 2);
    }

    #[test]
    fn tasks_span_their_turns() {
        let recs = vec![
            rec("agent", 0, 1, 0.0, 1.0),
            rec("agent", 0, 2, 1.5, 2.0),
            rec("agent", 1, 1, 0.0, 3.0),
        ];
        let t = &tasks(&recs)[0];
        assert_eq!(t.tasks, 2);
        assert!((t.mean_task_s - 2.5).abs() < 1e-9);
        assert!((t.batch_completion_s - 3.0).abs() < 1e-9);
        assert!((t.effective_output_throughput - 10.0).abs() < 1e-9);
        assert!((t.cached_share - 100.0 / 400.0).abs() < 1e-9);
    }
}
