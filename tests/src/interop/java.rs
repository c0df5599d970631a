//! Kafka's Java tools and the harness probe (`tests/kafka/src/main/java`).

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::{Context, HarnessError, Result};
use crate::kafka::client::ClientProperties;
use crate::kafka::node::tool_jvm_options;
use crate::kafka::provision::KafkaInstall;
use crate::process::{self, Finished};

/// Default limit for one tool JVM.
pub const TOOL_TIMEOUT: Duration = Duration::from_secs(90);

/// Runs Java main classes from the provisioned Kafka jars with the JVM
/// settings a harness cluster needs (Kerberos configuration, OAuth URL allow-list, logging).
#[derive(Debug)]
pub struct JavaTools {
    install: KafkaInstall,
    jvm_options: Vec<String>,
    /// Where client property files and tool inputs are written.
    work_dir: PathBuf,
    file_counter: AtomicU64,
    /// A long-lived probe JVM (`Probe serve`) for admin requests.
    admin_session: Mutex<Option<AdminSession>>,
}

/// The probe in `serve` mode: one JVM, one admin client, many requests.
#[derive(Debug)]
struct AdminSession {
    child: Child,
    requests: ChildStdin,
    answers: Receiver<String>,
}

impl Drop for AdminSession {
    fn drop(&mut self) {
        process::kill_and_reap(&mut self.child);
    }
}

/// The outcome of one probe case: connected (with the number of brokers
/// seen) or failed with the Java exception.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeOutcome {
    pub name: String,
    pub result: std::result::Result<usize, ProbeFailure>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeFailure {
    /// Outermost exception class, e.g. `org.apache.kafka.common.errors.SaslAuthenticationException`.
    pub exception: String,
    /// Innermost cause class.
    pub root_cause: String,
    /// `Class: message <- Cause: message ...`
    pub messages: String,
}

impl ProbeFailure {
    /// True when the client was refused for its credentials or TLS identity
    /// (as opposed to, say, a timeout or an unreachable broker).
    pub fn is_authentication_failure(&self) -> bool {
        let text = format!("{} {} {}", self.exception, self.root_cause, self.messages);
        [
            "AuthenticationException",
            "SaslAuthenticationException",
            "SslAuthenticationException",
            "LoginException",
            "SSLHandshakeException",
            "IllegalSaslStateException",
            "UnsupportedSaslMechanismException",
        ]
        .iter()
        .any(|marker| text.contains(marker))
    }
}

impl JavaTools {
    pub fn new(install: KafkaInstall, common_jvm_options: Vec<String>, work_dir: PathBuf) -> Result<JavaTools> {
        std::fs::create_dir_all(&work_dir).context(|| format!("creating {}", work_dir.display()))?;
        let mut jvm_options = common_jvm_options;
        if install.uses_log4j2() {
            let config = work_dir.join("tools-log4j2.xml");
            std::fs::write(&config, crate::kafka::config::tools_log4j2_xml()).context(|| format!("writing {}", config.display()))?;
            jvm_options.push(format!("-Dlog4j2.configurationFile={}", config.display()));
        } else {
            let config = work_dir.join("tools-log4j.properties");
            std::fs::write(&config, crate::kafka::config::tools_log4j1_properties()).context(|| format!("writing {}", config.display()))?;
            jvm_options.push(format!("-Dlog4j.configuration=file:{}", config.display()));
        }
        Ok(JavaTools { install, jvm_options, work_dir, file_counter: AtomicU64::new(0), admin_session: Mutex::new(None) })
    }

    pub fn install(&self) -> &KafkaInstall {
        &self.install
    }

    /// JVM options every client JVM needs for this cluster.
    pub fn jvm_options(&self) -> &[String] {
        &self.jvm_options
    }

    /// Writes `properties` to a fresh file under the work directory.
    pub fn write_properties(&self, label: &str, properties: &ClientProperties) -> Result<PathBuf> {
        let index = self.file_counter.fetch_add(1, Ordering::SeqCst);
        let safe: String = label.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
        let path = self.work_dir.join(format!("{index:04}-{safe}.properties"));
        properties.write(&path)?;
        Ok(path)
    }

    /// Writes an input file (e.g. a reassignment JSON) under the work directory.
    pub fn write_file(&self, label: &str, contents: &str) -> Result<PathBuf> {
        let index = self.file_counter.fetch_add(1, Ordering::SeqCst);
        let path = self.work_dir.join(format!("{index:04}-{label}"));
        std::fs::write(&path, contents).context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }

