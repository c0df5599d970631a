//! One handler per API key. Each file opens with the versions it serves
//! and what it does; `SUPPORTED` is what ApiVersions advertises.

pub(crate) mod api_versions;
pub(crate) mod create_topics;
pub(crate) mod fetch;
pub(crate) mod list_offsets;
pub(crate) mod metadata;
pub(crate) mod offset_for_leader_epoch;
pub(crate) mod produce;

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
];

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
        // Unreachable: the connection refuses APIs not in SUPPORTED before dispatching.
        _ => return None,
    })
}

/// The response refusing `body` with `code` everywhere (an injected fault),
/// for the APIs that have partition- or request-level error codes.
pub(crate) fn error_response(body: &RequestBody, code: ErrorCode) -> Option<ResponseBody> {
    Some(match body {
        RequestBody::Produce(r) => ResponseBody::Produce(produce::error_response(r, code)),
        RequestBody::Fetch(r) => ResponseBody::Fetch(fetch::error_response(r, code)),
        RequestBody::ListOffsets(r) => ResponseBody::ListOffsets(list_offsets::error_response(r, code)),
        RequestBody::OffsetForLeaderEpoch(r) => {
            ResponseBody::OffsetForLeaderEpoch(offset_for_leader_epoch::error_response(r, code))
        }
        _ => return None,
    })
}
