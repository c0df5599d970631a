//! Golden vectors from Apache Kafka's own Java code (kafka-clients 4.3.1), read by rill.
//!
//! The vectors in tests/golden/ are written by golden/java (see golden/regenerate.sh).
//! For every message vector, rill decodes Java's bytes and the result must equal,
//! field for field, the same value built in Rust (tests/golden/values.rs mirrors
//! Messages.java); and rill's encoding of that Rust value must be byte-identical to
//! Java's. For every record batch vector, rill decodes Java's batches and every batch
//! and record field must equal what records.txt says Java wrote; uncompressed batches
//! rill builds from the same records must be byte-identical to Java's, compressed ones
//! (whose bytes legitimately differ) must decode back to the same records.
//!
//! No Java is needed to run these tests; golden_java_decodes_rill.rs checks the
//! other direction.

#[path = "golden/expected_records.rs"]
mod expected_records;
#[path = "golden/values.rs"]
mod values;

use std::collections::BTreeSet;

use bytes::BytesMut;
use expected_records::{rill_write, ExpectedBatch};
use rill_protocol::compression::Compression;
use rill_protocol::records::{DecodeOptions, RecordBatch};
use values::{golden, manifest};

fn report(what: &str, failures: Vec<String>, total: usize) {
    assert!(total > 0, "{what}: no vectors checked");
    if !failures.is_empty() {
        panic!("{what}: {} of {total} vectors failed:\n\n{}", failures.len(), failures.join("\n\n"));
    }
}

/// The first offset where two byte strings differ, with a little of each around it.
fn byte_difference(got: &[u8], want: &[u8]) -> String {
    let i = got.iter().zip(want).position(|(a, b)| a != b).unwrap_or(got.len().min(want.len()));
    let from = i.saturating_sub(8);
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    format!(
        "rill wrote {} bytes, Java {}; first difference at byte {i}:\n  rill: ..{}\n  java: ..{}",
        got.len(),
        want.len(),
        hex(&got[from.min(got.len())..(i + 16).min(got.len())]),
        hex(&want[from.min(want.len())..(i + 16).min(want.len())]),
    )
}

// ---- messages ------------------------------------------------------------------------------

#[test]
fn every_java_message_vector_has_a_rust_value() {
    let rust: BTreeSet<(String, i16)> = values::all().0.iter().map(|v| (v.name().to_string(), v.version())).collect();
    let java: BTreeSet<(String, i16)> = manifest().into_iter().filter(|e| e.kind != "records").map(|e| (e.name, e.version)).collect();
    assert!(java.len() >= 90, "only {} message vectors in the manifest", java.len());
    let missing: Vec<_> = java.difference(&rust).collect();
    let extra: Vec<_> = rust.difference(&java).collect();
    assert!(missing.is_empty(), "Java vectors with no Rust value in tests/golden/values.rs: {missing:?}");
    assert!(extra.is_empty(), "Rust values with no Java vector (run golden/regenerate.sh?): {extra:?}");
}

#[test]
fn rill_decodes_java_messages_field_for_field() {
    let all = values::all();
    let mut failures = Vec::new();
    for v in &all.0 {
        if let Err(e) = v.decode_and_compare(&golden(v.name())) {
            failures.push(format!("{} (v{}): {e}", v.name(), v.version()));
        }
    }
    report("rill decoding Java's messages", failures, all.0.len());
}

#[test]
fn rill_encodes_messages_byte_identical_to_java() {
    let all = values::all();
    let mut failures = Vec::new();
    for v in &all.0 {
        let java = golden(v.name());
        match v.encode() {
            Ok(rill) if rill == java[..] => {}
            Ok(rill) => failures.push(format!("{} (v{}): {}", v.name(), v.version(), byte_difference(&rill, &java))),
            Err(e) => failures.push(format!("{} (v{}): {e}", v.name(), v.version())),
        }
    }
    report("rill encoding messages", failures, all.0.len());
}

// ---- record batches ------------------------------------------------------------------------------

