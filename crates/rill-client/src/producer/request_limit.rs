//! Requests to leaders that read less than rill sends.
//!
//! Unless the application gives a limit, a ProduceRequest carries up to
//! [`DEFAULT_PRODUCE_REQUEST_MAX_BYTES`](crate::config::DEFAULT_PRODUCE_REQUEST_MAX_BYTES)
//! of batches, past the Java client's 1 MiB. A broker that reads less (its
//! `socket.request.max.bytes` lowered; Azure Event Hubs reads 1046528
//! bytes) closes the connection on such a request without an answer, and
//! would again on every retry until `delivery.timeout.ms`. A broker that
//! restarts closes connections too, with whatever was in flight. So a
//! leader is kept to [`CAUTIOUS_REQUEST_MAX_BYTES`] once two of its
//! connections in a row closed with a request larger than that unanswered
//! (and none of those answered in between): a restart costs one close, a
//! broker that reads less closes every connection that sends one.

use std::collections::{BTreeMap, BTreeSet};

/// Requests to a cautious leader: under what Azure Event Hubs reads
/// (1046528 bytes) and Java's default `max.request.size`; Microsoft's
/// recommended `max.request.size`, and librdkafka's default `message.max.bytes`.
pub(crate) const CAUTIOUS_REQUEST_MAX_BYTES: usize = 1_000_000;

/// Closes in a row, each on a connection of its own, that make a leader cautious.
const CLOSES_TO_CAUTION: u32 = 2;

/// Per leader: closes with large requests unanswered, and the leaders kept small.
#[derive(Debug, Default)]
pub(crate) struct LargeRequestGuard {
    closes: BTreeMap<i32, Closes>,
    cautious: BTreeSet<i32>,
}

#[derive(Debug)]
struct Closes {
    /// The connection that closed last: its other requests in flight add nothing.
    last_connection: u64,
    connections: u32,
}

impl LargeRequestGuard {
    /// The request limit for `leader`, `configured` unless it is cautious.
    pub fn limit(&self, leader: i32, configured: usize) -> usize {
        if self.cautious.contains(&leader) {
            configured.min(CAUTIOUS_REQUEST_MAX_BYTES)
        } else {
            configured
        }
    }

    /// `connection` to `leader` closed with a request larger than
    /// [`CAUTIOUS_REQUEST_MAX_BYTES`] unanswered. True when this makes the
    /// leader cautious.
    pub fn closed(&mut self, leader: i32, connection: u64) -> bool {
        if self.cautious.contains(&leader) {
            return false;
        }
        let closes = self.closes.entry(leader).or_insert(Closes { last_connection: connection, connections: 0 });
        if closes.connections == 0 || closes.last_connection != connection {
            closes.connections += 1;
            closes.last_connection = connection;
        }
        if closes.connections >= CLOSES_TO_CAUTION {
            self.closes.remove(&leader);
            self.cautious.insert(leader);
            return true;
        }
        false
    }

    /// `leader` answered a request larger than [`CAUTIOUS_REQUEST_MAX_BYTES`]:
    /// it reads them, and the closes before were something else.
    pub fn answered(&mut self, leader: i32) {
        self.closes.remove(&leader);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_connections_closing_in_a_row_make_a_leader_cautious() {
        let mut guard = LargeRequestGuard::default();
        assert_eq!(guard.limit(1, 50_000_000), 50_000_000);
        // A restart: one connection closes with several requests in flight.
        assert!(!guard.closed(1, 10));
        assert!(!guard.closed(1, 10));
        assert_eq!(guard.limit(1, 50_000_000), 50_000_000);
        // The next connection takes a large request: the close was something else.
        guard.answered(1);
        assert!(!guard.closed(1, 11));
        assert_eq!(guard.limit(1, 50_000_000), 50_000_000);
        // Another connection closes on one too: two in a row.
        assert!(guard.closed(1, 12));
        assert_eq!(guard.limit(1, 50_000_000), CAUTIOUS_REQUEST_MAX_BYTES);
        assert_eq!(guard.limit(1, 500_000), 500_000, "a smaller limit stays");
        assert!(!guard.closed(1, 13), "said once");
        // Other leaders are not touched.
        assert_eq!(guard.limit(2, 50_000_000), 50_000_000);
    }
}
