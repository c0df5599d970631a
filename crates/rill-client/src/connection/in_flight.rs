//! Requests written to a connection and not yet answered, oldest first.
//!
//! Kafka answers the requests of one connection in the order they were sent,
//! so a response must carry the correlation id of the oldest pending
//! request; anything else means the stream can no longer be trusted.

use std::collections::VecDeque;

use bytes::Bytes;
use rill_protocol::ApiKey;
use tokio::sync::{oneshot, OwnedSemaphorePermit};
use tokio::time::Instant;

use crate::error::Error;

/// Where a request's outcome goes: the response frame (header included), or an error.
pub(crate) type Responder = oneshot::Sender<Result<Bytes, Error>>;

/// A request the driver has written and waits an answer for.
#[derive(Debug)]
pub(crate) struct Pending {
    pub correlation_id: i32,
    pub api: ApiKey,
    /// A raw SASL token (SaslHandshake v0): its answer has no header, so the
    /// next frame is it, whatever its first bytes.
    pub raw: bool,
    pub sent_at: Instant,
    pub deadline: Instant,
    pub responder: Responder,
    /// Holds one of the connection's in-flight slots until answered.
    pub permit: OwnedSemaphorePermit,
}

/// The answer does not belong to the oldest pending request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mismatch {
    pub expected: Option<i32>,
    pub received: i32,
}

#[derive(Debug, Default)]
pub(crate) struct InFlight {
    queue: VecDeque<Pending>,
}

impl InFlight {
    pub fn push(&mut self, pending: Pending) {
        self.queue.push_back(pending);
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// The earliest deadline of any pending request.
    pub fn next_deadline(&self) -> Option<(Instant, ApiKey)> {
        self.queue.iter().map(|p| (p.deadline, p.api)).min_by_key(|(deadline, _)| *deadline)
    }

    /// Matches a response frame (its first 4 bytes are the correlation id)
    /// with the oldest pending request and removes that request.
    pub fn complete(&mut self, frame: &Bytes) -> Result<Pending, Mismatch> {
        let received = match frame.get(..4) {
            Some(&[a, b, c, d]) => i32::from_be_bytes([a, b, c, d]),
            _ => -1,
        };
        match self.queue.front() {
            Some(front) if front.raw || front.correlation_id == received => {
                self.queue.pop_front().ok_or(Mismatch { expected: None, received })
            }
            Some(front) => Err(Mismatch { expected: Some(front.correlation_id), received }),
            None => Err(Mismatch { expected: None, received }),
        }
    }

    /// Fails every pending request: the first with `first`, the rest with `rest`.
    pub fn fail_all(&mut self, first: Error, rest: &Error) {
        let mut first = Some(first);
        for pending in self.queue.drain(..) {
            let error = first.take().unwrap_or_else(|| rest.clone());
            let _ = pending.responder.send(Err(error));
        }
    }

    /// Removes the request with the earliest deadline (it timed out).
    pub fn take_earliest(&mut self) -> Option<Pending> {
        let index = self.queue.iter().enumerate().min_by_key(|(_, p)| p.deadline).map(|(i, _)| i)?;
        self.queue.remove(index)
    }
}
