//! Untrusted input: arbitrary bytes, truncations and bit flips never panic;
//! compression bombs stop at the cap, quickly, without allocating the bomb.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use proptest::prelude::*;
use rill_protocol::compression::{Compression, XERIAL_MAGIC};
use rill_protocol::records::{BatchViews, DecodeOptions, Header, RecordBatch, RecordBatchBuilder, RecordBatches};
use rill_protocol::DecodeErrorKind;

// ---- a global allocator that tracks the peak of live bytes ------------------

struct Peak;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Peak {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            let now = LIVE.fetch_add(l.size(), Ordering::Relaxed) + l.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) };
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(l) };
        if !p.is_null() {
            let now = LIVE.fetch_add(l.size(), Ordering::Relaxed) + l.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let q = unsafe { System.realloc(p, l, new) };
        if !q.is_null() {
            if new >= l.size() {
                let now = LIVE.fetch_add(new - l.size(), Ordering::Relaxed) + (new - l.size());
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(l.size() - new, Ordering::Relaxed);
            }
        }
        q
    }
}

#[global_allocator]
static GLOBAL: Peak = Peak;
/// Tests measuring the peak run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn sample_batches() -> Vec<Bytes> {
    let headers = [Header::new(Bytes::from_static(b"trace"), Some(Bytes::from_static(b"abc"))), Header::new(Bytes::new(), None)];
    Compression::ALL
        .iter()
        .map(|&c| {
            let mut b = RecordBatchBuilder::new(100).compression(c).producer(1, 2, 3).transactional(true);
            for i in 0..4u8 {
                b.append(1000 + i as i64, (i % 2 == 0).then_some(&[i][..]), Some(&[i; 20][..]), &headers[..(i % 3) as usize]).unwrap();
            }
            b.finish().unwrap().freeze()
        })
        .collect()
}

fn decode_any(bytes: &Bytes, opts: &DecodeOptions) {
    let _ = RecordBatch::decode_all(bytes, opts);
    let _ = RecordBatch::decode(bytes, opts);
    for _ in RecordBatches::new(bytes, opts) {}
    for v in BatchViews::new(bytes, opts).flatten() {
        for r in v.records().flatten() {
            for _ in r.headers() {}
        }
        let _ = v.to_batch();
    }
}

#[test]
fn every_truncation_and_bit_flip_of_valid_batches_is_handled() {
    let strict = DecodeOptions::default();
    // Without CRC checks the flips reach the record and codec parsers.
    let lax = DecodeOptions::default().with_verify_crc(false).with_max_decompressed_bytes(1 << 20);
    for bytes in sample_batches() {
        for cut in 0..bytes.len() {
            let part = bytes.slice(..cut);
            // A truncated single batch is a partial batch: no batches, no error.
            assert_eq!(RecordBatch::decode_all(&part, &strict).unwrap(), vec![]);
            assert!(RecordBatch::decode(&part, &strict).is_err());
        }
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut v = bytes.to_vec();
                v[i] ^= 1 << bit;
                let flipped = Bytes::from(v);
                decode_any(&flipped, &lax);
                // With CRC checks on, a flip after the CRC field is always caught.
                if i >= 21 {
                    let err = RecordBatch::decode(&flipped, &strict).unwrap_err();
                    assert!(matches!(err.kind, DecodeErrorKind::CrcMismatch { .. }), "{err}");
                }
            }
        }
    }
}

