//! Control records (transaction markers and KRaft control records).
//!
//! A control batch (attribute bit 5) holds control records whose key is
//! `version: int16 (0), type: int16`. For commit/abort markers the value is
//! `version: int16 (0), coordinatorEpoch: int32`.

use bytes::{BufMut, Bytes, BytesMut};

use super::builder::RecordBatchBuilder;
use super::record::Record;
use super::RecordBatch;
use crate::error::{DecodeError, DecodeErrorKind, EncodeError};

const KEY: &str = "ControlRecord.key";
const KEY_VERSION: &str = "ControlRecord.key.version";
const VALUE: &str = "EndTxnMarker.value";
const VALUE_VERSION: &str = "EndTxnMarker.value.version";

/// Type of a control record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ControlRecordType {
    Abort,
    Commit,
    LeaderChange,
    SnapshotHeader,
    SnapshotFooter,
    KRaftVersion,
    KRaftVoters,
    Unknown(i16),
}

impl ControlRecordType {
    pub fn id(self) -> i16 {
        match self {
            ControlRecordType::Abort => 0,
            ControlRecordType::Commit => 1,
            ControlRecordType::LeaderChange => 2,
            ControlRecordType::SnapshotHeader => 3,
            ControlRecordType::SnapshotFooter => 4,
            ControlRecordType::KRaftVersion => 5,
            ControlRecordType::KRaftVoters => 6,
            ControlRecordType::Unknown(id) => id,
        }
    }

    pub fn from_id(id: i16) -> Self {
        match id {
            0 => ControlRecordType::Abort,
            1 => ControlRecordType::Commit,
            2 => ControlRecordType::LeaderChange,
            3 => ControlRecordType::SnapshotHeader,
            4 => ControlRecordType::SnapshotFooter,
            5 => ControlRecordType::KRaftVersion,
            6 => ControlRecordType::KRaftVoters,
            other => ControlRecordType::Unknown(other),
        }
    }

    /// Parses a control record key (`version` then `type`; later versions may
    /// append fields, which are ignored as Java does).
    pub fn parse_key(key: &[u8]) -> Result<(i16, ControlRecordType), DecodeError> {
        let Some(([v0, v1, t0, t1], _)) = key.split_first_chunk::<4>().map(|(a, r)| (*a, r)) else {
            return Err(DecodeError::missing(KEY, 4, key.len()));
        };
        let version = i16::from_be_bytes([v0, v1]);
        if version < 0 {
            return Err(DecodeError::new(DecodeErrorKind::InvalidValue { value: version as i64 }, KEY_VERSION));
        }
        Ok((version, ControlRecordType::from_id(i16::from_be_bytes([t0, t1]))))
    }

    /// Parses the key of a record from a control batch.
    pub fn of_record(record: &Record) -> Result<ControlRecordType, DecodeError> {
        let key = record.key.as_deref().ok_or_else(|| DecodeError::new(DecodeErrorKind::UnexpectedNull, KEY))?;
        Self::parse_key(key).map(|(_, t)| t)
    }

    /// The key bytes for this type (version 0).
    pub fn key_bytes(self) -> Bytes {
        let mut b = BytesMut::with_capacity(4);
        b.put_i16(0);
        b.put_i16(self.id());
        b.freeze()
    }
}

/// The value of a commit/abort control record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EndTxnMarker {
    pub version: i16,
    pub coordinator_epoch: i32,
}

impl EndTxnMarker {
    pub fn parse(value: &[u8]) -> Result<EndTxnMarker, DecodeError> {
        let Some(([v0, v1, e0, e1, e2, e3], _)) = value.split_first_chunk::<6>().map(|(a, r)| (*a, r)) else {
            return Err(DecodeError::missing(VALUE, 6, value.len()));
        };
        let version = i16::from_be_bytes([v0, v1]);
        if version < 0 {
            return Err(DecodeError::new(DecodeErrorKind::InvalidValue { value: version as i64 }, VALUE_VERSION));
        }
        Ok(EndTxnMarker { version, coordinator_epoch: i32::from_be_bytes([e0, e1, e2, e3]) })
    }

    pub fn value_bytes(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(6);
        b.put_i16(self.version);
        b.put_i32(self.coordinator_epoch);
        b.freeze()
    }
}

/// The type of a control batch's first record (what transaction markers
/// carry), or `None` if this is not a control batch or it has no records.
pub fn control_type(batch: &RecordBatch) -> Option<ControlRecordType> {
    if !batch.is_control() {
        return None;
    }
    batch.records.first().and_then(|r| ControlRecordType::of_record(r).ok())
}

/// Writes a transaction marker batch (what the broker writes for EndTxn /
/// WriteTxnMarkers): a transactional control batch holding one record.
pub fn end_txn_marker(
    out: BytesMut,
    base_offset: i64,
    producer_id: i64,
    producer_epoch: i16,
    commit: bool,
    coordinator_epoch: i32,
    timestamp: i64,
) -> Result<BytesMut, EncodeError> {
    let kind = if commit { ControlRecordType::Commit } else { ControlRecordType::Abort };
    let key = kind.key_bytes();
    let value = EndTxnMarker { version: 0, coordinator_epoch }.value_bytes();
    let mut b =
        RecordBatchBuilder::with_buffer(out, base_offset).transactional(true).control(true).producer(producer_id, producer_epoch, -1);
    b.append(timestamp, Some(&key), Some(&value), &[])?;
    b.finish()
}
