//! Produce requests with their record sets by reference.
//!
//! The generated [`ProduceRequest`] encoder copies every record set into the
//! frame, though a producer's batches are encoded already, and those whose
//! values [`RecordBatchBuilder::append_shared`] kept by reference are not
//! even in one buffer: copying them would undo what keeping the values
//! saved (a copy of each value into fresh memory).
//! [`ProduceFrame::encode`] writes the same bytes as `encode_request` with a
//! `ProduceRequest` (a test compares them at every version), but as
//! [`FrameParts`]: the fields it encodes, and the record sets' pieces
//! themselves.
//!
//! Unknown tagged fields are not carried: a producer has none to send.
//!
//! [`RecordBatchBuilder::append_shared`]: crate::records::RecordBatchBuilder::append_shared

use std::sync::Arc;

use bytes::BufMut;

use crate::api_key::ApiKey;
use crate::codec::Writer;
use crate::error::EncodeError;
use crate::frame_parts::{FrameParts, PartsWriter, SPLICE_MIN_BYTES};
use crate::message::support::{count_len, put_count, Codec};
use crate::message::Message;
use crate::messages::{ProduceRequest, RequestHeader};
use crate::records::BatchPieces;

mod field {
    pub const TRANSACTIONAL_ID: &str = "ProduceRequest.transactional_id";
    pub const TOPIC_DATA: &str = "ProduceRequest.topic_data";
    pub const NAME: &str = "ProduceRequest.topic_data.name";
    pub const PARTITION_DATA: &str = "ProduceRequest.topic_data.partition_data";
    pub const RECORDS: &str = "ProduceRequest.topic_data.partition_data.records";
    pub const FRAME: &str = "frame.size";
}

/// A Produce request whose record sets are sequences of buffers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProduceFrame {
    /// Versions 3+.
    pub transactional_id: Option<String>,
    pub acks: i16,
    pub timeout_ms: i32,
    pub topics: Vec<ProduceTopic>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProduceTopic {
    pub name: String,
    pub partitions: Vec<ProducePartition>,
}

/// One partition's record set: its batches, one after the other.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProducePartition {
    pub index: i32,
    pub records: Vec<Arc<BatchPieces>>,
}

impl ProducePartition {
    /// Bytes of the record set.
    pub fn records_len(&self) -> usize {
        self.records.iter().map(|b| b.len()).sum()
    }
}

impl ProduceFrame {
    /// The whole frame: size prefix, request header (`header`'s API key and
    /// version are written as given: set them to Produce and `version`), body.
    pub fn encode(&self, header: &RequestHeader, version: i16) -> Result<FrameParts, EncodeError> {
        if !ProduceRequest::VERSIONS.contains(version) {
            return Err(EncodeError::UnsupportedVersion { api: ProduceRequest::NAME, version });
        }
        if version < 3 && self.transactional_id.is_some() {
            return Err(EncodeError::FieldNotInVersion { field: field::TRANSACTIONAL_ID, version });
        }
        let flex = ProduceRequest::is_flexible(version);
        let header_version = ApiKey::PRODUCE.request_header_version(version);
        let (fields_len, records_len) = self.body_len(version, flex)?;
        let len = header.encoded_len(header_version)? + fields_len + records_len;
        let size = i32::try_from(len).map_err(|_| EncodeError::TooLong { field: field::FRAME, length: len })?;

        // Pieces too short to be referred to are copied in with the fields.
        let copied: usize = self
            .topics
            .iter()
            .flat_map(|t| &t.partitions)
            .flat_map(|p| &p.records)
            .filter(|batch| batch.len() < SPLICE_MIN_BYTES)
            .map(|batch| batch.len())
            .sum();
        let mut w = PartsWriter::with_capacity(4 + len - records_len + copied);
        w.head().put_i32(size);
        header.encode(w.head(), header_version)?;
        if version >= 3 {
            self.transactional_id.enc(w.head(), version, flex, field::TRANSACTIONAL_ID)?;
        }
        w.head().put_i16(self.acks);
        w.head().put_i32(self.timeout_ms);
        put_count(w.head(), self.topics.len(), flex, field::TOPIC_DATA)?;
        for topic in &self.topics {
            topic.name.enc(w.head(), version, flex, field::NAME)?;
            put_count(w.head(), topic.partitions.len(), flex, field::PARTITION_DATA)?;
            for partition in &topic.partitions {
                w.head().put_i32(partition.index);
                let records_len = partition.records_len();
                if flex {
                    w.head().put_uvarint(records_len as u64 + 1);
                } else {
                    w.head().put_i32(records_prefix(records_len)?);
                }
                for batch in &partition.records {
                    w.splice_batch(batch);
                }
                if flex {
                    w.head().put_uvarint(0); // the partition's tagged fields
                }
            }
            if flex {
                w.head().put_uvarint(0); // the topic's
            }
        }
        if flex {
            w.head().put_uvarint(0); // the request's
        }
        Ok(w.finish())
    }

    /// Bytes of the body apart from the record sets, and of the record sets.
    fn body_len(&self, version: i16, flex: bool) -> Result<(usize, usize), EncodeError> {
        let tags = usize::from(flex);
        let mut fields = 2 + 4 + count_len(self.topics.len(), flex) + tags;
        if version >= 3 {
            fields += self.transactional_id.enc_len(version, flex, field::TRANSACTIONAL_ID)?;
        }
        let mut records = 0usize;
        for topic in &self.topics {
            fields += topic.name.enc_len(version, flex, field::NAME)? + count_len(topic.partitions.len(), flex) + tags;
            for partition in &topic.partitions {
                let len = partition.records_len();
                records_prefix(len)?;
                fields += 4 + if flex { crate::codec::uvarint_len(len as u64 + 1) } else { 4 } + tags;
                records += len;
            }
        }
        Ok((fields, records))
    }
}

