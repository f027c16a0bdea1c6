//! Reading an OpenAI-compatible server-sent-event stream into token timings. Pure: bytes and
//! arrival times in, a tally out, so every malformed case is unit-tested without a server.
//!
//! Stream chunks are not tokens: llama-server holds back incomplete UTF-8 and sends several
//! tokens in one chunk, vLLM can send empty deltas. Where a chunk says how many tokens were
//! generated so far (llama-server's `timings.predicted_n` with `timings_per_token`), a chunk of
//! k new tokens yields k inter-token gaps of gap/k each; otherwise each chunk with text counts
//! as one token. The final `usage` block gives the authoritative counts.

use std::time::Duration;

/// What a finished (or broken) stream amounted to.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StreamTally {
    /// Since the request was sent.
    pub first_token: Option<Duration>,
    pub last_token: Option<Duration>,
    /// Inter-token gaps, seconds (one per token after the first, where counts are known).
    pub itl_s: Vec<f64>,
    /// Tokens seen in chunks (by predicted_n, else one per chunk with text).
    pub tokens_seen: u32,
    /// Stream chunks that carried tokens.
    pub chunks: u32,
    pub prompt_tokens: Option<u32>,
    pub completion_tokens: Option<u32>,
    /// Prompt tokens the server took from its prefix cache (`usage.prompt_tokens_details`).
    pub cached_tokens: Option<u32>,
    /// The server's own decode timing: (predicted_n, predicted_ms) from the final `timings`.
    pub server_predicted: Option<(u32, f64)>,
    /// The server's own prompt timing: (prompt_n, prompt_ms).
    pub server_prompt: Option<(u32, f64)>,
    pub done: bool,
    pub finish_reason: Option<String>,
    /// The answer's text (completions `text`, chat `content`), for conversations that send it
    /// back in their next turn.
    pub text: String,
}

/// Incremental parser: feed it bytes as they arrive.
#[derive(Default)]
pub struct StreamParser {
    buf: Vec<u8>,
    tally: StreamTally,
    last_chunk_at: Option<Duration>,
    /// When the chunk that carried the finish reason arrived.
    finish_at: Option<Duration>,
    data_lines: u64,
}

