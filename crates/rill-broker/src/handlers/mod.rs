//! One handler per API key. Each file opens with the versions it serves
//! and what it does; `SUPPORTED` is what ApiVersions advertises.

pub(crate) mod add_offsets_to_txn;
pub(crate) mod add_partitions_to_txn;
pub(crate) mod api_versions;
pub(crate) mod create_topics;
pub(crate) mod end_txn;
pub(crate) mod fetch;
pub(crate) mod find_coordinator;
pub(crate) mod heartbeat;
pub(crate) mod init_producer_id;
pub(crate) mod join_group;
pub(crate) mod leave_group;
pub(crate) mod list_offsets;
pub(crate) mod metadata;
pub(crate) mod offset_commit;
pub(crate) mod offset_fetch;
pub(crate) mod offset_for_leader_epoch;
pub(crate) mod produce;
pub(crate) mod sync_group;
pub(crate) mod txn_offset_commit;
pub(crate) mod write_txn_markers;

use rill_protocol::messages::{RequestBody, RequestHeader, ResponseBody};
use rill_protocol::{ApiKey, ErrorCode, VersionRange};

use crate::broker::Shared;

/// The APIs and versions this broker serves.
pub(crate) const SUPPORTED: &[(ApiKey, VersionRange)] = &[
    (ApiKey::PRODUCE, produce::VERSIONS),
    (ApiKey::FETCH, fetch::VERSIONS),
    (ApiKey::LIST_OFFSETS, list_offsets::VERSIONS),
    (ApiKey::METADATA, metadata::VERSIONS),
    (ApiKey::API_VERSIONS, api_versions::VERSIONS),
    (ApiKey::CREATE_TOPICS, create_topics::VERSIONS),
    (ApiKey::OFFSET_FOR_LEADER_EPOCH, offset_for_leader_epoch::VERSIONS),
    (ApiKey::FIND_COORDINATOR, find_coordinator::VERSIONS),
    (ApiKey::JOIN_GROUP, join_group::VERSIONS),
    (ApiKey::SYNC_GROUP, sync_group::VERSIONS),
    (ApiKey::HEARTBEAT, heartbeat::VERSIONS),
    (ApiKey::LEAVE_GROUP, leave_group::VERSIONS),
    (ApiKey::OFFSET_COMMIT, offset_commit::VERSIONS),
    (ApiKey::OFFSET_FETCH, offset_fetch::VERSIONS),
    (ApiKey::INIT_PRODUCER_ID, init_producer_id::VERSIONS),
    (ApiKey::ADD_PARTITIONS_TO_TXN, add_partitions_to_txn::VERSIONS),
    (ApiKey::ADD_OFFSETS_TO_TXN, add_offsets_to_txn::VERSIONS),
    (ApiKey::END_TXN, end_txn::VERSIONS),
    (ApiKey::WRITE_TXN_MARKERS, write_txn_markers::VERSIONS),
    (ApiKey::TXN_OFFSET_COMMIT, txn_offset_commit::VERSIONS),
];

/// NOT_COORDINATOR unless this broker coordinates `key`
/// (COORDINATOR_NOT_AVAILABLE when no broker is live).
pub(crate) fn not_coordinator(shared: &Shared, key: &str) -> Option<ErrorCode> {
    match shared.controller.coordinator_for(key) {
        Some(b) if b.id == shared.me() => None,
        Some(_) => Some(ErrorCode::NOT_COORDINATOR),
        None => Some(ErrorCode::COORDINATOR_NOT_AVAILABLE),
    }
}

pub(crate) fn supported(key: ApiKey) -> Option<VersionRange> {
    SUPPORTED.iter().find(|(k, _)| *k == key).map(|(_, r)| *r)
}

/// Handles a decoded request; `None` when no response is sent (acks=0 produce).
pub(crate) async fn dispatch(shared: &Shared, header: &RequestHeader, body: RequestBody) -> Option<ResponseBody> {
    let version = header.request_api_version;
    Some(match body {
        RequestBody::ApiVersions(_) => ResponseBody::ApiVersions(api_versions::handle()),
        RequestBody::Metadata(r) => ResponseBody::Metadata(metadata::handle(shared, version, r)),
        RequestBody::CreateTopics(r) => ResponseBody::CreateTopics(create_topics::handle(shared, r)),
        RequestBody::Produce(r) => return produce::handle(shared, version, r).await.map(ResponseBody::Produce),
        RequestBody::Fetch(r) => ResponseBody::Fetch(fetch::handle(shared, version, r).await),
        RequestBody::ListOffsets(r) => ResponseBody::ListOffsets(list_offsets::handle(shared, version, r)),
        RequestBody::OffsetForLeaderEpoch(r) => ResponseBody::OffsetForLeaderEpoch(offset_for_leader_epoch::handle(shared, r)),
        RequestBody::FindCoordinator(r) => ResponseBody::FindCoordinator(find_coordinator::handle(shared, version, r)),
        RequestBody::JoinGroup(r) => {
            let client_id = header.client_id.as_deref().unwrap_or("member");
            ResponseBody::JoinGroup(join_group::handle(shared, version, client_id, r).await)
        }
        RequestBody::SyncGroup(r) => ResponseBody::SyncGroup(sync_group::handle(shared, r).await),
        RequestBody::Heartbeat(r) => ResponseBody::Heartbeat(heartbeat::handle(shared, r)),
        RequestBody::LeaveGroup(r) => ResponseBody::LeaveGroup(leave_group::handle(shared, version, r)),
        RequestBody::OffsetCommit(r) => ResponseBody::OffsetCommit(offset_commit::handle(shared, r)),
        RequestBody::OffsetFetch(r) => ResponseBody::OffsetFetch(offset_fetch::handle(shared, version, r)),
        RequestBody::InitProducerId(r) => ResponseBody::InitProducerId(init_producer_id::handle(shared, version, r)),
        RequestBody::AddPartitionsToTxn(r) => ResponseBody::AddPartitionsToTxn(add_partitions_to_txn::handle(shared, version, r)),
        RequestBody::AddOffsetsToTxn(r) => ResponseBody::AddOffsetsToTxn(add_offsets_to_txn::handle(shared, version, r)),
        RequestBody::EndTxn(r) => ResponseBody::EndTxn(end_txn::handle(shared, version, r)),
        RequestBody::WriteTxnMarkers(r) => ResponseBody::WriteTxnMarkers(write_txn_markers::handle(shared, r).await),
        RequestBody::TxnOffsetCommit(r) => ResponseBody::TxnOffsetCommit(txn_offset_commit::handle(shared, version, r)),
        // Unreachable: the connection refuses APIs not in SUPPORTED before dispatching.
        _ => return None,
    })
}

