//! CPU seconds charged to finished child processes.

/// User + system CPU seconds of every child this process has waited for.
/// The difference around one child run is that child's CPU (children run
/// one at a time; the broker is a child too, but it is not waited for
/// until the end, so it is not in the sum).
pub fn children_cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    if rc != 0 {
        return f64::NAN;
    }
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}
