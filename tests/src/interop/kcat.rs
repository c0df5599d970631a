//! kcat (librdkafka's command-line client, Debian package `kcat`).

use std::process::Command;
use std::time::Duration;

use super::librdkafka;
use crate::error::{Context, HarnessError, Result};
use crate::kafka::client::ClientSettings;
use crate::process::{self, Finished};
use crate::KafkaCluster;

pub const KCAT_TIMEOUT: Duration = Duration::from_secs(60);

fn command(cluster: &KafkaCluster, settings: &ClientSettings, label: &str) -> Result<Command> {
    if Command::new("kcat").arg("-V").output().is_err() {
        return Err(HarnessError::new("kcat is not installed: run tests/scripts/provision.sh (Debian package kcat)"));
    }
    let mut command = Command::new("kcat");
    for (key, value) in librdkafka::config(cluster, settings)? {
        if key == "bootstrap.servers" {
            command.arg("-b").arg(value);
        } else {
            command.arg("-X").arg(format!("{key}={value}"));
        }
    }
    command.envs(librdkafka::environment(cluster, label));
    Ok(command)
}

fn run(command: Command, stdin: Option<&str>, what: &str) -> Result<Finished> {
    let finished = process::run_with_timeout(command, stdin, KCAT_TIMEOUT).context(|| format!("running kcat ({what})"))?;
    if !finished.status.success() {
        return Err(HarnessError::new(format!(
            "kcat ({what}) exited with {}:\nstdout: {}\nstderr: {}",
            finished.status, finished.stdout, finished.stderr
        )));
    }
    Ok(finished)
}

/// Produces one record per entry of `records` (`kcat -P`).
pub fn produce(cluster: &KafkaCluster, settings: &ClientSettings, topic: &str, records: &[&str]) -> Result<()> {
    let mut command = command(cluster, settings, "kcat-produce")?;
    command.args(["-P", "-t", topic, "-X", "acks=all"]);
    let input: String = records.iter().map(|record| format!("{record}\n")).collect();
    run(command, Some(&input), "produce").map(|_| ())
}

/// Produces `input` (`kcat -P`) with extra arguments, e.g. `-z lz4`, `-K`
/// with a key delimiter, `-H name=value` headers for every record.
pub fn produce_with(cluster: &KafkaCluster, settings: &ClientSettings, topic: &str, input: &str, args: &[&str]) -> Result<()> {
    let mut command = command(cluster, settings, "kcat-produce")?;
    command.args(["-P", "-t", topic, "-X", "acks=all"]).args(args);
    run(command, Some(input), "produce").map(|_| ())
}

/// Consumes `count` records from the beginning (`kcat -C`).
pub fn consume(cluster: &KafkaCluster, settings: &ClientSettings, topic: &str, count: usize) -> Result<Vec<String>> {
    let mut command = command(cluster, settings, "kcat-consume")?;
    command.args(["-C", "-t", topic, "-o", "beginning", "-q", "-c"]).arg(count.to_string());
    Ok(run(command, None, "consume")?.stdout.lines().map(str::to_string).collect())
}

/// Consumes up to `count` records from the beginning, stopping at the end of
/// the log (`kcat -C -e`), each printed with kcat's `-f` `format` (e.g.
/// `%p|%o|%T|%k|%s|%h\n`); `extra` adds arguments such as `-Z` or
/// `-X isolation.level=read_uncommitted`.
pub fn consume_formatted(
    cluster: &KafkaCluster,
    settings: &ClientSettings,
    topic: &str,
    count: usize,
    format: &str,
    extra: &[&str],
) -> Result<Vec<String>> {
    let mut command = command(cluster, settings, "kcat-consume-formatted")?;
    command.args(extra);
    command.args(["-C", "-t", topic, "-o", "beginning", "-e", "-q", "-c"]).arg(count.to_string()).args(["-f", format]);
    Ok(run(command, None, "consume")?.stdout.lines().map(str::to_string).collect())
}

/// Cluster metadata as kcat prints it (`kcat -L`); fails when kcat cannot connect or authenticate.
pub fn metadata(cluster: &KafkaCluster, settings: &ClientSettings) -> Result<String> {
    let mut command = command(cluster, settings, "kcat-metadata")?;
    command.args(["-L", "-m", "15"]);
    Ok(run(command, None, "metadata")?.stdout)
}

/// The librdkafka version kcat is linked with (`kcat -V`), e.g. `(2, 0, 2)`.
pub fn librdkafka_version() -> Option<(u32, u32, u32)> {
    let output = Command::new("kcat").arg("-V").output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let version = text.split("librdkafka ").nth(1)?.split_whitespace().next()?;
    let mut parts = version.split('.').map(|part| part.parse::<u32>().unwrap_or(0));
    Some((parts.next()?, parts.next().unwrap_or(0), parts.next().unwrap_or(0)))
}
