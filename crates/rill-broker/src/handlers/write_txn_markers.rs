//! WriteTxnMarkers (key 27), versions 0-1.
//!
//! Sent by a transaction coordinator to partition leaders (Kafka's
//! `TransactionMarkerChannelManager`; this broker's own coordinator sends
//! them too, see `txn_coordinator.rs`). For each marker and partition the
//! leader appends a COMMIT or ABORT control batch of the producer id and
//! epoch, carrying the coordinator epoch, and answers once the high
//! watermark covers it (as acks=all: a marker replicates and survives
//! crashes like any record, so the last stable offset it releases never
//! goes back). Per partition: not the leader is NOT_LEADER_OR_FOLLOWER, an
//! ISR below `min.insync.replicas` NOT_ENOUGH_REPLICAS, a marker older than
//! the last one written for the producer TRANSACTION_COORDINATOR_FENCED,
//! one of an older producer epoch INVALID_PRODUCER_EPOCH, no high-watermark
//! progress within `MARKER_WAIT` REQUEST_TIMED_OUT (the coordinator sends
//! it again).

use std::time::Duration;

use bytes::BytesMut;
use rill_protocol::messages::write_txn_markers_request::{WritableTxnMarker, WriteTxnMarkersRequest};
use rill_protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult, WriteTxnMarkersResponse,
};
use rill_protocol::records::control::end_txn_marker;
use rill_protocol::{ErrorCode, VersionRange};

use crate::broker::Shared;
use crate::log::split_batches;

pub(crate) const VERSIONS: VersionRange = VersionRange::new(0, 1);

/// How long a marker waits for the ISR to have it.
pub(crate) const MARKER_WAIT: Duration = Duration::from_secs(5);

pub(crate) async fn handle(shared: &Shared, req: WriteTxnMarkersRequest) -> WriteTxnMarkersResponse {
    let mut markers = Vec::with_capacity(req.markers.len());
    for marker in req.markers {
        let mut topics = Vec::with_capacity(marker.topics.len());
        for topic in &marker.topics {
            let mut partitions = Vec::with_capacity(topic.partition_indexes.len());
            for &partition in &topic.partition_indexes {
                let code = write(shared, &(topic.name.clone(), partition), &marker).await;
                partitions.push(WritableTxnMarkerPartitionResult { partition_index: partition, error_code: code.0, ..Default::default() });
            }
            topics.push(WritableTxnMarkerTopicResult { name: topic.name.clone(), partitions, ..Default::default() });
        }
        markers.push(WritableTxnMarkerResult { producer_id: marker.producer_id, topics, ..Default::default() });
    }
    WriteTxnMarkersResponse { markers, ..Default::default() }
}

/// Appends one marker to one partition this broker leads and waits for the ISR.
async fn write(shared: &Shared, tp: &(String, i32), marker: &WritableTxnMarker) -> ErrorCode {
    // No wall clock in the model: markers carry no timestamp (-1).
    let bytes = match end_txn_marker(
        BytesMut::new(),
        0,
        marker.producer_id,
        marker.producer_epoch,
        marker.transaction_result,
        marker.coordinator_epoch,
        -1,
    ) {
        Ok(b) => b.freeze(),
        Err(_) => return ErrorCode::INVALID_RECORD,
    };
    let batches = match split_batches(&bytes) {
        Ok(b) => b,
        Err(e) => return e.code,
    };
    match shared.append_as_leader(tp, batches, -1) {
        Ok(appended) => shared.wait_for_high_watermark(tp, appended.required_offset, appended.leader_epoch, MARKER_WAIT).await,
        Err(code) => code,
    }
}

/// Every partition refused with `code` (an injected fault).
pub(crate) fn error_response(req: &WriteTxnMarkersRequest, code: ErrorCode) -> WriteTxnMarkersResponse {
    WriteTxnMarkersResponse {
        markers: req
            .markers
            .iter()
            .map(|m| WritableTxnMarkerResult {
                producer_id: m.producer_id,
                topics: m
                    .topics
                    .iter()
                    .map(|t| WritableTxnMarkerTopicResult {
                        name: t.name.clone(),
                        partitions: t
                            .partition_indexes
                            .iter()
                            .map(|p| WritableTxnMarkerPartitionResult { partition_index: *p, error_code: code.0, ..Default::default() })
                            .collect(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::broker;
    use rill_protocol::messages::write_txn_markers_request::WritableTxnMarkerTopic;

    fn request(epoch: i16, coordinator_epoch: i32, commit: bool) -> WriteTxnMarkersRequest {
        WriteTxnMarkersRequest {
            markers: vec![WritableTxnMarker {
                producer_id: 7,
                producer_epoch: epoch,
                transaction_result: commit,
                coordinator_epoch,
                topics: vec![WritableTxnMarkerTopic { name: "t".into(), partition_indexes: vec![0, 9], ..Default::default() }],
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn codes(r: WriteTxnMarkersResponse) -> Vec<i16> {
        r.markers[0].topics[0].partitions.iter().map(|p| p.error_code).collect()
    }

    #[tokio::test]
    async fn markers_are_appended_and_stale_ones_fenced() {
        let b = broker();
        let s = b.shared();
        assert_eq!(codes(handle(s, request(0, 2, true)).await), vec![0, ErrorCode::UNKNOWN_TOPIC_OR_PARTITION.0]);
        assert_eq!(b.disk().log_end_offset(&("t".into(), 0)), 1, "one control batch");
        assert_eq!(codes(handle(s, request(0, 1, false)).await)[0], ErrorCode::TRANSACTION_COORDINATOR_FENCED.0);
        assert_eq!(codes(handle(s, request(1, 3, false)).await)[0], 0);
        assert_eq!(codes(handle(s, request(0, 4, true)).await)[0], ErrorCode::INVALID_PRODUCER_EPOCH.0);
    }
}
