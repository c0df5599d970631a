//! Legacy message sets (magic 0 and 1) decode, including compressed wrappers.

use bytes::{Bytes, BytesMut};
use rill_protocol::compression::Compression;
use rill_protocol::records::legacy::{encode_message_set, LegacyMessage};
use rill_protocol::records::{DecodeOptions, RecordBatch, TimestampType};
use rill_protocol::DecodeErrorKind;

fn messages() -> Vec<LegacyMessage> {
    vec![
        LegacyMessage { timestamp: 1000, key: Some(Bytes::from_static(b"k1")), value: Some(Bytes::from_static(b"v1")) },
        LegacyMessage { timestamp: 1500, key: None, value: Some(Bytes::from_static(b"v2")) },
        LegacyMessage { timestamp: 1200, key: Some(Bytes::new()), value: None },
    ]
}

#[test]
fn every_magic_and_codec_decodes() {
    for magic in [0i8, 1] {
        for codec in [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4] {
            let mut out = BytesMut::new();
            encode_message_set(&mut out, magic, codec, TimestampType::CreateTime, 500, &messages()).unwrap();
            let bytes = out.freeze();
            let batches = RecordBatch::decode_all(&bytes, &DecodeOptions::default()).unwrap_or_else(|e| panic!("v{magic} {codec}: {e}"));
            let expected_batches = if codec == Compression::None { 3 } else { 1 };
            assert_eq!(batches.len(), expected_batches, "v{magic} {codec}");
            let recs: Vec<_> = batches.iter().flat_map(|b| b.iter().map(|(o, t, r)| (o, t, r.clone())).collect::<Vec<_>>()).collect();
            assert_eq!(recs.len(), 3);
            for (i, ((o, t, r), m)) in recs.iter().zip(messages()).enumerate() {
                assert_eq!(*o, 500 + i as i64, "v{magic} {codec}");
                assert_eq!(*t, if magic == 0 { -1 } else { m.timestamp }, "v{magic} {codec}");
                assert_eq!(r.key, m.key);
                assert_eq!(r.value, m.value);
            }
            for b in &batches {
                assert_eq!(b.magic, magic);
                assert_eq!(b.compression(), Some(codec));
                assert!(!b.has_producer_id());
            }
            assert_eq!(batches.last().unwrap().last_offset(), 502);
            if magic == 1 && codec != Compression::None {
                assert_eq!(batches[0].max_timestamp, 1500);
            }
            // Truncations: never an error (partial trailing message), never a panic.
            for cut in 0..bytes.len() {
                let got = RecordBatch::decode_all(&bytes.slice(..cut), &DecodeOptions::default()).unwrap();
                assert_eq!(&batches[..got.len()], &got[..]);
            }
            // Flips never panic; in a single wrapper message, any flip after
            // the CRC field is caught by the CRC-32.
            for i in 0..bytes.len() {
                let mut v = bytes.to_vec();
                v[i] ^= 0x40;
                let _ = RecordBatch::decode_all(&Bytes::from(v.clone()), &DecodeOptions::default().with_verify_crc(false));
                let r = RecordBatch::decode_all(&Bytes::from(v), &DecodeOptions::default());
                if codec != Compression::None && i >= 16 {
                    assert!(r.is_err(), "v{magic} {codec} flip at {i}");
                }
            }
        }
    }
}

#[test]
fn log_append_time_wrapper_sets_every_timestamp() {
    let mut out = BytesMut::new();
    encode_message_set(&mut out, 1, Compression::Gzip, TimestampType::LogAppendTime, 0, &messages()).unwrap();
    let b = RecordBatch::decode(&out.freeze(), &DecodeOptions::default()).unwrap();
    assert_eq!(b.timestamp_type(), TimestampType::LogAppendTime);
    assert!(b.iter().all(|(_, t, _)| t == 1500));
}

#[test]
fn nested_compression_and_bad_crc_are_errors() {
    // A gzip wrapper whose inner message set is itself a gzip wrapper.
    let mut inner = BytesMut::new();
    encode_message_set(&mut inner, 1, Compression::Gzip, TimestampType::CreateTime, 0, &messages()).unwrap();
    let mut outer = BytesMut::new();
    // Hand-wrap: treat the inner wrapper bytes as the value of a new wrapper.
    let mut compressed = BytesMut::new();
    Compression::Gzip.compress(&inner, &mut compressed).unwrap();
    let mut msg = BytesMut::new();
    msg.extend_from_slice(&[1, 1]); // magic 1, gzip
    msg.extend_from_slice(&0i64.to_be_bytes());
    msg.extend_from_slice(&(-1i32).to_be_bytes());
    msg.extend_from_slice(&(compressed.len() as i32).to_be_bytes());
    msg.extend_from_slice(&compressed);
    outer.extend_from_slice(&2i64.to_be_bytes());
    outer.extend_from_slice(&((msg.len() + 4) as i32).to_be_bytes());
    outer.extend_from_slice(&crc32fast::hash(&msg).to_be_bytes());
    outer.extend_from_slice(&msg);
    let err = RecordBatch::decode(&outer.clone().freeze(), &DecodeOptions::default()).unwrap_err();
    assert_eq!(err.field, "MessageSet.message.attributes.compression", "{err}");

    let mut v = outer.to_vec();
    v[12] ^= 1;
    let err = RecordBatch::decode(&Bytes::from(v), &DecodeOptions::default()).unwrap_err();
    assert!(matches!(err.kind, DecodeErrorKind::CrcMismatch { .. }));
    assert_eq!(err.field, "MessageSet.message.crc");
}

#[test]
fn legacy_lz4_with_broken_kip57_header_checksum_decodes() {
    let mut out = BytesMut::new();
    encode_message_set(&mut out, 0, Compression::Lz4, TimestampType::CreateTime, 0, &messages()).unwrap();
    let mut v = out.to_vec();
    // The frame starts at the value: offset(8) size(4) crc(4) magic attr key(-1:4) value len(4) = 26.
    assert_eq!(&v[26..30], &[0x04, 0x22, 0x4D, 0x18]);
    v[32] ^= 0x5a; // scramble the header checksum byte, as pre-0.10 producers effectively did
    let crc = crc32fast::hash(&v[16..]);
    v[12..16].copy_from_slice(&crc.to_be_bytes());
    let b = RecordBatch::decode(&Bytes::from(v), &DecodeOptions::default()).unwrap();
    assert_eq!(b.records.len(), 3);
}
