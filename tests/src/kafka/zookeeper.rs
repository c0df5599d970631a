//! A standalone ZooKeeper server for Kafka 2.x brokers, which run in
//! ZooKeeper mode (KRaft was only an early-access preview before 3.3, and
//! ZooKeeper is what 2.x deployments used). It runs from the provisioned
//! Kafka jars: `kafka_2.13` 2.x depends on `org.apache.zookeeper:zookeeper`.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::node::{tail, tool_jvm_options};
use super::provision::KafkaInstall;
use crate::error::{Context, HarnessError, Result};
use crate::ports::free_port;
use crate::process;

/// How long ZooKeeper may take to answer `ruok` on a loaded 2-core machine.
const ZOOKEEPER_START_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub struct ZooKeeper {
    port: u16,
    dir: PathBuf,
    child: Mutex<Option<Child>>,
}

impl ZooKeeper {
    /// Starts ZooKeeper on a free loopback port with its data and log in `dir`
    /// and waits until it answers the `ruok` four-letter command.
    pub fn start(install: &KafkaInstall, jvm_options: &[String], dir: &Path) -> Result<ZooKeeper> {
        std::fs::create_dir_all(dir.join("data")).context(|| format!("creating {}", dir.display()))?;
        let port = free_port()?;
        let config = dir.join("zoo.cfg");
        std::fs::write(
            &config,
            format!(
                "dataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\ntickTime=500\nmaxClientCnxns=0\n\
                 admin.enableServer=false\n4lw.commands.whitelist=ruok,srvr\n",
                dir.join("data").display()
            ),
        )
        .context(|| format!("writing {}", config.display()))?;
        let log_config = dir.join("log4j.properties");
        std::fs::write(&log_config, log4j_properties(dir)).context(|| format!("writing {}", log_config.display()))?;

        let mut options = tool_jvm_options(jvm_options);
        options.push(format!("-Dlog4j.configuration=file:{}", log_config.display()));
        let stdout_log = dir.join("stdout.log");
        let stdout = std::fs::File::create(&stdout_log).context(|| format!("creating {}", stdout_log.display()))?;
        let mut command = install.java_command(&options, "org.apache.zookeeper.server.quorum.QuorumPeerMain");
        command
            .arg(&config)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(stdout.try_clone().context(|| "duplicating stdout.log handle".to_string())?)
            .stderr(stdout);
        let child = process::spawn_tied(command).context(|| "starting ZooKeeper".to_string())?;
        let zookeeper = ZooKeeper { port, dir: dir.to_path_buf(), child: Mutex::new(Some(child)) };
        zookeeper.wait_serving()?;
        Ok(zookeeper)
    }

    /// `zookeeper.connect` for brokers and tools.
    pub fn connect(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn wait_serving(&self) -> Result<()> {
        let deadline = Instant::now() + ZOOKEEPER_START_TIMEOUT;
        loop {
            if ruok(self.port) {
                return Ok(());
            }
            let exited = {
                let mut guard = self.child.lock().unwrap_or_else(|p| p.into_inner());
                match guard.as_mut().map(|child| child.try_wait()) {
                    Some(Ok(Some(status))) => Some(status.to_string()),
                    _ => None,
                }
            };
            if let Some(status) = exited {
                return Err(HarnessError::new(format!("ZooKeeper exited during start-up with {status}.\n{}", self.log_tails())));
            }
            if Instant::now() >= deadline {
                return Err(HarnessError::new(format!(
                    "ZooKeeper did not serve within {ZOOKEEPER_START_TIMEOUT:?}.\n{}",
                    self.log_tails()
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn log_tails(&self) -> String {
        let log = self.dir.join("zookeeper.log");
        let stdout = self.dir.join("stdout.log");
        format!("--- tail of {} ---\n{}\n--- tail of {} ---\n{}", log.display(), tail(&log, 40), stdout.display(), tail(&stdout, 20))
    }
}

impl Drop for ZooKeeper {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.lock().unwrap_or_else(|p| p.into_inner()).take() {
            process::kill_and_reap(&mut child);
        }
    }
}

/// ZooKeeper's `ruok` four-letter command: `imok` once the server serves.
fn ruok(port: u16) -> bool {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_millis(500)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream.write_all(b"ruok").is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer == "imok"
}

/// log4j 1 configuration: everything at INFO to `zookeeper.log` in `dir`.
fn log4j_properties(dir: &Path) -> String {
    format!(
        "log4j.rootLogger=INFO, file\n\
         log4j.appender.file=org.apache.log4j.FileAppender\n\
         log4j.appender.file.File={}/zookeeper.log\n\
         log4j.appender.file.layout=org.apache.log4j.PatternLayout\n\
         log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n\n",
        dir.display()
    )
}
