//! [`ProduceError`]: why a record was not delivered or a producer call failed.

use std::fmt;
use std::time::Duration;

use rill_protocol::ErrorCode;

use crate::error::Error;

/// Why a record was not delivered, or a producer operation failed.
///
/// `Clone`: one failure is handed to every record of a batch.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ProduceError {
    /// The client failed (connection, protocol, metadata, configuration).
    Client(Error),
    /// The partition leader answered with a non-retriable error, or retries ran out.
    Broker { topic: String, partition: i32, code: ErrorCode, message: Option<String> },
    /// The record does not fit: `limit_key` names the setting it exceeds.
    RecordTooLarge { size_bytes: usize, limit_bytes: usize, limit_key: &'static str },
    /// The broker refused a batch of one record as too large
    /// (MESSAGE_TOO_LARGE, RECORD_LIST_TOO_LARGE): the record exceeds the
    /// topic's `max.message.bytes` (broker `message.max.bytes`).
    MessageTooLarge { topic: String, partition: i32, size_bytes: usize, code: ErrorCode },
    /// The topic does not exist (or the partition is out of range).
    UnknownPartition { topic: String, partition: Option<i32>, partitions: usize },
    /// Not delivered within `delivery.timeout.ms`.
    DeliveryTimeout { topic: String, partition: i32, timeout: Duration, last_error: Option<Box<ProduceError>> },
    /// Waited `max.block.ms` for buffer memory or metadata.
    BlockTimeout { waited: Duration, what: &'static str },
    /// The broker lost records this producer had written before (an
    /// OUT_OF_ORDER_SEQUENCE_NUMBER for the next expected sequence); the
    /// producer bumped its epoch (KIP-360) and goes on with later records.
    OutOfOrderSequence { topic: String, partition: i32 },
    /// Another producer with the same `transactional.id` (or a newer epoch)
    /// took over; this producer can only be closed.
    Fenced { transactional_id: Option<String>, code: ErrorCode },
    /// The transaction was aborted before this record was sent.
    TransactionAborted,
    /// The transaction failed (`abort_transaction` lets the producer go on).
    TransactionFailed { reason: String },
    /// A transactional call was made in the wrong state (e.g. `send` before
    /// `begin_transaction`), or on a non-transactional producer.
    InvalidState { operation: &'static str, state: String },
    /// The producer was closed before the record was delivered.
    Closed,
}

impl ProduceError {
    /// The Kafka error code, when a broker gave one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ProduceError::Broker { code, .. } | ProduceError::Fenced { code, .. } | ProduceError::MessageTooLarge { code, .. } => {
                Some(*code)
            }
            ProduceError::Client(e) => e.code(),
            _ => None,
        }
    }

    /// Whether this is a zombie-fencing error (the producer is unusable).
    pub fn is_fenced(&self) -> bool {
        matches!(self, ProduceError::Fenced { .. })
    }
}

impl fmt::Display for ProduceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProduceError::Client(e) => write!(f, "{e}"),
            ProduceError::Broker { topic, partition, code, message } => {
                write!(f, "producing to {topic}-{partition}: {code}")?;
                if let Some(m) = message.as_deref().filter(|m| !m.is_empty()) {
                    write!(f, " ({})", crate::error::peer_text(m))?;
                }
                Ok(())
            }
            ProduceError::RecordTooLarge { size_bytes, limit_bytes, limit_key } => write!(
                f,
                "the record is {size_bytes} bytes, more than {limit_key} ({limit_bytes} bytes); raise {limit_key} or send smaller records"
            ),
            ProduceError::MessageTooLarge { topic, partition, size_bytes, code } => write!(
                f,
                "{topic}-{partition}: the broker refused a record of {size_bytes} bytes (as a batch) with {code}: it exceeds the \
                 topic's max.message.bytes (broker message.max.bytes); raise that, or send smaller records \
                 (max.request.size bounds what the producer sends)"
            ),
            ProduceError::UnknownPartition { topic, partition: Some(p), partitions } => {
                write!(f, "topic {topic} has {partitions} partitions; partition {p} does not exist")
            }
            ProduceError::UnknownPartition { topic, partition: None, .. } => {
                write!(
                    f,
                    "topic {topic} does not exist (UNKNOWN_TOPIC_OR_PARTITION until max.block.ms); create it, or let the \
                     brokers create topics on first use (auto.create.topics.enable)"
                )
            }
            ProduceError::DeliveryTimeout { topic, partition, timeout, last_error } => {
                write!(f, "record for {topic}-{partition} not delivered within delivery.timeout.ms ({timeout:?})")?;
                if let Some(e) = last_error {
                    write!(f, "; last error: {e}")?;
                }
                Ok(())
            }
            ProduceError::BlockTimeout { waited, what } => {
                write!(f, "waited max.block.ms ({waited:?}) for {what}")
            }
            ProduceError::OutOfOrderSequence { topic, partition } => write!(
                f,
                "{topic}-{partition}: OUT_OF_ORDER_SEQUENCE_NUMBER: the broker lost earlier records of this producer; \
                 the producer bumped its epoch and continues"
            ),
            ProduceError::Fenced { transactional_id, code } => {
                write!(f, "producer fenced ({code})")?;
                if let Some(id) = transactional_id {
                    write!(f, ": another producer with transactional.id `{id}` was initialized")?;
                }
                write!(f, "; this producer can only be closed")
            }
            ProduceError::TransactionAborted => f.write_str("the transaction was aborted before the record was sent"),
            ProduceError::TransactionFailed { reason } => {
                write!(f, "the transaction failed and must be aborted: {reason}")
            }
            ProduceError::InvalidState { operation, state } => {
                write!(f, "{operation} is not allowed now: {state}")
            }
            ProduceError::Closed => f.write_str("the producer was closed"),
        }
    }
}

impl std::error::Error for ProduceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ProduceError::Client(e) => Some(e),
            ProduceError::DeliveryTimeout { last_error: Some(e), .. } => Some(e.as_ref()),
            _ => None,
        }
    }
}

impl From<Error> for ProduceError {
    fn from(e: Error) -> Self {
        ProduceError::Client(e)
    }
}

impl From<crate::config::ConfigError> for ProduceError {
    fn from(e: crate::config::ConfigError) -> Self {
        ProduceError::Client(Error::Config(e))
    }
}
