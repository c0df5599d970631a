//! CPU time and page faults charged to finished child processes.

/// What the kernel charged every child this process has waited for. The
/// difference around one child run is that child's (children run one at a
/// time; the broker is a child too, but it is not waited for until the
/// end, so it is not in the sums).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ChildrenUsage {
    pub user_seconds: f64,
    pub system_seconds: f64,
    /// Page faults served without I/O: mostly fresh memory touched for
    /// the first time, which costs system time.
    pub minor_faults: u64,
}

impl ChildrenUsage {
    /// The children's usage so far (all NaN and zero if the call fails).
    pub fn now() -> Self {
        // SAFETY: getrusage only writes the struct we pass.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
        if rc != 0 {
            return ChildrenUsage { user_seconds: f64::NAN, system_seconds: f64::NAN, minor_faults: 0 };
        }
        let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        ChildrenUsage {
            user_seconds: seconds(usage.ru_utime),
            system_seconds: seconds(usage.ru_stime),
            minor_faults: u64::try_from(usage.ru_minflt).unwrap_or(0),
        }
    }

    /// What was charged between `earlier` and this.
    pub fn since(&self, earlier: &ChildrenUsage) -> ChildrenUsage {
        ChildrenUsage {
            user_seconds: self.user_seconds - earlier.user_seconds,
            system_seconds: self.system_seconds - earlier.system_seconds,
            minor_faults: self.minor_faults.saturating_sub(earlier.minor_faults),
        }
    }

    /// User plus system CPU seconds.
    pub fn cpu_seconds(&self) -> f64 {
        self.user_seconds + self.system_seconds
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finished_child_is_charged_its_cpu_and_faults() {
        let before = ChildrenUsage::now();
        // A child that does a little work: 64 MiB through a pipe.
        let status = std::process::Command::new("sh")
            .args(["-c", "head -c 67108864 /dev/zero | tr '\\0' 'x' > /dev/null"])
            .status()
            .expect("sh runs");
        assert!(status.success());
        let used = ChildrenUsage::now().since(&before);
        assert!(used.cpu_seconds() > 0.0, "{used:?}");
        assert!(used.minor_faults > 0, "{used:?}");
        assert!((used.cpu_seconds() - used.user_seconds - used.system_seconds).abs() < 1e-9);
    }
}
