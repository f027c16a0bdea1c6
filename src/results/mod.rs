//! The results folder and recorded runs: one schema for what simulations, spot runs and
//! imports write and read. Everything that reads or writes `summary.json`, records files,
//! `capacity.json`, `analysis.json`, `breakdown.json`, `tasks.json`, `metadata.json` and
//! `shard.json` goes through here.

mod folder;
pub mod import;
mod metadata;
pub mod runs;
pub mod shard;

pub use folder::{clear, read_records, Folder, PointOutput, TaskRecord};
pub use metadata::{RunMetadata, ServerCounters, ServerInfo};
pub use runs::{Run, RunFormat};

/// Files capsim writes into a results folder (besides records files).
pub const OWN_FILES: &[&str] = &[
    "summary.json",
    "capacity.json",
    "analysis.json",
    "breakdown.json",
    "tasks.json",
    "metadata.json",
    "shard.json",
];

/// Checks that `dir` may receive results: absent, empty, or holding only files capsim writes
/// there (`own` says which; they are replaced). A folder with anything else is refused unless
/// `force` (then capsim's files are replaced and the rest left alone).
pub fn check_out(
    dir: &std::path::Path,
    force: bool,
    own: impl Fn(&str) -> bool,
) -> crate::error::InputResult<()> {
    if dir.extension().is_some_and(|e| e == "json") && !dir.is_dir() {
        return Ok(()); // a JSON file (merged plans), not a folder
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        if dir.exists() {
            return Err(crate::error::InputError::new(
                "--out",
                format!("'{}' exists and is not a folder", dir.display()),
            ));
        }
        return Ok(());
    };
    let foreign: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !own(n))
        .collect();
    if foreign.is_empty() || force {
        return Ok(());
    }
    let mut shown = foreign.clone();
    shown.sort();
    shown.truncate(3);
    Err(crate::error::InputError::new(
        "--out",
        format!(
            "'{}' is not empty and holds {} file(s) capsim did not write ({}{}): choose another folder, or pass --force to write capsim's files there anyway",
            dir.display(),
            foreign.len(),
            shown.join(", "),
            if foreign.len() > 3 { ", …" } else { "" }
        ),
    ))
}

/// A results folder's own files: the JSON capsim writes and records files.
pub fn is_own_file(name: &str) -> bool {
    OWN_FILES.contains(&name) || records_index(name).is_some()
}

/// The name of a point's record file: `records.jsonl` for a study of one point, else
/// `records-NNN.jsonl` with the point's index in the whole sweep.
pub fn records_name(index: usize, points: usize) -> String {
    if points == 1 {
        "records.jsonl".into()
    } else {
        format!("records-{index:03}.jsonl")
    }
}

/// The point index a records file name stands for (`records.jsonl` is 0), read as a number so
/// `records-1000` sorts after `records-999`.
pub fn records_index(name: &str) -> Option<usize> {
    let rest = name.strip_prefix("records")?.strip_suffix(".jsonl")?;
    if rest.is_empty() {
        return Some(0);
    }
    rest.strip_prefix('-')?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_file_names_round_trip_past_999() {
        for (i, n) in [(0, 1), (7, 10), (999, 2000), (1000, 2000), (12345, 20000)] {
            assert_eq!(records_index(&records_name(i, n)), Some(i));
        }
        assert_eq!(records_index("records-x.jsonl"), None);
        assert_eq!(records_index("summary.json"), None);
    }
}
