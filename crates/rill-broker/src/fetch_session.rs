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
//!
//! The cache holds `max.incremental.fetch.session.cache.slots` sessions.
//! Clients that go away without closing theirs (a killed consumer) would
//! fill it for good, so a new session takes the place of the one least
//! recently used when that one has been idle for
//! `min.incremental.fetch.session.eviction.ms` (KIP-227, "Fetch Session
//! Caching"); otherwise the client gets a sessionless full fetch.

use std::collections::BTreeMap;
use std::time::Duration;

use rill_client::backoff::Rng;
use rill_protocol::{ErrorCode, Uuid};
use tokio::time::Instant;

/// How long a session must have been idle before a new one may take its
/// place when the cache is full (Kafka's
/// `min.incremental.fetch.session.eviction.ms` default, 120 s).
pub const SESSION_EVICTION_IDLE: Duration = Duration::from_secs(120);

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
    /// When a request last used it.
    last_used: Instant,
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

    /// Applies a request arriving at `now` to the cache: `requested` are
    /// the partitions the request lists, `forgotten` those it drops.
    pub fn begin(
        &mut self,
        rng: &mut Rng,
        now: Instant,
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
            session.last_used = now;
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
        if epoch < 0 || (self.sessions.len() >= self.max_sessions && !self.evict_idle(now)) {
            return SessionDecision::Full { session_id: 0, partitions: requested };
        }
        let id = loop {
            // Positive, non-zero, unused.
            let candidate = i32::try_from(rng.next_u64() >> 33).unwrap_or(1).max(1);
            if !self.sessions.contains_key(&candidate) {
                break candidate;
            }
        };
        self.sessions.insert(id, Session { next_epoch: 1, partitions: requested.clone(), last_used: now });
        SessionDecision::Full { session_id: id, partitions: requested }
    }

    /// Drops the least recently used session if it has been idle for
    /// [`SESSION_EVICTION_IDLE`]; returns whether one was dropped. Ties go
    /// to the lowest id, so a seed replays the same evictions.
    fn evict_idle(&mut self, now: Instant) -> bool {
        let oldest = self.sessions.iter().min_by_key(|(id, s)| (s.last_used, **id)).map(|(id, s)| (*id, s.last_used));
        match oldest {
            Some((id, last_used)) if now.saturating_duration_since(last_used) >= SESSION_EVICTION_IDLE => {
                self.sessions.remove(&id);
                true
            }
            _ => false,
        }
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
        let t0 = Instant::now();
        let mut s = FetchSessions::new(2);
        let SessionDecision::Full { session_id, partitions } = s.begin(&mut rng, t0, 0, 0, parts(&[(0, 0), (1, 0)]), &[]) else {
            panic!("expected a full fetch")
        };
        assert!(session_id > 0);
        assert_eq!(partitions.len(), 2);
        assert!(s.record_sent(session_id, &("t".to_string(), 0), 5, 5, 0));
        // Incremental at epoch 1: partition 1 forgotten, partition 0 moved.
        let d = s.begin(&mut rng, t0, session_id, 1, parts(&[(0, 5)]), &[("t".to_string(), 1)]);
        let SessionDecision::Incremental { partitions, .. } = d else { panic!("expected incremental") };
        assert_eq!(partitions.len(), 1);
        assert_eq!(partitions[&("t".to_string(), 0)].fetch_offset, 5);
        // Nothing changed since it was sent: not in the response.
        assert!(!s.record_sent(session_id, &("t".to_string(), 0), 5, 5, 0));
        assert_eq!(s.begin(&mut rng, t0, session_id, 1, parts(&[]), &[]), SessionDecision::Error(ErrorCode::INVALID_FETCH_SESSION_EPOCH));
        assert_eq!(s.begin(&mut rng, t0, 77, 1, parts(&[]), &[]), SessionDecision::Error(ErrorCode::FETCH_SESSION_ID_NOT_FOUND));
        // Closing (epoch -1) makes a sessionless full fetch.
        assert!(matches!(s.begin(&mut rng, t0, session_id, -1, parts(&[(0, 0)]), &[]), SessionDecision::Full { session_id: 0, .. }));
        assert_eq!(s.begin(&mut rng, t0, session_id, 2, parts(&[]), &[]), SessionDecision::Error(ErrorCode::FETCH_SESSION_ID_NOT_FOUND));
    }

    // KIP-227: when the cache is full, a new session takes the place of the
    // least recently used one only once that one has been idle for the
    // eviction time; until then the client fetches without a session.
    #[test]
    fn a_full_cache_makes_room_by_evicting_the_longest_idle_session() {
        let mut rng = Rng::new(1);
        let t0 = Instant::now();
        let mut s = FetchSessions::new(2);
        let open = |s: &mut FetchSessions, rng: &mut Rng, at: Instant| match s.begin(rng, at, 0, 0, parts(&[(0, 0)]), &[]) {
            SessionDecision::Full { session_id, .. } => session_id,
            other => panic!("expected a full fetch, got {other:?}"),
        };
        let a = open(&mut s, &mut rng, t0);
        let b = open(&mut s, &mut rng, t0 + Duration::from_secs(10));
        assert!(a > 0 && b > 0 && a != b);
        // Full, nobody idle long enough: sessionless.
        assert_eq!(open(&mut s, &mut rng, t0 + Duration::from_secs(100)), 0);
        // `a` is used at 100 s, so at 130 s `b` (idle since 10 s) is the one to go.
        assert!(matches!(s.begin(&mut rng, t0 + Duration::from_secs(100), a, 1, parts(&[]), &[]), SessionDecision::Incremental { .. }));
        let c = open(&mut s, &mut rng, t0 + Duration::from_secs(130));
        assert!(c > 0 && c != a && c != b);
        assert_eq!(
            s.begin(&mut rng, t0 + Duration::from_secs(130), b, 1, parts(&[]), &[]),
            SessionDecision::Error(ErrorCode::FETCH_SESSION_ID_NOT_FOUND)
        );
        assert!(matches!(s.begin(&mut rng, t0 + Duration::from_secs(130), a, 2, parts(&[]), &[]), SessionDecision::Incremental { .. }));
        // `a` was used at 130 s and `c` opened then: nobody idle 120 s until 250 s.
        assert_eq!(open(&mut s, &mut rng, t0 + Duration::from_secs(249)), 0);
        assert!(open(&mut s, &mut rng, t0 + Duration::from_secs(250)) > 0);
        assert_eq!(s.sessions.len(), 2);
    }
}
