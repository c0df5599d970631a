//! AddPartitionsToTxn (key 24), versions 0-3 (v4+ is the batched
//! broker-to-broker form of KIP-890, not served).
//!
//! Transaction coordinator only (NOT_COORDINATOR). The transactional id
//! must have a producer id from InitProducerId (INVALID_PRODUCER_ID_MAPPING
//! otherwise, or for another producer id) at the current epoch (an older
//! one is PRODUCER_FENCED, INVALID_PRODUCER_EPOCH before v2, KIP-588).
//! While the previous transaction's markers are being written the answer
//! is CONCURRENT_TRANSACTIONS (the client retries). A partition that does
//! not exist is UNKNOWN_TOPIC_OR_PARTITION and the others of the request
//! OPERATION_NOT_ATTEMPTED; otherwise every partition joins the
//! transaction, which becomes Ongoing (its timeout starts with the first).
//! Every error is reported on every partition.

use std::collections::BTreeSet;

use rill_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnRequest;
use rill_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResponse, AddPartitionsToTxnTopicResult,
};
use rill_protocol::{ErrorCode, VersionRange};
use tokio::time::Instant;

use crate::broker::Shared;
use crate::txn_coordinator::update_transaction;

pub(crate) const VERSIONS: VersionRange = VersionRange::new(0, 3);

pub(crate) fn handle(shared: &Shared, version: i16, req: AddPartitionsToTxnRequest) -> AddPartitionsToTxnResponse {
    // Borrowed and looked up in a set: a request is up to a frame of
    // 4-byte partition entries, and a name cloned per entry or a list
    // scanned per entry made one request cost memory by the name's length
    // times the entries, or time by the entries squared.
    let partitions: BTreeSet<(&str, i32)> =
        req.v3_and_below_topics.iter().flat_map(|t| t.partitions.iter().map(|p| (t.name.as_str(), *p))).collect();
    let unknown: BTreeSet<(&str, i32)> = partitions.iter().copied().filter(|(t, p)| shared.controller.partition(t, *p).is_none()).collect();
    let code_of = |tp: (&str, i32), overall: ErrorCode| -> ErrorCode {
        if overall == ErrorCode::UNKNOWN_TOPIC_OR_PARTITION && !unknown.contains(&tp) {
            ErrorCode::OPERATION_NOT_ATTEMPTED
        } else {
            overall
        }
    };
    let overall = if unknown.is_empty() {
        let now = Instant::now();
        update_transaction(
            shared,
            &req.v3_and_below_transactional_id,
            req.v3_and_below_producer_id,
            req.v3_and_below_producer_epoch,
            version,
            2,
            |txn| {
                txn.begin_or_continue(now)?;
                txn.partitions.extend(partitions.iter().map(|(t, p)| (t.to_string(), *p)));
                Ok(())
            },
        )
        .err()
        .unwrap_or(ErrorCode::NONE)
    } else {
        ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
    };
    respond(&req, |tp| code_of(tp, overall))
}

fn respond(req: &AddPartitionsToTxnRequest, code: impl Fn((&str, i32)) -> ErrorCode) -> AddPartitionsToTxnResponse {
    AddPartitionsToTxnResponse {
        results_by_topic_v3_and_below: req
            .v3_and_below_topics
            .iter()
            .map(|t| AddPartitionsToTxnTopicResult {
                name: t.name.clone(),
                results_by_partition: t
                    .partitions
                    .iter()
                    .map(|p| AddPartitionsToTxnPartitionResult {
                        partition_index: *p,
                        partition_error_code: code((t.name.as_str(), *p)).0,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

/// Every partition refused with `code` (an injected fault).
pub(crate) fn error_response(req: &AddPartitionsToTxnRequest, code: ErrorCode) -> AddPartitionsToTxnResponse {
    respond(req, |_| code)
}
