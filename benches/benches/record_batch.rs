//! Record batch encode and decode, rill side by side with the `kafka-protocol`
//! crate on the same inputs in the same run.
//!
//! Groups are named `<op>_<codec>_<size>`; each holds a "rill" and a
//! "kafka-protocol" function, and throughput is per record, so
//! `cargo run -p rill-benches --bin bench-report` prints ns/record and the
//! speed-up. Payloads are JSON sensor readings (see `rill_benches::payload`).

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use indexmap::IndexMap;
use kafka_protocol::records as kp;
use rill_benches::payload::{json_payloads, keys};
use rill_protocol::compression::Compression;
use rill_protocol::records::{BatchViews, DecodeOptions, RecordBatch, RecordBatchBuilder};

const BASE_TIMESTAMP_MS: i64 = 1_732_406_400_000;

struct Input {
    keys: Vec<Bytes>,
    values: Vec<Bytes>,
}

impl Input {
    fn new(count: usize, size_bytes: usize) -> Self {
        Input { keys: keys(count, 42), values: json_payloads(count, size_bytes, 42) }
    }

    fn rill_encode(&self, compression: Compression) -> BytesMut {
        let mut b = RecordBatchBuilder::with_buffer(BytesMut::with_capacity(self.bytes_hint()), 0)
            .compression(compression)
            .producer(1000, 0, 0);
        for (i, (k, v)) in self.keys.iter().zip(&self.values).enumerate() {
            b.append(BASE_TIMESTAMP_MS + i as i64, Some(k), Some(v), &[]).expect("append");
        }
        b.finish().expect("finish")
    }

    fn kp_records(&self) -> Vec<kp::Record> {
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

    fn bytes_hint(&self) -> usize {
        self.values.iter().map(|v| v.len() + 32).sum::<usize>() + 128
    }
}

fn kp_compression(c: Compression) -> kp::Compression {
    match c {
        Compression::None => kp::Compression::None,
        Compression::Gzip => kp::Compression::Gzip,
        Compression::Snappy => kp::Compression::Snappy,
        Compression::Lz4 => kp::Compression::Lz4,
        Compression::Zstd => kp::Compression::Zstd,
    }
}

fn kp_encode(records: &[kp::Record], c: Compression, capacity: usize) -> BytesMut {
    let mut buf = BytesMut::with_capacity(capacity);
    let opts = kp::RecordEncodeOptions { version: 2, compression: kp_compression(c) };
    kp::RecordBatchEncoder::encode(&mut buf, records.iter(), &opts).expect("kafka-protocol encode");
    buf
}

fn codec_name(c: Compression) -> &'static str {
    match c {
        Compression::None => "none",
        Compression::Gzip => "gzip",
        Compression::Snappy => "snappy",
        Compression::Lz4 => "lz4",
        Compression::Zstd => "zstd",
    }
}

fn benches(c: &mut Criterion) {
    // (record size, records per batch): ~50 KB and ~100 KB batches.
    let shapes = [(100usize, 500usize), (1024, 100)];
    let codecs = [Compression::None, Compression::Lz4, Compression::Zstd];
    for (size, count) in shapes {
        let input = Input::new(count, size);
        let kp_records = input.kp_records();
        let size_label = if size == 100 { "100B" } else { "1KiB" };
        for codec in codecs {
            let id = format!("{}_{size_label}", codec_name(codec));

            let mut g = c.benchmark_group(format!("encode_{id}"));
            g.throughput(Throughput::Elements(count as u64));
            g.bench_function("rill", |b| b.iter(|| black_box(input.rill_encode(codec))));
            g.bench_function("kafka-protocol", |b| {
                b.iter(|| black_box(kp_encode(&kp_records, codec, input.bytes_hint())))
            });
            g.finish();

            // Both decoders read a batch written by rill; kafka-protocol's own
            // output is checked to decode with rill too, so the inputs are equivalent.
            let encoded = input.rill_encode(codec).freeze();
            let theirs = kp_encode(&kp_records, codec, input.bytes_hint()).freeze();
            let opts = DecodeOptions::default();
            let ours = RecordBatch::decode_all(&theirs, &opts).expect("rill decodes kafka-protocol's batch");
            assert_eq!(ours.iter().map(|b| b.records.len()).sum::<usize>(), count);

            let mut g = c.benchmark_group(format!("decode_{id}"));
            g.throughput(Throughput::Elements(count as u64));
            g.bench_function("rill", |b| {
                b.iter(|| black_box(RecordBatch::decode_all(&encoded, &opts).expect("decode")))
            });
            // Borrowed decode: the same parsing and CRC check, records handed
            // out as slices of the batch (no per-record reference counting).
            g.bench_function("rill-view", |b| {
                b.iter(|| {
                    let mut n = 0usize;
                    for view in BatchViews::new(&encoded, &opts) {
                        let view = view.expect("decode");
                        for r in view.records() {
                            let r = r.expect("record");
                            n += r.key.map_or(0, <[u8]>::len) + r.value.map_or(0, <[u8]>::len);
                        }
                    }
                    black_box(n)
                })
            });
            g.bench_function("kafka-protocol", |b| {
                b.iter(|| {
                    let mut buf = encoded.clone();
                    black_box(kp::RecordBatchDecoder::decode_all(&mut buf).expect("decode"))
                })
            });
            g.finish();
        }
    }
}

criterion_group! {
    name = record_batch;
    config = Criterion::default().sample_size(30).warm_up_time(std::time::Duration::from_millis(500)).measurement_time(std::time::Duration::from_secs(2));
    targets = benches
}
criterion_main!(record_batch);
