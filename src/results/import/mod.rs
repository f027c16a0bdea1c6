//! Readers of other tools' result files, into capsim's records and summaries.

pub mod guidellm;
pub mod vllm_bench;

use crate::error::InputError;
use std::path::Path;

fn bad(path: &Path, problem: impl Into<String>) -> InputError {
    InputError::new("", problem).in_file(path)
}

/// A JSON number (or a numeric string, as vllm bench writes "inf").
fn number(v: Option<&serde_json::Value>) -> Option<f64> {
    match v? {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// A concurrency limit a file states (`key`): absent or null is none; otherwise a whole
/// number of requests from 1 up, or the file is refused (0 would be no requests at all).
fn concurrency(
    path: &Path,
    v: Option<&serde_json::Value>,
    key: &str,
) -> crate::error::InputResult<Option<u32>> {
    match v {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(x) => x
            .as_u64()
            .filter(|&c| c >= 1)
            .and_then(|c| u32::try_from(c).ok())
            .map(Some)
            .ok_or_else(|| {
                bad(
                    path,
                    format!("{key} is {x}: a limit on requests in flight is a whole number from 1 to {}", u32::MAX),
                )
            }),
    }
}
