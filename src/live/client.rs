//! One streaming request to an OpenAI-compatible server (`/v1/completions` or
//! `/v1/chat/completions`), timed on the client's clock. Every way a request can go wrong
//! (refused connection, reset, HTTP error, 429, malformed stream, timeout) comes back as a
//! [`Failure`] with a reason, never a panic.

use super::stream::{StreamParser, StreamTally};
use crate::spec::Api;
use futures_util::StreamExt;
use std::time::{Duration, Instant};

/// Where and how requests go.
#[derive(Clone, Debug)]
pub struct Target {
    /// Base URL without a trailing slash, e.g. `http://127.0.0.1:8080`.
    pub base: String,
    pub api: Api,
    pub model: String,
    pub extra: serde_json::Map<String, serde_json::Value>,
    pub ignore_eos: bool,
    /// The server is llama.cpp: ask for per-chunk token counts (`timings_per_token`).
    pub llama_cpp: bool,
    /// Per-request client timeout (send → last byte).
    pub timeout: Duration,
}

/// A prompt: exact token ids (completions) or text (chat).
#[derive(Clone, Debug, PartialEq)]
pub enum Prompt {
    Tokens(Vec<u32>),
    Text(String),
    /// Chat: a conversation, (role, content) per message, the last one the new user turn.
    Conversation(Vec<(String, String)>),
}

/// A request that did not complete.
#[derive(Clone, Debug)]
pub struct Failure {
    pub reason: String,
    /// Tokens that arrived before it failed.
    pub tokens_seen: u32,
    /// The server could not be reached at all (connection refused or DNS): a dead server.
    pub unreachable: bool,
}

impl Target {
    fn url(&self) -> String {
        match self.api {
            Api::Completions => format!("{}/v1/completions", self.base),
            Api::Chat => format!("{}/v1/chat/completions", self.base),
        }
    }

    /// The JSON body of one request.
    pub fn body(&self, prompt: &Prompt, max_tokens: u32) -> serde_json::Value {
        let mut body = serde_json::Map::new();
        body.insert("model".into(), self.model.clone().into());
        match (self.api, prompt) {
            (Api::Completions, Prompt::Tokens(ids)) => {
                body.insert("prompt".into(), serde_json::json!(ids));
            }
            (Api::Completions, Prompt::Text(t)) => {
                body.insert("prompt".into(), t.clone().into());
            }
            (Api::Completions, Prompt::Conversation(messages)) => {
                let text: String = messages.iter().map(|(_, c)| c.as_str()).collect();
                body.insert("prompt".into(), text.into());
            }
            (Api::Chat, Prompt::Conversation(messages)) => {
                let list: Vec<serde_json::Value> = messages
                    .iter()
                    .map(|(role, content)| serde_json::json!({ "role": role, "content": content }))
                    .collect();
                body.insert("messages".into(), list.into());
            }
            (Api::Chat, p) => {
                let content = match p {
                    Prompt::Text(t) => t.clone(),
                    Prompt::Tokens(ids) => ids.iter().map(|i| format!(" {i}")).collect(),
                    Prompt::Conversation(_) => unreachable!("matched above"),
                };
                body.insert(
                    "messages".into(),
                    serde_json::json!([{ "role": "user", "content": content }]),
                );
            }
        }
        body.insert("max_tokens".into(), max_tokens.into());
        body.insert("stream".into(), true.into());
        body.insert(
            "stream_options".into(),
            serde_json::json!({ "include_usage": true }),
        );
        if self.ignore_eos {
            body.insert("ignore_eos".into(), true.into());
        }
        if self.llama_cpp {
            body.insert("timings_per_token".into(), true.into());
        }
        for (k, v) in &self.extra {
            body.insert(k.clone(), v.clone());
        }
        serde_json::Value::Object(body)
    }
}

