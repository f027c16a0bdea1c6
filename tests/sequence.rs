//! A spot run and a simulation of the same scenario issue the identical request sequence:
//! for every workload kind, request by request (matched by id), the same class, session and
//! turn, the same prompt and output lengths, the same open-loop send times, and the same
//! think time after each answer. The spot run plays against a test double that answers at
//! once (the sequence, not the timing, is under test).

mod common;

use capsim::live::{spot_with, SpotOptions};
use capsim::metrics::RequestRecord;
use capsim::spec::{from_str, Spec};
use capsim::study::simulate::simulate;
use common::cli::scratch;
use common::double::Double;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

const BASE: &str = r#"
[model]
preset = "llama-3.1-8b"
[hardware]
gpu = "h100-sxm"
[engine]
kind = "vllm"
max_model_len = 8192
"#;

fn spec(text: &str, dir: &Path) -> Spec {
    let endpoint = if text.contains("[endpoint]") {
        ""
    } else {
        "[endpoint]\nwarmup_requests = 0\n"
    };
    from_str(
        &format!("{BASE}\n{endpoint}{text}"),
        &dir.join("s.toml"),
        &[],
    )
    .unwrap()
    .remove(0)
}

fn by_id(records: &[RequestRecord]) -> BTreeMap<u64, &RequestRecord> {
    records.iter().map(|r| (r.id, r)).collect()
}

/// The pause each closed-loop user took after each request: scheduled send of its next
/// request minus the end of this one.
fn think_after(records: &[RequestRecord]) -> BTreeMap<u64, f64> {
    let mut by_user: BTreeMap<(Option<String>, u32), Vec<&RequestRecord>> = BTreeMap::new();
    for r in records {
        if let Some(u) = r.user {
            by_user.entry((r.class.clone(), u)).or_default().push(r);
        }
    }
    let mut out = BTreeMap::new();
    for list in by_user.values_mut() {
        list.sort_by(|a, b| a.scheduled_s.total_cmp(&b.scheduled_s));
        for w in list.windows(2) {
            out.insert(w[0].id, w[1].scheduled_s - w[0].end_s.unwrap());
        }
    }
    out
}

/// Simulates and spot-runs `workload`, prints both sequences, and compares them.
fn same_sequence(name: &str, workload: &str) {
    let dir = scratch(&format!("sequence-{name}"));
    let sc = spec(workload, &dir);
    let sim = simulate(&sc).records;
    let mut opts = SpotOptions::new("double://", dir.join("records.jsonl"));
    opts.progress = false;
    let spot = spot_with(
        &sc,
        Double {
            step: Duration::from_micros(300),
        },
        &opts,
    )
    .unwrap()
    .records;
    let (a, b) = (by_id(&sim), by_id(&spot));
    let (ta, tb) = (think_after(&sim), think_after(&spot));
    println!("{name}: {} simulated, {} spot", sim.len(), spot.len());
    println!(
        "  {:>4} {:>8} {:>7} {:>5} {:>12} {:>12} {:>7} {:>7} {:>9} {:>9}",
        "id",
        "class",
        "session",
        "turn",
        "in sim/spot",
        "out",
        "at sim",
        "at spot",
        "think sim",
        "think spot"
    );
    for (id, s) in &a {
        let p = b.get(id);
        println!(
            "  {id:>4} {:>8} {:>7} {:>5} {:>12} {:>12} {:>7.3} {:>7} {:>9} {:>9}",
            s.class.as_deref().unwrap_or("-"),
            s.session.map_or("-".into(), |x| x.to_string()),
            s.turn.map_or("-".into(), |x| x.to_string()),
            format!("{}/{}", s.input_tokens, p.map_or(0, |p| p.input_tokens)),
            format!("{}/{}", s.output_tokens, p.map_or(0, |p| p.output_tokens)),
            s.scheduled_s,
            p.map_or("-".into(), |p| format!("{:.3}", p.scheduled_s)),
            ta.get(id).map_or("-".into(), |t| format!("{t:.4}")),
            tb.get(id).map_or("-".into(), |t| format!("{t:.4}")),
        );
    }
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "{name}: the same request ids"
    );
    let open = !workload.contains("\"closed\"") && !workload.contains("\"swarm\"");
    for (id, s) in &a {
        let p = b[id];
        assert_eq!(
            (&s.class, s.session, s.turn, s.input_tokens, s.output_tokens),
            (&p.class, p.session, p.turn, p.input_tokens, p.output_tokens),
            "{name}: request {id}"
        );
        // Open-loop and trace requests (no user) are due at the same instant.
        if s.user.is_none() {
            assert_eq!(
                s.scheduled_s, p.scheduled_s,
                "{name}: request {id} is due at the same time"
            );
        }
    }
    // Think time after each request: exact in the simulation; in the spot run the user also
    // waits for its driver to notice the answer (well under 50 ms here).
    for (id, t) in &ta {
        if let Some(u) = tb.get(id) {
            assert!(
                u - t >= -1e-3 && u - t < 0.05,
                "{name}: think after {id}: simulated {t:.4} s, spot {u:.4} s"
            );
        }
    }
    assert!(
        !ta.is_empty() || open,
        "{name}: closed loops have think times to compare"
    );
}

