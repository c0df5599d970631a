//! Simulated time as the history records it.

/// Milliseconds of simulated time since the simulation started (0 outside one).
pub fn now_ms() -> u64 {
    turmoil::sim_elapsed().map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Log timestamps in simulated time (`sim 12.345s`): a replay's trace logs
/// line up with the history's `at_ms` and the fault schedule, which wall
/// time cannot.
#[derive(Debug, Clone, Copy, Default)]
pub struct SimTime;

impl tracing_subscriber::fmt::time::FormatTime for SimTime {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        let ms = now_ms();
        write!(w, "sim {}.{:03}s", ms / 1000, ms % 1000)
    }
}