impl StreamParser {
    /// Consumes bytes received `at` (since send). Errors describe a malformed stream.
    pub fn feed(&mut self, bytes: &[u8], at: Duration) -> Result<(), String> {
        self.buf.extend_from_slice(bytes);
        while let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=pos).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\n', '\r']);
            self.line(line, at)?;
        }
        if self.buf.len() > 16 << 20 {
            return Err("malformed stream: a line longer than 16 MiB".into());
        }
        Ok(())
    }

    fn line(&mut self, line: &str, at: Duration) -> Result<(), String> {
        if line.is_empty() || line.starts_with(':') {
            return Ok(()); // event separator or comment
        }
        let Some(data) = line.strip_prefix("data:") else {
            if line.starts_with("event:") || line.starts_with("id:") || line.starts_with("retry:") {
                return Ok(());
            }
            return Err(format!(
                "malformed stream: unexpected line '{}'",
                clip(line)
            ));
        };
        let data = data.trim_start();
        if data == "[DONE]" {
            self.tally.done = true;
            return Ok(());
        }
        self.data_lines += 1;
        let v: serde_json::Value = serde_json::from_str(data).map_err(|e| {
            format!(
                "malformed stream: bad JSON in chunk ({e}): '{}'",
                clip(data)
            )
        })?;
        if let Some(err) = v.get("error") {
            return Err(format!(
                "server error in stream: {}",
                clip(&err.to_string())
            ));
        }
        self.chunk(&v, at);
        Ok(())
    }

    fn chunk(&mut self, v: &serde_json::Value, at: Duration) {
        let choice = v.get("choices").and_then(|c| c.get(0));
        if let Some(c) = choice {
            let answer = c
                .get("text")
                .or_else(|| c.get("delta").and_then(|d| d.get("content")))
                .and_then(|t| t.as_str());
            if let Some(t) = answer {
                self.tally.text.push_str(t);
            }
        }
        let text_len = choice
            .map(|c| {
                let s =
                    |x: Option<&serde_json::Value>| x.and_then(|t| t.as_str()).map_or(0, str::len);
                s(c.get("text"))
                    + c.get("delta").map_or(0, |d| {
                        s(d.get("content")) + s(d.get("reasoning_content")) + s(d.get("reasoning"))
                    })
            })
            .unwrap_or(0);
        if let Some(reason) = choice
            .and_then(|c| c.get("finish_reason"))
            .and_then(|r| r.as_str())
        {
            self.tally.finish_reason = Some(reason.to_string());
            self.finish_at = Some(at);
        }
        let timings = v.get("timings");
        let predicted_n = timings
            .and_then(|t| t.get("predicted_n"))
            .and_then(|n| n.as_u64())
            .map(|n| n as u32);
        if let Some(t) = timings {
            let num = |k: &str| t.get(k).and_then(|x| x.as_f64());
            if let (Some(n), Some(ms)) = (num("predicted_n"), num("predicted_ms")) {
                self.tally.server_predicted = Some((n as u32, ms));
            }
            if let (Some(n), Some(ms)) = (num("prompt_n"), num("prompt_ms")) {
                self.tally.server_prompt = Some((n as u32, ms));
            }
        }
        if let Some(u) = v.get("usage").filter(|u| !u.is_null()) {
            let get = |k: &str| u.get(k).and_then(|x| x.as_u64()).map(|x| x as u32);
            self.tally.prompt_tokens = get("prompt_tokens").or(self.tally.prompt_tokens);
            self.tally.completion_tokens =
                get("completion_tokens").or(self.tally.completion_tokens);
            // vLLM with --enable-prompt-tokens-details: prompt tokens served by its prefix cache.
            if let Some(c) = u
                .pointer("/prompt_tokens_details/cached_tokens")
                .and_then(|x| x.as_u64())
            {
                self.tally.cached_tokens = Some(c as u32);
            }
        }
        let new_tokens = match predicted_n {
            Some(n) => n.saturating_sub(self.tally.tokens_seen),
            None => u32::from(text_len > 0),
        };
        if new_tokens == 0 {
            return;
        }
        self.tally.chunks += 1;
        self.record_tokens(new_tokens, at);
    }

    fn record_tokens(&mut self, k: u32, at: Duration) {
        let t = &mut self.tally;
        match t.last_token {
            None => {
                t.first_token = Some(at);
                // Tokens arriving together with the first one: zero gaps.
                t.itl_s.extend(std::iter::repeat_n(0.0, (k - 1) as usize));
            }
            Some(prev) => {
                let gap = at.saturating_sub(prev).as_secs_f64() / k as f64;
                t.itl_s.extend(std::iter::repeat_n(gap, k as usize));
            }
        }
        t.last_token = Some(at);
        t.tokens_seen += k;
        self.last_chunk_at = Some(at);
    }

    /// Ends the stream. A stream that ended before `[DONE]`, or carried no token, is an error.
    /// On error: the reason and the tokens seen before it.
    pub fn finish(mut self) -> Result<StreamTally, (String, u32)> {
        if !self.buf.is_empty() {
            let rest = String::from_utf8_lossy(&self.buf).to_string();
            self.buf.clear();
            if let Err(e) = self.line(rest.trim_end(), self.last_chunk_at.unwrap_or_default()) {
                return Err((e, self.tally.tokens_seen));
            }
        }
        if !self.tally.done {
            let why = if self.data_lines == 0 {
                "stream ended without any data (connection closed?)"
            } else {
                "stream ended before [DONE] (connection closed mid-response?)"
            };
            return Err((why.to_string(), self.tally.tokens_seen));
        }
        if self.tally.first_token.is_none() {
            // Every token's text was empty (a special token skipped by the detokenizer, as
            // vLLM does by default): the server's own count says they were generated, by the
            // chunk that ended the stream.
            match (self.tally.completion_tokens, self.finish_at) {
                (Some(n), Some(at)) if n > 0 => {
                    self.tally.chunks += 1;
                    self.record_tokens(n, at);
                }
                _ => return Err(("stream carried no tokens".to_string(), 0)),
            }
        }
        Ok(self.tally)
    }

    pub fn tally(&self) -> &StreamTally {
        &self.tally
    }
}

