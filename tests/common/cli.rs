//! The `capsim` binary as users run it, and scratch folders: shared by every test that goes
//! through the command line.

use std::path::{Path, PathBuf};
use std::process::Command;

/// What one command printed and how it exited.
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    pub fn ok(&self) -> bool {
        self.code == 0
    }

    /// Panics with everything it printed unless it exited 0.
    pub fn expect_ok(self, what: &str) -> Ran {
        assert!(
            self.ok(),
            "{what}: exit {}\nstdout:\n{}\nstderr:\n{}",
            self.code,
            self.stdout,
            self.stderr
        );
        self
    }
}

/// Runs `capsim ARGS…` from the repository root.
pub fn capsim(args: &[&str]) -> Ran {
    capsim_env(args, &[])
}

/// Runs `capsim ARGS…` from the repository root with these environment variables set.
pub fn capsim_env(args: &[&str], env: &[(&str, &str)]) -> Ran {
    let o = Command::new(env!("CARGO_BIN_EXE_capsim"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("capsim runs");
    Ran {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// A fresh, empty scratch folder for one test.
pub fn scratch(test: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("capsim-test-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// A path as a `&str` argument.
pub fn arg(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Mistral-7B on an RTX 4090 under vLLM: the scenario most tests start from (add a
/// `[workload]` table).
pub const MISTRAL_4090: &str = r#"
[model]
preset = "mistral-7b"
[hardware]
gpu = "rtx4090"
[engine]
kind = "vllm"
max_model_len = 4096
"#;
