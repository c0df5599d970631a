//! Shared checks for rill's fuzz targets.
//!
//! Every target feeds peer bytes to a decoder. Decoding may fail (with a typed
//! error), but it must never panic, and a value that decodes must survive
//! encode -> decode unchanged: otherwise rill and a peer would disagree about
//! what was said.

use bytes::{Bytes, BytesMut};
use rill_protocol::compression::BufferPool;
use rill_protocol::message::Message;
use rill_protocol::messages::{RequestBody, ResponseBody};
use rill_protocol::records::{BatchViews, DecodeOptions, RecordBatch, RecordBatches};
use rill_protocol::{ApiKey, Reader};

/// Decompressed bytes allowed per batch while fuzzing: small, so a
/// compression bomb shows up as an error rather than as memory use.
pub const FUZZ_MAX_DECOMPRESSED_BYTES: usize = 1 << 20;

/// Splits fuzz input into (selector, version seed, body).
pub fn split(data: &[u8]) -> Option<(u8, u16, &[u8])> {
    let (head, body) = data.split_at_checked(3)?;
    let [sel, v0, v1] = head else { return None };
    Some((*sel, u16::from_le_bytes([*v0, *v1]), body))
}

/// A version of `M` chosen by the seed, always inside its valid range.
pub fn version_of<M: Message>(seed: u16) -> i16 {
    let span = (M::VERSIONS.max - M::VERSIONS.min + 1) as u16;
    M::VERSIONS.min + (seed % span) as i16
}

/// Decodes `body` as `M` at a seeded version; a value that decodes must
/// re-encode to exactly `encoded_len` bytes and decode back to itself.
pub fn message<M: Message + PartialEq + std::fmt::Debug>(seed: u16, body: &[u8]) {
    let version = version_of::<M>(seed);
    let bytes = Bytes::copy_from_slice(body);
    let mut r = Reader::new(&bytes);
    let Ok(value) = M::decode(&mut r, version) else { return };
    let mut out = BytesMut::new();
    value.encode(&mut out, version).expect("a decoded value must re-encode at its version");
    let len = value.encoded_len(version).expect("encoded_len must agree with encode");
    assert_eq!(out.len(), len, "{} v{version}: encoded_len disagrees with encode", M::NAME);
    let out = out.freeze();
    let again = M::decode(&mut Reader::new(&out), version).expect("re-encoded bytes must decode");
    assert_eq!(again, value, "{} v{version}: value changed across encode/decode", M::NAME);
}

/// Any response body, by API key and version taken from the input.
pub fn any_response(data: &[u8]) {
    let Some((_, seed, body)) = split(data) else { return };
    let key = ApiKey((seed >> 8) as i16 % 80);
    let version = (seed & 0x1f) as i16;
    let bytes = Bytes::copy_from_slice(body);
    let Ok(value) = ResponseBody::decode(key, version, &mut Reader::new(&bytes)) else { return };
    let mut out = BytesMut::new();
    value.encode(&mut out, version).expect("a decoded response must re-encode");
    let out = out.freeze();
    let again = ResponseBody::decode(key, version, &mut Reader::new(&out)).expect("re-encoded response must decode");
    assert_eq!(again, value);
}

/// A whole request frame (header + body), as the broker model sees it.
pub fn request_frame(data: &[u8]) {
    let frame = Bytes::copy_from_slice(data);
    let Ok((header, body)) = rill_protocol::message::decode_request(&frame) else { return };
    let version = header.request_api_version;
    let mut out = BytesMut::new();
    body.encode(&mut out, version).expect("a decoded request must re-encode");
    let out = out.freeze();
    let key = ApiKey(header.request_api_key);
    let again = RequestBody::decode(key, version, &mut Reader::new(&out)).expect("re-encoded request must decode");
    assert_eq!(again, body);
}

