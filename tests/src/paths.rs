//! Where the harness keeps things: everything lives under the workspace `target/`.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The Cargo workspace root (the parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("rill-e2e lives in a subdirectory of the workspace")
        .to_path_buf()
}

/// The workspace `target/` directory, shared with `tests/scripts/provision.sh`.
pub fn target_dir() -> PathBuf {
    workspace_root().join("target")
}

/// `target/kafka/<version>`: the jars provisioned for one Kafka version.
pub fn kafka_home(version: &str) -> PathBuf {
    target_dir().join("kafka").join(version)
}

/// `target/venv`: the Python virtualenv with kafka-python and confluent-kafka.
pub fn python_venv() -> PathBuf {
    target_dir().join("venv")
}

/// A fresh directory `target/kafka-runs/<label>-<time>-<pid>` for one cluster's
/// configs, data and logs. Kept after the run for post-mortem.
pub fn new_run_dir(label: &str) -> std::io::Result<PathBuf> {
    let started_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    let dir = target_dir()
        .join("kafka-runs")
        .join(format!("{label}-{started_ms}-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
