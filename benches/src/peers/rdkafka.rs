//! librdkafka, through benches/peers/rdkafka-child (the `rdkafka` crate in
//! its own workspace, built here on demand with `cargo build --release`).

use std::path::{Path, PathBuf};
use std::process::Command;

use super::outcome::{run_reporting, RunReport};
use super::workload::Workload;

fn crate_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("peers").join("rdkafka-child")
}

/// Builds rdkafka-child (compiling librdkafka the first time: minutes) into
/// `target_dir` and returns the binary's path.
pub fn build(target_dir: &Path) -> Result<PathBuf, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "--locked", "--manifest-path"])
        .arg(crate_dir().join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", target_dir)
        .status()
        .map_err(|e| format!("running cargo to build rdkafka-child: {e}"))?;
    if !status.success() {
        return Err("building benches/peers/rdkafka-child failed (it needs a C compiler and make)".into());
    }
    Ok(target_dir.join("release").join("rdkafka-child"))
}

/// Produces `workload` into `topic` with librdkafka.
pub fn produce(binary: &Path, bootstrap: &str, workload: &Workload, topic: &str, payload_file: &Path) -> Result<RunReport, String> {
    let mut command = Command::new(binary);
    command
        .args(["--mode", "produce", "--bootstrap", bootstrap, "--topic", topic])
        .args(["--records", &workload.records.to_string()])
        .arg("--payload-file")
        .arg(payload_file)
        .args(["--compression", workload.compression.name()])
        .args(["--linger-ms", &workload.linger_ms.to_string()])
        .args(["--batch-bytes", &workload.batch_bytes.to_string()]);
    run_reporting(command, "rdkafka-child")
}

/// Consumes `records` records of `topic` from the start with librdkafka.
pub fn consume(binary: &Path, bootstrap: &str, topic: &str, records: u64) -> Result<RunReport, String> {
    let mut command = Command::new(binary);
    command.args(["--mode", "consume", "--bootstrap", bootstrap, "--topic", topic, "--records", &records.to_string()]);
    run_reporting(command, "rdkafka-child")
}
