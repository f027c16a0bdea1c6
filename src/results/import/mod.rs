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
