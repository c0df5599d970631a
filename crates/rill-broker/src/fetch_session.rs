//! Incremental fetch sessions (KIP-227).
//!
//! A client opens a session with a full fetch at epoch 0; the broker answers
//! with a session id. Later fetches carry the id and the next epoch and list
//! only partitions whose fetch position changed (plus `forgotten_topics_data`
//! to drop some); the broker answers only partitions with news (records, a
//! new high watermark / last stable offset / log start, or an error).
//!
//! | session_id | epoch | meaning |
//! |---|---|---|
//! | 0 | -1 | sessionless full fetch |
//! | 0 | 0 | full fetch, open a session |
//! | id | 0 | close `id`, full fetch, open a new session |
//! | id | -1 | close `id`, sessionless full fetch |
//! | id | n > 0 | incremental: `n` must be the session's next epoch |

use std::collections::BTreeMap;

use rill_client::backoff::Rng;
use rill_protocol::{ErrorCode, Uuid};

/// What a session remembers of one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionPartition {
    pub topic_id: Uuid,
    pub fetch_offset: i64,
    pub current_leader_epoch: i32,
    pub last_fetched_epoch: i32,
    pub max_bytes: i32,
    /// As last sent to the client (-2: never sent).
    pub sent_high_watermark: i64,
    pub sent_last_stable_offset: i64,
    pub sent_log_start_offset: i64,
}

impl SessionPartition {
    pub fn new(topic_id: Uuid, fetch_offset: i64, current_leader_epoch: i32, last_fetched_epoch: i32, max_bytes: i32) -> Self {
        SessionPartition {
            topic_id,
            fetch_offset,
            current_leader_epoch,
            last_fetched_epoch,
            max_bytes,
            sent_high_watermark: -2,
            sent_last_stable_offset: -2,
            sent_log_start_offset: -2,
        }
    }
}

/// Partitions keyed by (topic name, partition).
pub type SessionPartitions = BTreeMap<(String, i32), SessionPartition>;

#[derive(Debug, Clone)]
struct Session {
    next_epoch: i32,
    partitions: SessionPartitions,
}

/// What to answer for one fetch request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionDecision {
    /// Answer every partition in the set; `session_id` 0 if sessionless.
    Full { session_id: i32, partitions: SessionPartitions },
    /// Answer only partitions with news from the set.
    Incremental { session_id: i32, partitions: SessionPartitions },
    /// A top-level error (FETCH_SESSION_ID_NOT_FOUND, INVALID_FETCH_SESSION_EPOCH).
    Error(ErrorCode),
}

/// The broker's session cache (`max.incremental.fetch.session.cache.slots`).
#[derive(Debug)]
pub struct FetchSessions {
    sessions: BTreeMap<i32, Session>,
    max_sessions: usize,
}

impl FetchSessions {
    pub fn new(max_sessions: usize) -> Self {
        FetchSessions { sessions: BTreeMap::new(), max_sessions }
    }

