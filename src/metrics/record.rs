//! One request, as simulated, measured or imported: the JSONL line of a records file.

use serde::{Deserialize, Deserializer, Serialize};
use std::borrow::Cow;

/// One request (JSONL, one line each). Times are seconds from the run's start.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RequestRecord {
    pub id: u64,
    /// When the client meant to send it (open loop: the arrival time; closed loop: when the
    /// user's think time ended), seconds from start.
    #[serde(deserialize_with = "nan_if_null")]
    pub scheduled_s: f64,
    /// When it was sent (NaN, written null: never sent).
    #[serde(deserialize_with = "nan_if_null")]
    pub sent_s: f64,
    pub first_token_s: Option<f64>,
    /// When it ended: its last token, or (failed requests) when the client saw the failure.
    pub end_s: Option<f64>,
    pub input_tokens: u32,
    pub output_tokens: u32,
    /// Inter-token gaps, seconds, where recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub itl_s: Option<Vec<f64>>,
    /// Why it failed, or null.
    pub error: Option<Cow<'static, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica: Option<u32>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub preemptions: u32,
    /// Output tokens asked for, where the server produced a different number (or failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_output_tokens: Option<u32>,
    /// The workload class it belongs to, where the workload has several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    /// Closed loops: the user (client) that sent it, 0-based within its class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<u32>,
    /// Multi-turn sessions: which session, and which turn of it (1-based).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn: Option<u32>,
    /// Prompt tokens the server took from its prefix cache (not prefilled again).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cached_tokens: u32,
    /// Spot runs against llama-server: the server's own prompt processing time (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_prompt_ms: Option<f64>,
}

fn is_zero(x: &u32) -> bool {
    *x == 0
}

/// serde_json writes NaN as null; read it back as NaN.
pub fn nan_if_null<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

impl RequestRecord {
    /// What makes this record's times impossible, if anything: a first token before the
    /// request was sent or after it ended, an end before the send, a time that is not a
    /// number, or a negative inter-token gap. Every record read from a file is checked, so a
    /// latency computed from it cannot come out negative.
    pub fn inconsistency(&self) -> Option<String> {
        // Clocks print to a microsecond or so; closer than this is the same instant.
        const EPS: f64 = 1e-6;
        let sent = self.sent_s;
        if sent.is_infinite() {
            return Some(format!("sent_s is {sent}"));
        }
        for (name, t) in [("first_token_s", self.first_token_s), ("end_s", self.end_s)] {
            match t {
                Some(t) if !t.is_finite() => return Some(format!("{name} is {t}")),
                Some(t) if !sent.is_nan() && t < sent - EPS => {
                    return Some(format!("{name} {t} comes before sent_s {sent}"))
                }
                _ => {}
            }
        }
        if let (Some(first), Some(end)) = (self.first_token_s, self.end_s) {
            if end < first - EPS {
                return Some(format!("end_s {end} comes before first_token_s {first}"));
            }
        }
        if let Some(g) = self
            .itl_s
            .iter()
            .flatten()
            .find(|g| !g.is_finite() || **g < 0.0)
        {
            return Some(format!("an inter-token gap is {g} s"));
        }
        None
    }

    pub fn succeeded(&self) -> bool {
        self.error.is_none() && self.end_s.is_some() && self.first_token_s.is_some()
    }
    pub fn ttft_s(&self) -> Option<f64> {
        Some(self.first_token_s? - self.sent_s)
    }
    pub fn e2el_s(&self) -> Option<f64> {
        Some(self.end_s? - self.sent_s)
    }
    pub fn tpot_s(&self) -> Option<f64> {
        if self.output_tokens < 2 {
            return None;
        }
        Some((self.end_s? - self.first_token_s?) / (self.output_tokens - 1) as f64)
    }
    /// When the request left the client's hands: its end, or its send when no end is known.
    pub fn finish_s(&self) -> f64 {
        self.end_s.unwrap_or(self.sent_s)
    }
}
