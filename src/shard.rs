//! Splitting a large study over machines: `--shard K/N` keeps the points whose index i (in sweep
//! order) has i mod N = K − 1, and `capsim merge` puts the shards' outputs back together in
//! sweep order, checking that every point is there exactly once.
//!
//! A sharded `simulate --out DIR` writes `shard.json` (`{"shard": K, "of": N, "points": P,
//! "indices": [...]}`) next to `summary.json`, and names record files by the point's index in
//! the whole sweep, so merging is a matter of ordering summaries and copying files. A sharded
//! `plan --json` prints results that carry their point index.

use crate::error::{InputError, InputResult};
use crate::metrics::Summary;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One shard of N.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// 1-based.
    pub shard: u32,
    pub of: u32,
}

impl Shard {
    /// The whole study.
    pub const ALL: Shard = Shard { shard: 1, of: 1 };

    /// Parses `K/N` with 1 ≤ K ≤ N.
    pub fn parse(s: &str) -> InputResult<Shard> {
        let err = || {
            InputError::new(
                "--shard",
                format!("'{s}' is not K/N with 1 <= K <= N (e.g. 2/8)"),
            )
        };
        let (k, n) = s.split_once('/').ok_or_else(err)?;
        let (k, n): (u32, u32) = (
            k.trim().parse().map_err(|_| err())?,
            n.trim().parse().map_err(|_| err())?,
        );
        if k == 0 || n == 0 || k > n {
            return Err(err());
        }
        Ok(Shard { shard: k, of: n })
    }

    pub fn is_all(&self) -> bool {
        self.of == 1
    }

    /// Whether point `index` belongs to this shard.
    pub fn holds(&self, index: usize) -> bool {
        index % self.of as usize == (self.shard - 1) as usize
    }

    /// The indices of this shard among `total` points.
    pub fn indices(&self, total: usize) -> Vec<usize> {
        (0..total).filter(|&i| self.holds(i)).collect()
    }
}

/// What `shard.json` says.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShardFile {
    #[serde(flatten)]
    pub shard: Shard,
    /// Points in the whole sweep.
    pub points: usize,
    /// This shard's point indices, in the order of its summary.json.
    pub indices: Vec<usize>,
}

/// The name of a point's record file in a results folder.
pub fn records_name(index: usize, points: usize) -> String {
    if points == 1 {
        "records.jsonl".into()
    } else {
        format!("records-{index:03}.jsonl")
    }
}

fn bad(path: &Path, problem: impl Into<String>) -> InputError {
    InputError::new("", problem).in_file(path)
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> InputResult<T> {
    let text = std::fs::read_to_string(path).map_err(|e| bad(path, e.to_string()))?;
    serde_json::from_str(&text).map_err(|e| bad(path, format!("cannot read it: {e}")))
}

/// Merges sharded `simulate --out` folders into `out` (summary.json, records, and the
/// summaries in sweep order); returns the merged summaries.
pub fn merge_results(dirs: &[PathBuf], out: &Path) -> InputResult<Vec<Summary>> {
    let mut total: Option<(usize, u32)> = None;
    let mut slots: Vec<Option<(Summary, PathBuf)>> = Vec::new();
    for dir in dirs {
        let meta_path = dir.join("shard.json");
        let meta: ShardFile = read_json(&meta_path)?;
        let summaries: Vec<Summary> = read_json(&dir.join("summary.json"))?;
        if summaries.len() != meta.indices.len() {
            return Err(bad(
                &meta_path,
                format!(
                    "lists {} points but summary.json holds {}",
                    meta.indices.len(),
                    summaries.len()
                ),
            ));
        }
        match total {
            None => {
                total = Some((meta.points, meta.shard.of));
                slots = vec![None; meta.points];
            }
            Some((p, n)) if p != meta.points || n != meta.shard.of => {
                return Err(bad(
                    &meta_path,
                    format!(
                    "is shard {}/{} of {} points; the first shard was of {n} shards and {p} points",
                    meta.shard.shard, meta.shard.of, meta.points
                ),
                ))
            }
            _ => {}
        }
        for (summary, &i) in summaries.into_iter().zip(&meta.indices) {
            let slot = slots
                .get_mut(i)
                .ok_or_else(|| bad(&meta_path, format!("point {i} is beyond the sweep")))?;
            if slot.is_some() {
                return Err(bad(&meta_path, format!("point {i} is in two shards")));
            }
            *slot = Some((summary, dir.clone()));
        }
    }
    let missing: Vec<usize> = (0..slots.len()).filter(|&i| slots[i].is_none()).collect();
    if !missing.is_empty() {
        let (_, n) = total.unwrap_or((0, 1));
        let shards: std::collections::BTreeSet<usize> =
            missing.iter().map(|i| i % n as usize + 1).collect();
        return Err(InputError::new(
            "merge",
            format!(
                "points {missing:?} are missing: merge every shard (missing shard(s) {shards:?} of {n})"
            ),
        ));
    }
    std::fs::create_dir_all(out).map_err(|e| bad(out, e.to_string()))?;
    let points = slots.len();
    let mut merged = Vec::with_capacity(points);
    for (i, slot) in slots.into_iter().enumerate() {
        let (summary, dir) = slot.expect("checked");
        let name = records_name(i, points);
        let from = dir.join(&name);
        if from.is_file() && dir != out {
            std::fs::copy(&from, out.join(&name)).map_err(|e| bad(&from, e.to_string()))?;
        }
        merged.push(summary);
    }
    let text = serde_json::to_string_pretty(&merged).expect("summaries serialise") + "\n";
    std::fs::write(out.join("summary.json"), text).map_err(|e| bad(out, e.to_string()))?;
    let _ = std::fs::remove_file(out.join("shard.json"));
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_the_points() {
        let n = 3;
        let mut seen = [0; 10];
        for k in 1..=n {
            for i in (Shard { shard: k, of: n }).indices(10) {
                seen[i] += 1;
            }
        }
        assert!(seen.iter().all(|&c| c == 1));
        assert_eq!(Shard::ALL.indices(4), vec![0, 1, 2, 3]);
    }

    #[test]
    fn bad_shards_are_input_errors() {
        assert_eq!(Shard::parse("2/8").unwrap(), Shard { shard: 2, of: 8 });
        for s in ["0/4", "5/4", "3", "a/b", "1/0", ""] {
            let e = Shard::parse(s).unwrap_err().to_string();
            assert!(e.contains("--shard"), "{e}");
        }
    }
}
