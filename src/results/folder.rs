//! The results folder of `simulate --out`, `spot --out` and `capsim merge`: one typed
//! schema, one writer, one reader.
//!
//! | file | what |
//! | --- | --- |
//! | `summary.json` | one summary per point, in sweep order |
//! | `records.jsonl` / `records-NNN.jsonl` | request records of the point with sweep index NNN |
//! | `capacity.json` | capacity facts per point (simulations) |
//! | `analysis.json` | knee, plateau and onsets of a whole sweep (more than one point) |
//! | `breakdown.json` | summaries per class and turn (workloads with classes or sessions) |
//! | `tasks.json` | agent task statistics per point and class |
//! | `metadata.json` | spot runs: what each point played against which server |
//! | `shard.json` | a shard of a sweep: which points it holds (removed by merge) |
//!
//! Writing replaces capsim's own files in the folder (stale records of an earlier, larger
//! sweep included) and leaves other files alone.

use super::shard::{Shard, ShardFile};
use super::{records_name, RunMetadata};
use crate::analysis::breakdown::TaskStats;
use crate::analysis::Analysis;
use crate::error::{InputError, InputResult};
use crate::metrics::{Point, RequestRecord, Summary};
use crate::spec::capacity::Capacity;
use serde::{Deserialize, Serialize};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// One agent-task statistic of a point (`tasks.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    #[serde(flatten)]
    pub stats: TaskStats,
    pub point: Point,
    /// The same task with nothing else running, seconds (simulations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub solo_task_s: Option<f64>,
}

/// What one point of a study produced.
#[derive(Clone, Debug, Default)]
pub struct PointOutput {
    /// Its index in the whole sweep.
    pub index: usize,
    pub summary: Option<Summary>,
    pub records: Vec<RequestRecord>,
    pub capacity: Option<Capacity>,
    pub breakdown: Vec<Summary>,
    pub tasks: Vec<TaskRecord>,
    pub metadata: Option<RunMetadata>,
}

/// A results folder's contents.
#[derive(Clone, Debug, Default)]
pub struct Folder {
    /// Points in the whole sweep (a shard holds some of them).
    pub total_points: usize,
    /// The points held, in sweep order.
    pub points: Vec<PointOutput>,
    pub analysis: Option<Analysis>,
    /// Set on a shard's folder.
    pub shard: Option<Shard>,
    /// The sweep's fingerprint ([`crate::spec::sweep_fingerprint`]), written with a shard so
    /// that shards of different studies are not merged.
    pub sweep: Option<String>,
}

fn bad(path: &Path, problem: impl Into<String>) -> InputError {
    InputError::new("", problem).in_file(path)
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> InputResult<Option<T>> {
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).map_err(|e| bad(path, e.to_string()))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| bad(path, format!("not a capsim results file: {e}")))
}

fn write_json(dir: &Path, name: &str, value: &impl Serialize) -> std::io::Result<PathBuf> {
    let path = dir.join(name);
    let text = serde_json::to_string_pretty(value).map_err(std::io::Error::other)? + "\n";
    std::fs::write(&path, text)?;
    Ok(path)
}

fn write_records(path: &Path, records: &[RequestRecord]) -> std::io::Result<()> {
    let mut w = BufWriter::new(std::fs::File::create(path)?);
    for r in records {
        serde_json::to_writer(&mut w, r).map_err(std::io::Error::other)?;
        w.write_all(b"\n")?;
    }
    w.flush()
}

/// Removes the files of `dir` that `own` claims (a rewrite must not leave stale ones): a
/// results folder's with [`super::is_own_file`], a report's with its own test.
pub fn clear(dir: &Path, own: impl Fn(&str) -> bool) -> std::io::Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if own(name) {
            std::fs::remove_file(e.path())?;
        }
    }
    Ok(())
}

impl Folder {
    /// The summaries of the points held, in sweep order.
    pub fn summaries(&self) -> Vec<Summary> {
        self.points
            .iter()
            .filter_map(|p| p.summary.clone())
            .collect()
    }