    /// Runs `main_class` with `args`; an error only when the JVM could not run
    /// or timed out (the exit status is in the result).
    pub fn run(&self, main_class: &str, args: &[String], stdin: Option<&str>, timeout: Duration) -> Result<Finished> {
        let mut command = self.install.java_command(&tool_jvm_options(&self.jvm_options), main_class);
        command.args(args);
        process::run_with_timeout(command, stdin, timeout).context(|| format!("running {main_class} {}", args.join(" ")))
    }

    /// Like [`JavaTools::run`] but a non-zero exit is an error naming the tool and its output.
    pub fn run_ok(&self, main_class: &str, args: &[String], stdin: Option<&str>, timeout: Duration) -> Result<Finished> {
        let finished = self.run(main_class, args, stdin, timeout)?;
        if !finished.status.success() {
            return Err(HarnessError::new(format!(
                "{main_class} {} exited with {}:\nstdout: {}\nstderr: {}",
                args.join(" "),
                finished.status,
                finished.stdout,
                finished.stderr
            )));
        }
        Ok(finished)
    }

    /// Checks every case in one JVM, in parallel: connect with the given
    /// client properties and describe the cluster.
    pub fn probe_connections(&self, cases: &[(String, ClientProperties)]) -> Result<Vec<ProbeOutcome>> {
        let mut args = vec!["check".to_string()];
        for (name, properties) in cases {
            let mut properties = properties.clone();
            properties.set("probe.name", name.clone());
            args.push(self.write_properties(name, &properties)?.display().to_string());
        }
        let finished = self.run_ok("rill.probe.Probe", &args, None, TOOL_TIMEOUT)?;
        let outcomes: Vec<ProbeOutcome> = finished.stdout.lines().filter_map(parse_probe_line).collect();
        if outcomes.len() != cases.len() {
            return Err(HarnessError::new(format!(
                "probe reported {} results for {} cases:\nstdout: {}\nstderr: {}",
                outcomes.len(),
                cases.len(),
                finished.stdout,
                finished.stderr
            )));
        }
        Ok(outcomes)
    }

    /// Runs a probe admin command (`create-topic`, `describe-topic`, `wait-brokers`).
    pub fn probe_admin(&self, admin: &ClientProperties, command: &str, args: &[String]) -> Result<String> {
        let properties = self.write_properties("admin", admin)?;
        let mut all = vec![command.to_string(), properties.display().to_string()];
        all.extend(args.iter().cloned());
        Ok(self.run_ok("rill.probe.Probe", &all, None, TOOL_TIMEOUT)?.stdout)
    }

