//! Child processes (JVMs, the KDC) that never outlive the test process.
//!
//! Three layers make sure a broker is gone when tests end:
//! 1. `Drop` of the owning harness type kills its children (normal end);
//! 2. an `atexit` hook kills every live child (`std::process::exit`, which is
//!    how the test harness ends, and shared `static` clusters that are never dropped);
//! 3. `PR_SET_PDEATHSIG=SIGKILL` in the child, for panics that abort, signals
//!    and `kill -9` of the test process. The kernel sends that signal when the
//!    *thread* that forked the child exits, and every Rust test runs on its own
//!    short-lived thread, so all children are forked from one dedicated spawner
//!    thread that lives as long as the process.

use std::collections::HashSet;
use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::mpsc::{self, Sender};
use std::sync::{Mutex, Once, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

type SpawnRequest = (Command, Sender<io::Result<Child>>);

static SPAWNER: OnceLock<Mutex<Sender<SpawnRequest>>> = OnceLock::new();
static LIVE_PIDS: Mutex<Option<HashSet<u32>>> = Mutex::new(None);
static ATEXIT: Once = Once::new();

/// Spawns `command` so that it is killed with SIGKILL when this process ends,
/// however it ends. Register-on-spawn; call [`forget`] after reaping the child.
pub fn spawn_tied(command: Command) -> io::Result<Child> {
    ATEXIT.call_once(|| {
        // SAFETY: registering a plain `extern "C" fn()` with libc is sound.
        unsafe {
            libc::atexit(kill_live_children);
        }
    });
    let spawner = SPAWNER.get_or_init(|| {
        let (requests, incoming) = mpsc::channel::<SpawnRequest>();
        thread::Builder::new()
            .name("rill-e2e-spawner".into())
            .spawn(move || {
                for (mut command, reply) in incoming {
                    let parent_pid = std::process::id();
                    // SAFETY: the closure only calls async-signal-safe libc functions.
                    unsafe {
                        command.pre_exec(move || {
                            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                                return Err(io::Error::last_os_error());
                            }
                            // The parent may have died between fork and prctl.
                            if libc::getppid() as u32 != parent_pid {
                                libc::_exit(1);
                            }
                            Ok(())
                        });
                    }
                    let _ = reply.send(command.spawn());
                }
            })
            .expect("starting the harness's process-spawner thread");
        Mutex::new(requests)
    });
    let (reply, result) = mpsc::channel();
    spawner
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .send((command, reply))
        .map_err(|_| io::Error::other("the process-spawner thread is gone"))?;
    let child = result.recv().map_err(|_| io::Error::other("the process-spawner thread dropped a request"))??;
    LIVE_PIDS.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).get_or_insert_with(HashSet::new).insert(child.id());
    Ok(child)
}

/// Removes a reaped child from the kill-at-exit set (its pid may be reused).
pub fn forget(pid: u32) {
    if let Some(pids) = LIVE_PIDS.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).as_mut() {
        pids.remove(&pid);
    }
}

/// Sends SIGKILL and reaps the child. Idempotent.
pub fn kill_and_reap(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
    forget(child.id());
}

/// Sends SIGTERM, waits up to `grace` for a clean exit, then SIGKILLs.
pub fn terminate_and_reap(child: &mut Child, grace: Duration) {
    // SAFETY: sending a signal to our own child's pid.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            forget(child.id());
            return;
        }
        thread::sleep(Duration::from_millis(50));
    }
    kill_and_reap(child);
}

/// Output of a finished short-lived process.
#[derive(Debug, Clone)]
pub struct Finished {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `command` to completion (tied to this process), feeding `stdin`, and
/// kills it if it runs longer than `timeout`.
pub fn run_with_timeout(mut command: Command, stdin: Option<&str>, timeout: Duration) -> io::Result<Finished> {
    use std::io::{Read, Write};
    use std::process::Stdio;
    command.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() }).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = spawn_tied(command)?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        let text = text.to_string();
        thread::spawn(move || {
            let _ = pipe.write_all(text.as_bytes());
        });
    }
    let mut stdout_pipe = child.stdout.take();
    let mut stderr_pipe = child.stderr.take();
    let stdout_reader = thread::spawn(move || {
        let mut text = String::new();
        if let Some(pipe) = stdout_pipe.as_mut() {
            let _ = pipe.read_to_string(&mut text);
        }
        text
    });
    let stderr_reader = thread::spawn(move || {
        let mut text = String::new();
        if let Some(pipe) = stderr_pipe.as_mut() {
            let _ = pipe.read_to_string(&mut text);
        }
        text
    });
    let deadline = Instant::now() + timeout;
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            timed_out = true;
            let _ = child.kill();
            break child.wait()?;
        }
        thread::sleep(Duration::from_millis(20));
    };
    forget(child.id());
    let stdout = stdout_reader.join().unwrap_or_default();
    let mut stderr = stderr_reader.join().unwrap_or_default();
    if timed_out {
        stderr.push_str(&format!("\n[rill-e2e: killed after {timeout:?} timeout]"));
        return Err(io::Error::new(io::ErrorKind::TimedOut, format!("timed out after {timeout:?}; stdout: {stdout}\nstderr: {stderr}")));
    }
    Ok(Finished { status, stdout, stderr })
}

extern "C" fn kill_live_children() {
    let pids = match LIVE_PIDS.try_lock() {
        Ok(mut guard) => guard.take(),
        Err(std::sync::TryLockError::Poisoned(poisoned)) => poisoned.into_inner().take(),
        // Another thread holds the lock mid-spawn; PDEATHSIG still covers us.
        Err(std::sync::TryLockError::WouldBlock) => None,
    };
    for pid in pids.into_iter().flatten() {
        // SAFETY: signalling pids this process spawned and has not reaped.
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGKILL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tied_child_runs_and_is_killed() {
        let mut command = Command::new("sleep");
        command.arg("30");
        let mut child = spawn_tied(command).expect("spawn sleep");
        assert!(child.try_wait().expect("try_wait").is_none());
        kill_and_reap(&mut child);
        assert!(child.try_wait().expect("try_wait").is_some());
    }

    #[test]
    fn children_spawned_from_a_finished_thread_stay_alive() {
        // PDEATHSIG is per forking thread: a child spawned on behalf of a test
        // thread that has finished must still be running.
        let mut child = thread::spawn(|| {
            let mut command = Command::new("sleep");
            command.arg("30");
            spawn_tied(command).expect("spawn sleep")
        })
        .join()
        .expect("spawning thread");
        thread::sleep(Duration::from_millis(200));
        assert!(child.try_wait().expect("try_wait").is_none(), "child died with its spawning test thread");
        kill_and_reap(&mut child);
    }
}
