//! Which partition leaders are taking batches, for adaptive partitioning
//! (KIP-794 part 2, `partitioner.availability.timeout.ms`): per leader, the
//! last time it had batches waiting to be sent and the last time the sender
//! handed it some, as Java's `RecordAccumulator.NodeLatencyStats` keeps. A
//! leader whose batches have waited longer than the timeout since it last
//! took any is skipped when records without a key pick a partition.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug, Default)]
pub(crate) struct LeaderAvailability {
    /// (last time it had batches to send, last time it was handed some).
    leaders: BTreeMap<i32, (Instant, Instant)>,
}

impl LeaderAvailability {
    /// `leader` has batches it could not take now (its in-flight limit is reached).
    pub fn waiting(&mut self, leader: i32, now: Instant) {
        self.leaders.entry(leader).or_insert((now, now)).0 = now;
    }

    /// The sender handed `leader` batches.
    pub fn drained(&mut self, leader: i32, now: Instant) {
        self.leaders.insert(leader, (now, now));
    }

    /// Whether keyless records may go to `leader`'s partitions (always when `timeout` is zero).
    pub fn is_available(&self, leader: i32, timeout: Duration) -> bool {
        timeout.is_zero() || self.leaders.get(&leader).is_none_or(|(ready, drained)| ready.saturating_duration_since(*drained) <= timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_leader_that_takes_nothing_for_the_timeout_is_skipped_until_it_takes_again() {
        let timeout = Duration::from_millis(500);
        let mut a = LeaderAvailability::default();
        let start = Instant::now();
        assert!(a.is_available(1, timeout), "unknown leaders are available");
        a.drained(1, start);
        a.waiting(1, start + Duration::from_millis(400));
        assert!(a.is_available(1, timeout));
        a.waiting(1, start + Duration::from_millis(501));
        assert!(!a.is_available(1, timeout));
        assert!(a.is_available(1, Duration::ZERO), "zero: never skipped");
        assert!(a.is_available(2, timeout), "other leaders are not affected");
        a.drained(1, start + Duration::from_millis(600));
        assert!(a.is_available(1, timeout));
        // Waiting from the first sight on counts too.
        a.waiting(3, start);
        a.waiting(3, start + Duration::from_secs(1));
        assert!(!a.is_available(3, timeout));
    }
}