    /// Console tools take client properties with `--command-config` since
    /// Kafka 4.2 (the old flags print a deprecation warning on stdout).
    fn client_config_flag(&self, legacy: &'static str) -> &'static str {
        if self.install.version_at_least(4, 2) {
            "--command-config"
        } else {
            legacy
        }
    }

    /// Sends one admin request (`create-topic`, `describe-topic`,
    /// `wait-brokers`, `produce` with their arguments) to the long-lived probe
    /// JVM, starting it with `admin` properties on first use. Returns the
    /// answer lines; an `ERROR` answer becomes an error.
    pub fn admin_request(&self, admin: &ClientProperties, request: &[String], timeout: Duration) -> Result<String> {
        let mut guard = self.admin_session.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            *guard = Some(self.start_admin_session(admin)?);
        }
        let session = guard.as_mut().expect("admin session just started");
        let line = request.join("\t");
        if let Err(error) = writeln!(session.requests, "{line}").and_then(|_| session.requests.flush()) {
            *guard = None;
            return Err(HarnessError::context("sending a request to the probe admin session", error));
        }
        let deadline = Instant::now() + timeout;
        let mut answer = String::new();
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            match session.answers.recv_timeout(remaining) {
                Ok(line) if line == "END" => break,
                Ok(line) => {
                    answer.push_str(&line);
                    answer.push('\n');
                }
                Err(RecvTimeoutError::Timeout) => {
                    *guard = None;
                    return Err(HarnessError::new(format!("probe admin request {line:?} timed out after {timeout:?}: {answer}")));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    *guard = None;
                    return Err(HarnessError::new(format!(
                        "the probe admin session exited during {line:?}; its stderr is in {}: {answer}",
                        self.work_dir.join("admin-session.log").display()
                    )));
                }
            }
        }
        if let Some(error) = answer.lines().find(|line| line.starts_with("ERROR")) {
            return Err(HarnessError::new(format!("probe admin request {line:?} failed: {error}")));
        }
        Ok(answer)
    }

    fn start_admin_session(&self, admin: &ClientProperties) -> Result<AdminSession> {
        let properties = self.write_properties("admin-session", admin)?;
        let log = std::fs::File::create(self.work_dir.join("admin-session.log")).context(|| "creating admin-session.log".to_string())?;
        let mut command = self.install.java_command(&tool_jvm_options(&self.jvm_options), "rill.probe.Probe");
        command.arg("serve").arg(&properties).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(log);
        let mut child = process::spawn_tied(command).context(|| "starting the probe admin session".to_string())?;
        let requests = child.stdin.take().ok_or_else(|| HarnessError::new("probe session has no stdin"))?;
        let stdout = child.stdout.take().ok_or_else(|| HarnessError::new("probe session has no stdout"))?;
        let (sender, answers) = mpsc::channel();
        std::thread::Builder::new()
            .name("rill-e2e-admin-session".into())
            .spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(std::result::Result::ok) {
                    if sender.send(line).is_err() {
                        break;
                    }
                }
            })
            .context(|| "starting the admin session reader".to_string())?;
        Ok(AdminSession { child, requests, answers })
    }

    /// Produces `records` (one per line) with `kafka-console-producer`.
    pub fn console_produce(&self, client: &ClientProperties, topic: &str, records: &[&str]) -> Result<()> {
        let bootstrap = client.get("bootstrap.servers").unwrap_or_default().to_string();
        let config = self.write_properties("console-producer", client)?;
        let input: String = records.iter().map(|record| format!("{record}\n")).collect();
        // Kafka 3.x still has the Scala console producer in the core jar.
        let main_class =
            if self.install.major_version() >= 4 { "org.apache.kafka.tools.ConsoleProducer" } else { "kafka.tools.ConsoleProducer" };
        self.run_ok(
            main_class,
            &[
                "--bootstrap-server".into(),
                bootstrap,
                "--topic".into(),
                topic.into(),
                self.client_config_flag("--producer.config").into(),
                config.display().to_string(),
                "--request-required-acks".into(),
                "all".into(),
                "--sync".into(),
                // The console producer lingers 1 s per batch by default
                // (its --timeout), and --sync makes every line one batch.
                "--producer-property".into(),
                "linger.ms=0".into(),
            ],
            Some(&input),
            TOOL_TIMEOUT,
        )
        .map(|_| ())
    }

    /// Consumes `count` records from the beginning with `kafka-console-consumer`.
    pub fn console_consume(&self, client: &ClientProperties, topic: &str, count: usize, timeout_ms: u64) -> Result<Vec<String>> {
        let bootstrap = client.get("bootstrap.servers").unwrap_or_default().to_string();
        let config = self.write_properties("console-consumer", client)?;
        // Kafka 3.9 keeps the consumer in kafka-tools too, under the same class name.
        let finished = self.run_ok(
            "org.apache.kafka.tools.consumer.ConsoleConsumer",
            &[
                "--bootstrap-server".into(),
                bootstrap,
                "--topic".into(),
                topic.into(),
                self.client_config_flag("--consumer.config").into(),
                config.display().to_string(),
                "--from-beginning".into(),
                "--max-messages".into(),
                count.to_string(),
                "--timeout-ms".into(),
                timeout_ms.to_string(),
            ],
            None,
            TOOL_TIMEOUT,
        )?;
        Ok(finished.stdout.lines().map(str::to_string).collect())
    }
}

fn parse_probe_line(line: &str) -> Option<ProbeOutcome> {
    let fields: Vec<&str> = line.split('\t').collect();
    match fields.as_slice() {
        ["RESULT", name, "OK", nodes] => Some(ProbeOutcome { name: name.to_string(), result: Ok(nodes.parse().unwrap_or(0)) }),
        ["RESULT", name, "FAIL", exception, root_cause, messages @ ..] => Some(ProbeOutcome {
            name: name.to_string(),
            result: Err(ProbeFailure {
                exception: exception.to_string(),
                root_cause: root_cause.to_string(),
                messages: messages.join(" "),
            }),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_lines_parse() {
        let ok = parse_probe_line("RESULT\tplain\tOK\t3").expect("ok line");
        assert_eq!(ok.result, Ok(3));
        let fail = parse_probe_line("RESULT\tbad\tFAIL\torg.apache.kafka.common.errors.SaslAuthenticationException\tx.Y\tSasl...: wrong")
            .expect("fail line");
        assert!(fail.result.expect_err("failure").is_authentication_failure());
        assert!(parse_probe_line("noise").is_none());
    }
}
