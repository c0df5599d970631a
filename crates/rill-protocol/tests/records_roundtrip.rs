//! Property tests: magic-2 batches round-trip through encode and decode with
//! every codec, headers, null keys/values, control and transactional flags.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use rill_protocol::compression::{BufferPool, Compression};
use rill_protocol::records::{
    control, Attributes, BatchView, BatchViews, ControlRecordType, DecodeOptions, Header, Record, RecordBatch, RecordBatchBuilder,
    RecordBatches, TimestampType,
};

fn opt_bytes(max: usize) -> impl Strategy<Value = Option<Bytes>> {
    prop::option::weighted(0.85, prop::collection::vec(any::<u8>(), 0..max).prop_map(Bytes::from))
}

fn header() -> impl Strategy<Value = Header> {
    (prop::collection::vec(any::<u8>(), 0..12), opt_bytes(24)).prop_map(|(k, v)| Header { key: Bytes::from(k), value: v })
}

fn record() -> impl Strategy<Value = Record> {
    (any::<i8>(), any::<i64>(), opt_bytes(40), opt_bytes(300), prop::collection::vec(header(), 0..4)).prop_map(
        |(attributes, timestamp_delta, key, value, headers)| Record { attributes, timestamp_delta, offset_delta: 0, key, value, headers },
    )
}

fn codec() -> impl Strategy<Value = Compression> {
    prop::sample::select(Compression::ALL.to_vec())
}

