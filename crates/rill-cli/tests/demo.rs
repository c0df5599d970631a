//! `rill demo` end to end: the binary, as a user runs it.

use std::process::Command;

#[test]
fn the_demo_produces_and_reads_back_every_record() {
    let output =
        Command::new(env!("CARGO_BIN_EXE_rill")).args(["demo", "--records", "5000", "--partitions", "3"]).output().expect("run rill demo");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "rill demo failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("produced 5000 records"), "{stdout}");
    assert!(stdout.contains("consumed 5000 records"), "{stdout}");
    assert!(stdout.contains("every record exactly once"), "{stdout}");
}

#[test]
fn bad_arguments_name_the_flag() {
    let output = Command::new(env!("CARGO_BIN_EXE_rill")).args(["demo", "--records", "0"]).output().expect("run rill demo");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--records"));
}

/// SIGTERM (what `kill` and service managers send) stops the dev broker
/// cleanly, after flushing its data directory.
#[cfg(unix)]
#[test]
fn the_dev_broker_stops_cleanly_on_sigterm() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let dir = std::env::temp_dir().join(format!("rill-cli-sigterm-{}", std::process::id()));
    let mut child = Command::new(env!("CARGO_BIN_EXE_rill"))
        .args(["dev-broker", "--port", "0", "--data-dir"])
        .arg(&dir)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start rill dev-broker");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("the listening line");
    assert!(line.contains("listening"), "{line}");
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let status = child.wait().expect("wait for the broker");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).expect("rest of stdout");
    assert!(status.success(), "exit status {status}; output: {rest}");
    assert!(rest.contains("stopped (SIGTERM)"), "{rest}");
    let _ = std::fs::remove_dir_all(&dir);
}
