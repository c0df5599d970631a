//! Where the harness keeps things: everything lives under the workspace `target/`.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The Cargo workspace root (the parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("rill-e2e lives in a subdirectory of the workspace").to_path_buf()
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

/// Run directories kept for post-mortem; older ones are pruned.
const KEPT_RUNS: usize = 12;

/// A fresh directory `target/kafka-runs/<label>-<time>-<pid>` for one cluster's
/// configs, data and logs. Kept after the run for post-mortem; only the
/// newest runs are kept, and none younger than an hour is removed (it may
/// belong to a cluster still running).
pub fn new_run_dir(label: &str) -> std::io::Result<PathBuf> {
    let runs = target_dir().join("kafka-runs");
    prune_old_runs(&runs);
    let started_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    let dir = runs.join(format!("{label}-{started_ms}-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn prune_old_runs(runs: &Path) {
    let Ok(entries) = std::fs::read_dir(runs) else { return };
    let mut dirs: Vec<(SystemTime, PathBuf)> =
        entries.flatten().filter_map(|entry| Some((entry.metadata().ok()?.modified().ok()?, entry.path()))).collect();
    dirs.sort();
    let excess = dirs.len().saturating_sub(KEPT_RUNS);
    for (modified, dir) in dirs.into_iter().take(excess) {
        let age = SystemTime::now().duration_since(modified).unwrap_or_default();
        if age.as_secs() > 3600 {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
