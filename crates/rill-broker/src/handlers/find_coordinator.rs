//! FindCoordinator (key 10), versions 0-6.
//!
//! Key type 0 (group) or 1 (transaction); v4+ batches keys in
//! `coordinator_keys`. The coordinator is a live broker chosen by a stable
//! hash of the key (`Controller::coordinator_for`); none live is
//! COORDINATOR_NOT_AVAILABLE, another key type INVALID_REQUEST.

use rill_protocol::messages::find_coordinator_request::FindCoordinatorRequest;
use rill_protocol::messages::find_coordinator_response::{Coordinator, FindCoordinatorResponse};
use rill_protocol::{ErrorCode, VersionRange};

use crate::broker::Shared;

pub(crate) const VERSIONS: VersionRange = VersionRange::new(0, 6);

pub(crate) fn handle(shared: &Shared, version: i16, req: FindCoordinatorRequest) -> FindCoordinatorResponse {
    let find = |key: &str| -> Coordinator {
        if !matches!(req.key_type, 0 | 1) {
            return Coordinator {
                key: key.to_string(),
                node_id: -1,
                port: -1,
                error_code: ErrorCode::INVALID_REQUEST.0,
                ..Default::default()
            };
        }
        match shared.controller.coordinator_for(key) {
            Some(b) => Coordinator { key: key.to_string(), node_id: b.id, host: b.host, port: i32::from(b.port), ..Default::default() },
            None => Coordinator {
                key: key.to_string(),
                node_id: -1,
                port: -1,
                error_code: ErrorCode::COORDINATOR_NOT_AVAILABLE.0,
                ..Default::default()
            },
        }
    };
    if version >= 4 {
        return FindCoordinatorResponse { coordinators: req.coordinator_keys.iter().map(|k| find(k)).collect(), ..Default::default() };
    }
    let c = find(&req.key);
    FindCoordinatorResponse { error_code: c.error_code, node_id: c.node_id, host: c.host, port: c.port, ..Default::default() }
}

/// Refused with `code` (an injected fault): per key v4+ (KIP-699), at the
/// top level before (each shape exists only at its versions).
pub(crate) fn error_response(req: &FindCoordinatorRequest, version: i16, code: ErrorCode) -> FindCoordinatorResponse {
    if version >= 4 {
        let refused = |k: &String| Coordinator { key: k.clone(), node_id: -1, port: -1, error_code: code.0, ..Default::default() };
        return FindCoordinatorResponse { coordinators: req.coordinator_keys.iter().map(refused).collect(), ..Default::default() };
    }
    FindCoordinatorResponse { error_code: code.0, node_id: -1, port: -1, ..Default::default() }
}