#[test]
fn errors_name_the_field() {
    let mut b = RecordBatchBuilder::new(0);
    b.append(0, Some(b"key"), Some(b"value"), &[Header::new(Bytes::from_static(b"hk"), None)]).unwrap();
    let good = b.finish().unwrap();
    let lax = DecodeOptions::default().with_verify_crc(false);

    // Header count says 5 headers but there is one.
    let mut v = good.to_vec();
    let at = v.len() - 5; // count varint sits before: key len, "hk", value len(-1)
    assert_eq!(v[at], 2); // zigzag(1)
    v[at] = 10; // zigzag(5)
    let err = RecordBatch::decode(&Bytes::from(v), &lax).unwrap_err();
    assert_eq!(err.field, "RecordBatch.records.headers", "{err}");
    assert!(matches!(err.kind, DecodeErrorKind::CountTooLarge { .. }));

    // Record count larger than the bytes can hold: refused before allocating.
    let mut v = good.to_vec();
    v[57..61].copy_from_slice(&i32::MAX.to_be_bytes());
    let err = RecordBatch::decode(&Bytes::from(v), &lax).unwrap_err();
    assert_eq!(err.field, "RecordBatch.record_count");
    assert!(matches!(err.kind, DecodeErrorKind::CountTooLarge { .. }));

    // Unknown codec id.
    let mut v = good.to_vec();
    v[22] |= 0x06; // codec 6
    let err = RecordBatch::decode(&Bytes::from(v), &lax).unwrap_err();
    assert_eq!(err.field, "RecordBatch.attributes.compression");

    // Bad CRC.
    let mut v = good.to_vec();
    v[18] ^= 1;
    let err = RecordBatch::decode(&Bytes::from(v), &DecodeOptions::default()).unwrap_err();
    assert_eq!(err.field, "RecordBatch.crc");

    // Negative batch length is a framing error, not a partial batch.
    let mut v = good.to_vec();
    v[8..12].copy_from_slice(&(-5i32).to_be_bytes());
    let err = RecordBatch::decode_all(&Bytes::from(v), &lax).unwrap_err();
    assert_eq!(err.field, "RecordBatch.batch_length");

    // Unknown magic.
    let mut v = good.to_vec();
    v[16] = 3;
    let err = RecordBatch::decode_all(&Bytes::from(v), &lax).unwrap_err();
    assert_eq!(err.field, "RecordBatch.magic");
    assert_eq!(err.kind, DecodeErrorKind::InvalidValue { value: 3 });

    // A record length that runs past the batch.
    let mut v = good.to_vec();
    v[61] = 0x7e; // zigzag 63
    let err = RecordBatch::decode(&Bytes::from(v), &lax).unwrap_err();
    assert_eq!(err.field, "RecordBatch.records.length", "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..400)) {
        let bytes = Bytes::from(data);
        decode_any(&bytes, &DecodeOptions::default().with_verify_crc(false).with_max_decompressed_bytes(1 << 16));
    }

    #[test]
    fn arbitrary_records_behind_a_valid_header_never_panic(
        magic in prop::sample::select(vec![0i8, 1, 2]),
        codec in 0u8..8,
        count in any::<i32>(),
        body in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut v = BytesMut::new();
        v.put_i64(0);
        v.put_i32(49 + body.len() as i32);
        v.put_i32(0);
        v.put_i8(magic);
        v.put_u32(0);
        v.put_i16(codec as i16);
        v.put_slice(&[0u8; 34]);
        v.put_i32(count);
        v.put_slice(&body);
        let bytes = v.freeze();
        decode_any(&bytes, &DecodeOptions::default().with_verify_crc(false).with_max_decompressed_bytes(1 << 16));
    }

    #[test]
    fn arbitrary_compressed_payloads_never_panic(codec in 1u8..5, prefix in any::<bool>(), data in prop::collection::vec(any::<u8>(), 0..300)) {
        let c = Compression::from_id(codec).unwrap();
        let mut input = Vec::new();
        if prefix {
            // Reach past the container headers into the block decoders.
            match c {
                Compression::Snappy => { input.extend_from_slice(&XERIAL_MAGIC); input.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1]); }
                Compression::Lz4 => input.extend_from_slice(&[0x04, 0x22, 0x4D, 0x18, 0x60, 0x40, 0x82]),
                Compression::Zstd => input.extend_from_slice(&[0x28, 0xB5, 0x2F, 0xFD]),
                Compression::Gzip => input.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]),
                Compression::None => {}
            }
        }
        input.extend_from_slice(&data);
        let _ = c.decompress(&input, 1 << 16, "f");
    }
}

// ---- compression bombs ------------------------------------------------------

const BOMB: usize = 100 * 1024 * 1024;
const CAP: usize = 1024 * 1024;

/// 100 MiB of zeros in each codec, built from repeated small units (concatenated
/// gzip members / zstd frames, repeated xerial / lz4 blocks) so that building
/// it is cheap even in a debug build.
fn bomb(codec: Compression) -> Vec<u8> {
    let unit = 1024 * 1024;
    let zeros = vec![0u8; unit];
    let mut out = BytesMut::new();
    match codec {
        Compression::Gzip | Compression::Zstd => {
            codec.compress(&zeros, &mut out).unwrap();
            out.to_vec().repeat(BOMB / unit)
        }
        Compression::Snappy => {
            codec.compress(&zeros[..32 * 1024], &mut out).unwrap();
            let block = out[16..].to_vec();
            let mut v = out[..16].to_vec();
            v.extend_from_slice(&block.repeat(BOMB / (32 * 1024)));
            v
        }
        Compression::Lz4 => {
            codec.compress(&zeros[..64 * 1024], &mut out).unwrap();
            // header(7) + one block + end mark(4)
            let block = out[7..out.len() - 4].to_vec();
            let mut v = out[..7].to_vec();
            v.extend_from_slice(&block.repeat(BOMB / (64 * 1024)));
            v.extend_from_slice(&[0, 0, 0, 0]);
            v
        }
        Compression::None => unreachable!(),
    }
}

