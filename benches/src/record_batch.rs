//! Record batch workloads shared by the criterion bench and the paired-ratio
//! bench: the same inputs for rill and for the `kafka-protocol` crate.

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use indexmap::IndexMap;
use kafka_protocol::records as kp;
use rill_protocol::compression::Compression;
use rill_protocol::records::{BatchViews, DecodeOptions, RecordBatch, RecordBatchBuilder};

use crate::payload::{json_payloads, keys};

const BASE_TIMESTAMP_MS: i64 = 1_732_406_400_000;

pub struct Input {
    keys: Vec<Bytes>,
    values: Vec<Bytes>,
}

impl Input {
    pub fn new(count: usize, size_bytes: usize) -> Self {
        Input { keys: keys(count, 42), values: json_payloads(count, size_bytes, 42) }
    }

    pub fn rill_encode(&self, compression: Compression) -> BytesMut {
        let mut b =
            RecordBatchBuilder::with_buffer(BytesMut::with_capacity(self.bytes_hint()), 0).compression(compression).producer(1000, 0, 0);
        for (i, (k, v)) in self.keys.iter().zip(&self.values).enumerate() {
            b.append(BASE_TIMESTAMP_MS + i as i64, Some(k), Some(v), &[]).expect("append");
        }
        b.finish().expect("finish")
    }

    /// As the producer encodes: values of at least `SHARE_MIN_BYTES` kept by
    /// reference in uncompressed batches, moved in as the producer's
    /// application hands them over (see [`values`](Self::values)), the
    /// batch handed back in pieces.
    pub fn rill_encode_shared(&self, values: Vec<Bytes>, compression: Compression) -> rill_protocol::records::BatchPieces {
        let mut b =
            RecordBatchBuilder::with_buffer(BytesMut::with_capacity(self.bytes_hint()), 0).compression(compression).producer(1000, 0, 0);
        for (i, (k, v)) in self.keys.iter().zip(values).enumerate() {
            b.append_shared(BASE_TIMESTAMP_MS + i as i64, Some(k), Some(v), &[]).expect("append");
        }
        b.finish_parts().expect("finish")
    }

    /// The values, to be moved into [`rill_encode_shared`](Self::rill_encode_shared).
    pub fn values(&self) -> Vec<Bytes> {
        self.values.clone()
    }

    pub fn kp_records(&self) -> Vec<kp::Record> {
        self.keys
            .iter()
            .zip(&self.values)
            .enumerate()
            .map(|(i, (k, v))| kp::Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: 0,
                producer_id: 1000,
                producer_epoch: 0,
                timestamp_type: kp::TimestampType::Creation,
                offset: i as i64,
                sequence: i as i32,
                timestamp: BASE_TIMESTAMP_MS + i as i64,
                key: Some(k.clone()),
                value: Some(v.clone()),
                headers: IndexMap::new(),
            })
            .collect()
    }

    pub fn bytes_hint(&self) -> usize {
        self.values.iter().map(|v| v.len() + 32).sum::<usize>() + 128
    }
}

pub fn kp_compression(c: Compression) -> kp::Compression {
    match c {
        Compression::None => kp::Compression::None,
        Compression::Gzip => kp::Compression::Gzip,
        Compression::Snappy => kp::Compression::Snappy,
        Compression::Lz4 => kp::Compression::Lz4,
        Compression::Zstd => kp::Compression::Zstd,
    }
}

pub fn kp_encode(records: &[kp::Record], c: Compression, capacity: usize) -> BytesMut {
    let mut buf = BytesMut::with_capacity(capacity);
    let opts = kp::RecordEncodeOptions { version: 2, compression: kp_compression(c) };
    kp::RecordBatchEncoder::encode(&mut buf, records.iter(), &opts).expect("kafka-protocol encode");
    buf
}

pub fn codec_name(c: Compression) -> &'static str {
    match c {
        Compression::None => "none",
        Compression::Gzip => "gzip",
        Compression::Snappy => "snappy",
        Compression::Lz4 => "lz4",
        Compression::Zstd => "zstd",
    }
}

