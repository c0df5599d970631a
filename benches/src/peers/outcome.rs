//! What a client run reports and what the bench makes of it.

use serde_json::Value;

/// The one JSON line every child prints: `{"records":N,"bytes":B,"seconds":S}`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunReport {
    pub records: u64,
    pub bytes: u64,
    pub seconds: f64,
}

impl RunReport {
    pub fn to_json(&self) -> String {
        serde_json::json!({"records": self.records, "bytes": self.bytes, "seconds": self.seconds}).to_string()
    }

    /// The last line of `stdout` that is such a JSON object.
    pub fn from_stdout(stdout: &str) -> Option<RunReport> {
        stdout.lines().rev().find_map(|line| {
            let value: Value = serde_json::from_str(line.trim()).ok()?;
            Some(RunReport {
                records: value.get("records")?.as_u64()?,
                bytes: value.get("bytes")?.as_u64()?,
                seconds: value.get("seconds")?.as_f64()?,
            })
        })
    }
}

/// One client's result in one cell.
#[derive(Debug, Clone)]
pub struct Measurement {
    pub client: String,
    pub report: RunReport,
    /// CPU seconds the client's process used (start-up included).
    pub cpu_seconds: f64,
}

impl Measurement {
    pub fn records_per_second(&self) -> f64 {
        self.report.records as f64 / self.report.seconds
    }

    pub fn megabytes_per_second(&self) -> f64 {
        self.report.bytes as f64 / self.report.seconds / 1e6
    }

    pub fn cpu_seconds_per_million(&self) -> f64 {
        self.cpu_seconds / (self.report.records as f64 / 1e6)
    }
}

/// Per client, the median-throughput run of its rounds (CPU from that run).
pub fn best_per_client(results: &[Measurement]) -> Vec<Measurement> {
    let mut clients: Vec<&str> = Vec::new();
    for m in results {
        if !clients.contains(&m.client.as_str()) {
            clients.push(&m.client);
        }
    }
    clients
        .into_iter()
        .filter_map(|client| {
            let mut runs: Vec<&Measurement> = results.iter().filter(|m| m.client == client).collect();
            runs.sort_by(|a, b| a.records_per_second().total_cmp(&b.records_per_second()));
            runs.get(runs.len() / 2).map(|m| (*m).clone())
        })
        .collect()
}

/// A markdown table: one block of rows per cell, with rill's ratios.
pub fn render_table(title: &str, records: u64, cells: &[(String, Vec<Measurement>)]) -> String {
    let mut out = format!("### {title}, {records} records per run\n\n");
    out.push_str("| workload | client | records/s | MB/s | CPU s per 1M records | rill throughput ÷ this | rill CPU ÷ this |\n");
    out.push_str("|---|---|---:|---:|---:|---:|---:|\n");
    for (label, runs) in cells {
        let rill = runs.iter().find(|m| m.client == "rill");
        for m in runs {
            let (speed, cpu) = match rill {
                Some(r) => (
                    format!("{:.2}", r.records_per_second() / m.records_per_second()),
                    format!("{:.2}", r.cpu_seconds_per_million() / m.cpu_seconds_per_million()),
                ),
                None => ("-".into(), "-".into()),
            };
            out.push_str(&format!(
                "| {label} | {} | {:.0} | {:.1} | {:.2} | {speed} | {cpu} |\n",
                m.client,
                m.records_per_second(),
                m.megabytes_per_second(),
                m.cpu_seconds_per_million()
            ));
        }
    }
    out
}

/// Runs a client process to the end and reads its report line; a failed
/// exit or a missing line is an error with the process's output.
pub fn run_reporting(mut command: std::process::Command, name: &str) -> Result<RunReport, String> {
    let output = command.output().map_err(|e| format!("running {name}: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!("{name} failed: {stdout}{}", String::from_utf8_lossy(&output.stderr)));
    }
    RunReport::from_stdout(&stdout).ok_or_else(|| format!("no report line from {name}: {stdout}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_report_line_wins_and_noise_is_skipped() {
        let out = "starting\n{\"records\":5,\"bytes\":50,\"seconds\":0.5}\nnoise\n{\"records\":10,\"bytes\":100,\"seconds\":2.0}\n";
        let report = RunReport::from_stdout(out).unwrap();
        assert_eq!(report, RunReport { records: 10, bytes: 100, seconds: 2.0 });
        assert_eq!(RunReport::from_stdout("no json here"), None);
        let m = Measurement { client: "x".into(), report, cpu_seconds: 1.0 };
        assert_eq!(m.records_per_second(), 5.0);
        assert!((m.cpu_seconds_per_million() - 1e5).abs() < 1e-6);
    }
}
