//! Test harness for live tests: a real llama.cpp `llama-server` on 127.0.0.1, serving a tiny
//! random-weight GGUF model written by scripts/make-tiny-gguf.py; and a fault-injecting proxy.
//!
//! The binary comes from `$CAPSIM_LLAMA_SERVER`, else from scripts/llama-server (which builds
//! it once into the cache). Models are written once into the cache, keyed by their shape.
//! Every server is started on a free port, awaited on `/health`, and killed by PID when the
//! handle drops, whatever the test's outcome.

#![allow(dead_code)]

pub mod cli;
pub mod double;
pub mod fault_proxy;
pub mod vllm;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub use cli::repo;

fn cache_dir() -> PathBuf {
    if let Ok(d) = std::env::var("CAPSIM_CACHE_DIR") {
        return PathBuf::from(d);
    }
    let base = std::env::var("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/tmp".into())).join(".cache")
        });
    base.join("capsim")
}

/// Path of the llama-server binary (built once per machine by scripts/llama-server).
pub fn llama_server_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Ok(p) = std::env::var("CAPSIM_LLAMA_SERVER") {
            return PathBuf::from(p);
        }
        let out = Command::new("bash")
            .arg(repo().join("scripts/llama-server"))
            .stderr(Stdio::inherit())
            .output()
            .expect("run scripts/llama-server");
        assert!(out.status.success(), "scripts/llama-server failed");
        PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
    })
    .clone()
}

/// Shapes of test models.
#[derive(Clone, Copy, Debug)]
pub enum ModelSize {
    /// 2 layers, hidden 64: ~0.5 ms per step; functional tests.
    Tiny,
    /// 8 layers, hidden 1024, 16/4 heads, FFN 2816 (f16, ~310 MB): a few ms per decode step on
    /// 2 cores, so batching and timing are visible.
    Small,
}

/// A GGUF model of the given size, written once into the cache.
pub fn model(size: ModelSize) -> PathBuf {
    let (name, args): (&str, &[&str]) = match size {
        ModelSize::Tiny => (
            "tiny-l2-h64",
            &[
                "--layers",
                "2",
                "--hidden",
                "64",
                "--heads",
                "4",
                "--kv-heads",
                "2",
                "--ffn",
                "128",
            ],
        ),
        ModelSize::Small => (
            "small-l8-h1024",
            &[
                "--layers",
                "8",
                "--hidden",
                "1024",
                "--heads",
                "16",
                "--kv-heads",
                "4",
                "--ffn",
                "2816",
            ],
        ),
    };
    let dir = cache_dir().join("models");
    let path = dir.join(format!("{name}.gguf"));
    let lock = dir.join(format!("{name}.lock"));
    std::fs::create_dir_all(&dir).unwrap();
    // One writer at a time across test processes.
    let _guard = FileLock::acquire(&lock);
    if !path.exists() {
        let bin = llama_server_binary();
        let vocab = bin
            .parent()
            .unwrap()
            .parent()
            .unwrap()
            .join("vocab/ggml-vocab-llama-spm.gguf");
        assert!(vocab.exists(), "no vocab at {}", vocab.display());
        let tmp = dir.join(format!("{name}.gguf.tmp"));
        let status = Command::new(std::env::var("PYTHON").unwrap_or_else(|_| "python3".into()))
            .arg(repo().join("scripts/make-tiny-gguf.py"))
            .arg("--vocab")
            .arg(&vocab)
            .arg("--out")
            .arg(&tmp)
            .args(args)
            .status()
            .expect("python3 runs");
        assert!(
            status.success(),
            "make-tiny-gguf.py failed (are the PyPI packages gguf and numpy installed?)"
        );
        std::fs::rename(&tmp, &path).unwrap();
    }
    path
}

struct FileLock(PathBuf);

impl FileLock {
    fn acquire(path: &Path) -> FileLock {
        let start = Instant::now();
        loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
            {
                Ok(_) => return FileLock(path.to_path_buf()),
                Err(_) if start.elapsed() < Duration::from_secs(120) => {
                    std::thread::sleep(Duration::from_millis(100))
                }
                Err(_) => {
                    // A stale lock from a killed run.
                    let _ = std::fs::remove_file(path);
                }
            }
        }
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Live tests share 2 cores: one llama-server at a time, or timings measure contention.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running llama-server; killed when dropped.
pub struct LlamaServer {
    child: Option<Child>,
    pub url: String,
    pub port: u16,
}

impl LlamaServer {
    /// Starts llama-server with `-m model` plus `args` (e.g. `--parallel 4 -c 4096`).
    pub fn start(model: &Path, args: &[&str]) -> LlamaServer {
        for _attempt in 0..3 {
            let port = free_port();
            let child = Command::new(llama_server_binary())
                .arg("-m")
                .arg(model)
                .args([
                    "--host",
                    "127.0.0.1",
                    "--port",
                    &port.to_string(),
                    "--threads",
                    "2",
                    "-fa",
                    "on",
                    "--metrics",
                    "--no-webui",
                ])
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("llama-server starts");
            let mut server = LlamaServer {
                child: Some(child),
                url: format!("http://127.0.0.1:{port}"),
                port,
            };
            if server.wait_healthy(Duration::from_secs(60)) {
                return server;
            }
            server.kill();
        }
        panic!("llama-server did not become healthy");
    }

    fn wait_healthy(&mut self, limit: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(_)) = child.try_wait() {
                    return false; // exited (port taken?)
                }
            }
            if http_get(self.port, "/health").is_some_and(|(code, _)| code == 200) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, |c| c.id())
    }

    /// Kills the server by PID and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A minimal blocking HTTP GET on 127.0.0.1: (status, body).
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(500))
            .ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let code = buf.split_whitespace().nth(1)?.parse().ok()?;
    let body = buf
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Some((code, body))
}

/// A scenario for spot runs against the test server (model/hardware are placeholders a spot
/// run does not use).
pub fn scenario_text(workload: &str, endpoint: &str) -> String {
    format!(
        r#"
name = "live-test"
[model]
preset = "mistral-7b"
[hardware]
gpu = "rtx4090"
[engine]
kind = "llamacpp"
parallel = 4
ctx_size = 8192
[workload]
{workload}
[endpoint]
{endpoint}
"#
    )
}
