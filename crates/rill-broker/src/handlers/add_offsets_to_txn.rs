//! AddOffsetsToTxn (key 25), versions 0-4.
//!
//! Transaction coordinator only (NOT_COORDINATOR). Adds a consumer group to
//! the transaction: the offsets TxnOffsetCommit then stages for it are
//! committed with the transaction and dropped if it aborts. Producer checks
//! as AddPartitionsToTxn: INVALID_PRODUCER_ID_MAPPING, PRODUCER_FENCED
//! (INVALID_PRODUCER_EPOCH before v2), CONCURRENT_TRANSACTIONS while the
//! previous transaction's markers are being written. The transaction
//! becomes Ongoing.

use rill_protocol::messages::add_offsets_to_txn_request::AddOffsetsToTxnRequest;
use rill_protocol::messages::add_offsets_to_txn_response::AddOffsetsToTxnResponse;
use rill_protocol::{ErrorCode, VersionRange};
use tokio::time::Instant;

use crate::broker::Shared;
use crate::txn_coordinator::update_transaction;

pub(crate) const VERSIONS: VersionRange = VersionRange::new(0, 4);

pub(crate) fn handle(shared: &Shared, version: i16, req: AddOffsetsToTxnRequest) -> AddOffsetsToTxnResponse {
    let now = Instant::now();
    let result = update_transaction(shared, &req.transactional_id, req.producer_id, req.producer_epoch, version, 2, |txn| {
        txn.begin_or_continue(now)?;
        txn.groups.insert(req.group_id.clone());
        Ok(())
    });
    error_response(result.err().unwrap_or(ErrorCode::NONE))
}

/// The response with `code` (also an injected fault).
pub(crate) fn error_response(code: ErrorCode) -> AddOffsetsToTxnResponse {
    AddOffsetsToTxnResponse { error_code: code.0, ..Default::default() }
}