/// Checks decoded batches against what Java wrote, field by field.
pub fn compare_batches(got: &[RecordBatch], want: &[ExpectedBatch]) -> Result<(), String> {
    if got.len() != want.len() {
        return Err(format!("{} batches, want {}", got.len(), want.len()));
    }
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let mut diffs = Vec::new();
        let mut check = |what: &str, got: String, want: String| {
            if got != want {
                diffs.push(format!("{what} is {got}, want {want}"));
            }
        };
        let ts_type = w.timestamp_type;
        check("magic", g.magic.to_string(), w.magic.to_string());
        check("compression", format!("{:?}", g.compression()), format!("{:?}", Some(w.codec)));
        if w.magic > 0 {
            check("timestamp type", format!("{:?}", Some(g.timestamp_type())), format!("{ts_type:?}"));
        }
        check("base offset", g.base_offset.to_string(), w.base_offset.to_string());
        check("last offset", g.last_offset().to_string(), w.last_offset.to_string());
        check("max timestamp", g.max_timestamp.to_string(), w.max_timestamp().to_string());
        check("partition leader epoch", g.partition_leader_epoch.to_string(), w.partition_leader_epoch.to_string());
        check("producer id", g.producer_id.to_string(), w.producer_id.to_string());
        check("producer epoch", g.producer_epoch.to_string(), w.producer_epoch.to_string());
        check("base sequence", g.base_sequence.to_string(), w.base_sequence.to_string());
        check("transactional", g.is_transactional().to_string(), w.transactional.to_string());
        check("control", g.is_control().to_string(), w.control.to_string());
        check("record count", g.record_count().to_string(), w.records.len().to_string());
        for (j, ((offset, timestamp, r), wr)) in g.iter().zip(&w.records).enumerate() {
            check(&format!("record {j} offset"), offset.to_string(), wr.offset.to_string());
            check(&format!("record {j} timestamp"), timestamp.to_string(), wr.timestamp.to_string());
            check(&format!("record {j} key"), format!("{:?}", r.key), format!("{:?}", wr.key));
            check(&format!("record {j} value"), format!("{:?}", r.value), format!("{:?}", wr.value));
            check(&format!("record {j} headers"), format!("{:?}", r.headers), format!("{:?}", wr.headers));
        }
        if !diffs.is_empty() {
            return Err(format!("batch {i}: {}", diffs.join("; ")));
        }
    }
    Ok(())
}

#[test]
fn rill_decodes_java_record_batches_field_for_field() {
    let vectors = expected_records::load();
    let in_manifest: BTreeSet<String> = manifest().into_iter().filter(|e| e.kind == "records").map(|e| e.name).collect();
    let described: BTreeSet<String> = vectors.iter().map(|v| v.name.clone()).collect();
    assert_eq!(in_manifest, described, "manifest.txt and records.txt list different batch vectors");
    let codecs: BTreeSet<&str> = vectors.iter().flat_map(|v| v.batches.iter().map(|b| b.codec.name())).collect();
    assert_eq!(codecs.len(), 5, "expected batches with every codec, got {codecs:?}");

    let mut failures = Vec::new();
    for v in &vectors {
        let bytes = golden(&v.name);
        let result = RecordBatch::decode_all(&bytes, &DecodeOptions::default())
            .map_err(|e| format!("rill cannot decode it: {e}"))
            .and_then(|got| compare_batches(&got, &v.batches));
        if let Err(e) = result {
            failures.push(format!("{}: {e}", v.name));
        }
    }
    report("rill decoding Java's record batches", failures, vectors.len());
}

#[test]
fn rill_writes_record_batches_java_wrote() {
    let mut failures = Vec::new();
    let mut identical = 0;
    let vectors = expected_records::load();
    for v in &vectors {
        let java = golden(&v.name);
        let compressed = v.batches.iter().any(|b| b.codec != Compression::None);
        let result = rill_write(v).and_then(|rill| {
            if !compressed {
                // Same records, same header fields, no codec: the bytes must match exactly.
                if rill != java {
                    return Err(byte_difference(&rill, &java));
                }
                identical += 1;
            }
            // Either way, what rill wrote must decode to what Java wrote.
            let back =
                RecordBatch::decode_all(&rill, &DecodeOptions::default()).map_err(|e| format!("rill cannot decode its own batch: {e}"))?;
            compare_batches(&back, &v.batches).map_err(|e| format!("rill's own batch: {e}"))
        });
        if let Err(e) = result {
            failures.push(format!("{}: {e}", v.name));
        }
    }
    assert!(identical >= 6, "only {identical} uncompressed vectors compared byte for byte");
    report("rill writing record batches", failures, vectors.len());
}

#[test]
fn rill_reencodes_decoded_uncompressed_v2_batches_byte_identical() {
    let mut failures = Vec::new();
    let mut n = 0;
    for v in expected_records::load() {
        if v.magic() != 2 || v.batches.iter().any(|b| b.codec != Compression::None) {
            continue;
        }
        n += 1;
        let java = golden(&v.name);
        let result = RecordBatch::decode_all(&java, &DecodeOptions::default()).map_err(|e| format!("rill cannot decode it: {e}")).and_then(
            |batches| {
                let mut out = BytesMut::new();
                for b in &batches {
                    b.encode(&mut out).map_err(|e| format!("rill cannot re-encode it: {e}"))?;
                }
                if out[..] != java[..] {
                    return Err(byte_difference(&out, &java));
                }
                Ok(())
            },
        );
        if let Err(e) = result {
            failures.push(format!("{}: {e}", v.name));
        }
    }
    report("rill re-encoding Java's uncompressed batches", failures, n);
}