#[test]
fn compression_bombs_stop_at_the_cap() {
    let _serial = SERIAL.lock().unwrap();
    for codec in [Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd] {
        let payload = bomb(codec);
        // Wrap it in a batch claiming one record.
        let mut v = BytesMut::new();
        v.put_i64(0);
        v.put_i32((49 + payload.len()) as i32);
        v.put_i32(-1);
        v.put_i8(2);
        let crc_at = v.len();
        v.put_u32(0);
        v.put_i16(codec.id() as i16);
        v.put_i32(0);
        v.put_i64(0);
        v.put_i64(0);
        v.put_i64(-1);
        v.put_i16(-1);
        v.put_i32(-1);
        v.put_i32(1);
        v.put_slice(&payload);
        let crc = crc32c::crc32c(&v[crc_at + 4..]);
        v[crc_at..crc_at + 4].copy_from_slice(&crc.to_be_bytes());
        let bytes = v.freeze();
        drop(payload);

        let opts = DecodeOptions::default().with_max_decompressed_bytes(CAP);
        let base = LIVE.load(Ordering::Relaxed);
        PEAK.store(base, Ordering::Relaxed);
        let start = Instant::now();
        let err = RecordBatch::decode(&bytes, &opts).unwrap_err();
        let took = start.elapsed();
        let peak = PEAK.load(Ordering::Relaxed) - base;
        assert!(matches!(err.kind, DecodeErrorKind::LimitExceeded { limit, .. } if limit == CAP as u64), "{codec}: {err}");
        assert!(took < Duration::from_secs(5), "{codec}: took {took:?}");
        assert!(peak < 4 * CAP + (1 << 20), "{codec}: peak allocation {peak} bytes");
        eprintln!("{codec}: {} compressed bytes -> LimitExceeded in {took:?}, peak alloc {peak} B", bytes.len());

        // The same through the codec API directly.
        let err = codec.decompress(&bytes[61..], CAP, "f").unwrap_err();
        assert!(matches!(err.kind, DecodeErrorKind::LimitExceeded { .. }), "{codec}: {err}");
    }
}

#[test]
fn tiny_inputs_cannot_reserve_big_buffers() {
    let _serial = SERIAL.lock().unwrap();
    // Headers and block descriptors that claim a lot from a few bytes.
    let cases: Vec<(Compression, Vec<u8>)> = vec![
        // raw snappy declaring 60 MB
        (Compression::Snappy, vec![0x80, 0x80, 0x80, 0x1d, 0x00]),
        // lz4 frame with 4 MB blocks and one tiny compressed block
        (Compression::Lz4, vec![0x04, 0x22, 0x4D, 0x18, 0x60, 0x70, 0x00, 3, 0, 0, 0, 0x1f, 0x00, 0x01]),
        // lz4 frame declaring a 60 MB content size
        (Compression::Lz4, vec![0x04, 0x22, 0x4D, 0x18, 0x68, 0x70, 0, 0, 0, 0x90, 0x03, 0, 0, 0, 0x00, 0, 0, 0, 0]),
        // zstd frame header declaring a 2 GB window
        (Compression::Zstd, vec![0x28, 0xB5, 0x2F, 0xFD, 0x00, 0xA8, 0x01, 0x00, 0x00]),
        // gzip with an ISIZE trailer of 4 GB
        (Compression::Gzip, vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff, 3, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]),
    ];
    for (codec, input) in cases {
        let base = LIVE.load(Ordering::Relaxed);
        PEAK.store(base, Ordering::Relaxed);
        let res = codec.decompress(&input, 64 << 20, "f");
        let peak = PEAK.load(Ordering::Relaxed) - base;
        assert!(peak < 1 << 20, "{codec}: {input:02x?} allocated {peak} bytes ({res:?})");
    }
}
