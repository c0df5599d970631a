//! The broker's per-request fault hook as the simulator drives it: the fault
//! schedule arms an [`Injector`] with a retriable error and a count, and the
//! broker answers that many matching requests with it, untouched
//! (`rill_broker::faults::Interceptor`).

use std::sync::Mutex;

use rill_broker::faults::{Interception, Interceptor};
use rill_client::protocol::{ApiKey, ErrorCode};

use crate::schedule::InjectedError;

/// One broker's armed error, if any.
#[derive(Debug, Default)]
pub struct Injector {
    armed: Mutex<Option<(InjectedError, u32)>>,
}

impl Injector {
    /// Answers the next `count` matching requests with `error`.
    pub fn arm(&self, error: InjectedError, count: u32) {
        *self.armed.lock().unwrap_or_else(|p| p.into_inner()) = Some((error, count));
    }
}

/// The code an injected error answers with, and whether it fits `api`
/// (a Produce can be told NOT_LEADER_OR_FOLLOWER, a JoinGroup cannot).
fn applies(error: InjectedError, api: ApiKey) -> Option<ErrorCode> {
    let coordinator_apis = [
        ApiKey::INIT_PRODUCER_ID,
        ApiKey::FIND_COORDINATOR,
        ApiKey::JOIN_GROUP,
        ApiKey::SYNC_GROUP,
        ApiKey::HEARTBEAT,
        ApiKey::OFFSET_COMMIT,
        ApiKey::OFFSET_FETCH,
    ];
    match error {
        InjectedError::NotLeaderOrFollower if api == ApiKey::PRODUCE || api == ApiKey::FETCH => Some(ErrorCode::NOT_LEADER_OR_FOLLOWER),
        InjectedError::RequestTimedOut if api == ApiKey::PRODUCE => Some(ErrorCode::REQUEST_TIMED_OUT),
        InjectedError::NotEnoughReplicas if api == ApiKey::PRODUCE => Some(ErrorCode::NOT_ENOUGH_REPLICAS),
        InjectedError::CoordinatorLoadInProgress if coordinator_apis.contains(&api) => Some(ErrorCode::COORDINATOR_LOAD_IN_PROGRESS),
        _ => None,
    }
}

impl Interceptor for Injector {
    fn intercept(&self, _node_id: i32, api_key: ApiKey, _version: i16) -> Interception {
        let mut armed = self.armed.lock().unwrap_or_else(|p| p.into_inner());
        let Some((error, count)) = *armed else { return Interception::Pass };
        let Some(code) = applies(error, api_key) else { return Interception::Pass };
        *armed = (count > 1).then(|| (error, count - 1));
        Interception::Fail(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_the_armed_count_of_matching_requests_only() {
        let injector = Injector::default();
        assert_eq!(injector.intercept(1, ApiKey::PRODUCE, 9), Interception::Pass);
        injector.arm(InjectedError::NotLeaderOrFollower, 2);
        assert_eq!(injector.intercept(1, ApiKey::METADATA, 12), Interception::Pass);
        assert_eq!(injector.intercept(1, ApiKey::PRODUCE, 9), Interception::Fail(ErrorCode::NOT_LEADER_OR_FOLLOWER));
        assert_eq!(injector.intercept(1, ApiKey::FETCH, 12), Interception::Fail(ErrorCode::NOT_LEADER_OR_FOLLOWER));
        assert_eq!(injector.intercept(1, ApiKey::PRODUCE, 9), Interception::Pass);
        injector.arm(InjectedError::CoordinatorLoadInProgress, 1);
        assert_eq!(injector.intercept(1, ApiKey::PRODUCE, 9), Interception::Pass);
        assert_eq!(injector.intercept(1, ApiKey::INIT_PRODUCER_ID, 4), Interception::Fail(ErrorCode::COORDINATOR_LOAD_IN_PROGRESS));
    }
}
