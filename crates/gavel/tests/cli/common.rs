//! Helpers shared by the command tests.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// A `gavel` command, run in `dir`, with a clean environment for the variables gavel reads.
pub fn gavel(dir: &Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new(env!("CARGO_BIN_EXE_gavel"));
    cmd.current_dir(dir)
        .env_remove("OPENAI_API_KEY")
        .env("NO_COLOR", "1");
    cmd
}

/// A fresh temporary directory.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temporary directory")
}

/// Writes a file under `dir` and returns its path.
pub fn write(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create parent");
    }
    std::fs::write(&path, contents).expect("write fixture");
    path
}

/// The repository's `tests/data` folder of the CLI crate.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// The shared datasets (`../shared/data` beside the repository), or `None` with a printed
/// notice when they are absent, so that tests reading them skip instead of failing.
#[allow(clippy::print_stderr)] // the skip notice belongs on the test's own stderr
pub fn shared_data(test: &str) -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    let root = std::env::var_os("GAVEL_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or(root);
    if root.is_dir() {
        Some(root)
    } else {
        eprintln!(
            "notice: {test} skipped: shared data not found at {} (set GAVEL_SHARED_DATA)",
            root.display()
        );
        None
    }
}

/// Parses stdout as one JSON document.
pub fn stdout_json(output: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}):\n{}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}