fn batch() -> impl Strategy<Value = RecordBatch> {
    (
        (any::<i64>(), any::<i32>(), codec(), any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()),
        (any::<i32>(), any::<i64>(), any::<i64>(), any::<i64>(), any::<i16>(), any::<i32>()),
        prop::collection::vec(record(), 0..12),
        prop::collection::vec(0i32..3, 12),
    )
        .prop_map(|((base_offset, ple, codec, ts, txn, ctl, horizon), (lod, bts, mts, pid, pe, seq), mut records, gaps)| {
            let mut delta = 0i32;
            for (r, g) in records.iter_mut().zip(gaps) {
                delta += g;
                r.offset_delta = delta;
                delta += 1;
            }
            let attributes = Attributes::default()
                .with_compression(codec)
                .with_timestamp_type(if ts { TimestampType::LogAppendTime } else { TimestampType::CreateTime })
                .with_transactional(txn)
                .with_control(ctl)
                .with_delete_horizon(horizon);
            RecordBatch {
                base_offset,
                batch_length: 0,
                partition_leader_epoch: ple,
                magic: 2,
                crc: 0,
                attributes,
                last_offset_delta: lod,
                base_timestamp: bts,
                max_timestamp: mts,
                producer_id: pid,
                producer_epoch: pe,
                base_sequence: seq,
                records,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn encode_decode_round_trips(batches in prop::collection::vec(batch(), 1..4)) {
        let mut out = BytesMut::new();
        for b in &batches {
            b.encode(&mut out).unwrap();
        }
        let bytes = out.freeze();
        let got = RecordBatch::decode_all(&bytes, &DecodeOptions::default()).unwrap();
        prop_assert_eq!(got.len(), batches.len());
        // The borrowed view sees the same batches.
        let views: Vec<BatchView> = BatchViews::new(&bytes, &DecodeOptions::default()).collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(views.len(), got.len());
        for (v, g) in views.iter().zip(&got) {
            prop_assert_eq!(&v.to_batch().unwrap(), g);
            prop_assert_eq!(v.record_count(), g.records.len());
            for (rv, r) in v.records().zip(&g.records) {
                let rv = rv.unwrap();
                prop_assert_eq!(rv.key, r.key.as_deref());
                prop_assert_eq!(rv.value, r.value.as_deref());
                prop_assert_eq!(v.offset_of(&rv), g.offset_of(r));
                prop_assert_eq!(v.timestamp_of(&rv), g.timestamp_of(r));
                let hs: Vec<_> = rv.headers().collect();
                let want_hs: Vec<_> = r.headers.iter().map(|h| (&h.key[..], h.value.as_deref())).collect();
                prop_assert_eq!(hs, want_hs);
            }
        }
        for (mut want, g) in batches.into_iter().zip(got) {
            want.batch_length = g.batch_length;
            want.crc = g.crc;
            prop_assert_eq!(want, g);
        }
    }

    /// A pool's buffers arrive holding an earlier batch's bytes (or any
    /// bytes): decoding writes over them and gives the same batches as
    /// fresh memory, also when a buffer is larger or smaller than needed.
    #[test]
    fn decoding_into_reused_buffers_gives_the_same_batches(
        batches in prop::collection::vec(batch(), 1..4),
        junk in prop::collection::vec((any::<u8>(), 0usize..30_000), 0..3),
    ) {
        let mut out = BytesMut::new();
        for b in &batches {
            b.encode(&mut out).unwrap();
        }
        let bytes = out.freeze();
        let fresh = RecordBatch::decode_all(&bytes, &DecodeOptions::default()).unwrap();
        let pool = BufferPool::new(1 << 30);
        for (byte, len) in junk {
            pool.give_back(vec![byte; len]);
        }
        let options = DecodeOptions::default().with_buffers(pool.clone());
        for _ in 0..2 {
            // The second time round, the buffers the first one freed are lent again.
            let pooled = RecordBatch::decode_all(&bytes, &options).unwrap();
            prop_assert_eq!(&pooled, &fresh);
            let views: Vec<BatchView> = BatchViews::new(&bytes, &options).collect::<Result<_, _>>().unwrap();
            for (v, g) in views.iter().zip(&fresh) {
                prop_assert_eq!(&v.to_batch().unwrap(), g);
            }
        }
    }

    /// `decompress_into` writes over whatever its buffer holds and keeps
    /// exactly the output; the size cap holds as with a fresh buffer.
    #[test]
    fn every_codec_decompresses_over_old_bytes(
        codec in codec(),
        data in prop::collection::vec(prop_oneof![Just(b'a'), Just(b'{'), any::<u8>()], 0..20_000),
        junk in any::<u8>(),
        junk_len in 0usize..40_000,
    ) {
        let mut compressed = BytesMut::new();
        codec.compress(&data, &mut compressed).unwrap();
        let mut buf = vec![junk; junk_len];
        codec.decompress_into(&compressed, data.len(), "f", &mut buf).unwrap();
        prop_assert_eq!(&buf, &data);
        prop_assert!(codec.output_size_hint(&compressed, data.len()) <= data.len() + 1);
        if codec == Compression::Lz4 {
            // lz4's hint is a bound: no growth while decoding.
            prop_assert!(codec.output_size_hint(&compressed, usize::MAX) >= data.len());
        }
        if !data.is_empty() {
            let mut buf = vec![junk; junk_len];
            prop_assert!(codec.decompress_into(&compressed, data.len() - 1, "f", &mut buf).is_err());
        }
    }

    #[test]
    fn builder_round_trips(
        codec in codec(),
        base_offset in 0i64..1 << 40,
        t0 in 0i64..1 << 42,
        recs in prop::collection::vec((0i64..100_000, opt_bytes(30), opt_bytes(200), prop::collection::vec(header(), 0..3)), 0..20),
    ) {
        let mut b = RecordBatchBuilder::new(base_offset).compression(codec).producer(7, 1, 42);
        for (dt, k, v, h) in &recs {
            b.append(t0 + dt, k.as_deref(), v.as_deref(), h).unwrap();
        }
        prop_assert_eq!(b.record_count(), recs.len());
        let bytes = b.finish().unwrap().freeze();
        let got = RecordBatch::decode(&bytes, &DecodeOptions::default()).unwrap();
        prop_assert_eq!(got.compression(), Some(codec));
        prop_assert_eq!(got.producer_id, 7);
        prop_assert_eq!(got.base_sequence, 42);
        prop_assert_eq!(got.records.len(), recs.len());
        let mut max_ts = -1;
        for (i, ((dt, k, v, h), (off, ts, r))) in recs.iter().zip(got.iter()).enumerate() {
            prop_assert_eq!(off, base_offset + i as i64);
            prop_assert_eq!(ts, t0 + dt);
            prop_assert_eq!(&r.key, k);
            prop_assert_eq!(&r.value, v);
            prop_assert_eq!(&r.headers, h);
            max_ts = max_ts.max(t0 + dt);
        }
        prop_assert_eq!(got.max_timestamp, max_ts);
        if !recs.is_empty() {
            prop_assert_eq!(got.last_offset(), base_offset + recs.len() as i64 - 1);
            prop_assert_eq!(got.base_timestamp, t0 + recs[0].0);
        }
    }
}

#[test]
fn uncompressed_records_are_zero_copy_and_compressed_share_one_buffer() {
    let headers = [Header::new(Bytes::from_static(b"h"), Some(Bytes::from_static(b"header-value")))];
    for codec in Compression::ALL {
        let mut b = RecordBatchBuilder::new(0).compression(codec);
        for i in 0..10u8 {
            b.append(1000 + i as i64, Some(&[b'k', i]), Some(&[i; 50]), &headers).unwrap();
        }
        let bytes = b.finish().unwrap().freeze();
        let batch = RecordBatch::decode(&bytes, &DecodeOptions::default()).unwrap();
        let input = bytes.as_ptr_range();
        let first = batch.records[0].key.as_ref().unwrap().as_ptr();
        for r in &batch.records {
            for part in [r.key.as_ref().unwrap(), r.value.as_ref().unwrap(), r.headers[0].value.as_ref().unwrap()] {
                let inside = input.contains(&part.as_ptr());
                assert_eq!(inside, codec == Compression::None, "{codec}");
                // All parts of a compressed batch live in one decompressed buffer.
                let dist = (part.as_ptr() as isize - first as isize).unsigned_abs();
                assert!(dist < 2000, "{codec}: parts are not in one buffer");
            }
        }
    }
}

#[test]
fn control_batches_round_trip() {
    let mut out = BytesMut::new();
    out = control::end_txn_marker(out, 10, 99, 3, true, 5, 1234).unwrap();
    out = control::end_txn_marker(out, 11, 99, 3, false, 6, 1235).unwrap();
    let bytes = out.freeze();
    let got = RecordBatch::decode_all(&bytes, &DecodeOptions::default()).unwrap();
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|b| b.is_control() && b.is_transactional() && b.producer_id == 99));
    assert_eq!(control::control_type(&got[0]), Some(ControlRecordType::Commit));
    assert_eq!(control::control_type(&got[1]), Some(ControlRecordType::Abort));
    let m = control::EndTxnMarker::parse(got[1].records[0].value.as_deref().unwrap()).unwrap();
    assert_eq!(m.coordinator_epoch, 6);
    assert_eq!(got[1].timestamp_of(&got[1].records[0]), 1235);
}

#[test]
fn partial_trailing_batch_is_skipped_silently() {
    let mut out = BytesMut::new();
    for i in 0..3 {
        let mut b = RecordBatchBuilder::with_buffer(out, i * 10);
        b.append(5, None, Some(b"value"), &[]).unwrap();
        out = b.finish().unwrap();
    }
    let full = out.freeze();
    let one = RecordBatch::decode_all(&full, &DecodeOptions::default()).unwrap();
    let batch_len = full.len() / 3;
    let cut = full.slice(..full.len() - 7);
    let mut it = RecordBatches::new(&cut, &DecodeOptions::default());
    assert_eq!(it.next().unwrap().unwrap(), one[0]);
    assert_eq!(it.next().unwrap().unwrap(), one[1]);
    assert!(it.next().is_none());
    assert_eq!(it.trailing_partial(), batch_len - 7);
    // But decoding exactly one batch from a truncated buffer is an error.
    assert!(RecordBatch::decode(&full.slice(..batch_len - 1), &DecodeOptions::default()).is_err());
}

#[test]
fn log_append_time_uses_max_timestamp() {
    let mut b = RecordBatchBuilder::new(0).timestamp_type(TimestampType::LogAppendTime).max_timestamp(99_999);
    b.append(5, None, Some(b"a"), &[]).unwrap();
    b.append(6, None, Some(b"b"), &[]).unwrap();
    let bytes = b.finish().unwrap().freeze();
    let got = RecordBatch::decode(&bytes, &DecodeOptions::default()).unwrap();
    assert!(got.iter().all(|(_, ts, _)| ts == 99_999));
}

#[test]
fn views_are_zero_copy_and_bytes_of_slices_the_input() {
    let mut b = RecordBatchBuilder::new(7);
    b.append(1, Some(b"key"), Some(b"value"), &[Header::new(Bytes::from_static(b"h"), Some(Bytes::from_static(b"hv")))]).unwrap();
    let bytes = b.finish().unwrap().freeze();
    let v = BatchView::decode(&bytes, &DecodeOptions::default()).unwrap();
    let r = v.records().next().unwrap().unwrap();
    let key = r.key.unwrap();
    assert!(bytes.as_ptr_range().contains(&key.as_ptr()));
    let owned = v.bytes_of(key).unwrap();
    assert_eq!(owned.as_ptr(), key.as_ptr());
    assert_eq!(v.bytes_of(b"elsewhere"), None);
    assert_eq!(v.offset_of(&r), 7);
    assert!(v.records().nth(1).is_none());
    // Legacy batches are refused by the view iterator.
    let mut legacy = BytesMut::new();
    rill_protocol::records::legacy::encode_message_set(
        &mut legacy,
        1,
        Compression::None,
        TimestampType::CreateTime,
        0,
        &[Default::default()],
    )
    .unwrap();
    let legacy = legacy.freeze();
    assert!(BatchViews::new(&legacy, &DecodeOptions::default()).next().unwrap().is_err());
}
