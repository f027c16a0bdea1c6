//! Live spot runs against a real llama.cpp `llama-server` on 127.0.0.1 (never a mock), plus a
//! fault-injecting proxy in front of it for the failure cases.

mod common;

use capsim::live::{self, SpotOptions, SpotRun};
use capsim::metrics::RequestRecord;
use capsim::spec::{self, parse_set, Spec};
use capsim::study::simulate::simulate;
use common::fault_proxy::{self, Fault};
use common::{model, scenario_text, LlamaServer, ModelSize};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn scenario(workload: &str, endpoint: &str, sets: &[&str]) -> Spec {
    let sets: Vec<_> = sets.iter().map(|s| parse_set(s).unwrap()).collect();
    let mut points = spec::from_str(
        &scenario_text(workload, endpoint),
        Path::new("live.toml"),
        &sets,
    )
    .unwrap();
    points.remove(0)
}

fn out_file(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("capsim-live-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn spot(sc: &Spec, url: &str, name: &str) -> SpotRun {
    let mut opts = SpotOptions::new(url, out_file(name));
    opts.progress = false;
    live::spot(sc, &opts).expect("spot run starts")
}

/// Every record complete and consistent: exact token counts, TTFT < E2E, one ITL per token gap.
fn assert_exact(records: &[RequestRecord], input: u32, output: u32) {
    for r in records {
        assert!(r.error.is_none(), "request {} failed: {:?}", r.id, r.error);
        assert_eq!(r.input_tokens, input, "request {}: prompt tokens", r.id);
        assert_eq!(r.output_tokens, output, "request {}: output tokens", r.id);
        let ttft = r.ttft_s().unwrap();
        let e2e = r.e2el_s().unwrap();
        assert!(
            ttft > 0.0 && ttft < e2e,
            "request {}: TTFT {ttft} vs E2E {e2e}",
            r.id
        );
        assert_eq!(
            r.itl_s.as_ref().unwrap().len() as u32,
            output - 1,
            "request {}: ITL count",
            r.id
        );
        assert!(r.scheduled_s <= r.sent_s + 1e-9);
    }
}

#[test]
fn closed_loop_at_1_4_and_8_users_accounts_for_every_request() {
    let _serial = common::serial();
    let server = LlamaServer::start(&model(ModelSize::Tiny), &["--parallel", "4", "-c", "4096"]);
    for users in [1, 4, 8] {
        let sc = scenario(
            &format!("arrival = \"closed\"\nconcurrency = {users}\nnum_requests = 24\ninput_tokens = 100\noutput_tokens = 32"),
            "api = \"completions\"",
            &[],
        );
        let run = spot(&sc, &server.url, &format!("closed-{users}.jsonl"));
        assert_eq!(run.records.len(), 24, "completed + failed = sent");
        assert_eq!(run.summary.completed + run.summary.failed, 24);
        assert_exact(&run.records, 100, 32);
        assert_eq!(run.metadata.token_mismatches, 0);
        assert_eq!(run.metadata.server.kind, "llama.cpp");
        assert_eq!(run.metadata.server.slots, Some(4));
        assert_eq!(run.metadata.server.n_ctx_slot, Some(1024));
        // The file on disk holds the same records.
        let text = std::fs::read_to_string(&run.metadata.records_file).unwrap();
        assert_eq!(text.lines().count(), 24);
        assert_eq!(run.summary.source, "measured");
    }
}

#[test]
fn poisson_run_with_a_cap_sends_on_schedule_or_when_a_slot_frees() {
    let _serial = common::serial();
    let server = LlamaServer::start(&model(ModelSize::Tiny), &["--parallel", "2", "-c", "2048"]);
    let sc = scenario(
        "arrival = \"poisson\"\nrate = 80.0\nconcurrency = 2\nnum_requests = 40\ninput_tokens = 64\noutput_tokens = 24\nseed = 5",
        "",
        &[],
    );
    let run = spot(&sc, &server.url, "poisson.jsonl");
    assert_eq!(run.records.len(), 40);
    assert_exact(&run.records, 64, 24);
    // Send times were drawn in advance: scheduled times are the simulation's arrival times.
    let sim = simulate(&sc);
    for (m, s) in run.records.iter().zip(&sim.records) {
        assert!(
            (m.scheduled_s - s.scheduled_s).abs() < 1e-6,
            "request {} scheduled at {} vs {}",
            m.id,
            m.scheduled_s,
            s.scheduled_s
        );
    }
}

#[test]
fn chat_endpoint_runs_with_sized_text_prompts() {
    let _serial = common::serial();
    let server = LlamaServer::start(&model(ModelSize::Tiny), &["--parallel", "2", "-c", "4096"]);
    let sc = scenario(
        "arrival = \"closed\"\nconcurrency = 2\nnum_requests = 10\ninput_tokens = 200\noutput_tokens = 16",
        "api = \"chat\"",
        &[],
    );
    let run = spot(&sc, &server.url, "chat.jsonl");
    assert_eq!(run.records.len(), 10);
    assert!(run.metadata.chat_template_tokens.is_some());
    for r in &run.records {
        assert!(r.error.is_none(), "{:?}", r.error);
        assert_eq!(r.output_tokens, 16);
        assert!(
            (r.input_tokens as i64 - 200).abs() <= 3,
            "chat prompt of {} tokens for 200 asked",
            r.input_tokens
        );
        assert_eq!(r.itl_s.as_ref().unwrap().len(), 15);
    }
}

#[test]
fn client_itl_agrees_with_the_servers_own_timings_at_one_user() {
    let _serial = common::serial();
    let server = LlamaServer::start(&model(ModelSize::Small), &["--parallel", "1", "-c", "2048"]);
    let sc = scenario(
        "arrival = \"closed\"\nconcurrency = 1\nnum_requests = 8\ninput_tokens = 64\noutput_tokens = 64",
        "",
        &[],
    );
    let run = spot(&sc, &server.url, "itl.jsonl");
    assert_exact(&run.records, 64, 64);
    assert_eq!(run.server_timings.len(), 8);
    // llama-server's predicted_ms spans the n - 1 gaps after the first token.
    let server_ms = run
        .server_timings
        .iter()
        .map(|(n, ms)| ms / (*n - 1) as f64)
        .sum::<f64>()
        / 8.0;
    let client_ms = run.summary.mean_itl_ms;
    let err = client_ms / server_ms - 1.0;
    eprintln!(
        "mean ITL: client {client_ms:.3} ms, server {server_ms:.3} ms ({:+.1}%)",
        err * 100.0
    );
    assert!(
        err.abs() < 0.10,
        "client {client_ms:.3} ms vs server {server_ms:.3} ms"
    );
}

#[test]
fn spot_run_keeps_records_when_server_dies() {
    let _serial = common::serial();
    let mut server =
        LlamaServer::start(&model(ModelSize::Small), &["--parallel", "2", "-c", "2048"]);
    let sc = scenario(
        "arrival = \"closed\"\nconcurrency = 2\nnum_requests = 400\ninput_tokens = 32\noutput_tokens = 48",
        "",
        &[],
    );
    let url = server.url.clone();
    let path = out_file("dies.jsonl");
    let handle = {
        let path = path.clone();
        std::thread::spawn(move || {
            let mut opts = SpotOptions::new(&url, path);
            opts.progress = false;
            live::spot(&sc, &opts)
        })
    };
    // Let some requests finish, then kill the server by PID.
    let start = Instant::now();
    while std::fs::read_to_string(&path).map_or(0, |t| t.lines().count()) < 5 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no request completed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    server.kill();
    let killed = Instant::now();
    let run = handle
        .join()
        .unwrap()
        .expect("the run returns what it measured");
    assert!(
        killed.elapsed() < Duration::from_secs(10),
        "the run ends promptly after the server dies"
    );
    let why = run
        .metadata
        .aborted
        .clone()
        .expect("the run says why it stopped");
    assert!(why.contains("stopped answering"), "{why}");
    let completed = run.records.iter().filter(|r| r.succeeded()).count();
    assert!(completed >= 5);
    assert!(run.records.len() < 400);
    // Everything measured is on disk, one parseable line per request.
    let text = std::fs::read_to_string(&path).unwrap();
    let on_disk: Vec<RequestRecord> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(on_disk.len(), run.records.len());
    assert_eq!(on_disk.iter().filter(|r| r.succeeded()).count(), completed);
}

#[test]
fn faults_are_recorded_as_failed_requests_with_their_reason() {
    let _serial = common::serial();
    let server = LlamaServer::start(&model(ModelSize::Tiny), &["--parallel", "1", "-c", "1024"]);
    let proxy = fault_proxy::start(
        server.port,
        vec![
            Fault::Forward,
            Fault::Reset,
            Fault::Stall(Duration::from_secs(5)),
            Fault::Garbage,
            Fault::Status(500),
            Fault::Status(429),
        ],
    );
    let sc = scenario(
        "arrival = \"closed\"\nconcurrency = 1\nnum_requests = 10\ninput_tokens = 16\noutput_tokens = 8\ntimeout_s = 1.5",
        "warmup_requests = 0",
        &[],
    );
    let run = spot(&sc, &proxy.url, "faults.jsonl");
    assert_eq!(run.records.len(), 10, "the run continues past every fault");
    assert!(run.metadata.aborted.is_none());
    let reason = |i: usize| run.records[i].error.as_deref().unwrap_or("").to_string();
    assert!(run.records[0].succeeded());
    assert!(
        reason(1).contains("connection") || reason(1).contains("stream ended"),
        "reset: {}",
        reason(1)
    );
    assert!(reason(2).contains("timeout"), "stall: {}", reason(2));
    assert!(
        reason(3).contains("malformed stream"),
        "garbage: {}",
        reason(3)
    );
    assert!(reason(4).contains("HTTP 500"), "500: {}", reason(4));
    assert!(reason(5).contains("HTTP 429"), "429: {}", reason(5));
    for r in &run.records[6..] {
        assert!(r.succeeded(), "forwarded after the faults: {:?}", r.error);
    }
    assert_eq!(run.summary.failed, 5);
    assert_eq!(run.summary.failed_by_reason.values().sum::<u64>(), 5);
}

#[test]
fn spot_command_writes_summary_metadata_and_records() {
    let _serial = common::serial();
    let server = LlamaServer::start(&model(ModelSize::Tiny), &["--parallel", "2", "-c", "2048"]);
    let dir = out_file("cli-run");
    let scenario_path = out_file("cli.toml");
    std::fs::write(
        &scenario_path,
        scenario_text(
            "arrival = \"closed\"\nconcurrency = 2\nnum_requests = 6\ninput_tokens = 20\noutput_tokens = 5",
            "",
        ) + "[sweep]\n\"workload.concurrency\" = [1, 2]\n",
    )
    .unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_capsim"))
        .args([
            "spot",
            scenario_path.to_str().unwrap(),
            "--url",
            &server.url,
            "--json",
            "--out",
            dir.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let summaries: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(summaries.as_array().unwrap().len(), 2);
    assert_eq!(summaries[1]["point"]["workload.concurrency"], 2);
    assert_eq!(summaries[0]["completed"], 6);
    for f in [
        "summary.json",
        "metadata.json",
        "records-000.jsonl",
        "records-001.jsonl",
    ] {
        assert!(dir.join(f).exists(), "{f}");
    }
    // A wrong URL is a clear error, not a panic.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_capsim"))
        .args([
            "spot",
            scenario_path.to_str().unwrap(),
            "--url",
            &format!("http://127.0.0.1:{}", common::free_port()),
            "--model",
            "x",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("warm-up request 1") && err.contains("connection failed"),
        "{err}"
    );
}

#[test]
fn ctrl_c_stops_the_spot_command_and_keeps_the_records() {
    let _serial = common::serial();
    let server = LlamaServer::start(&model(ModelSize::Small), &["--parallel", "2", "-c", "2048"]);
    let dir = out_file("ctrl-c-run");
    let scenario_path = out_file("ctrl-c.toml");
    std::fs::write(
        &scenario_path,
        scenario_text("arrival = \"closed\"\nconcurrency = 2\nnum_requests = 500\ninput_tokens = 32\noutput_tokens = 48", ""),
    )
    .unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_capsim"))
        .args([
            "spot",
            scenario_path.to_str().unwrap(),
            "--url",
            &server.url,
            "--out",
            dir.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let records = dir.join("records.jsonl");
    let start = Instant::now();
    while std::fs::read_to_string(&records).map_or(0, |t| t.lines().count()) < 3 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no request completed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted"), "{err}");
    let lines: Vec<RequestRecord> = std::fs::read_to_string(&records)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.iter().filter(|r| r.succeeded()).count() >= 3);
    assert!(lines.len() < 500);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(
        summary[0]["completed"].as_u64().unwrap() as usize,
        lines.iter().filter(|r| r.succeeded()).count()
    );
}
