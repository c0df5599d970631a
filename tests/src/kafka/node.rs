//! One Kafka node (combined broker and KRaft controller): format, start, kill, restart.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::broker_jvm::BrokerJvm;
use super::config::NodePorts;
use super::provision::KafkaInstall;
use crate::error::{Context, HarnessError, Result};
use crate::process;

/// How long a node may take to start on a loaded 2-core machine.
pub const NODE_START_TIMEOUT: Duration = Duration::from_secs(120);

/// The line Kafka logs once a KRaft node serves requests (3.x and 4.x alike).
const STARTED_MARKER: &str = "Kafka Server started";

/// The line a ZooKeeper-mode broker (Kafka 2.x) logs once it serves requests:
/// `[KafkaServer id=1] started (kafka.server.KafkaServer)`.
const ZOOKEEPER_MODE_STARTED_MARKER: &str = "] started (kafka.server.KafkaServer)";

#[derive(Debug)]
pub struct KafkaNode {
    pub id: u32,
    /// `target/kafka-runs/<run>/node-<id>`: configuration, data and logs.
    pub dir: PathBuf,
    pub ports: NodePorts,
    install: KafkaInstall,
    jvm_options: Vec<String>,
    child: Mutex<Option<Child>>,
}

impl KafkaNode {
    pub fn new(id: u32, dir: PathBuf, ports: NodePorts, install: KafkaInstall, jvm_options: Vec<String>) -> Self {
        KafkaNode { id, dir, ports, install, jvm_options, child: Mutex::new(None) }
    }

