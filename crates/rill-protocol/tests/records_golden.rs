//! Record batches written by Apache Kafka's Java client (tests/golden/records_*.bin,
//! described in tests/golden/records.txt) decode to what Java wrote, and
//! re-encoding magic-2 batches gives batches that decode to the same values.

use std::collections::BTreeMap;
use std::path::PathBuf;

use bytes::{Bytes, BytesMut};
use rill_protocol::compression::Compression;
use rill_protocol::records::legacy::{encode_message_set, LegacyMessage};
use rill_protocol::records::{control, ControlRecordType, DecodeOptions, RecordBatch, RecordBatches};

#[derive(Debug, Default)]
struct WantBatch {
    fields: BTreeMap<String, String>,
    records: Vec<BTreeMap<String, String>>,
}

fn kv(line: &str) -> BTreeMap<String, String> {
    line.split(' ').filter_map(|p| p.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn load() -> BTreeMap<String, Vec<WantBatch>> {
    let text = std::fs::read_to_string(golden_dir().join("records.txt")).unwrap();
    let mut out: BTreeMap<String, Vec<WantBatch>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("batch ") {
            let name = rest.split(' ').next().unwrap().to_string();
            out.entry(name.clone()).or_default().push(WantBatch { fields: kv(rest), records: vec![] });
            current = Some(name);
        } else if let Some(rest) = line.strip_prefix("record ") {
            let name = current.as_ref().unwrap();
            out.get_mut(name).unwrap().last_mut().unwrap().records.push(kv(rest));
        }
    }
    out
}

fn hex(b: Option<&[u8]>) -> String {
    match b {
        None => "null".into(),
        Some([]) => "-".into(),
        Some(b) => b.iter().map(|x| format!("{x:02x}")).collect(),
    }
}

fn check(name: &str, want: &[WantBatch], got: &[RecordBatch]) {
    assert_eq!(want.len(), got.len(), "{name}: batch count");
    for (w, g) in want.iter().zip(got) {
        let f = &w.fields;
        let ctx = format!("{name} @ {}", g.base_offset);
        assert_eq!(f["magic"], g.magic.to_string(), "{ctx} magic");
        assert_eq!(f["codec"], g.compression().unwrap().name(), "{ctx} codec");
        assert_eq!(f["last_offset"], g.last_offset().to_string(), "{ctx} last_offset");
        assert_eq!(f["records"], g.records.len().to_string(), "{ctx} count");
        if g.magic == 2 {
            assert_eq!(f["base_offset"], g.base_offset.to_string(), "{ctx}");
            assert_eq!(f["partition_leader_epoch"], g.partition_leader_epoch.to_string(), "{ctx}");
            assert_eq!(f["producer_id"], g.producer_id.to_string(), "{ctx}");
            assert_eq!(f["producer_epoch"], g.producer_epoch.to_string(), "{ctx}");
            assert_eq!(f["base_sequence"], g.base_sequence.to_string(), "{ctx}");
            assert_eq!(f["transactional"], g.is_transactional().to_string(), "{ctx}");
            assert_eq!(f["control"], g.is_control().to_string(), "{ctx}");
        }
        for (wr, (offset, ts, r)) in w.records.iter().zip(g.iter()) {
            assert_eq!(wr["offset"], offset.to_string(), "{ctx} offset");
            assert_eq!(wr["timestamp"], ts.to_string(), "{ctx} timestamp of {offset}");
            assert_eq!(wr["key"], hex(r.key.as_deref()), "{ctx} key of {offset}");
            assert_eq!(wr["value"], hex(r.value.as_deref()), "{ctx} value of {offset}");
            let headers = if r.headers.is_empty() {
                "none".to_string()
            } else {
                r.headers.iter().map(|h| format!("{}:{}", hex(Some(&h.key)), hex(h.value.as_deref()))).collect::<Vec<_>>().join(",")
            };
            assert_eq!(wr["headers"], headers, "{ctx} headers of {offset}");
        }
    }
}

#[test]
fn java_batches_decode_to_what_java_wrote() {
    let all = load();
    assert!(all.len() >= 15, "only {} vectors", all.len());
    for (name, want) in &all {
        let bytes = Bytes::from(std::fs::read(golden_dir().join(format!("{name}.bin"))).unwrap());
        let got = RecordBatch::decode_all(&bytes, &DecodeOptions::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
        check(name, want, &got);

        // Every strict prefix decodes without error to a prefix of the batches.
        for cut in 0..bytes.len() {
            let part = bytes.slice(..cut);
            let got_part = RecordBatch::decode_all(&part, &DecodeOptions::default()).unwrap_or_else(|e| panic!("{name} cut at {cut}: {e}"));
            assert!(got_part.len() < got.len() || cut == bytes.len());
            assert_eq!(&got[..got_part.len()], &got_part[..]);
        }

        // Magic 2: our encoding of the decoded batches decodes to the same values.
        if got.iter().all(|b| b.magic == 2) {
            let mut out = BytesMut::new();
            for b in &got {
                b.encode(&mut out).unwrap();
            }
            let out = out.freeze();
            let again = RecordBatch::decode_all(&out, &DecodeOptions::default()).unwrap();
            check(name, want, &again);
            // Uncompressed batches are byte-identical to Java's.
            if got.iter().all(|b| b.compression() == Some(Compression::None)) {
                assert_eq!(out, bytes, "{name}: re-encoding differs from Java's bytes");
            }
        }
    }
}

#[test]
fn java_control_batches_parse() {
    for (name, commit) in [("records_v2_control_commit", true), ("records_v2_control_abort", false)] {
        let bytes = Bytes::from(std::fs::read(golden_dir().join(format!("{name}.bin"))).unwrap());
        let b = RecordBatch::decode(&bytes, &DecodeOptions::default()).unwrap();
        let want = if commit { ControlRecordType::Commit } else { ControlRecordType::Abort };
        assert_eq!(control::control_type(&b), Some(want));
        let marker = control::EndTxnMarker::parse(b.records[0].value.as_deref().unwrap()).unwrap();
        assert_eq!(marker.coordinator_epoch, 9);
        // Ours, with the same fields, is byte-identical.
        let ours = control::end_txn_marker(BytesMut::new(), 1005, 4001, 2, commit, 9, 1_700_000_001_000).unwrap();
        let mut ours_b = RecordBatch::decode(&ours.freeze(), &DecodeOptions::default()).unwrap();
        ours_b.partition_leader_epoch = b.partition_leader_epoch;
        let mut re = BytesMut::new();
        ours_b.encode(&mut re).unwrap();
        assert_eq!(re.freeze(), bytes, "{name}");
    }
}

#[test]
fn java_uncompressed_batch_is_zero_copy() {
    let bytes = Bytes::from(std::fs::read(golden_dir().join("records_v2_none.bin")).unwrap());
    let range = bytes.as_ptr_range();
    let mut it = RecordBatches::new(&bytes, &DecodeOptions::default());
    let b = it.next().unwrap().unwrap();
    assert!(it.next().is_none());
    for r in &b.records {
        for part in [r.key.as_ref(), r.value.as_ref()].into_iter().flatten().chain(r.headers.iter().filter_map(|h| h.value.as_ref())) {
            if !part.is_empty() {
                assert!(range.contains(&part.as_ptr()), "not a slice of the input");
            }
        }
    }
}

/// With `RILL_GOLDEN_OUT=dir`, writes rill's own encoding of every record
/// vector there, for the Java side to check
/// (`java -cp ... rill.golden.Main verify dir`); otherwise does nothing.
#[test]
fn write_rill_encodings_for_java_verify() {
    let Ok(dir) = std::env::var("RILL_GOLDEN_OUT") else { return };
    std::fs::create_dir_all(&dir).unwrap();
    for name in load().keys() {
        let bytes = Bytes::from(std::fs::read(golden_dir().join(format!("{name}.bin"))).unwrap());
        let got = RecordBatch::decode_all(&bytes, &DecodeOptions::default()).unwrap();
        let mut out = BytesMut::new();
        for b in &got {
            if b.magic == 2 {
                b.encode(&mut out).unwrap();
            } else {
                // Legacy: our magic 0/1 writer, same messages.
                let msgs: Vec<LegacyMessage> =
                    b.iter().map(|(_, ts, r)| LegacyMessage { timestamp: ts, key: r.key.clone(), value: r.value.clone() }).collect();
                encode_message_set(&mut out, b.magic, b.compression().unwrap(), b.timestamp_type(), b.base_offset, &msgs).unwrap();
            }
        }
        std::fs::write(format!("{dir}/{name}.bin"), &out).unwrap();
    }
}
