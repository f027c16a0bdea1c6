//! The application layer: what each command does, from a resolved spec (or recorded runs) to
//! typed results, with no printing. `main.rs` parses arguments, calls one function here and
//! hands the result to `render`.

pub mod bench;
pub mod corpus;
pub mod plan;
pub mod priors;
pub mod simulate;
pub mod spot;
pub mod validate;

use crate::error::InputResult;
use crate::results::Folder;
use std::path::{Path, PathBuf};

/// What `capsim merge` put together.
pub enum Merged {
    /// Sharded `simulate --out` folders → one results folder.
    Folder(Box<Folder>),
    /// Sharded `plan --json` documents → one, in sweep order.
    Plans(Vec<serde_json::Value>),
}

/// Merges shard folders (or plan JSON files) and writes the result to `out`.
pub fn merge(shards: &[PathBuf], out: &Path) -> InputResult<Merged> {
    let io = |e: std::io::Error| crate::error::InputError::new("", e.to_string()).in_file(out);
    if shards.iter().all(|p| p.is_dir()) {
        let folder = Folder::merge(shards)?;
        folder.write(out).map_err(io)?;
        return Ok(Merged::Folder(Box::new(folder)));
    }
    let merged = plan::merge_json(shards)?;
    std::fs::write(
        out,
        serde_json::to_string_pretty(&merged).expect("JSON values serialise") + "\n",
    )
    .map_err(io)?;
    Ok(Merged::Plans(merged))
}