    /// Applies a request to the cache: `requested` are the partitions the
    /// request lists, `forgotten` those it drops.
    pub fn begin(
        &mut self,
        rng: &mut Rng,
        session_id: i32,
        epoch: i32,
        requested: SessionPartitions,
        forgotten: &[(String, i32)],
    ) -> SessionDecision {
        if epoch > 0 {
            let Some(session) = self.sessions.get_mut(&session_id) else {
                return SessionDecision::Error(ErrorCode::FETCH_SESSION_ID_NOT_FOUND);
            };
            if session.next_epoch != epoch {
                return SessionDecision::Error(ErrorCode::INVALID_FETCH_SESSION_EPOCH);
            }
            session.next_epoch = if epoch == i32::MAX { 1 } else { epoch + 1 };
            for key in forgotten {
                session.partitions.remove(key);
            }
            for (key, p) in requested {
                let entry = session.partitions.entry(key).or_insert_with(|| p.clone());
                // Keep what was last sent; take the new position.
                entry.topic_id = p.topic_id;
                entry.fetch_offset = p.fetch_offset;
                entry.current_leader_epoch = p.current_leader_epoch;
                entry.last_fetched_epoch = p.last_fetched_epoch;
                entry.max_bytes = p.max_bytes;
            }
            return SessionDecision::Incremental { session_id, partitions: session.partitions.clone() };
        }
        if session_id != 0 {
            self.sessions.remove(&session_id);
        }
        if epoch < 0 || self.sessions.len() >= self.max_sessions {
            return SessionDecision::Full { session_id: 0, partitions: requested };
        }
        let id = loop {
            // Positive, non-zero, unused.
            let candidate = i32::try_from(rng.next_u64() >> 33).unwrap_or(1).max(1);
            if !self.sessions.contains_key(&candidate) {
                break candidate;
            }
        };
        self.sessions.insert(id, Session { next_epoch: 1, partitions: requested.clone() });
        SessionDecision::Full { session_id: id, partitions: requested }
    }

    /// Records what was sent for a partition; returns whether the
    /// partition had news (must be in an incremental response).
    pub fn record_sent(
        &mut self,
        session_id: i32,
        key: &(String, i32),
        high_watermark: i64,
        last_stable_offset: i64,
        log_start_offset: i64,
    ) -> bool {
        let Some(p) = self.sessions.get_mut(&session_id).and_then(|s| s.partitions.get_mut(key)) else {
            return true;
        };
        let changed = p.sent_high_watermark != high_watermark
            || p.sent_last_stable_offset != last_stable_offset
            || p.sent_log_start_offset != log_start_offset;
        p.sent_high_watermark = high_watermark;
        p.sent_last_stable_offset = last_stable_offset;
        p.sent_log_start_offset = log_start_offset;
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(offsets: &[(i32, i64)]) -> SessionPartitions {
        offsets.iter().map(|&(p, o)| (("t".to_string(), p), SessionPartition::new(Uuid::ZERO, o, -1, -1, 1000))).collect()
    }

    #[test]
    fn session_lifecycle() {
        let mut rng = Rng::new(1);
        let mut s = FetchSessions::new(2);
        let SessionDecision::Full { session_id, partitions } = s.begin(&mut rng, 0, 0, parts(&[(0, 0), (1, 0)]), &[]) else {
            panic!("expected a full fetch")
        };
        assert!(session_id > 0);
        assert_eq!(partitions.len(), 2);
        assert!(s.record_sent(session_id, &("t".to_string(), 0), 5, 5, 0));
        // Incremental at epoch 1: partition 1 forgotten, partition 0 moved.
        let d = s.begin(&mut rng, session_id, 1, parts(&[(0, 5)]), &[("t".to_string(), 1)]);
        let SessionDecision::Incremental { partitions, .. } = d else { panic!("expected incremental") };
        assert_eq!(partitions.len(), 1);
        assert_eq!(partitions[&("t".to_string(), 0)].fetch_offset, 5);
        // Nothing changed since it was sent: not in the response.
        assert!(!s.record_sent(session_id, &("t".to_string(), 0), 5, 5, 0));
        assert_eq!(s.begin(&mut rng, session_id, 1, parts(&[]), &[]), SessionDecision::Error(ErrorCode::INVALID_FETCH_SESSION_EPOCH));
        assert_eq!(s.begin(&mut rng, 77, 1, parts(&[]), &[]), SessionDecision::Error(ErrorCode::FETCH_SESSION_ID_NOT_FOUND));
        // Closing (epoch -1) makes a sessionless full fetch.
        assert!(matches!(s.begin(&mut rng, session_id, -1, parts(&[(0, 0)]), &[]), SessionDecision::Full { session_id: 0, .. }));
        assert_eq!(s.begin(&mut rng, session_id, 2, parts(&[]), &[]), SessionDecision::Error(ErrorCode::FETCH_SESSION_ID_NOT_FOUND));
    }
}
