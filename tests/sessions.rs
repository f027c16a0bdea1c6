//! Agent workloads in the simulator: multi-turn sessions with prefix caching, classes side by
//! side, swarms, and overload (queue limits, context overflow).

use capsim::analysis::breakdown::{breakdown, tasks};
use capsim::metrics::Summary;
use capsim::spec::{from_str, parse_set};
use capsim::study::simulate::{simulate, PointResult};
use std::path::Path;

fn run(text: &str, sets: &[&str]) -> PointResult {
    let sets: Vec<_> = sets.iter().map(|s| parse_set(s).unwrap()).collect();
    simulate(
        &from_str(text, Path::new("t.toml"), &sets)
            .unwrap()
            .remove(0),
    )
}

fn turn(b: &[Summary], class: &str, turn: u64) -> Summary {
    b.iter()
        .find(|s| s.point["class"] == class && s.point["turn"].as_u64() == Some(turn))
        .cloned()
        .unwrap_or_else(|| panic!("no {class}/{turn}"))
}

const SESSION: &str = r#"
[model]
preset = "llama-3.1-8b"
[hardware]
gpu = "rtx4090"
[engine]
kind = "llamacpp"
parallel = 4
ctx_size = 65536
[workload]
arrival = "closed"
concurrency = 1
turns = 3
num_requests = 30
input_tokens = 2000
output_tokens = 300
think_time_s = 1.0
seed = 1
"#;

#[test]
fn later_turns_prefill_only_what_is_new() {
    let cached = run(SESSION, &[]);
    let cold = run(SESSION, &["engine.cache_prompt=false"]);
    let (bc, bn) = (
        breakdown(&Default::default(), "simulated", &cached.records),
        breakdown(&Default::default(), "simulated", &cold.records),
    );
    // Turn 3's prompt is 2000 + 300 + 2000 + 300 + 2000 = 6600 tokens.
    assert!(cached
        .records
        .iter()
        .any(|r| r.turn == Some(3) && r.input_tokens == 6600));
    let (t1, t3) = (turn(&bc, "-", 1), turn(&bc, "-", 3));
    let t3_cold = turn(&bn, "-", 3);
    assert!(
        t3.median_ttft_ms < 0.5 * t3_cold.median_ttft_ms,
        "turn 3 with its prefix cached {:.0} ms vs cold {:.0} ms",
        t3.median_ttft_ms,
        t3_cold.median_ttft_ms
    );
    // With the prefix cached, turn 3 costs about what turn 1 costs (2000 new tokens each,
    // over a longer context).
    assert!(t3.median_ttft_ms < 1.6 * t1.median_ttft_ms);
    let share = tasks(&cached.records)[0].cached_share;
    assert!(share > 0.5, "{share}");
    assert_eq!(tasks(&cold.records)[0].cached_share, 0.0);
}

#[test]
fn a_conversation_that_outgrows_the_model_fails_that_turn() {
    let text = SESSION.replace(
        "kind = \"llamacpp\"\nparallel = 4\nctx_size = 65536",
        "kind = \"vllm\"\nmax_model_len = 5000",
    );
    let r = run(&text, &[]);
    // Turn 2 asks for 4300 + 300 tokens: fits; turn 3 asks for 6600 + 300: refused.
    let s = &r.summary;
    assert_eq!(s.failed, 10, "{:?}", s.failed_by_reason);
    assert!(s
        .failed_by_reason
        .keys()
        .any(|k| k.contains("max_model_len")));
    assert!(r
        .records
        .iter()
        .filter(|x| x.turn == Some(3))
        .all(|x| x.error.is_some()));
    // The next conversation starts afresh.
    assert!(r
        .records
        .iter()
        .filter(|x| x.turn == Some(1))
        .all(|x| x.error.is_none() && x.input_tokens == 2000));
}

