//! `capsim spot`: every point of a scenario played against a live server, one after another,
//! into a results folder: a records file per point (written request by request) and
//! `summary.json` and `metadata.json` kept current after every point.

use crate::live::{self, SpotOptions};
use crate::results::{clear, records_name, Folder, PointOutput};
use crate::spec::Spec;
use std::path::Path;

/// What a spot study measured.
pub struct SpotStudy {
    pub folder: Folder,
    /// Why it stopped early, if it did (the points measured so far are in the folder).
    pub aborted: Option<String>,
    /// Requests that produced another number of tokens than asked.
    pub token_mismatches: u64,
}

/// `capsim-runs/NAME-UNIXTIME`: where a spot run goes without `--out`.
pub fn default_dir(name: &str) -> std::path::PathBuf {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    std::path::PathBuf::from("capsim-runs").join(format!("{name}-{now}"))
}

/// Plays `specs` (a scenario's points) against the server at `url` into `dir`; `announce` is
/// told each point before it runs.
pub fn spot(
    specs: &[Spec],
    url: &str,
    model: Option<String>,
    dir: &Path,
    announce: &dyn Fn(usize, &Spec),
) -> anyhow::Result<SpotStudy> {
    std::fs::create_dir_all(dir)?;
    clear(dir, crate::results::is_own_file)?;
    let mut folder = Folder {
        total_points: specs.len(),
        ..Folder::default()
    };
    let mut aborted = None;
    let mut token_mismatches = 0;
    for (i, spec) in specs.iter().enumerate() {
        announce(i, spec);
        let mut opts = SpotOptions::new(url, dir.join(records_name(i, specs.len())));
        opts.model = model.clone();
        let run = live::spot(spec, &opts)?;
        token_mismatches += run.metadata.token_mismatches;
        aborted = aborted.or(run.metadata.aborted.clone());
        folder.points.push(PointOutput {
            index: i,
            summary: Some(run.summary),
            metadata: Some(run.metadata),
            ..PointOutput::default()
        });
        folder.write_index(dir)?;
        if aborted.is_some() {
            break;
        }
    }
    Ok(SpotStudy {
        folder,
        aborted,
        token_mismatches,
    })
}