/// rill's owned decode: every batch into `RecordBatch` with `Bytes` keys and values.
pub fn rill_decode_owned(encoded: &Bytes, opts: &DecodeOptions) -> Vec<RecordBatch> {
    RecordBatch::decode_all(encoded, opts).expect("rill decode")
}

/// rill's borrowed decode: the same parsing and CRC check, records handed out
/// as slices of the batch; touches every key and value.
pub fn rill_decode_view(encoded: &Bytes, opts: &DecodeOptions) -> usize {
    let mut n = 0usize;
    for view in BatchViews::new(encoded, opts) {
        let view = view.expect("rill view decode");
        for r in view.records() {
            let r = r.expect("record");
            n += r.key.map_or(0, <[u8]>::len) + r.value.map_or(0, <[u8]>::len);
        }
    }
    black_box(n)
}

/// kafka-protocol's decode of the same bytes.
pub fn kp_decode(encoded: &Bytes) -> Vec<kp::RecordSet> {
    let mut buf = encoded.clone();
    kp::RecordBatchDecoder::decode_all(&mut buf).expect("kafka-protocol decode")
}

/// Floors: the least work each goal's side of the comparison cannot skip,
/// timed against kafka-protocol like rill's rows. Their speed-up is the most
/// any implementation doing that work could show, so a goal above it is out
/// of reach by the way it is asked for, not by rill's code.
pub mod floor {
    use super::*;

    /// Where each record's key and value sit in `encoded` (an uncompressed
    /// batch), to slice them again.
    pub fn key_value_ranges(encoded: &Bytes) -> Vec<(std::ops::Range<usize>, std::ops::Range<usize>)> {
        let start = encoded.as_ptr() as usize;
        let range = |s: Option<&[u8]>| s.map_or(0..0, |s| s.as_ptr() as usize - start..s.as_ptr() as usize - start + s.len());
        let mut out = Vec::new();
        for view in BatchViews::new(encoded, &DecodeOptions::default()) {
            for r in view.expect("view").records() {
                let r = r.expect("record");
                out.push((range(r.key), range(r.value)));
            }
        }
        out
    }

    /// Owned decode of an uncompressed batch, at the least: the CRC-32C over
    /// the batch, and a `Bytes` slice of it for each key and value (what the
    /// protocol issue asks of decoded records), made and dropped. No parsing.
    pub fn owned_decode(encoded: &Bytes, ranges: &[(std::ops::Range<usize>, std::ops::Range<usize>)], out: &mut Vec<(Bytes, Bytes)>) {
        black_box(rill_protocol::crc32c(encoded.get(rill_protocol::records::ATTRIBUTES_OFFSET..).unwrap_or_default()));
        out.extend(ranges.iter().map(|(k, v)| (encoded.slice(k.clone()), encoded.slice(v.clone()))));
        black_box(&out);
        out.clear();
    }

    /// Decode of a compressed batch, at the least: decompressing its records
    /// over a buffer used again (as the consumer's pool lends them, not
    /// zero-filled again). No CRC, no parsing.
    pub fn decompress(encoded: &Bytes, codec: Compression, out: &mut Vec<u8>) {
        let records = encoded.get(rill_protocol::records::BATCH_HEADER_LEN..).unwrap_or_default();
        let n = codec.decompress_over(records, 64 << 20, "records", out).expect("decompress");
        black_box(out.get(..n));
    }

    /// Uncompressed encode, at the least: each key and value copied into a
    /// fresh buffer, and the CRC-32C over it. No record fields.
    pub fn copy_and_crc(input: &Input) -> BytesMut {
        let mut buf = BytesMut::with_capacity(input.bytes_hint());
        for (k, v) in input.keys.iter().zip(&input.values) {
            buf.extend_from_slice(k);
            buf.extend_from_slice(v);
        }
        black_box(rill_protocol::crc32c(&buf));
        buf
    }
}

/// The shapes benchmarked: (record size in bytes, records per batch, label).
pub const SHAPES: [(usize, usize, &str); 2] = [(100, 500, "100B"), (1024, 100, "1KiB")];

/// The codecs benchmarked.
pub const CODECS: [Compression; 3] = [Compression::None, Compression::Lz4, Compression::Zstd];
