//! InitProducerId (key 22), versions 0-5.
//!
//! Without a transactional id: a new producer id (cluster-wide, never
//! reused) at epoch 0; v3+ a producer presenting its id and epoch gets the
//! epoch bumped (KIP-360) so it can reset its sequences. With a
//! transactional id: only its coordinator answers (NOT_COORDINATOR); the id
//! keeps its producer id and the epoch is bumped, which fences older
//! incarnations (their batches are refused with INVALID_PRODUCER_EPOCH, and
//! their ongoing transaction is aborted, see `end_txn.rs`); an epoch at its
//! limit gets a fresh producer id. A transaction timeout above
//! `transaction.max.timeout.ms` is INVALID_TRANSACTION_TIMEOUT.

use std::time::Duration;

use rill_protocol::messages::init_producer_id_request::InitProducerIdRequest;
use rill_protocol::messages::init_producer_id_response::InitProducerIdResponse;
use rill_protocol::{ErrorCode, VersionRange};

use crate::broker::Shared;
use crate::coordinator::Transaction;

pub(crate) const VERSIONS: VersionRange = VersionRange::new(0, 5);

fn refused(code: ErrorCode) -> InitProducerIdResponse {
    InitProducerIdResponse { error_code: code.0, producer_id: -1, producer_epoch: -1, ..Default::default() }
}

pub(crate) fn handle(shared: &Shared, req: InitProducerIdRequest) -> InitProducerIdResponse {
    let store = shared.controller.coordinator_store();
    let Some(txn_id) = req.transactional_id.filter(|t| !t.is_empty()) else {
        let mut state = store.lock();
        if req.producer_id >= 0 && req.producer_epoch >= 0 && req.producer_epoch < i16::MAX - 1 {
            return InitProducerIdResponse { producer_id: req.producer_id, producer_epoch: req.producer_epoch + 1, ..Default::default() };
        }
        return InitProducerIdResponse { producer_id: state.allocate_producer_id(), producer_epoch: 0, ..Default::default() };
    };
    if let Some(code) = super::not_coordinator(shared, &txn_id) {
        return refused(code);
    }
    let timeout = Duration::from_millis(u64::try_from(req.transaction_timeout_ms).unwrap_or(0));
    if timeout > shared.config.transaction_max_timeout || req.transaction_timeout_ms <= 0 {
        return refused(ErrorCode::INVALID_TRANSACTION_TIMEOUT);
    }
    let mut state = store.lock();
    let existing = state.transactions.get(&txn_id).cloned();
    let (producer_id, producer_epoch) = match existing {
        Some(t) if req.producer_id >= 0 && (req.producer_id != t.producer_id || req.producer_epoch != t.producer_epoch) => {
            return refused(ErrorCode::PRODUCER_FENCED);
        }
        Some(t) if t.producer_epoch < i16::MAX - 1 => (t.producer_id, t.producer_epoch + 1),
        _ => (state.allocate_producer_id(), 0),
    };
    // An ongoing transaction of an older incarnation is aborted (its
    // markers are written by the EndTxn path when transactions land).
    state.transactions.insert(
        txn_id,
        Transaction {
            producer_id,
            producer_epoch,
            timeout,
            partitions: Default::default(),
            groups: Default::default(),
            pending_offsets: Default::default(),
        },
    );
    InitProducerIdResponse { producer_id, producer_epoch, ..Default::default() }
}

/// Refused with `code` (an injected fault).
pub(crate) fn error_response(code: ErrorCode) -> InitProducerIdResponse {
    refused(code)
}
