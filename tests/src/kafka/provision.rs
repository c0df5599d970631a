//! Locating the Kafka jars that `tests/scripts/provision.sh` resolved from Maven Central.

use std::path::PathBuf;
use std::process::Command;

use crate::error::{HarnessError, Result};
use crate::paths;

/// The version the harness uses unless `RILL_KAFKA_VERSION` says otherwise.
pub const DEFAULT_KAFKA_VERSION: &str = "4.3.1";

/// One provisioned Kafka version: `target/kafka/<version>/libs/*.jar`.
#[derive(Debug, Clone)]
pub struct KafkaInstall {
    pub version: String,
    pub libs: PathBuf,
    /// The `java` binary: `$RILL_JAVA`, else `$JAVA_HOME/bin/java`, else `java` on PATH.
    pub java: PathBuf,
}

/// True when running under CI (`CI=true`): every failure to provision or start is fatal and loud.
pub fn in_ci() -> bool {
    std::env::var("CI").map(|value| value == "true" || value == "1").unwrap_or(false)
}

impl KafkaInstall {
    /// The version selected by `RILL_KAFKA_VERSION` (default [`DEFAULT_KAFKA_VERSION`]).
    pub fn from_env() -> Result<KafkaInstall> {
        let version = std::env::var("RILL_KAFKA_VERSION").unwrap_or_else(|_| DEFAULT_KAFKA_VERSION.to_string());
        KafkaInstall::locate(&version)
    }

    pub fn locate(version: &str) -> Result<KafkaInstall> {
        let libs = paths::kafka_home(version).join("libs");
        let needed = [format!("kafka_2.13-{version}.jar"), format!("kafka-tools-{version}.jar"), "rill-kafka-probe.jar".to_string()];
        for jar in &needed {
            if !libs.join(jar).is_file() {
                return Err(HarnessError::new(format!(
                    "Kafka {version} is not provisioned: {} is missing. Run `RILL_KAFKA_VERSION={version} bash \
                     tests/scripts/provision.sh` first (it resolves Kafka from Maven Central into target/kafka/).",
                    libs.join(jar).display()
                )));
            }
        }
        let java = if let Ok(java) = std::env::var("RILL_JAVA") {
            PathBuf::from(java)
        } else if let Ok(home) = std::env::var("JAVA_HOME") {
            PathBuf::from(home).join("bin").join("java")
        } else {
            PathBuf::from("java")
        };
        if Command::new(&java).arg("-version").output().is_err() {
            return Err(HarnessError::new(format!(
                "cannot run `{}`: Kafka needs Java 17 or later (set RILL_JAVA or JAVA_HOME)",
                java.display()
            )));
        }
        Ok(KafkaInstall { version: version.to_string(), libs, java })
    }

    /// Kafka 4 logs through log4j2; 3.x through reload4j (log4j 1 configuration).
    pub fn uses_log4j2(&self) -> bool {
        self.major_version() >= 4
    }

    /// True when this version is `major.minor` or newer.
    pub fn version_at_least(&self, major: u32, minor: u32) -> bool {
        let mut parts = self.version.split('.').map(|part| part.parse::<u32>().unwrap_or(0));
        let found = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        found >= (major, minor)
    }

    /// Kafka 2.x brokers run in ZooKeeper mode: KRaft was an early-access
    /// preview before 3.3 (KIP-833), and ZooKeeper is what 2.x users ran.
    pub fn uses_zookeeper(&self) -> bool {
        self.major_version() < 3
    }

    /// Brokers validate OAUTHBEARER JWTs against a JWKS endpoint from 3.1 on
    /// (KIP-768); older ones have no such validator, so no OAUTHBEARER either.
    pub fn supports_oauth_validation(&self) -> bool {
        self.version_at_least(3, 1)
    }

    /// The main class that implements `main_class` in this version. The
    /// harness and tests name the tools as Kafka 3.9/4.x does; Kafka 2.x has
    /// them in the broker jar under `kafka.admin` / `kafka.tools`.
    pub fn main_class<'a>(&self, main_class: &'a str) -> &'a str {
        if self.major_version() >= 3 {
            return main_class;
        }
        match main_class {
            "org.apache.kafka.tools.TopicCommand" => "kafka.admin.TopicCommand",
            "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand" => "kafka.admin.ConsumerGroupCommand",
            "org.apache.kafka.tools.consumer.ConsoleConsumer" => "kafka.tools.ConsoleConsumer",
            "org.apache.kafka.tools.ConsoleProducer" => "kafka.tools.ConsoleProducer",
            "org.apache.kafka.tools.GetOffsetShell" => "kafka.tools.GetOffsetShell",
            "org.apache.kafka.tools.DeleteRecordsCommand" => "kafka.admin.DeleteRecordsCommand",
            "org.apache.kafka.tools.reassign.ReassignPartitionsCommand" => "kafka.admin.ReassignPartitionsCommand",
            "org.apache.kafka.tools.LeaderElectionCommand" => "kafka.admin.LeaderElectionCommand",
            "org.apache.kafka.tools.ConsumerPerformance" => "kafka.tools.ConsumerPerformance",
            other => other,
        }
    }

    pub fn major_version(&self) -> u32 {
        self.version.split('.').next().and_then(|major| major.parse().ok()).unwrap_or(0)
    }

    /// The JVM classpath: every provisioned jar.
    pub fn classpath(&self) -> String {
        format!("{}/*", self.libs.display())
    }

    /// `java <jvm_options> -cp libs/* <main_class>` (as [`KafkaInstall::main_class`]
    /// names it in this version), arguments still to add.
    pub fn java_command(&self, jvm_options: &[String], main_class: &str) -> Command {
        let mut command = Command::new(&self.java);
        command.args(jvm_options).arg("-cp").arg(self.classpath()).arg(self.main_class(main_class));
        command
    }
}
