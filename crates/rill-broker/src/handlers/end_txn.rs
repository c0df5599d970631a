//! EndTxn (key 26), versions 0-4 (v5 is KIP-890's server-side epoch bump,
//! not served).
//!
//! Transaction coordinator only (NOT_COORDINATOR). Commits or aborts the
//! ongoing transaction: it moves to PrepareCommit / PrepareAbort and the
//! answer is sent at once, as Kafka does once that state is durable; the
//! coordinator then writes the markers (`txn_coordinator.rs`) and completes
//! it. Until then the last stable offset of its partitions stays put and
//! the next AddPartitionsToTxn, AddOffsetsToTxn or InitProducerId gets
//! CONCURRENT_TRANSACTIONS. A retry of the same decision is
//! CONCURRENT_TRANSACTIONS while markers are pending and NONE once complete;
//! the other decision, or no transaction at all, is INVALID_TXN_STATE.
//! Producer checks: INVALID_PRODUCER_ID_MAPPING, PRODUCER_FENCED
//! (INVALID_PRODUCER_EPOCH before v2): a producer fenced by a newer
//! instance or by its transaction's timeout cannot end it.

use rill_protocol::messages::end_txn_request::EndTxnRequest;
use rill_protocol::messages::end_txn_response::EndTxnResponse;
use rill_protocol::{ErrorCode, VersionRange};

use crate::broker::Shared;
use crate::txn_coordinator::update_transaction;

pub(crate) const VERSIONS: VersionRange = VersionRange::new(0, 4);

pub(crate) fn handle(shared: &Shared, version: i16, req: EndTxnRequest) -> EndTxnResponse {
    let result =
        update_transaction(shared, &req.transactional_id, req.producer_id, req.producer_epoch, version, 2, |txn| txn.end(req.committed));
    error_response(result.err().unwrap_or(ErrorCode::NONE))
}

/// The response with `code` (also an injected fault).
pub(crate) fn error_response(code: ErrorCode) -> EndTxnResponse {
    EndTxnResponse { error_code: code.0, producer_id: -1, producer_epoch: -1, ..Default::default() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::{add_offsets_to_txn, add_partitions_to_txn, init_producer_id};
    use crate::test_support::broker;
    use rill_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
    use rill_protocol::messages::{AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, InitProducerIdRequest};

    fn init(s: &Shared) -> (i16, i64, i16) {
        let r = init_producer_id::handle(
            s,
            5,
            InitProducerIdRequest {
                transactional_id: Some("x".into()),
                transaction_timeout_ms: 60_000,
                producer_id: -1,
                producer_epoch: -1,
                ..Default::default()
            },
        );
        (r.error_code, r.producer_id, r.producer_epoch)
    }

    fn end(s: &Shared, version: i16, id: &str, pid: i64, epoch: i16, committed: bool) -> i16 {
        handle(
            s,
            version,
            EndTxnRequest { transactional_id: id.into(), producer_id: pid, producer_epoch: epoch, committed, ..Default::default() },
        )
        .error_code
    }

    fn add(s: &Shared, version: i16, pid: i64, epoch: i16, topics: &[(&str, i32)]) -> Vec<i16> {
        let req = AddPartitionsToTxnRequest {
            v3_and_below_transactional_id: "x".into(),
            v3_and_below_producer_id: pid,
            v3_and_below_producer_epoch: epoch,
            v3_and_below_topics: topics
                .iter()
                .map(|(t, p)| AddPartitionsToTxnTopic { name: t.to_string(), partitions: vec![*p], ..Default::default() })
                .collect(),
            ..Default::default()
        };
        let r = add_partitions_to_txn::handle(s, version, req);
        r.results_by_topic_v3_and_below.iter().flat_map(|t| t.results_by_partition.iter().map(|p| p.partition_error_code)).collect()
    }

    #[tokio::test]
    async fn coordinator_errors_follow_kafka() {
        // No background tasks run here: a Prepare phase stays until the test ends it.
        let b = broker();
        let s = b.shared();
        let (code, pid, epoch) = init(s);
        assert_eq!((code, epoch), (0, 0));
        assert_eq!(end(s, 4, "x", pid, epoch, true), ErrorCode::INVALID_TXN_STATE.0, "no transaction to end");
        assert_eq!(end(s, 4, "nope", pid, epoch, true), ErrorCode::INVALID_PRODUCER_ID_MAPPING.0);
        assert_eq!(end(s, 4, "x", pid + 1, epoch, true), ErrorCode::INVALID_PRODUCER_ID_MAPPING.0);
        assert_eq!(
            add(s, 3, pid, epoch, &[("t", 0), ("missing", 0)]),
            vec![ErrorCode::OPERATION_NOT_ATTEMPTED.0, ErrorCode::UNKNOWN_TOPIC_OR_PARTITION.0]
        );
        assert_eq!(add(s, 3, pid, epoch + 1, &[("t", 0)]), vec![ErrorCode::PRODUCER_FENCED.0]);
        assert_eq!(add(s, 1, pid, epoch + 1, &[("t", 0)]), vec![ErrorCode::INVALID_PRODUCER_EPOCH.0], "before KIP-588");
        assert_eq!(add(s, 3, pid, epoch, &[("t", 0)]), vec![0]);
        let offsets = AddOffsetsToTxnRequest {
            transactional_id: "x".into(),
            producer_id: pid,
            producer_epoch: epoch,
            group_id: "g".into(),
            ..Default::default()
        };
        assert_eq!(add_offsets_to_txn::handle(s, 3, offsets.clone()).error_code, 0);

        assert_eq!(end(s, 4, "x", pid, epoch, true), 0);
        // Markers pending: everything waits, the opposite decision is invalid.
        assert_eq!(add(s, 3, pid, epoch, &[("t", 1)]), vec![ErrorCode::CONCURRENT_TRANSACTIONS.0]);
        assert_eq!(add_offsets_to_txn::handle(s, 3, offsets).error_code, ErrorCode::CONCURRENT_TRANSACTIONS.0);
        assert_eq!(end(s, 4, "x", pid, epoch, true), ErrorCode::CONCURRENT_TRANSACTIONS.0);
        assert_eq!(end(s, 4, "x", pid, epoch, false), ErrorCode::INVALID_TXN_STATE.0);
        assert_eq!(init(s).0, ErrorCode::CONCURRENT_TRANSACTIONS.0);
        let store = s.controller.coordinator_store();
        store.lock().transactions.get_mut("x").unwrap().complete().unwrap();
        assert_eq!(end(s, 4, "x", pid, epoch, true), 0, "a retried commit of a completed transaction");

        // A new instance while a transaction is open: aborted under a bumped epoch, then the next epoch.
        assert_eq!(add(s, 3, pid, epoch, &[("t", 1)]), vec![0]);
        assert_eq!(init(s).0, ErrorCode::CONCURRENT_TRANSACTIONS.0);
        let t = store.lock().transactions["x"].clone();
        assert_eq!((t.phase, t.producer_epoch), (crate::coordinator::TxnPhase::PrepareAbort, 1));
        assert_eq!(end(s, 4, "x", pid, epoch, false), ErrorCode::PRODUCER_FENCED.0, "the old instance is fenced");
        store.lock().transactions.get_mut("x").unwrap().complete().unwrap();
        assert_eq!(init(s), (0, pid, 2));
    }
}