/// Sends one request and reads its stream to the end. `sent` is the instant the request left.
pub async fn send(
    http: &reqwest::Client,
    target: &Target,
    prompt: &Prompt,
    max_tokens: u32,
    sent: Instant,
) -> Result<StreamTally, Failure> {
    let work = exchange(http, target, prompt, max_tokens, sent);
    match tokio::time::timeout(target.timeout, work).await {
        Ok(result) => result,
        Err(_) => Err(Failure {
            reason: format!("timeout after {:.1} s", target.timeout.as_secs_f64()),
            tokens_seen: 0,
            unreachable: false,
        }),
    }
}

async fn exchange(
    http: &reqwest::Client,
    target: &Target,
    prompt: &Prompt,
    max_tokens: u32,
    sent: Instant,
) -> Result<StreamTally, Failure> {
    let fail = |reason: String, tokens_seen: u32, unreachable: bool| Failure {
        reason,
        tokens_seen,
        unreachable,
    };
    let response = http
        .post(target.url())
        .json(&target.body(prompt, max_tokens))
        .send()
        .await
        .map_err(|e| {
            let unreachable = e.is_connect();
            fail(describe(&e), 0, unreachable)
        })?;
    let status = response.status();
    if !status.is_success() {
        let text = response.text().await.unwrap_or_default();
        let text: String = text.chars().take(200).collect();
        return Err(fail(
            format!("HTTP {}: {}", status.as_u16(), text.trim()),
            0,
            false,
        ));
    }
    let mut parser = StreamParser::default();
    let mut body = response.bytes_stream();
    while let Some(piece) = body.next().await {
        let at = sent.elapsed();
        match piece {
            Ok(bytes) => {
                if let Err(e) = parser.feed(&bytes, at) {
                    return Err(fail(e, parser.tally().tokens_seen, false));
                }
            }
            Err(e) => return Err(fail(describe(&e), parser.tally().tokens_seen, false)),
        }
    }
    parser
        .finish()
        .map_err(|(reason, partial)| fail(reason, partial, false))
}

/// One line about a transport error, with its root cause.
fn describe(e: &reqwest::Error) -> String {
    let mut msg = if e.is_connect() {
        "connection failed".to_string()
    } else if e.is_timeout() {
        "timeout".to_string()
    } else if e.is_body() || e.is_decode() {
        "connection broken while streaming".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    let mut last = None;
    while let Some(s) = source {
        last = Some(s.to_string());
        source = s.source();
    }
    if let Some(root) = last {
        msg.push_str(": ");
        msg.push_str(&root);
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(api: Api) -> Target {
        let mut extra = serde_json::Map::new();
        extra.insert("temperature".into(), 0.5.into());
        Target {
            base: "http://127.0.0.1:1".into(),
            api,
            model: "m".into(),
            extra,
            ignore_eos: true,
            llama_cpp: true,
            timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn completion_body_carries_token_ids_and_streaming_options() {
        let b = target(Api::Completions).body(&Prompt::Tokens(vec![5, 6]), 32);
        assert_eq!(b["prompt"], serde_json::json!([5, 6]));
        assert_eq!(b["max_tokens"], 32);
        assert_eq!(b["stream"], true);
        assert_eq!(b["stream_options"]["include_usage"], true);
        assert_eq!(b["ignore_eos"], true);
        assert_eq!(b["timings_per_token"], true);
        assert_eq!(b["temperature"], 0.5);
    }

    #[test]
    fn chat_body_sends_one_user_message() {
        let b = target(Api::Chat).body(&Prompt::Text("hello".into()), 8);
        assert_eq!(b["messages"][0]["content"], "hello");
        assert!(b.get("prompt").is_none());
    }

    #[tokio::test]
    async fn a_dead_port_is_an_unreachable_failure() {
        let http = crate::http::client().build().unwrap();
        let t = target(Api::Completions);
        let err = send(&http, &t, &Prompt::Tokens(vec![1]), 1, Instant::now())
            .await
            .unwrap_err();
        assert!(err.unreachable, "{}", err.reason);
        assert!(err.reason.contains("connection failed"), "{}", err.reason);
    }
}
