//! `capsim bench`: how fast the simulator runs on this machine. The targets (DESIGN.md) are
//! ≥ 1,000,000 simulated requests per second on one core for a closed loop of 64 users
//! (256 → 128 tokens, one vLLM replica), and < 100 ms to replay the whole Azure conv trace on
//! 16 replicas at time_scale 10.

use crate::spec;
use std::path::Path;
use std::time::Instant;

/// One benchmark's outcome.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BenchResult {
    pub name: String,
    pub requests: u64,
    pub steps: u64,
    /// Wall time of the event loop alone, seconds (best of the repeats).
    pub simulate_s: f64,
    /// Wall time including the summary (percentiles), seconds (best of the repeats).
    pub total_s: f64,
    pub requests_per_s: f64,
}

const CLOSED_LOOP: &str = r#"
name = "bench-closed-64"
[model]
preset = "mistral-7b"
[hardware]
gpu = "rtx4090"
[engine]
kind = "vllm"
max_model_len = 4096
[workload]
arrival = "closed"
concurrency = 64
input_tokens = 256
output_tokens = 128
"#;

const TRACE_REPLAY: &str = r#"
name = "bench-azure-conv-16-replicas"
[model]
preset = "llama-3.1-8b"
[hardware]
gpu = "h100-sxm"
[engine]
kind = "vllm"
max_model_len = 16384
[cluster]
replicas = 16
router = "least-outstanding"
[workload]
arrival = "trace"
trace = "builtin:azure-conv"
time_scale = 10.0
"#;

fn time_one(name: &str, text: &str, sets: &[&str], repeats: u32) -> anyhow::Result<BenchResult> {
    let sets = sets
        .iter()
        .map(|s| spec::parse_set(s))
        .collect::<Result<Vec<_>, _>>()?;
    let points = spec::from_str(text, Path::new("bench.toml"), &sets)?;
    let sc = &points[0];
    let mut best: Option<BenchResult> = None;
    for _ in 0..repeats.max(1) {
        let t0 = Instant::now();
        let mut builder = crate::metrics::SummaryBuilder::default();
        let out = crate::sim::run(
            &sc.workload,
            sc.engines(),
            sc.router,
            sc.transport(&sc.cost, sc.workload.seed),
            &mut |r| builder.push(&r),
        );
        let simulate_s = t0.elapsed().as_secs_f64();
        let summary = builder.finish(
            Default::default(),
            "simulated",
            &out.itl,
            Default::default(),
        );
        let total_s = t0.elapsed().as_secs_f64();
        let requests = summary.completed + summary.failed;
        let r = BenchResult {
            name: name.to_string(),
            requests,
            steps: out.engine.steps,
            simulate_s,
            total_s,
            requests_per_s: requests as f64 / simulate_s,
        };
        if best.as_ref().is_none_or(|b| r.simulate_s < b.simulate_s) {
            best = Some(r);
        }
    }
    Ok(best.expect("at least one repeat"))
}

/// Runs both benchmarks; `requests` sizes the closed loop.
pub fn run(requests: u64, repeats: u32) -> anyhow::Result<Vec<BenchResult>> {
    let n = format!("workload.num_requests={requests}");
    Ok(vec![
        time_one(
            "closed loop, 64 users, 256->128, 1 replica",
            CLOSED_LOOP,
            &[&n],
            repeats,
        )?,
        time_one(
            "Azure conv trace, 16 replicas, time_scale 10",
            TRACE_REPLAY,
            &[],
            repeats,
        )?,
    ])
}

/// A trivially fast local endpoint for benchmarking the load generator itself (never used to
/// test capsim against a server: live tests use a real llama-server). Answers every POST with a
/// short stream of `tokens` tokens and closes; everything else gets 404.
fn start_trivial_endpoint(tokens: u32) -> anyhow::Result<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    std_listener.set_nonblocking(true)?;
    let port = std_listener.local_addr()?.port();
    let mut body = String::new();
    for i in 1..=tokens {
        body.push_str(&format!(
            "data: {{\"choices\":[{{\"text\":\"t{i}\",\"finish_reason\":null}}]}}\n\n"
        ));
    }
    body.push_str(&format!(
        "data: {{\"choices\":[{{\"text\":\"\",\"finish_reason\":\"length\"}}],\"usage\":{{\"prompt_tokens\":8,\"completion_tokens\":{tokens}}}}}\n\ndata: [DONE]\n\n"
    ));
    let ok = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let not_found = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(std_listener).expect("listener");
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    continue;
                };
                let (ok, not_found) = (ok.clone(), not_found);
                tokio::spawn(async move {
                    let mut buf = Vec::with_capacity(2048);
                    let mut chunk = [0u8; 4096];
                    // Read the head and the body (Content-Length) of one request.
                    loop {
                        let Ok(n) = sock.read(&mut chunk).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                            let len: usize = head
                                .lines()
                                .find_map(|l| {
                                    l.strip_prefix("content-length:")
                                        .map(|v| v.trim().parse().unwrap_or(0))
                                })
                                .unwrap_or(0);
                            if buf.len() >= end + 4 + len {
                                let reply = if head.starts_with("post") {
                                    ok.as_str()
                                } else {
                                    not_found
                                };
                                let _ = sock.write_all(reply.as_bytes()).await;
                                let _ = sock.shutdown().await;
                                return;
                            }
                        }
                    }
                });
            }
        });
    });
    Ok(port)
}

/// Load-generator throughput: `requests` short streams from `users` closed-loop clients
/// against a trivially fast local endpoint. The generator, not the server, is measured.
pub fn run_loadgen(requests: u64, users: u32) -> anyhow::Result<BenchResult> {
    let port = start_trivial_endpoint(4)?;
    let text = format!(
        "[model]\npreset = \"mistral-7b\"\n[hardware]\ngpu = \"rtx4090\"\n[workload]\narrival = \"closed\"\nconcurrency = {users}\nnum_requests = {requests}\ninput_tokens = 8\noutput_tokens = 4\n"
    );
    let sc = spec::from_str(&text, Path::new("bench-loadgen.toml"), &[])?.remove(0);
    let dir = std::env::temp_dir().join(format!("capsim-bench-loadgen-{}", std::process::id()));
    let mut opts = crate::live::SpotOptions::new(
        &format!("http://127.0.0.1:{port}"),
        dir.join("records.jsonl"),
    );
    opts.model = Some("bench".into());
    opts.progress = false;
    let t0 = Instant::now();
    let run = crate::live::spot(&sc, &opts)?;
    let total_s = t0.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&dir);
    let s = &run.summary;
    if s.failed > 0 {
        anyhow::bail!(
            "{} of {} benchmark requests failed: {:?}",
            s.failed,
            requests,
            s.failed_by_reason
        );
    }
    Ok(BenchResult {
        name: format!("load generator, {users} users, short streams (4 tokens) against a trivial local endpoint"),
        requests: s.completed,
        steps: 0,
        simulate_s: s.duration,
        total_s,
        requests_per_s: s.request_throughput,
    })
}
