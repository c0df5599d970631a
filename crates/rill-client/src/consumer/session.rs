//! Incremental fetch sessions (KIP-227), one per broker.
//!
//! The broker remembers, per session, the partitions of the last requests
//! and their fetch parameters. A full request (epoch 0) sends every
//! partition and asks for a new session; later requests (epoch 1, 2, ...)
//! send only partitions that are new or whose parameters changed (a fetch
//! offset that moved, a new leader epoch) and name the ones to forget. The
//! broker answers only partitions with news. Any session error
//! (FETCH_SESSION_ID_NOT_FOUND, INVALID_FETCH_SESSION_EPOCH,
//! FETCH_SESSION_TOPIC_ID_ERROR) or failed request makes the next request a
//! full one that closes the old session.

use std::collections::BTreeMap;

use rill_protocol::Uuid;

use super::record::TopicPartition;

/// The fetch parameters of one partition, as sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FetchParams {
    pub topic_id: Uuid,
    pub fetch_offset: i64,
    pub current_leader_epoch: i32,
    pub last_fetched_epoch: i32,
    pub max_bytes: i32,
}

/// What to put in the next request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SessionRequest {
    pub session_id: i32,
    pub epoch: i32,
    /// Partitions to send (all of them in a full request).
    pub send: Vec<(TopicPartition, FetchParams)>,
    /// Partitions the broker's session is to drop (incremental only).
    pub forget: Vec<(TopicPartition, Uuid)>,
}

impl SessionRequest {
    pub fn is_full(&self) -> bool {
        self.epoch == 0 || self.epoch == -1
    }
}

/// The client side of one broker's fetch session.
#[derive(Debug, Default)]
pub(crate) struct FetchSession {
    id: i32,
    /// Epoch of the next request: 0 = full (creates a session).
    epoch: i32,
    /// What the broker's session holds after the last successful request.
    held: BTreeMap<TopicPartition, FetchParams>,
    /// Sessions need Fetch v7+; below that every request is full and sessionless.
    disabled: bool,
}

impl FetchSession {
    pub fn new() -> Self {
        FetchSession::default()
    }

    /// Whether the broker speaks sessions (Fetch v7+); without them every
    /// request is full (session id 0, epoch -1).
    pub fn set_supported(&mut self, supported: bool) {
        if self.disabled == supported {
            self.disabled = !supported;
            self.reset();
        }
    }

    /// The request for `wanted` (every partition to fetch now).
    pub fn build(&self, wanted: &BTreeMap<TopicPartition, FetchParams>) -> SessionRequest {
        let all = || wanted.iter().map(|(tp, p)| (tp.clone(), *p)).collect();
        if self.disabled {
            return SessionRequest { session_id: 0, epoch: -1, send: all(), forget: Vec::new() };
        }
        if self.epoch == 0 || self.id == 0 {
            return SessionRequest { session_id: self.id, epoch: 0, send: all(), forget: Vec::new() };
        }
        let send = wanted.iter().filter(|(tp, p)| self.held.get(*tp) != Some(*p)).map(|(tp, p)| (tp.clone(), *p)).collect();
        let forget = self.held.iter().filter(|(tp, _)| !wanted.contains_key(*tp)).map(|(tp, p)| (tp.clone(), p.topic_id)).collect();
        SessionRequest { session_id: self.id, epoch: self.epoch, send, forget }
    }

    /// The broker accepted `request` (top-level error NONE) and answered
    /// with `session_id`; `wanted` is what the request was built from.
    pub fn accepted(&mut self, request: &SessionRequest, wanted: BTreeMap<TopicPartition, FetchParams>, session_id: i32) {
        if self.disabled {
            return;
        }
        if request.is_full() {
            self.id = session_id;
            // 0: the broker made no session (none left); ask again next time.
            self.epoch = if session_id == 0 { 0 } else { 1 };
        } else {
            self.epoch = next_epoch(self.epoch);
        }
        self.held = wanted;
    }

    /// The next request is full and closes the current session (KIP-227:
    /// a full request naming a session id ends that session).
    pub fn reset(&mut self) {
        self.epoch = 0;
        self.held.clear();
    }
}

/// Epochs run 1, 2, ..., i32::MAX, 1, ... (0 and -1 mean full requests).
fn next_epoch(epoch: i32) -> i32 {
    if (1..i32::MAX).contains(&epoch) {
        epoch + 1
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(offset: i64) -> FetchParams {
        FetchParams { topic_id: Uuid::ZERO, fetch_offset: offset, current_leader_epoch: 1, last_fetched_epoch: -1, max_bytes: 100 }
    }

    fn wanted(items: &[(i32, i64)]) -> BTreeMap<TopicPartition, FetchParams> {
        items.iter().map(|(p, o)| (TopicPartition::new("t", *p), params(*o))).collect()
    }

    #[test]
    fn full_then_incremental_then_reset() {
        let mut s = FetchSession::new();
        let w = wanted(&[(0, 10), (1, 20)]);
        let r = s.build(&w);
        assert!(r.is_full() && r.session_id == 0 && r.send.len() == 2);
        s.accepted(&r, w, 77);
        // Nothing changed: an empty incremental request.
        let w = wanted(&[(0, 10), (1, 20)]);
        let r = s.build(&w);
        assert_eq!((r.session_id, r.epoch, r.send.len(), r.forget.len()), (77, 1, 0, 0));
        s.accepted(&r, w, 77);
        // Partition 0 moved, 1 dropped, 2 added.
        let w = wanted(&[(0, 15), (2, 0)]);
        let r = s.build(&w);
        assert_eq!(r.epoch, 2);
        let sent: Vec<i32> = r.send.iter().map(|(tp, _)| tp.partition).collect();
        assert_eq!(sent, [0, 2]);
        assert_eq!(r.forget.iter().map(|(tp, _)| tp.partition).collect::<Vec<_>>(), [1]);
        s.accepted(&r, w.clone(), 77);
        // A session error: full again, closing session 77.
        s.reset();
        let r = s.build(&w);
        assert!(r.is_full());
        assert_eq!((r.session_id, r.send.len()), (77, 2));
        s.accepted(&r, w.clone(), 78);
        assert_eq!(s.build(&w).epoch, 1);
    }

    #[test]
    fn no_session_granted_or_supported() {
        let mut s = FetchSession::new();
        let w = wanted(&[(0, 1)]);
        let r = s.build(&w);
        s.accepted(&r, w.clone(), 0);
        assert!(s.build(&w).is_full());
        s.set_supported(false);
        let r = s.build(&w);
        assert_eq!((r.session_id, r.epoch), (0, -1));
    }

    #[test]
    fn epochs_wrap_to_one() {
        assert_eq!(next_epoch(i32::MAX), 1);
        assert_eq!(next_epoch(5), 6);
    }
}