#[test]
fn closed_loop_with_random_lengths_and_think_times() {
    same_sequence(
        "closed",
        r#"[workload]
arrival = "closed"
concurrency = 3
num_requests = 18
input_tokens = { dist = "uniform", min = 20, max = 200 }
output_tokens = { dist = "uniform", min = 2, max = 12 }
think_time_s = { dist = "exponential", mean = 0.02 }
seed = 7"#,
    );
}

#[test]
fn multi_turn_sessions_carry_their_conversation() {
    same_sequence(
        "sessions",
        r#"[endpoint]
api = "chat"
warmup_requests = 0
[workload]
arrival = "closed"
concurrency = 2
turns = 3
num_requests = 12
input_tokens = { dist = "uniform", min = 10, max = 60 }
output_tokens = 5
think_time_s = { dist = "exponential", mean = 0.01 }
seed = 11"#,
    );
}

#[test]
fn swarm_agents_each_run_a_task() {
    same_sequence(
        "swarm",
        r#"[endpoint]
api = "chat"
warmup_requests = 0
[workload]
arrival = "swarm"
concurrency = 3
turns = 2
input_tokens = 30
output_tokens = { dist = "uniform", min = 2, max = 8 }
seed = 2"#,
    );
}

#[test]
fn open_loop_poisson_gamma_and_constant_arrivals() {
    for (name, arrival) in [
        (
            "poisson",
            "arrival = \"poisson\"\nrate = 200.0\nconcurrency = 4",
        ),
        (
            "gamma",
            "arrival = \"gamma\"\nrate = 200.0\nburstiness = 0.5",
        ),
        ("constant", "arrival = \"constant\"\nrate = 150.0"),
    ] {
        same_sequence(
            name,
            &format!(
                "[workload]\n{arrival}\nnum_requests = 15\ninput_tokens = {{ dist = \"lognormal\", mean = 100, stddev = 40 }}\noutput_tokens = 3\nseed = 5"
            ),
        );
    }
}

#[test]
fn trace_replay_sends_each_row_on_time() {
    let dir = scratch("sequence-trace-file");
    let trace = dir.join("t.csv");
    std::fs::write(
        &trace,
        "TIMESTAMP,ContextTokens,GeneratedTokens\n0.0,120,4\n0.01,80,2\n0.015,300,6\n0.04,50,3\n0.05,64,5\n",
    )
    .unwrap();
    same_sequence(
        "trace",
        &format!(
            "[workload]\narrival = \"trace\"\ntrace = \"{}\"\ntime_scale = 2.0\ntoken_scale = 0.5\nconcurrency = 2",
            trace.display()
        ),
    );
}

#[test]
fn classes_side_by_side_keep_their_own_sequences() {
    same_sequence(
        "classes",
        r#"[workload]
name = "agents"
arrival = "closed"
concurrency = 2
num_requests = 8
input_tokens = { dist = "uniform", min = 50, max = 100 }
output_tokens = 4
think_time_s = { dist = "exponential", mean = 0.01 }
[[workload.class]]
name = "side"
arrival = "poisson"
rate = 100.0
num_requests = 10
input_tokens = { dist = "uniform", min = 10, max = 40 }
output_tokens = 2"#,
    );
}
