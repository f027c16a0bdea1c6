//! A test double behind the load generator's `Server` trait: it answers every request at
//! once with exactly the tokens asked for, counting prompt tokens as words. It exists to check
//! what the driver sends (the request sequence), never to stand in for a real server's timing;
//! live tests talk to real llama-server and vLLM.

use capsim::live::client::{Failure, Prompt};
use capsim::live::stream::StreamTally;
use capsim::live::Server;
use capsim::results::ServerInfo;
use std::time::{Duration, Instant};

/// Answers in `step` per token (a millisecond or so: the run stays fast).
pub struct Double {
    pub step: Duration,
}

fn words(text: &str) -> u32 {
    text.split_whitespace().count() as u32
}

impl Server for Double {
    fn base(&self) -> &str {
        "double://"
    }

    async fn discover(&self) -> ServerInfo {
        ServerInfo {
            kind: "double".into(),
            models: vec!["double".into()],
            vocab_size: Some(1000),
            has_tokenize: true,
            ..ServerInfo::default()
        }
    }

    async fn tokenize(&self, text: &str) -> Option<Vec<u32>> {
        Some(text.split_whitespace().map(|w| w.len() as u32).collect())
    }

    async fn detokenize(&self, ids: &[u32]) -> Option<String> {
        Some(ids.iter().map(|i| format!("w{i} ")).collect())
    }

    async fn send(
        &self,
        prompt: &Prompt,
        max_tokens: u32,
        sent: Instant,
    ) -> Result<StreamTally, Failure> {
        let prompt_tokens = match prompt {
            Prompt::Tokens(ids) => ids.len() as u32,
            Prompt::Text(t) => words(t),
            Prompt::Conversation(m) => m.iter().map(|(_, c)| words(c)).sum(),
        };
        tokio::time::sleep(self.step).await;
        let first = sent.elapsed();
        let n = max_tokens.max(1);
        tokio::time::sleep(self.step * (n - 1)).await;
        let last = sent.elapsed();
        let gap = (last - first).as_secs_f64() / (n - 1).max(1) as f64;
        Ok(StreamTally {
            first_token: Some(first),
            last_token: Some(last),
            itl_s: vec![gap; n as usize - 1],
            tokens_seen: n,
            prompt_tokens: Some(prompt_tokens),
            completion_tokens: Some(n),
            done: true,
            finish_reason: Some("length".into()),
            text: (0..n).map(|_| "x ").collect(),
            ..StreamTally::default()
        })
    }

    async fn metrics(&self) -> Option<String> {
        None
    }
}
