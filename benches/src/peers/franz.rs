//! franz-go, through the small Go program in benches/peers/franz-go, built
//! with the machine's Go (modules from the Go module proxy).

use std::path::{Path, PathBuf};
use std::process::Command;

use super::outcome::{run_reporting, RunReport};
use super::workload::Workload;

fn source_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("peers").join("franz-go")
}

/// Builds the Go program into `out_dir` and returns the binary's path.
pub fn build(out_dir: &Path) -> Result<PathBuf, String> {
    std::fs::create_dir_all(out_dir).map_err(|e| format!("creating {}: {e}", out_dir.display()))?;
    let binary = out_dir.join("franz-bench");
    let output = Command::new("go")
        .args(["build", "-o"])
        .arg(&binary)
        .arg(".")
        .current_dir(source_dir())
        .output()
        .map_err(|e| format!("running `go build` (is Go installed?): {e}"))?;
    if !output.status.success() {
        return Err(format!("go build of franz-bench failed: {}", String::from_utf8_lossy(&output.stderr)));
    }
    Ok(binary)
}

/// Produces `workload` into `topic` with franz-go.
pub fn produce(binary: &Path, bootstrap: &str, workload: &Workload, topic: &str, payload_file: &Path) -> Result<RunReport, String> {
    let mut command = Command::new(binary);
    command
        .args(["-mode", "produce", "-brokers", bootstrap, "-topic", topic])
        .args(["-records", &workload.records.to_string()])
        .arg("-payload-file")
        .arg(payload_file)
        .args(["-compression", workload.compression.name()])
        .args(["-linger-ms", &workload.linger_ms.to_string()])
        .args(["-batch-bytes", &workload.batch_bytes.to_string()]);
    run_reporting(command, "franz-bench")
}

/// Consumes `records` records of `topic` from the start with franz-go.
pub fn consume(binary: &Path, bootstrap: &str, topic: &str, records: u64) -> Result<RunReport, String> {
    let mut command = Command::new(binary);
    command.args(["-mode", "consume", "-brokers", bootstrap, "-topic", topic, "-records", &records.to_string()]);
    run_reporting(command, "franz-bench")
}
