//! Splitting a large study over machines: `--shard K/N` keeps the points whose index i (in sweep
//! order) has i mod N = K − 1, and `capsim merge` puts the shards' outputs back together in
//! sweep order, checking that every point is there exactly once.
//!
//! A sharded `simulate --out DIR` writes `shard.json` (`{"shard": K, "of": N, "points": P,
//! "indices": [...], …}`) next to `summary.json`, and names record files by the point's index
//! in the whole sweep, so merging is a matter of ordering what the shards hold
//! ([`super::Folder::merge`]). A sharded `plan --json` prints results that carry their point
//! index.

use crate::error::{InputError, InputResult};
use serde::{Deserialize, Serialize};

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
    /// Entries of breakdown.json and tasks.json per point, in the same order.
    #[serde(default)]
    pub breakdown_per_point: Vec<usize>,
    #[serde(default)]
    pub tasks_per_point: Vec<usize>,
    /// The whole sweep's fingerprint ([`crate::spec::sweep_fingerprint`]): shards to merge
    /// carry the same one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep: Option<String>,
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
