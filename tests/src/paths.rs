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

/// Of the kept runs, the newest ones keep their brokers' data (`node-*/data`)
/// too; older ones keep logs and configs only. Benchmarks write gigabytes per
/// run, and twelve runs' data once filled a development machine's disk.
const KEPT_RUNS_WITH_DATA: usize = 3;

/// A run directory younger than this may belong to a cluster still running.
const IN_USE_SECS: u64 = 3600;

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
    // Oldest first.
    dirs.sort();
    let excess = dirs.len().saturating_sub(KEPT_RUNS);
    let without_data = dirs.len().saturating_sub(KEPT_RUNS_WITH_DATA);
    for (i, (modified, dir)) in dirs.into_iter().enumerate().take(without_data) {
        let age = SystemTime::now().duration_since(modified).unwrap_or_default();
        if age.as_secs() <= IN_USE_SECS {
            continue;
        }
        if i < excess {
            let _ = std::fs::remove_dir_all(dir);
        } else {
            remove_broker_data(&dir);
        }
    }
}

/// Removes `node-*/data` under a run directory; everything else stays.
fn remove_broker_data(run: &Path) {
    let Ok(entries) = std::fs::read_dir(run) else { return };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with("node-") {
            let _ = std::fs::remove_dir_all(entry.path().join("data"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn old_runs_go_and_older_kept_runs_lose_only_their_broker_data() {
        let runs = target_dir().join("test-prune-runs").join(std::process::id().to_string());
        let _ = std::fs::remove_dir_all(&runs);
        let now = SystemTime::now();
        // 16 runs, 2-17 hours old (run-00 the oldest), and one from just now.
        let mut names: Vec<String> = (0..16).map(|i| format!("run-{i:02}")).collect();
        names.push("run-now".to_string());
        for (i, name) in names.iter().enumerate() {
            let dir = runs.join(name);
            std::fs::create_dir_all(dir.join("node-1").join("data")).unwrap();
            std::fs::write(dir.join("node-1").join("server.log"), "log").unwrap();
            std::fs::write(dir.join("node-1").join("data").join("segment"), "data").unwrap();
            let modified = if name == "run-now" { now } else { now - Duration::from_secs(3600 * (17 - i as u64)) };
            std::fs::File::open(&dir).unwrap().set_modified(modified).unwrap();
        }
        prune_old_runs(&runs);
        let exists = |name: &str, rest: &str| runs.join(name).join(rest).exists();
        // 17 runs, 12 kept: the 5 oldest are gone.
        for i in 0..5 {
            assert!(!runs.join(format!("run-{i:02}")).exists(), "run-{i:02} should be gone");
        }
        // Kept runs but the newest 3 keep their logs, not their data.
        for i in 5..14 {
            let name = format!("run-{i:02}");
            assert!(exists(&name, "node-1/server.log"), "{name} keeps its log");
            assert!(!exists(&name, "node-1/data"), "{name} loses its data");
        }
        for name in ["run-14", "run-15", "run-now"] {
            assert!(exists(name, "node-1/data/segment"), "{name} keeps its data");
        }
        std::fs::remove_dir_all(&runs).unwrap();
    }
}