/// The response refusing `body` with `code` everywhere (an injected fault),
/// for the APIs that have partition- or request-level error codes.
pub(crate) fn error_response(body: &RequestBody, version: i16, code: ErrorCode) -> Option<ResponseBody> {
    Some(match body {
        RequestBody::Produce(r) => ResponseBody::Produce(produce::error_response(r, code)),
        RequestBody::Fetch(r) => ResponseBody::Fetch(fetch::error_response(r, code)),
        RequestBody::ListOffsets(r) => ResponseBody::ListOffsets(list_offsets::error_response(r, code)),
        RequestBody::OffsetForLeaderEpoch(r) => ResponseBody::OffsetForLeaderEpoch(offset_for_leader_epoch::error_response(r, code)),
        RequestBody::FindCoordinator(r) => ResponseBody::FindCoordinator(find_coordinator::error_response(r, version, code)),
        RequestBody::JoinGroup(_) => ResponseBody::JoinGroup(rill_protocol::messages::JoinGroupResponse {
            error_code: code.0,
            generation_id: -1,
            ..Default::default()
        }),
        RequestBody::SyncGroup(_) => {
            ResponseBody::SyncGroup(rill_protocol::messages::SyncGroupResponse { error_code: code.0, ..Default::default() })
        }
        RequestBody::Heartbeat(_) => {
            ResponseBody::Heartbeat(rill_protocol::messages::HeartbeatResponse { error_code: code.0, ..Default::default() })
        }
        RequestBody::OffsetCommit(r) => ResponseBody::OffsetCommit(offset_commit::error_response(r, code)),
        RequestBody::InitProducerId(_) => ResponseBody::InitProducerId(init_producer_id::error_response(code)),
        RequestBody::AddPartitionsToTxn(r) => ResponseBody::AddPartitionsToTxn(add_partitions_to_txn::error_response(r, code)),
        RequestBody::AddOffsetsToTxn(_) => ResponseBody::AddOffsetsToTxn(add_offsets_to_txn::error_response(code)),
        RequestBody::EndTxn(_) => ResponseBody::EndTxn(end_txn::error_response(code)),
        RequestBody::WriteTxnMarkers(r) => ResponseBody::WriteTxnMarkers(write_txn_markers::error_response(r, code)),
        RequestBody::TxnOffsetCommit(r) => ResponseBody::TxnOffsetCommit(txn_offset_commit::error_response(r, code)),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use rill_protocol::messages::{RequestBody, ResponseBody};
    use rill_protocol::ErrorCode;

    use super::{error_response, SUPPORTED};

    /// Every injected error response encodes at every version the broker
    /// serves: a field set outside its versions fails the encode and closes
    /// the connection instead of answering (the simulator saw FindCoordinator
    /// v6 answered with the v0-3 top-level error code).
    #[test]
    fn injected_errors_encode_at_every_served_version() {
        let requests = [
            RequestBody::Produce(Default::default()),
            RequestBody::Fetch(Default::default()),
            RequestBody::ListOffsets(Default::default()),
            RequestBody::OffsetForLeaderEpoch(Default::default()),
            RequestBody::FindCoordinator(Default::default()),
            RequestBody::FindCoordinator(rill_protocol::messages::FindCoordinatorRequest {
                key: "g".into(),
                coordinator_keys: vec!["g".into()],
                ..Default::default()
            }),
            RequestBody::JoinGroup(Default::default()),
            RequestBody::SyncGroup(Default::default()),
            RequestBody::Heartbeat(Default::default()),
            RequestBody::OffsetCommit(Default::default()),
            RequestBody::InitProducerId(Default::default()),
            RequestBody::AddPartitionsToTxn(Default::default()),
            RequestBody::AddOffsetsToTxn(Default::default()),
            RequestBody::EndTxn(Default::default()),
            RequestBody::WriteTxnMarkers(Default::default()),
            RequestBody::TxnOffsetCommit(Default::default()),
        ];
        for body in &requests {
            let (_, versions) = SUPPORTED.iter().find(|(k, _)| *k == body.api_key()).expect("a served API");
            for version in versions.min..=versions.max {
                let response: ResponseBody =
                    error_response(body, version, ErrorCode::COORDINATOR_LOAD_IN_PROGRESS).expect("an error shape");
                let mut buf = BytesMut::new();
                if let Err(e) = response.encode(&mut buf, version) {
                    panic!("{:?} v{version}: {e}", body.api_key());
                }
            }
        }
    }
}
