//! Prints the record batches in a file of Kafka records (a Fetch response's
//! `records` field, a log segment's contents, a captured Produce payload).
//!
//!   cargo run -p rill-protocol --example inspect -- [FILE]
//!
//! Without FILE it reads a gzip batch that Apache Kafka's Java producer code
//! wrote (one of the golden vectors).

use std::process::ExitCode;

use bytes::Bytes;
use rill_protocol::records::{DecodeOptions, RecordBatches};

fn show(bytes: Option<&Bytes>) -> String {
    match bytes {
        None => "null".to_string(),
        Some(b) => match std::str::from_utf8(b) {
            Ok(s) => format!("{s:?}"),
            Err(_) => format!("0x{}", b.iter().map(|x| format!("{x:02x}")).collect::<String>()),
        },
    }
}

fn main() -> ExitCode {
    let path =
        std::env::args().nth(1).unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/records_v2_gzip.bin").to_string());
    let bytes = match std::fs::read(&path) {
        Ok(b) => Bytes::from(b),
        Err(e) => {
            eprintln!("cannot read {path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("{path}: {} bytes", bytes.len());
    let mut batches = RecordBatches::new(&bytes, &DecodeOptions::default());
    for batch in batches.by_ref() {
        let batch = match batch {
            Ok(b) => b,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        };
        println!(
            "batch base_offset={} magic={} codec={:?} records={} producer_id={} epoch={} base_sequence={} transactional={} control={}",
            batch.base_offset,
            batch.magic,
            batch.compression(),
            batch.records.len(),
            batch.producer_id,
            batch.producer_epoch,
            batch.base_sequence,
            batch.is_transactional(),
            batch.is_control()
        );
        for (offset, timestamp, record) in batch.iter() {
            let headers: Vec<String> =
                record.headers.iter().map(|h| format!("{}={}", String::from_utf8_lossy(&h.key), show(h.value.as_ref()))).collect();
            println!(
                "  offset={offset} timestamp={timestamp} key={} value={} headers=[{}]",
                show(record.key.as_ref()),
                show(record.value.as_ref()),
                headers.join(", ")
            );
        }
    }
    if batches.trailing_partial() > 0 {
        println!("({} bytes of a partial batch at the end)", batches.trailing_partial());
    }
    ExitCode::SUCCESS
}
