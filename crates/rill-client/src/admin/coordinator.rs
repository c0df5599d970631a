//! Finding a group's coordinator (FindCoordinator with key type GROUP) and
//! running a call on it, looking it up again when it moved or is still
//! loading the group (NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS,
//! COORDINATOR_NOT_AVAILABLE).

use std::future::Future;

use rill_protocol::message::Request;
use rill_protocol::messages::FindCoordinatorRequest;
use rill_protocol::ErrorCode;
use tracing::debug;

use super::retry::{check, Retry, Step};
use crate::client::Client;
use crate::error::{Error, Result};

/// FindCoordinator key type of consumer groups.
const KEY_TYPE_GROUP: i8 = 0;

impl Client {
    /// The node id of `group`'s coordinator, asked of any broker (one attempt;
    /// a retriable error such as COORDINATOR_NOT_AVAILABLE is returned as is).
    pub async fn find_group_coordinator(&self, group: &str) -> Result<i32> {
        let node = self.any_node().await?;
        let connection = self.connection(node).await?;
        let version = connection.version_for(FindCoordinatorRequest::API_KEY)?;
        // v4+ (KIP-699) batches keys in `coordinator_keys`; older versions take one `key`.
        let batched = version >= 4;
        let request = FindCoordinatorRequest {
            key: if batched { String::new() } else { group.to_string() },
            key_type: KEY_TYPE_GROUP,
            coordinator_keys: if batched { vec![group.to_string()] } else { Vec::new() },
            ..Default::default()
        };
        let response = connection.send_version(&request, version).await?;
        let broker = connection.broker().to_string();
        let context = || format!("FindCoordinator group {group}");
        let node_id = if batched {
            let Some(found) = response.coordinators.into_iter().find(|c| c.key == group) else {
                return Err(Error::Kafka {
                    broker,
                    context: context(),
                    code: ErrorCode::UNKNOWN_SERVER_ERROR,
                    message: Some("the group is missing from the response".into()),
                });
            };
            check(&broker, context, found.error_code, found.error_message)?;
            found.node_id
        } else {
            check(&broker, context, response.error_code, response.error_message)?;
            response.node_id
        };
        debug!(group, coordinator = node_id, "found group coordinator");
        Ok(node_id)
    }

    /// Runs `call` on `group`'s coordinator until it answers, looking the
    /// coordinator up again after [`Step::Retry`] or a retriable connection
    /// error, within the call's deadline.
    pub(crate) async fn on_group_coordinator<T, F, Fut>(&self, group: &str, api: &'static str, mut call: F) -> Result<T>
    where
        F: FnMut(i32) -> Fut,
        Fut: Future<Output = Result<Step<T>>>,
    {
        let mut retry = Retry::new(self, api);
        loop {
            let attempt = match self.find_group_coordinator(group).await {
                Ok(node) => call(node).await,
                Err(e) => Err(e),
            };
            match attempt {
                Ok(Step::Done(value)) => return Ok(value),
                Ok(Step::Retry(e)) => retry.wait(e).await?,
                Err(e) if e.is_retriable() => retry.wait(e).await?,
                Err(e) => return Err(e),
            }
        }
    }
}