fn clip(s: &str) -> String {
    let mut out: String = s.chars().take(120).collect();
    if s.chars().count() > 120 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(x: u64) -> Duration {
        Duration::from_millis(x)
    }

    #[test]
    fn llama_server_chunks_with_predicted_n_give_one_gap_per_token() {
        let mut p = StreamParser::default();
        let chunk = |text: &str, n: u32| {
            format!("data: {{\"choices\":[{{\"text\":\"{text}\",\"finish_reason\":null}}],\"timings\":{{\"predicted_n\":{n},\"predicted_ms\":1.0}}}}\n\n")
        };
        p.feed(chunk("a", 1).as_bytes(), ms(100)).unwrap();
        p.feed(chunk("bc", 3).as_bytes(), ms(120)).unwrap(); // two tokens in one chunk
        p.feed(chunk("d", 4).as_bytes(), ms(130)).unwrap();
        p.feed(b"data: {\"choices\":[{\"text\":\"\",\"finish_reason\":\"length\"}],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":4},\"timings\":{\"predicted_n\":4,\"predicted_ms\":30.0,\"prompt_n\":7,\"prompt_ms\":5.0}}\n\ndata: [DONE]\n\n", ms(131)).unwrap();
        let t = p.finish().unwrap();
        assert_eq!(t.first_token, Some(ms(100)));
        assert_eq!(t.itl_s.len(), 3, "output tokens - 1 gaps");
        assert!((t.itl_s[0] - 0.010).abs() < 1e-9 && (t.itl_s[1] - 0.010).abs() < 1e-9);
        assert!((t.itl_s[2] - 0.010).abs() < 1e-9);
        assert_eq!((t.prompt_tokens, t.completion_tokens), (Some(7), Some(4)));
        assert_eq!(t.server_predicted, Some((4, 30.0)));
        assert_eq!(t.finish_reason.as_deref(), Some("length"));
    }

    #[test]
    fn chat_deltas_without_counts_count_one_token_per_text_chunk() {
        let mut p = StreamParser::default();
        p.feed(
            b"data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\n",
            ms(5),
        )
        .unwrap();
        p.feed(b"data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\ndata: {\"choices\":[{\"delta\":{\"content\":\" there\"}}]}\n", ms(50)).unwrap();
        p.feed(b"\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2}}\n\ndata: [DONE]\n\n", ms(60)).unwrap();
        let t = p.finish().unwrap();
        assert_eq!(t.first_token, Some(ms(50)));
        assert_eq!(t.tokens_seen, 2);
        assert_eq!(t.itl_s, vec![0.0]);
    }

    #[test]
    fn split_lines_across_reads_are_joined() {
        let mut p = StreamParser::default();
        let whole = b"data: {\"choices\":[{\"text\":\"x\"}]}\n\ndata: [DONE]\n\n";
        p.feed(&whole[..13], ms(1)).unwrap();
        p.feed(&whole[13..], ms(2)).unwrap();
        assert_eq!(p.finish().unwrap().tokens_seen, 1);
    }

    #[test]
    fn tokens_without_text_count_from_usage_at_the_chunk_that_ends_the_stream() {
        // vLLM skips special tokens' text: a one-token answer that is `</s>` streams no text,
        // only its finish chunk and the usage.
        let mut p = StreamParser::default();
        p.feed(
            b"data: {\"choices\":[{\"text\":\"\",\"finish_reason\":\"length\"}]}\n\n",
            ms(40),
        )
        .unwrap();
        p.feed(b"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":1}}\n\ndata: [DONE]\n\n", ms(41))
            .unwrap();
        let t = p.finish().unwrap();
        assert_eq!(t.first_token, Some(ms(40)), "the finish chunk's time");
        assert_eq!(t.tokens_seen, 1);
        assert!(t.itl_s.is_empty());

        // Without the server's count there is nothing to go on.
        let mut p = StreamParser::default();
        p.feed(b"data: {\"choices\":[{\"text\":\"\",\"finish_reason\":\"length\"}]}\n\ndata: [DONE]\n\n", ms(40))
            .unwrap();
        assert!(p.finish().unwrap_err().0.contains("no tokens"));
    }

    #[test]
    fn malformed_streams_are_errors_with_a_reason() {
        let mut p = StreamParser::default();
        let e = p.feed(b"data: {not json\n\n", ms(1)).unwrap_err();
        assert!(e.contains("malformed stream"), "{e}");

        let mut p = StreamParser::default();
        assert!(p
            .feed(b"<html>oops</html>\n", ms(1))
            .unwrap_err()
            .contains("unexpected line"));

        let mut p = StreamParser::default();
        p.feed(b"data: {\"choices\":[{\"text\":\"x\"}]}\n\n", ms(1))
            .unwrap();
        let (e, partial) = p.finish().unwrap_err();
        assert!(e.contains("before [DONE]"), "{e}");
        assert_eq!(partial, 1);

        let p = StreamParser::default();
        assert!(p.finish().unwrap_err().0.contains("without any data"));

        let mut p = StreamParser::default();
        let e = p
            .feed(b"data: {\"error\":{\"message\":\"boom\"}}\n\n", ms(1))
            .unwrap_err();
        assert!(e.contains("boom"));
    }
}