fn records_prefix(len: usize) -> Result<i32, EncodeError> {
    // COMPACT_BYTES carries len + 1, so the longest is one short of i32::MAX.
    i32::try_from(len).ok().filter(|&n| n < i32::MAX).ok_or(EncodeError::TooLong { field: field::RECORDS, length: len })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::arbitrary::{Gen, Random};
    use crate::message::encode_request;
    use proptest::prelude::*;

    /// The request as the generated code sees it (record sets contiguous).
    fn as_request(frame: &ProduceFrame) -> ProduceRequest {
        use crate::messages::produce_request::{PartitionProduceData, TopicProduceData};
        ProduceRequest {
            transactional_id: frame.transactional_id.clone(),
            acks: frame.acks,
            timeout_ms: frame.timeout_ms,
            topic_data: frame
                .topics
                .iter()
                .map(|t| TopicProduceData {
                    name: t.name.clone(),
                    partition_data: t
                        .partitions
                        .iter()
                        .map(|p| PartitionProduceData {
                            index: p.index,
                            records: Some(p.records.iter().map(|b| b.to_contiguous()).flat_map(|b| b.to_vec()).collect::<Vec<u8>>().into()),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    /// A random request's fields, its record sets cut into pieces of
    /// random sizes (some past the splice threshold).
    fn frame_from(seed: u64, version: i16) -> ProduceFrame {
        let mut g = Gen::new(seed);
        let request = ProduceRequest::random(&mut g, version, ProduceRequest::is_flexible(version));
        let mut cut = seed;
        let mut next = move |n: usize| {
            cut = cut.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (cut >> 33) as usize % n.max(1)
        };
        ProduceFrame {
            transactional_id: request.transactional_id,
            acks: request.acks,
            timeout_ms: request.timeout_ms,
            topics: request
                .topic_data
                .into_iter()
                .map(|t| ProduceTopic {
                    name: t.name,
                    partitions: t
                        .partition_data
                        .into_iter()
                        .map(|p| {
                            // The record bytes as a batch of pieces: runs
                            // taken out as values (some past the splice
                            // threshold) between written runs.
                            let bytes = p.records.unwrap_or_default();
                            let mut written = Vec::new();
                            let mut values = Vec::new();
                            let mut at = 0;
                            while at < bytes.len() {
                                let longest = if next(2) == 0 { 40 } else { 1200 };
                                let run = (1 + next(longest)).min(bytes.len() - at);
                                if next(2) == 0 {
                                    written.extend_from_slice(&bytes[at..at + run]);
                                } else {
                                    values.push((written.len(), bytes.slice(at..at + run)));
                                }
                                at += run;
                            }
                            let batches = next(3);
                            let records = (0..batches)
                                .map(|i| {
                                    let pieces = if i == 0 {
                                        BatchPieces::new(written.clone().into(), values.clone(), 0)
                                    } else {
                                        BatchPieces::from(bytes::Bytes::from(vec![i as u8; next(700)]))
                                    };
                                    Arc::new(pieces)
                                })
                                .collect();
                            ProducePartition { index: p.index, records }
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    proptest! {
        // The same bytes as the generated encoder, at every version.
        #[test]
        fn writes_what_the_generated_encoder_writes(seed in any::<u64>(), version in 0i16..=11) {
            let mut frame = frame_from(seed, version);
            if version < 3 {
                frame.transactional_id = None;
            }
            let header = RequestHeader {
                request_api_key: ApiKey::PRODUCE.0,
                request_api_version: version,
                correlation_id: 7,
                client_id: Some("rill".into()),
                ..Default::default()
            };
            let ours = frame.encode(&header, version).expect("encode");
            let theirs = encode_request(&header, &as_request(&frame), version).expect("generated encode");
            prop_assert_eq!(ours.len(), theirs.len());
            prop_assert_eq!(ours.to_contiguous(), theirs.freeze());
        }
    }

    #[test]
    fn long_record_sets_are_not_copied() {
        let bytes = bytes::Bytes::from(vec![3u8; 4096]);
        let batch = Arc::new(BatchPieces::from(bytes.clone()));
        let frame = ProduceFrame {
            acks: -1,
            timeout_ms: 30_000,
            topics: vec![ProduceTopic { name: "t".into(), partitions: vec![ProducePartition { index: 0, records: vec![batch.clone()] }] }],
            ..Default::default()
        };
        let header = RequestHeader { request_api_key: 0, request_api_version: 9, ..Default::default() };
        let parts = frame.encode(&header, 9).expect("encode");
        assert!(parts.slices().any(|p| p.as_ptr() == bytes.as_ptr() && p.len() == bytes.len()));
    }

    #[test]
    fn a_transactional_id_before_version_3_is_refused() {
        let frame = ProduceFrame { transactional_id: Some("tx".into()), ..Default::default() };
        let header = RequestHeader::default();
        assert!(matches!(frame.encode(&header, 2), Err(EncodeError::FieldNotInVersion { .. })));
        assert!(matches!(frame.encode(&header, 12), Err(EncodeError::UnsupportedVersion { .. })));
    }
}