    pub fn server_properties(&self) -> PathBuf {
        self.dir.join("server.properties")
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    pub fn server_log(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    pub fn stdout_log(&self) -> PathBuf {
        self.dir.join("stdout.log")
    }

    /// Formats the KRaft storage; `extra_args` adds e.g. `--add-scram` users.
    pub fn format(&self, cluster_id: &str, extra_args: &[String]) -> Result<()> {
        let mut command = self.install.java_command(&tool_jvm_options(&self.jvm_options), "kafka.tools.StorageTool");
        command
            .arg("format")
            .arg("--config")
            .arg(self.server_properties())
            .arg("--cluster-id")
            .arg(cluster_id)
            .arg("--ignore-formatted")
            .args(extra_args);
        let output = command.output().context(|| format!("running kafka-storage format for node {}", self.id))?;
        std::fs::write(self.dir.join("format.log"), [output.stdout.as_slice(), output.stderr.as_slice()].concat())
            .context(|| "writing format.log".to_string())?;
        if !output.status.success() {
            return Err(HarnessError::new(format!(
                "kafka-storage format failed for node {} ({}):\n{}{}",
                self.id,
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            )));
        }
        Ok(())
    }

    /// Starts the JVM. Returns the server.log offset to wait from.
    pub fn spawn(&self) -> Result<u64> {
        let mut guard = self.child.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(child) = guard.as_mut() {
            if matches!(child.try_wait(), Ok(None)) {
                return Err(HarnessError::new(format!("node {} is already running", self.id)));
            }
            process::forget(child.id());
        }
        let log_offset = std::fs::metadata(self.server_log()).map(|m| m.len()).unwrap_or(0);
        let stdout = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.stdout_log())
            .context(|| format!("opening {}", self.stdout_log().display()))?;
        let mut jvm_options = vec![
            "-Xms256m".to_string(),
            "-Xmx512m".to_string(),
            "-XX:+ExitOnOutOfMemoryError".to_string(),
            "-Djava.awt.headless=true".to_string(),
            format!("-Dkafka.logs.dir={}", self.dir.display()),
        ];
        jvm_options.extend(BrokerJvm::current().options());
        jvm_options.extend(self.jvm_options.iter().cloned());
        if self.install.uses_log4j2() {
            jvm_options.push(format!("-Dlog4j2.configurationFile={}", self.dir.join("log4j2.xml").display()));
        } else {
            jvm_options.push(format!("-Dlog4j.configuration=file:{}", self.dir.join("log4j.properties").display()));
        }
        let mut command = self.install.java_command(&jvm_options, "kafka.Kafka");
        command
            .arg(self.server_properties())
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(stdout.try_clone().context(|| "duplicating stdout.log handle".to_string())?)
            .stderr(stdout);
        let child = process::spawn_tied(command).context(|| format!("starting the JVM of node {}", self.id))?;
        *guard = Some(child);
        Ok(log_offset)
    }

    /// Waits until the node logs that it started, failing early if the JVM exits.
    pub fn wait_started(&self, log_offset: u64, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let marker = if self.install.uses_zookeeper() { ZOOKEEPER_MODE_STARTED_MARKER } else { STARTED_MARKER };
            if log_since(&self.server_log(), log_offset).contains(marker) {
                return Ok(());
            }
            {
                let mut guard = self.child.lock().unwrap_or_else(|p| p.into_inner());
                match guard.as_mut().map(|child| child.try_wait()) {
                    Some(Ok(Some(status))) => {
                        // The bind failure is logged well before the shutdown lines the
                        // tail shows; name it so the cluster can retry on fresh ports.
                        let cause = if log_since(&self.server_log(), log_offset).contains("Address already in use") {
                            " (a listener port: Address already in use)"
                        } else {
                            ""
                        };
                        return Err(HarnessError::new(format!(
                            "Kafka node {} exited during start-up with {status}{cause}.\n{}",
                            self.id,
                            self.log_tails()
                        )));
                    }
                    None => return Err(HarnessError::new(format!("node {} was never spawned", self.id))),
                    _ => {}
                }
            }
            if Instant::now() >= deadline {
                return Err(HarnessError::new(format!("Kafka node {} did not start within {timeout:?}.\n{}", self.id, self.log_tails())));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn start(&self) -> Result<()> {
        let offset = self.spawn()?;
        self.wait_started(offset, NODE_START_TIMEOUT)
    }

    /// `kill -9`: no shutdown hooks, no controlled shutdown.
    pub fn kill(&self) {
        if let Some(mut child) = self.child.lock().unwrap_or_else(|p| p.into_inner()).take() {
            process::kill_and_reap(&mut child);
        }
    }

    /// SIGTERM (controlled shutdown), SIGKILL after `grace`.
    pub fn stop(&self, grace: Duration) {
        if let Some(mut child) = self.child.lock().unwrap_or_else(|p| p.into_inner()).take() {
            process::terminate_and_reap(&mut child, grace);
        }
    }

    /// SIGSTOP (`pause == true`) or SIGCONT: a frozen node neither serves,
    /// replicates nor heartbeats, and keeps its data and sockets.
    pub fn freeze(&self, pause: bool) {
        if let Some(pid) = self.pid() {
            let signal = if pause { libc::SIGSTOP } else { libc::SIGCONT };
            // SAFETY: kill(2) on our own child's pid.
            unsafe {
                libc::kill(pid as libc::pid_t, signal);
            }
        }
    }

    pub fn is_running(&self) -> bool {
        let mut guard = self.child.lock().unwrap_or_else(|p| p.into_inner());
        matches!(guard.as_mut().map(|child| child.try_wait()), Some(Ok(None)))
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.lock().unwrap_or_else(|p| p.into_inner()).as_ref().map(Child::id)
    }

    /// The last lines of server.log and stdout.log, for failure messages.
    pub fn log_tails(&self) -> String {
        format!(
            "--- tail of {} ---\n{}\n--- tail of {} ---\n{}",
            self.server_log().display(),
            tail(&self.server_log(), 60),
            self.stdout_log().display(),
            tail(&self.stdout_log(), 30)
        )
    }
}

impl Drop for KafkaNode {
    fn drop(&mut self) {
        self.kill();
    }
}

/// JVM options for short-lived tool JVMs: C1 only and a small heap start faster.
pub fn tool_jvm_options(common: &[String]) -> Vec<String> {
    let mut options = vec![
        "-Xmx256m".to_string(),
        "-XX:TieredStopAtLevel=1".to_string(),
        "-XX:+UseSerialGC".to_string(),
        "-Djava.awt.headless=true".to_string(),
    ];
    options.extend(common.iter().cloned());
    options
}

fn log_since(path: &Path, offset: u64) -> String {
    let mut text = String::new();
    if let Ok(mut file) = std::fs::File::open(path) {
        if file.seek(SeekFrom::Start(offset)).is_ok() {
            let _ = file.read_to_string(&mut text);
        }
    }
    text
}

/// The last `lines` lines of a file ("(missing)" when it does not exist).
pub fn tail(path: &Path, lines: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(_) => "(missing)".to_string(),
    }
}