    /// Writes every file of the folder into `dir` (created), replacing capsim's files there.
    pub fn write(&self, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir)?;
        clear(dir, super::is_own_file)?;
        let mut written = vec![write_json(dir, "summary.json", &self.summaries())?];
        for p in &self.points {
            if p.summary.is_some() || !p.records.is_empty() {
                let path = dir.join(records_name(p.index, self.total_points));
                write_records(&path, &p.records)?;
                written.push(path);
            }
        }
        let capacity: Vec<&Capacity> = self
            .points
            .iter()
            .filter_map(|p| p.capacity.as_ref())
            .collect();
        if !capacity.is_empty() {
            written.push(write_json(dir, "capacity.json", &capacity)?);
        }
        if let Some(a) = &self.analysis {
            written.push(write_json(dir, "analysis.json", a)?);
        }
        let breakdown: Vec<&Summary> = self.points.iter().flat_map(|p| &p.breakdown).collect();
        if !breakdown.is_empty() {
            written.push(write_json(dir, "breakdown.json", &breakdown)?);
        }
        let tasks: Vec<&TaskRecord> = self.points.iter().flat_map(|p| &p.tasks).collect();
        if !tasks.is_empty() {
            written.push(write_json(dir, "tasks.json", &tasks)?);
        }
        let metadata: Vec<&RunMetadata> = self
            .points
            .iter()
            .filter_map(|p| p.metadata.as_ref())
            .collect();
        if !metadata.is_empty() {
            written.push(write_json(dir, "metadata.json", &metadata)?);
        }
        if let Some(shard) = self.shard {
            let meta = ShardFile {
                shard,
                points: self.total_points,
                indices: self.points.iter().map(|p| p.index).collect(),
                breakdown_per_point: self.points.iter().map(|p| p.breakdown.len()).collect(),
                tasks_per_point: self.points.iter().map(|p| p.tasks.len()).collect(),
                sweep: self.sweep.clone(),
            };
            written.push(write_json(dir, "shard.json", &meta)?);
        }
        Ok(written)
    }

    /// Writes only `summary.json` and `metadata.json` (a spot run keeps them current after
    /// every point; its records files are written request by request).
    pub fn write_index(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        write_json(dir, "summary.json", &self.summaries())?;
        let metadata: Vec<&RunMetadata> = self
            .points
            .iter()
            .filter_map(|p| p.metadata.as_ref())
            .collect();
        if !metadata.is_empty() {
            write_json(dir, "metadata.json", &metadata)?;
        }
        Ok(())
    }

    /// Reads a results folder (what [`Folder::write`] wrote; `summary.json` is required).
    pub fn read(dir: &Path) -> InputResult<Folder> {
        let summary_path = dir.join("summary.json");
        let summaries: Vec<Summary> = read_json(&summary_path)?
            .ok_or_else(|| bad(dir, "no summary.json: not a capsim results folder"))?;
        let shard: Option<ShardFile> = read_json(&dir.join("shard.json"))?;
        let n = summaries.len();
        let (total_points, indices) = match &shard {
            Some(s) => {
                if s.indices.len() != n {
                    return Err(bad(
                        &dir.join("shard.json"),
                        format!(
                            "lists {} points but summary.json holds {n}",
                            s.indices.len()
                        ),
                    ));
                }
                (s.points, s.indices.clone())
            }
            None => (n, (0..n).collect()),
        };
        let capacity: Vec<Capacity> = read_json(&dir.join("capacity.json"))?.unwrap_or_default();
        let breakdown: Vec<Summary> = read_json(&dir.join("breakdown.json"))?.unwrap_or_default();
        let tasks: Vec<TaskRecord> = read_json(&dir.join("tasks.json"))?.unwrap_or_default();
        let metadata: Vec<RunMetadata> =
            read_json::<serde_json::Value>(&dir.join("metadata.json"))?
                .map(|v| match v {
                    serde_json::Value::Array(_) => serde_json::from_value(v),
                    one => serde_json::from_value(one).map(|m| vec![m]),
                })
                .transpose()
                .map_err(|e| {
                    bad(
                        &dir.join("metadata.json"),
                        format!("not capsim run metadata: {e}"),
                    )
                })?
                .unwrap_or_default();
        let analysis: Option<Analysis> = read_json(&dir.join("analysis.json"))?;
        // Breakdown and task entries per point: the shard says how many; unsharded folders
        // match them to their point by its keys.
        let split = |counts: Option<&Vec<usize>>, points: Vec<Point>| -> Vec<usize> {
            match counts {
                Some(c) => c.clone(),
                None => summaries
                    .iter()
                    .map(|s| points.iter().filter(|p| within(p, &s.point)).count())
                    .collect(),
            }
        };
        let b_counts = split(
            shard.as_ref().map(|s| &s.breakdown_per_point),
            breakdown.iter().map(|b| b.point.clone()).collect(),
        );
        let t_counts = split(
            shard.as_ref().map(|s| &s.tasks_per_point),
            tasks.iter().map(|t| t.point.clone()).collect(),
        );
        let (mut b_iter, mut t_iter) = (breakdown.into_iter(), tasks.into_iter());
        let mut points = Vec::with_capacity(n);
        for (k, (summary, index)) in summaries.into_iter().zip(indices).enumerate() {
            let rec_path = dir.join(records_name(index, total_points));
            let records = if rec_path.is_file() {
                read_records(&rec_path)?
            } else {
                Vec::new()
            };
            points.push(PointOutput {
                index,
                capacity: capacity.get(k).cloned(),
                breakdown: b_iter
                    .by_ref()
                    .take(b_counts.get(k).copied().unwrap_or(0))
                    .collect(),
                tasks: t_iter
                    .by_ref()
                    .take(t_counts.get(k).copied().unwrap_or(0))
                    .collect(),
                metadata: metadata.get(k).cloned(),
                summary: Some(summary),
                records,
            });
        }
        // A point that completed requests has a records file when any point has one (a
        // folder with none at all is a summary alone, as spot runs keep it up to date).
        if points.iter().any(|p| !p.records.is_empty()) {
            if let Some(p) = points.iter().find(|p| {
                p.records.is_empty() && p.summary.as_ref().is_some_and(|s| s.completed > 0)
            }) {
                return Err(bad(
                    &dir.join(records_name(p.index, total_points)),
                    "missing, while summary.json says its point completed requests and other points have their records",
                ));
            }
        }
        let sweep = shard.as_ref().and_then(|s| s.sweep.clone());
        Ok(Folder {
            total_points,
            points,
            analysis,
            shard: shard.map(|s| s.shard),
            sweep,
        })
    }

    /// Puts the folders of a sharded sweep back together, in sweep order, checking that every
    /// point is there exactly once. The analysis of the whole sweep is computed again.
    pub fn merge(dirs: &[PathBuf]) -> InputResult<Folder> {
        let mut total: Option<(usize, u32)> = None;
        let mut slots: Vec<Option<PointOutput>> = Vec::new();
        let mut sweep: Option<(String, &PathBuf)> = None;
        let mut with_records: Option<(bool, &PathBuf)> = None;
        for dir in dirs {
            let f = Folder::read(dir)?;
            let meta_path = dir.join("shard.json");
            let Some(shard) = f.shard else {
                return Err(bad(
                    &meta_path,
                    "missing: this folder is not a shard (simulate --shard K/N --out DIR)",
                ));
            };
            match (&sweep, &f.sweep) {
                (None, Some(s)) => sweep = Some((s.clone(), dir)),
                (Some((first, first_dir)), Some(s)) if s != first => {
                    return Err(bad(
                        &meta_path,
                        format!(
                            "shard {}/{} was simulated from another sweep than {} (fingerprint {s} against {first}): a different scenario, --set override or capsim version; merge the shards of one study",
                            shard.shard,
                            shard.of,
                            first_dir.display()
                        ),
                    ))
                }
                _ => {}
            }
            let has = f.points.iter().any(|p| !p.records.is_empty());
            match with_records {
                None => with_records = Some((has, dir)),
                Some((first, first_dir)) if first != has => {
                    return Err(bad(
                        dir,
                        format!(
                            "{} request records, and {} {}: merge shards written the same way",
                            if has { "holds" } else { "holds no" },
                            first_dir.display(),
                            if first { "does" } else { "does not" }
                        ),
                    ))
                }
                _ => {}
            }
            match total {
                None => {
                    total = Some((f.total_points, shard.of));
                    slots = vec![None; f.total_points];
                }
                Some((p, n)) if p != f.total_points || n != shard.of => {
                    return Err(bad(
                        &meta_path,
                        format!(
                            "is shard {}/{} of {} points; the first shard was of {n} shards and {p} points",
                            shard.shard, shard.of, f.total_points
                        ),
                    ))
                }
                _ => {}
            }
            for p in f.points {
                let i = p.index;
                let slot = slots
                    .get_mut(i)
                    .ok_or_else(|| bad(&meta_path, format!("point {i} is beyond the sweep")))?;
                if slot.is_some() {
                    return Err(bad(&meta_path, format!("point {i} is in two shards")));
                }
                *slot = Some(p);
            }
        }
        let missing: Vec<usize> = (0..slots.len()).filter(|&i| slots[i].is_none()).collect();
        if !missing.is_empty() || slots.is_empty() {
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
        let points: Vec<PointOutput> = slots.into_iter().flatten().collect();
        let summaries: Vec<Summary> = points.iter().filter_map(|p| p.summary.clone()).collect();
        Ok(Folder {
            total_points: points.len(),
            analysis: (summaries.len() > 1).then(|| crate::analysis::analyse(&summaries)),
            points,
            shard: None,
            sweep: sweep.map(|(s, _)| s),
        })
    }
}

/// Whether `inner` (a breakdown or task point) belongs to sweep point `outer`: it holds every
/// key of `outer` with the same value.
fn within(inner: &Point, outer: &Point) -> bool {
    outer.iter().all(|(k, v)| inner.get(k) == Some(v))
}

/// A records file.
pub fn read_records(path: &Path) -> InputResult<Vec<RequestRecord>> {
    let text = std::fs::read_to_string(path).map_err(|e| bad(path, e.to_string()))?;
    let records: Vec<RequestRecord> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| {
                InputError::new(
                    format!("line {}", i + 1),
                    format!("not a request record: {e}"),
                )
                .in_file(path)
            })
        })
        .collect::<InputResult<_>>()?;
    crate::results::runs::check_records(path, &records)?;
    Ok(records)
}