/// Record batches as found in a Fetch response's `records` field, with
/// decompression under a small cap; every decoded batch re-encodes and decodes
/// back to the same records, and the borrowed views (`BatchViews`, what the
/// consumer reads with) give the same batches.
pub fn record_batches(data: &[u8]) {
    let bytes = Bytes::copy_from_slice(data);
    let opts = DecodeOptions::default().with_max_decompressed_bytes(FUZZ_MAX_DECOMPRESSED_BYTES);
    for batch in RecordBatches::new(&bytes, &opts).flatten() {
        let mut out = BytesMut::new();
        if batch.encode(&mut out).is_err() {
            continue;
        }
        let out = out.freeze();
        let again = rill_protocol::records::RecordBatch::decode(&out, &opts);
        // Legacy (magic 0/1) batches are decode-only; magic 2 must round-trip.
        if batch.magic == 2 {
            let again = again.expect("a re-encoded batch must decode");
            assert_eq!(again.records, batch.records);
        }
    }
    // Through a pool whose buffers hold other bytes, as a consumer's do:
    // the same batches, or the same error.
    let pool = BufferPool::new(usize::MAX);
    pool.give_back(vec![0xa5; 4096]);
    pool.give_back(vec![0x5a; 100]);
    let pooled = opts.clone().with_buffers(pool);
    let fresh: Vec<_> = RecordBatches::new(&bytes, &opts).collect();
    let reused: Vec<_> = RecordBatches::new(&bytes, &pooled).collect();
    assert_eq!(fresh, reused, "decoding into reused buffers differs");
    // The borrowed decode the consumer reads fetched records with: batch for
    // batch, a view's records are the full decode's, or both fail.
    views_agree(&bytes, &opts, &fresh);
    // The header-only scan (where a consumer fetches next before decoding)
    // agrees with a full decode wherever that decodes every batch.
    if let Ok(Some(end)) = rill_protocol::records::complete_batches_end(data) {
        if let Ok(decoded) = RecordBatches::new(&bytes, &opts).collect::<Result<Vec<_>, _>>() {
            let last = decoded.last().expect("a complete batch was found");
            assert_eq!(end.next_offset, last.next_offset());
            assert_eq!(end.partition_leader_epoch, last.partition_leader_epoch);
        }
    }
}

/// [`BatchViews`] over `bytes` against `decoded`, the full decode of the same
/// bytes: each magic-2 batch the full decode gives, a view gives too, with the
/// same header and records (read through `to_batch`, which walks
/// `records()` and every record's `headers()`), the same offsets and
/// timestamps; where the full decode fails, the view or its records fail.
/// Views stop at the first legacy (magic 0/1) batch, which only the full
/// decode reads, and at a partial trailing batch, as the full decode does.
fn views_agree(bytes: &Bytes, opts: &DecodeOptions, decoded: &[Result<RecordBatch, rill_protocol::DecodeError>]) {
    let mut views = BatchViews::new(bytes, opts);
    for expected in decoded {
        if matches!(expected, Ok(b) if b.magic != 2) {
            assert!(matches!(views.next(), Some(Err(_))), "a view must refuse a legacy batch");
            return;
        }
        let view = views.next().expect("a view for every batch the full decode reads");
        if matches!(&view, Err(e) if e.field == "RecordBatch.magic") {
            // Views read magic 2 only and stop at anything else; the full
            // decode refuses other magics batch by batch and goes on.
            assert!(expected.is_err(), "the full decode read a batch its view calls a bad magic");
            return;
        }
        let via_view = view.as_ref().map_err(Clone::clone).and_then(|v| v.to_batch());
        match (expected, &via_view) {
            (Ok(batch), Ok(from_view)) => {
                assert_eq!(from_view, batch, "a view's records differ from the full decode's");
                let view = view.as_ref().expect("the view decoded");
                for (r, owned) in view.records().flatten().zip(&batch.records) {
                    assert_eq!(view.offset_of(&r), batch.offset_of(owned));
                    assert_eq!(view.timestamp_of(&r), batch.timestamp_of(owned));
                    assert_eq!(r.header_count(), owned.headers.len());
                }
            }
            (Err(_), Err(_)) => {}
            (Ok(_), Err(e)) => panic!("the full decode read a batch its view refuses: {e}"),
            (Err(e), Ok(_)) => panic!("a view read a batch the full decode refuses: {e}"),
        }
    }
    assert!(views.next().is_none(), "a view past the batches the full decode reads");
}
