//! The harness's own guarantees: brokers never outlive the test process, and
//! a broker that cannot start fails loudly with its log.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rill_e2e::kafka::config::NodePorts;
use rill_e2e::kafka::node::KafkaNode;
use rill_e2e::kafka::provision::KafkaInstall;
use rill_e2e::process::spawn_tied;

const CHILD_ROLE: &str = "RILL_E2E_HARNESS_TEST_ROLE";

fn pid_alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid as libc::pid_t, 0) == 0 }
}

/// Re-runs this test binary as a child that spawns a tied process and then
/// dies by `how`; the tied process must die with it.
fn tied_process_dies_when_parent(how: &str) {
    if std::env::var(CHILD_ROLE).ok().as_deref() == Some(how) {
        let mut command = Command::new("sleep");
        command.arg("300");
        // Deliberately never reaped: the point is that it dies with this process.
        let child = spawn_tied(command).expect("spawn tied sleep");
        println!("TIED_PID {}", child.id());
        std::mem::forget(child);
        match how {
            "abort" => std::process::abort(),
            "panic" => panic!("deliberate panic with a tied child running"),
            _ => std::process::exit(0),
        }
    }
    let test_name = format!("tied_process_dies_when_parent_{how}s");
    let mut parent = Command::new(std::env::current_exe().expect("current test binary"))
        .args(["--exact", &test_name, "--nocapture", "--test-threads=1"])
        .env(CHILD_ROLE, how)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("re-run the test binary as the parent");
    let stdout = parent.stdout.take().expect("child stdout");
    let tied_pid: u32 = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        // libtest may print "test <name> ... " on the same line first.
        .find_map(|line| line.split("TIED_PID ").nth(1).and_then(|pid| pid.trim().parse().ok()))
        .expect("the parent reported its tied child's pid");
    let _ = parent.wait();
    let deadline = Instant::now() + Duration::from_secs(5);
    while pid_alive(tied_pid) && Instant::now() < deadline {
        // A zombie still counts as alive until its new parent (init) reaps it.
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!pid_alive(tied_pid), "tied process {tied_pid} survived its parent's {how}");
}

#[test]
fn tied_process_dies_when_parent_aborts() {
    tied_process_dies_when_parent("abort");
}

#[test]
fn tied_process_dies_when_parent_panics() {
    tied_process_dies_when_parent("panic");
}

#[test]
fn tied_process_dies_when_parent_exits() {
    tied_process_dies_when_parent("exit");
}

#[test]
fn broker_that_cannot_start_fails_with_its_log() {
    let install = KafkaInstall::from_env().expect("Kafka is provisioned (run tests/scripts/provision.sh)");
    let dir = rill_e2e::paths::new_run_dir("broken-broker").expect("run dir");
    let node = KafkaNode::new(
        1,
        dir.clone(),
        NodePorts { controller: 0, internal: 0, listener_ports: Default::default(), advertised_ports: Default::default() },
        install,
        Vec::new(),
    );
    // process.roles without node.id or a quorum: Kafka refuses to start.
    std::fs::write(node.server_properties(), format!("process.roles=broker\nlog.dirs={}/data\n", dir.display()))
        .expect("write server.properties");
    std::fs::write(dir.join("log4j2.xml"), rill_e2e::kafka::config::log4j2_xml(&dir)).expect("log4j2.xml");
    std::fs::write(dir.join("log4j.properties"), rill_e2e::kafka::config::log4j1_properties(&dir)).expect("log4j");
    let started = Instant::now();
    let error = node.start().expect_err("a broker without node.id must not start");
    let message = error.to_string();
    assert!(message.contains("exited during start-up"), "{message}");
    assert!(message.contains("--- tail of"), "the error must carry the broker log: {message}");
    assert!(message.contains("node.id") || message.contains("ConfigException"), "{message}");
    assert!(started.elapsed() < Duration::from_secs(60), "failure took {:?}", started.elapsed());
}

/// The README's way of starting a cluster by hand: `kafka-cluster` prints
/// every listener's bootstrap address and the credentials, serves, and takes
/// the cluster down when it stops.
#[test]
fn kafka_cluster_binary_prints_listeners_and_stops_the_cluster() {
    use std::io::Read;
    let mut process = Command::new(env!("CARGO_BIN_EXE_kafka-cluster"))
        .arg("--until-stdin-closes")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start kafka-cluster");
    let mut stdout = BufReader::new(process.stdout.take().expect("stdout"));
    let mut summary = String::new();
    let deadline = Instant::now() + Duration::from_secs(180);
    while !summary.contains("Running until stdin closes.") && Instant::now() < deadline {
        let mut line = String::new();
        if stdout.read_line(&mut line).expect("read kafka-cluster output") == 0 {
            break;
        }
        summary.push_str(&line);
    }
    assert!(summary.contains("Running until stdin closes."), "kafka-cluster did not come up:\n{summary}");
    for needle in [
        "PLAINTEXT",
        "SSL",
        "MTLS",
        "SASL_PLAINTEXT",
        "SASL_SSL",
        "SSL_EXPIRED",
        "SSL_NOT_YET_VALID",
        "GSSAPI",
        "SCRAM-SHA-512",
        "ca.pem",
        "alice",
        "$ConnectionString",
        "krb5.conf",
    ] {
        assert!(summary.contains(needle), "summary lacks {needle}:\n{summary}");
    }
    // OAUTHBEARER is enabled where brokers can validate JWTs (Kafka 3.1+, KIP-768).
    let install = KafkaInstall::from_env().expect("Kafka is provisioned");
    let oauth_listed = summary.lines().any(|line| line.trim_start().starts_with("SASL_SSL ") && line.contains("OAUTHBEARER"));
    assert_eq!(oauth_listed, install.supports_oauth_validation(), "Kafka {}:\n{summary}", install.version);
    let plaintext_port: u16 = summary
        .lines()
        .find(|line| line.trim_start().starts_with("PLAINTEXT "))
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|address| address.rsplit(':').next())
        .and_then(|port| port.parse().ok())
        .expect("PLAINTEXT bootstrap in the summary");
    assert!(std::net::TcpStream::connect(("127.0.0.1", plaintext_port)).is_ok(), "PLAINTEXT listener not reachable");

    drop(process.stdin.take());
    let status = process.wait().expect("kafka-cluster exits when stdin closes");
    let mut rest = String::new();
    let _ = stdout.read_to_string(&mut rest);
    assert!(status.success(), "kafka-cluster exited with {status}: {rest}");
    assert!(std::net::TcpStream::connect(("127.0.0.1", plaintext_port)).is_err(), "listener still up after exit");
}
