//! Simulated time as the history records it.

/// Milliseconds of simulated time since the simulation started (0 outside one).
pub fn now_ms() -> u64 {
    turmoil::sim_elapsed().map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
