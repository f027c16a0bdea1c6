//! Request records written the moment each request ends: one JSON line, flushed, so a crash,
//! a dead server or Ctrl-C keeps everything measured so far.

use crate::metrics::RequestRecord;
use indicatif::ProgressBar;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

pub struct Recorder {
    path: PathBuf,
    file: Mutex<BufWriter<File>>,
    records: Mutex<Vec<RequestRecord>>,
    progress: ProgressBar,
    started: Instant,
}

impl Recorder {
    pub fn create(path: &Path, progress: ProgressBar) -> std::io::Result<Recorder> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        Ok(Recorder {
            path: path.to_path_buf(),
            file: Mutex::new(BufWriter::new(File::create(path)?)),
            records: Mutex::new(Vec::new()),
            progress,
            started: Instant::now(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record to the file (flushed) and to memory, and updates the progress bar.
    pub fn write(&self, record: RequestRecord) -> std::io::Result<()> {
        {
            let mut f = self.file.lock().unwrap_or_else(|p| p.into_inner());
            serde_json::to_writer(&mut *f, &record).map_err(std::io::Error::other)?;
            f.write_all(b"\n")?;
            f.flush()?;
        }
        let mut records = self.records.lock().unwrap_or_else(|p| p.into_inner());
        records.push(record);
        let failed = records.iter().filter(|r| !r.succeeded()).count();
        let done = records.len();
        let rate = done as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
        self.progress.set_position(done as u64);
        self.progress.set_message(format!(
            "ok {} fail {failed} | {rate:.1} req/s",
            done - failed
        ));
        Ok(())
    }

    /// The records so far, ordered by request id.
    pub fn into_records(self) -> Vec<RequestRecord> {
        self.progress.finish_and_clear();
        let mut r = self.records.into_inner().unwrap_or_else(|p| p.into_inner());
        r.sort_by_key(|x| x.id);
        r
    }
}
