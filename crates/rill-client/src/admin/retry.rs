//! What every admin call shares: a deadline (`request.timeout.ms` from the
//! start of the call), exponential backoff between attempts
//! (`retry.backoff.ms` up to `retry.backoff.max.ms`, jitter from the client's
//! seeded RNG), and Kafka errors that name the broker and the item.

use std::time::Duration;

use rill_protocol::ErrorCode;
use tokio::time::Instant;
use tracing::debug;

use crate::backoff::Backoff;
use crate::client::Client;
use crate::error::{Error, Result};

/// The outcome of one attempt of a routed call.
pub(crate) enum Step<T> {
    Done(T),
    /// The node was the wrong one or not ready (NOT_COORDINATOR,
    /// NOT_CONTROLLER, ...): find the node again and retry.
    Retry(Error),
}

/// Retries of one admin call.
pub(crate) struct Retry<'a> {
    client: &'a Client,
    api: &'static str,
    deadline: Instant,
    backoff: Backoff,
}

impl<'a> Retry<'a> {
    pub(crate) fn new(client: &'a Client, api: &'static str) -> Self {
        let config = client.config();
        Retry {
            client,
            api,
            deadline: Instant::now() + config.request_timeout,
            backoff: Backoff::new(config.retry_backoff, config.retry_backoff_max),
        }
    }

    /// Waits before the next attempt; `Err(last)` when that would pass the deadline.
    pub(crate) async fn wait(&mut self, last: Error) -> Result<()> {
        let delay = self.client.backoff_delay(&mut self.backoff);
        if Instant::now() + delay > self.deadline {
            return Err(last);
        }
        if let Some(broker) = last.broker() {
            self.client.stats_retry(broker);
        }
        debug!(api = self.api, error = %last, ?delay, attempt = self.backoff.attempts(), "admin call: retrying");
        tokio::time::sleep(delay).await;
        Ok(())
    }
}

/// `Ok` for NONE, else [`Error::Kafka`] naming the broker and `context`.
pub(crate) fn check(broker: &str, context: impl FnOnce() -> String, code: i16, message: Option<String>) -> Result<()> {
    let code = ErrorCode(code);
    if code.is_none() {
        Ok(())
    } else {
        Err(Error::Kafka { broker: broker.to_string(), context: context(), code, message: message.filter(|m| !m.is_empty()) })
    }
}

/// An item the broker left out of its answer.
pub(crate) fn missing(broker: &str, context: String) -> Error {
    Error::Kafka {
        broker: broker.to_string(),
        context: format!("{context}: missing from the response"),
        code: ErrorCode::UNKNOWN_SERVER_ERROR,
        message: None,
    }
}

/// Errors after which the group coordinator must be looked up again.
pub(crate) fn is_coordinator_moved(code: ErrorCode) -> bool {
    matches!(code, ErrorCode::NOT_COORDINATOR | ErrorCode::COORDINATOR_LOAD_IN_PROGRESS | ErrorCode::COORDINATOR_NOT_AVAILABLE)
}

/// A timeout as the protocol's INT32 milliseconds (saturating).
pub(crate) fn timeout_ms(timeout: Duration) -> i32 {
    i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX)
}

impl Client {
    /// `host:port` of a node for errors, or `node N` when it is not in the metadata.
    pub(crate) fn broker_name(&self, node_id: i32) -> String {
        self.address_of(node_id).unwrap_or_else(|_| format!("node {node_id}"))
    }
}
