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

    /// Whether `encoded` holds these records (keys, values, timestamps and
    /// offsets, with [`rill_encode`](Self::rill_encode)'s producer fields)
    /// and nothing else, as rill and kafka-protocol both read it.
    pub fn check_holds(&self, encoded: &Bytes) -> Result<(), String> {
        let batches = RecordBatch::decode_all(encoded, &DecodeOptions::default()).map_err(|e| e.to_string())?;
        let mut records = batches.iter().flat_map(|b| b.iter().map(move |r| (b, r)));
        for (i, (k, v)) in self.keys.iter().zip(&self.values).enumerate() {
            let (b, (offset, timestamp, r)) = records.next().ok_or_else(|| format!("{} records, {} expected", i, self.keys.len()))?;
            let want = (i as i64, BASE_TIMESTAMP_MS + i as i64, Some(k), Some(v), 1000, 0);
            let got = (offset, timestamp, r.key.as_ref(), r.value.as_ref(), b.producer_id, b.producer_epoch);
            if got != want {
                // Lengths, not the payloads: a record is a kilobyte of JSON.
                let show = |(o, t, k, v, p, e): (i64, i64, Option<&Bytes>, Option<&Bytes>, i64, i16)| {
                    format!(
                        "offset {o}, timestamp {t}, key {:?} bytes, value {:?} bytes, producer {p} epoch {e}",
                        k.map(|k| k.len()),
                        v.map(|v| v.len())
                    )
                };
                let same = if show(got) == show(want) { " (same lengths, other bytes)" } else { "" };
                return Err(format!("record {i} differs: {}, expected {}{same}", show(got), show(want)));
            }
        }
        if records.next().is_some() {
            return Err(format!("more than the {} records expected", self.keys.len()));
        }
        let theirs: usize = kp_decode(encoded).iter().map(|set| set.records.len()).sum();
        if theirs != self.keys.len() {
            return Err(format!("kafka-protocol reads {theirs} records, {} expected", self.keys.len()));
        }
        Ok(())
    }
}

/// The benchmark's records of a shape (`SHAPES`' label) as Apache Kafka's
/// Java code writes them with `codec` (MemoryRecordsBuilder, lz4 through
/// lz4-java and zstd through zstd-jni at their default levels: the bytes a
/// Java producer sends), for lz4 and zstd; `benches/data/regenerate.sh`
/// rebuilds them. A consumer mostly reads what the Java client wrote, and
/// how fast a batch decompresses depends on the compressor that wrote it:
/// the C lz4 library packs these records tighter than `lz4_flex`, which
/// rill writes with. Copied out of the binary, so decoded records hold
/// reference counts as they do on a response buffer.
pub fn java_written(size_label: &str, codec: Compression) -> Option<Bytes> {
    let bytes: &[u8] = match (size_label, codec) {
        ("100B", Compression::Lz4) => include_bytes!("../data/java_100B_lz4.bin"),
        ("100B", Compression::Zstd) => include_bytes!("../data/java_100B_zstd.bin"),
        ("1KiB", Compression::Lz4) => include_bytes!("../data/java_1KiB_lz4.bin"),
        ("1KiB", Compression::Zstd) => include_bytes!("../data/java_1KiB_zstd.bin"),
        _ => return None,
    };
    Some(Bytes::copy_from_slice(bytes))
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

#[cfg(test)]
mod tests {
    use super::*;

    // The committed Java-written batches hold the records the benchmark
    // makes now (regenerate them after changing the payloads), and each
    // codec the decode benchmarks read from Java has its batches.
    #[test]
    fn java_written_batches_hold_the_benchmark_records() {
        for (size, count, label) in SHAPES {
            let input = Input::new(count, size);
            for codec in CODECS.into_iter().filter(|c| *c != Compression::None) {
                let java = java_written(label, codec).unwrap_or_else(|| panic!("no Java-written {label} {codec:?} batch"));
                let batch = RecordBatch::decode(&java, &DecodeOptions::default()).expect("decode");
                assert_eq!(batch.attributes.compression(), Some(codec), "{label}");
                input.check_holds(&java).unwrap_or_else(|e| panic!("{label} {codec:?}: {e}; run benches/data/regenerate.sh"));
            }
            input.check_holds(&input.rill_encode(Compression::Lz4).freeze()).expect("rill's own batch");
        }
    }

    #[test]
    fn a_batch_with_other_records_is_told_apart() {
        let input = Input::new(3, 100);
        let other = Input::new(4, 100).rill_encode(Compression::None).freeze();
        assert!(input.check_holds(&other).is_err());
        let mut b = RecordBatchBuilder::new(0).producer(1000, 0, 0);
        for (i, (k, v)) in input.keys.iter().zip(&input.values).enumerate() {
            b.append(BASE_TIMESTAMP_MS + i as i64 + 1, Some(k), Some(v), &[]).unwrap();
        }
        assert!(input.check_holds(&b.finish().unwrap().freeze()).unwrap_err().contains("record 0 differs"));
    }
}
