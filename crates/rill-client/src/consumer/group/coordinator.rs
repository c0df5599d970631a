//! Finding the group coordinator (FindCoordinator, key type GROUP) and
//! knowing when to look again.
//!
//! NOT_COORDINATOR and COORDINATOR_NOT_AVAILABLE mean the coordinator moved
//! or is gone: forget it and ask again. COORDINATOR_LOAD_IN_PROGRESS means it
//! is still loading the group: ask the same broker again after a backoff.
//! A connection failure to the coordinator also forgets it.

use std::sync::Mutex;

use rill_protocol::messages::FindCoordinatorRequest;
use rill_protocol::{ApiKey, ErrorCode};
use tokio::time::Instant;
use tracing::debug;

use crate::backoff::{Backoff, Rng};
use crate::client::Client;
use crate::error::{Error, Result};

/// FindCoordinator's key type for consumer groups.
const KEY_TYPE_GROUP: i8 = 0;

/// What an error from the coordinator asks the member to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoordinatorFault {
    /// The coordinator moved or is unreachable: look it up again.
    Moved,
    /// The coordinator is loading the group: retry it after a backoff.
    Loading,
}

/// Classifies an error code (or a transport error) as a coordinator fault.
pub fn fault_of_code(code: ErrorCode) -> Option<CoordinatorFault> {
    match code {
        ErrorCode::NOT_COORDINATOR | ErrorCode::COORDINATOR_NOT_AVAILABLE => Some(CoordinatorFault::Moved),
        ErrorCode::COORDINATOR_LOAD_IN_PROGRESS => Some(CoordinatorFault::Loading),
        _ => None,
    }
}

/// Classifies a request error: Kafka codes as [`fault_of_code`], connection failures as `Moved`.
pub fn fault_of(error: &Error) -> Option<CoordinatorFault> {
    match error {
        Error::Kafka { code, .. } => fault_of_code(*code),
        e if e.is_retriable() => Some(CoordinatorFault::Moved),
        _ => None,
    }
}

/// The coordinator of one group, cached until a fault says it moved.
#[derive(Debug)]
pub struct Coordinator {
    group_id: String,
    node: Mutex<Option<i32>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Coordinator {
    pub fn new(group_id: impl Into<String>) -> Self {
        Coordinator { group_id: group_id.into(), node: Mutex::new(None) }
    }

    pub fn group_id(&self) -> &str {
        &self.group_id
    }

    /// The cached coordinator, if any.
    pub fn known(&self) -> Option<i32> {
        *lock(&self.node)
    }

    /// Forgets the coordinator (after NOT_COORDINATOR or a connection failure).
    pub fn forget(&self, node: i32) {
        let mut current = lock(&self.node);
        if *current == Some(node) {
            debug!(group = %self.group_id, node, "forgetting the group coordinator");
            *current = None;
        }
    }

    /// Reacts to an error of a request sent to `node`; returns the fault, if it is one.
    pub fn note_error(&self, node: i32, error: &Error) -> Option<CoordinatorFault> {
        let fault = fault_of(error);
        if fault == Some(CoordinatorFault::Moved) {
            self.forget(node);
        }
        fault
    }

    /// The coordinator's node id: the cached one, or looked up (retrying
    /// retriable failures with backoff) until `deadline`.
    pub async fn find(&self, client: &Client, rng: &Mutex<Rng>, deadline: Instant) -> Result<i32> {
        if let Some(node) = self.known() {
            return Ok(node);
        }
        let config = client.config();
        let mut backoff = Backoff::new(config.retry_backoff, config.retry_backoff_max);
        loop {
            let error = match self.lookup(client).await {
                Ok(node) => {
                    *lock(&self.node) = Some(node);
                    debug!(group = %self.group_id, node, "group coordinator found");
                    return Ok(node);
                }
                Err(e) if e.is_retriable() || matches!(e.code(), Some(c) if fault_of_code(c).is_some()) => e,
                Err(e) => return Err(e),
            };
            let delay = backoff.next_delay(&mut lock(rng));
            if Instant::now() + delay >= deadline {
                return Err(error);
            }
            debug!(group = %self.group_id, error = %error, ?delay, "FindCoordinator failed; retrying");
            tokio::time::sleep(delay).await;
        }
    }

    /// One FindCoordinator round trip to some broker.
    async fn lookup(&self, client: &Client) -> Result<i32> {
        let node = any_broker(client).await?;
        let connection = client.connection(node).await?;
        let version = connection.version_for(ApiKey::FIND_COORDINATOR)?;
        // v4+ (KIP-699) asks for a batch of keys; earlier versions for one.
        let request = if version >= 4 {
            FindCoordinatorRequest { key_type: KEY_TYPE_GROUP, coordinator_keys: vec![self.group_id.clone()], ..Default::default() }
        } else {
            FindCoordinatorRequest { key: self.group_id.clone(), key_type: KEY_TYPE_GROUP, ..Default::default() }
        };
        let response = connection.send_version(&request, version).await?;
        let (code, message, coordinator) = if version >= 4 {
            let Some(c) = response.coordinators.iter().find(|c| c.key == self.group_id) else {
                return Err(Error::Kafka {
                    broker: connection.broker().to_string(),
                    context: format!("FindCoordinator {}: the answer names no coordinator for the group", self.group_id),
                    code: ErrorCode::COORDINATOR_NOT_AVAILABLE,
                    message: None,
                });
            };
            (ErrorCode(c.error_code), c.error_message.clone(), c.node_id)
        } else {
            (ErrorCode(response.error_code), response.error_message.clone(), response.node_id)
        };
        if code.is_error() {
            return Err(Error::Kafka {
                broker: connection.broker().to_string(),
                context: format!("FindCoordinator {}", self.group_id),
                code,
                message,
            });
        }
        if coordinator < 0 {
            return Err(Error::Kafka {
                broker: connection.broker().to_string(),
                context: format!("FindCoordinator {}: no coordinator node", self.group_id),
                code: ErrorCode::COORDINATOR_NOT_AVAILABLE,
                message: None,
            });
        }
        // The coordinator must be addressable: refresh brokers if it is new to us.
        if !client.cached_metadata().brokers.contains_key(&coordinator) {
            client.metadata(&[]).await?;
        }
        Ok(coordinator)
    }
}

/// A broker to ask: one we know (lowest node id), else bootstrap again.
async fn any_broker(client: &Client) -> Result<i32> {
    if let Some(id) = client.cached_metadata().brokers.keys().next() {
        return Ok(*id);
    }
    let snapshot = client.metadata(&[]).await?;
    snapshot.brokers.keys().next().copied().ok_or(Error::NoBrokerReachable { tried: Vec::new(), last: None })
}
