//! InitProducerId (key 22), versions 0-5.
//!
//! Without a transactional id: a new producer id (cluster-wide, never
//! reused) at epoch 0; v3+ a producer presenting its id and epoch gets the
//! epoch bumped (KIP-360) so it can reset its sequences. With a
//! transactional id: only its transaction coordinator answers
//! (NOT_COORDINATOR; FindCoordinator key type 1 names it). A new id gets a
//! producer id at epoch 0. A known one keeps its producer id and the epoch
//! is bumped, which fences older instances: their requests get
//! PRODUCER_FENCED and their batches INVALID_PRODUCER_EPOCH. If the old
//! instance left a transaction open, it is aborted first (epoch bumped,
//! PrepareAbort) and the answer is CONCURRENT_TRANSACTIONS, as while any
//! transaction's markers are pending: the client retries and gets the next
//! epoch once the abort completed. v3+ with a producer id and epoch
//! (KIP-360, a producer bumping its own epoch after an abort): they must be
//! the current ones (else PRODUCER_FENCED, INVALID_PRODUCER_EPOCH before
//! v4). An epoch at its limit gets a fresh producer id. A transaction
//! timeout above `transaction.max.timeout.ms` (or not positive) is
//! INVALID_TRANSACTION_TIMEOUT.

use std::time::Duration;

use rill_protocol::messages::init_producer_id_request::InitProducerIdRequest;
use rill_protocol::messages::init_producer_id_response::InitProducerIdResponse;
use rill_protocol::{ErrorCode, VersionRange};

use crate::broker::Shared;
use crate::coordinator::{Transaction, TxnPhase};
use crate::txn_state::fenced_code;

pub(crate) const VERSIONS: VersionRange = VersionRange::new(0, 5);

fn refused(code: ErrorCode) -> InitProducerIdResponse {
    InitProducerIdResponse { error_code: code.0, producer_id: -1, producer_epoch: -1, ..Default::default() }
}

pub(crate) fn handle(shared: &Shared, version: i16, req: InitProducerIdRequest) -> InitProducerIdResponse {
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
    let (reply, changed) = {
        let mut state = store.lock();
        let state = &mut *state;
        let allocated = state.next_producer_id;
        let reply = match state.transactions.get_mut(&txn_id) {
            None => {
                state.transactions.insert(txn_id, Transaction::new(allocated, 0, timeout));
                Ok((allocated, 0))
            }
            Some(t) if req.producer_id >= 0 && (req.producer_id != t.producer_id || req.producer_epoch != t.producer_epoch) => {
                Err(fenced_code(ErrorCode::PRODUCER_FENCED, version, 4))
            }
            Some(t) if t.is_pending() => Err(ErrorCode::CONCURRENT_TRANSACTIONS),
            Some(t) if t.phase == TxnPhase::Ongoing => {
                // The old instance's transaction is aborted under a bumped epoch.
                t.fence();
                Err(ErrorCode::CONCURRENT_TRANSACTIONS)
            }
            Some(t) => {
                if t.producer_epoch >= i16::MAX - 1 {
                    *t = Transaction::new(allocated, 0, timeout);
                } else {
                    t.producer_epoch += 1;
                    t.phase = TxnPhase::Empty;
                    t.timeout = timeout;
                }
                Ok((t.producer_id, t.producer_epoch))
            }
        };
        if matches!(reply, Ok((id, _)) if id == allocated) {
            state.allocate_producer_id();
        }
        (reply, !matches!(reply, Err(ErrorCode::PRODUCER_FENCED | ErrorCode::INVALID_PRODUCER_EPOCH)))
    };
    if changed {
        store.bump();
    }
    match reply {
        Ok((producer_id, producer_epoch)) => InitProducerIdResponse { producer_id, producer_epoch, ..Default::default() },
        Err(code) => refused(code),
    }
}

/// Refused with `code` (an injected fault).
pub(crate) fn error_response(code: ErrorCode) -> InitProducerIdResponse {
    refused(code)
}
