//! The server a spot run or a calibration talks to, behind one trait: [`HttpServer`] is a real
//! OpenAI-compatible endpoint; tests put a double behind the same trait to check what the
//! driver sends without timing a real server. The driver decides what to send and when; a
//! `Server` only answers.

use super::client::{self, Failure, Prompt, Target};
use super::discovery;
use super::stream::StreamTally;
use crate::results::ServerInfo;
use std::future::Future;
use std::time::{Duration, Instant};

/// What the load generator needs from a server.
pub trait Server: Send + Sync + 'static {
    /// Where it is, for messages (a URL).
    fn base(&self) -> &str;
    /// What the server says about itself.
    fn discover(&self) -> impl Future<Output = ServerInfo> + Send;
    /// Token ids of `text` (None: the server cannot tokenize).
    fn tokenize(&self, text: &str) -> impl Future<Output = Option<Vec<u32>>> + Send;
    /// Text of token ids (None: the server cannot detokenize).
    fn detokenize(&self, ids: &[u32]) -> impl Future<Output = Option<String>> + Send;
    /// Sends one request for `max_tokens` tokens and reads its answer to the end; `sent` is
    /// the instant it left.
    fn send(
        &self,
        prompt: &Prompt,
        max_tokens: u32,
        sent: Instant,
    ) -> impl Future<Output = Result<StreamTally, Failure>> + Send;
    /// The server's Prometheus metrics as text (None: it has none).
    fn metrics(&self) -> impl Future<Output = Option<String>> + Send;
    /// Sends one request as [`Server::send`] does, pinned to llama-server's slot `slot`
    /// (`id_slot`); a server without slots takes it as any other.
    fn send_to_slot(
        &self,
        prompt: &Prompt,
        max_tokens: u32,
        slot: u32,
    ) -> impl Future<Output = Result<StreamTally, Failure>> + Send {
        let _ = slot;
        self.send(prompt, max_tokens, Instant::now())
    }
}

/// A live OpenAI-compatible server over HTTP.
#[derive(Clone)]
pub struct HttpServer {
    http: reqwest::Client,
    target: Target,
}

impl HttpServer {
    /// A server at `base` (e.g. `http://127.0.0.1:8080`); requests go to it as `target` says
    /// (its `base` is replaced).
    pub fn new(base: &str, mut target: Target) -> anyhow::Result<HttpServer> {
        // A fresh connection per request, as `vllm bench serve` (a session per request) does:
        // some servers (llama-server) close a connection after a streamed answer without
        // saying so, and a reused dead connection would fail the next request.
        let http = crate::http::client()
            .pool_max_idle_per_host(0)
            .tcp_nodelay(true)
            .build()?;
        target.base = base.trim_end_matches('/').to_string();
        Ok(HttpServer { http, target })
    }

    /// How requests are sent (API, model, extra fields, timeout).
    pub fn target(&self) -> &Target {
        &self.target
    }

    pub fn target_mut(&mut self) -> &mut Target {
        &mut self.target
    }
}

impl Server for HttpServer {
    fn base(&self) -> &str {
        &self.target.base
    }

    async fn discover(&self) -> ServerInfo {
        discovery::discover(&self.http, &self.target.base).await
    }

    async fn tokenize(&self, text: &str) -> Option<Vec<u32>> {
        discovery::tokenize(&self.http, &self.target.base, text, false).await
    }

    async fn detokenize(&self, ids: &[u32]) -> Option<String> {
        discovery::detokenize(&self.http, &self.target.base, ids).await
    }

    async fn send(
        &self,
        prompt: &Prompt,
        max_tokens: u32,
        sent: Instant,
    ) -> Result<StreamTally, Failure> {
        client::send(&self.http, &self.target, prompt, max_tokens, sent).await
    }

    async fn send_to_slot(
        &self,
        prompt: &Prompt,
        max_tokens: u32,
        slot: u32,
    ) -> Result<StreamTally, Failure> {
        let mut target = self.target.clone();
        if target.llama_cpp {
            target.extra.insert("id_slot".into(), slot.into());
        }
        client::send(&self.http, &target, prompt, max_tokens, Instant::now()).await
    }

    async fn metrics(&self) -> Option<String> {
        let r = self
            .http
            .get(format!("{}/metrics", self.target.base))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .ok()?;
        if !r.status().is_success() {
            return None;
        }
        r.text().await.ok()
    }
}