#[test]
fn classes_run_side_by_side_and_are_summarised_apart() {
    let text = format!(
        "{}\n[[workload.class]]\nname = \"side\"\narrival = \"closed\"\nconcurrency = 3\nnum_requests = 60\ninput_tokens = {{ dist = \"uniform\", min = 500, max = 1000 }}\noutput_tokens = 512\n",
        SESSION.replace("[workload]\n", "[workload]\nname = \"agent\"\n")
    );
    let a = run(&text, &[]);
    let b = run(&text, &[]);
    assert_eq!(
        serde_json::to_string(&a.summary).unwrap(),
        serde_json::to_string(&b.summary).unwrap(),
        "seeded runs are identical"
    );
    assert_eq!(a.summary.completed, 90);
    let parts = breakdown(&Default::default(), "simulated", &a.records);
    let agent = turn_all(&parts, "agent");
    let side = turn_all(&parts, "side");
    assert_eq!((agent.completed, side.completed), (30, 60));
    // The side requests slow the agent's turns down compared with the agent alone.
    let alone = run(SESSION, &[]);
    assert!(agent.median_e2el_ms > alone.summary.median_e2el_ms);
    // Bad class definitions are named.
    let dup = text.replace("name = \"side\"", "name = \"agent\"");
    let err = from_str(&dup, Path::new("t.toml"), &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("two classes are named 'agent'"), "{err}");
}

fn turn_all(b: &[Summary], class: &str) -> Summary {
    b.iter()
        .find(|s| s.point["class"] == class && s.point["turn"] == "all")
        .cloned()
        .unwrap()
}

#[test]
fn a_swarm_trades_per_task_speed_for_total_throughput() {
    let swarm = SESSION
        .replace("arrival = \"closed\"", "arrival = \"swarm\"")
        .replace("num_requests = 30\n", "")
        .replace("think_time_s = 1.0\n", "")
        .replace("turns = 3", "turns = 4");
    let mut last: Option<(f64, f64, f64)> = None;
    for agents in [1, 2, 4] {
        let r = run(&swarm, &[&format!("workload.concurrency={agents}")]);
        assert_eq!(r.summary.completed, agents * 4, "each agent does one task");
        let t = &tasks(&r.records)[0];
        assert_eq!(t.tasks, agents);
        if let Some((eff, per_task, batch)) = last {
            assert!(
                t.effective_output_throughput > eff,
                "more agents, more tok/s"
            );
            assert!(t.mean_task_output_throughput < per_task, "each task slower");
            assert!(t.batch_completion_s > batch);
        }
        last = Some((
            t.effective_output_throughput,
            t.mean_task_output_throughput,
            t.batch_completion_s,
        ));
    }
}

#[test]
fn a_full_queue_refuses_with_429_and_throughput_stays_flat() {
    let text = r#"
[model]
preset = "llama-3.1-8b"
[hardware]
gpu = "rtx4090"
[engine]
kind = "vllm"
max_num_seqs = 64
max_queue = 64
[workload]
arrival = "closed"
concurrency = 16
num_requests = 4000
input_tokens = 512
output_tokens = 128
think_time_s = 0.5
seed = 9
"#;
    let mut tput = Vec::new();
    for users in [16, 64, 1024, 4096] {
        let s = run(text, &[&format!("workload.concurrency={users}")]).summary;
        tput.push(s.request_throughput);
        if users <= 64 {
            assert_eq!(s.failed, 0, "{users} users: {:?}", s.failed_by_reason);
        } else {
            assert!(s.failed > 0, "{users} users overflow the queue");
            assert!(s.failed_by_reason.keys().all(|k| k.contains("429")));
        }
    }
    // Beyond saturation the server serves what it can: flat, not rising.
    let peak = tput.iter().cloned().fold(0.0, f64::max);
    assert!(tput[3] <= peak * 1.05 && tput[3] >= peak * 0.5, "{tput:?}");
}

#[test]
fn a_client_timeout_cancels_the_request_on_the_server() {
    let text = r#"
[model]
preset = "llama-3.1-8b"
[hardware]
gpu = "rtx4090"
[engine]
kind = "vllm"
[workload]
arrival = "closed"
concurrency = 64
num_requests = 640
input_tokens = 2000
output_tokens = 1000
seed = 2
"#;
    let patient = run(text, &[]);
    let hasty = run(text, &["workload.timeout_s=5.0"]);
    assert_eq!(patient.summary.failed, 0);
    let s = &hasty.summary;
    assert!(s.failed > 0);
    assert!(s.failed_by_reason.keys().all(|k| k.contains("timeout")));
    // Every request either finished within the timeout or was given up on at it.
    for r in hasty.records.iter().filter(|r| r.error.is_none()) {
        assert!(r.end_s.unwrap() - r.sent_s <= 5.0 + 1e-9);
    }
    // Given-up requests leave the server: it does less work than serving them all.
    assert!(
        hasty.sim.engine.busy.as_secs_f64() < 0.8 * patient.sim.engine.busy.as_secs_f64(),
        "{:?} vs {:?}",
        hasty.sim.engine.busy,
        patient.sim.engine.busy
    );
}
