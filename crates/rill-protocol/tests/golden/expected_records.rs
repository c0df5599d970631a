//! The expected contents of the record batch vectors, parsed from
//! `tests/golden/records.txt` (written by the Java program next to the batches).
#![allow(dead_code, clippy::all)]

use bytes::{Bytes, BytesMut};
use rill_protocol::compression::Compression;
use rill_protocol::records::legacy::{encode_message_set, LegacyMessage};
use rill_protocol::records::{ControlRecordType, EndTxnMarker, Header, RecordBatchBuilder, TimestampType};

#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedRecord {
    pub offset: i64,
    /// As readers see it (the batch's for LogAppendTime batches).
    pub timestamp: i64,
    /// As the producer set it (what the record's timestamp delta encodes).
    pub create_timestamp: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<Header>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedBatch {
    pub magic: i8,
    pub codec: Compression,
    pub base_offset: i64,
    pub last_offset: i64,
    pub partition_leader_epoch: i32,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub transactional: bool,
    pub control: bool,
    /// `None` for magic 0, which has no timestamps.
    pub timestamp_type: Option<TimestampType>,
    pub records: Vec<ExpectedRecord>,
}

impl ExpectedBatch {
    pub fn max_timestamp(&self) -> i64 {
        self.records.iter().map(|r| r.timestamp).max().unwrap_or(-1).max(-1)
    }
}

/// One file of batches.
#[derive(Debug, Clone)]
pub struct ExpectedVector {
    pub name: String,
    pub batches: Vec<ExpectedBatch>,
}

impl ExpectedVector {
    pub fn magic(&self) -> i8 {
        self.batches[0].magic
    }
    pub fn records(&self) -> impl Iterator<Item = &ExpectedRecord> {
        self.batches.iter().flat_map(|b| b.records.iter())
    }
}

/// `-` is empty, `null` is null, anything else lowercase hex.
pub fn parse_bytes(s: &str) -> Option<Bytes> {
    match s {
        "null" => None,
        "-" => Some(Bytes::new()),
        hex => {
            assert!(hex.len() % 2 == 0, "odd hex string {hex}");
            let v = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or_else(|_| panic!("bad hex {hex}")))
                .collect::<Vec<u8>>();
            Some(Bytes::from(v))
        }
    }
}

fn codec(name: &str) -> Compression {
    Compression::ALL.into_iter().find(|c| c.name() == name).unwrap_or_else(|| panic!("unknown codec {name}"))
}

fn fields(line: &str) -> std::collections::HashMap<&str, &str> {
    line.split_whitespace().filter_map(|kv| kv.split_once('=')).collect()
}

fn get<'a>(f: &std::collections::HashMap<&str, &'a str>, k: &str, line: &str) -> &'a str {
    f.get(k).copied().unwrap_or_else(|| panic!("records.txt: no {k} in: {line}"))
}

fn num<T: std::str::FromStr>(f: &std::collections::HashMap<&str, &str>, k: &str, line: &str) -> T {
    get(f, k, line).parse().unwrap_or_else(|_| panic!("records.txt: bad {k} in: {line}"))
}

pub fn parse(text: &str) -> Vec<ExpectedVector> {
    let mut out: Vec<ExpectedVector> = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')) {
        let f = fields(line);
        if let Some(rest) = line.strip_prefix("batch ") {
            let name = rest.split_whitespace().next().expect("batch name").to_string();
            let batch = ExpectedBatch {
                magic: num(&f, "magic", line),
                codec: codec(get(&f, "codec", line)),
                base_offset: num(&f, "base_offset", line),
                last_offset: num(&f, "last_offset", line),
                partition_leader_epoch: num(&f, "partition_leader_epoch", line),
                producer_id: num(&f, "producer_id", line),
                producer_epoch: num(&f, "producer_epoch", line),
                base_sequence: num(&f, "base_sequence", line),
                transactional: num(&f, "transactional", line),
                control: num(&f, "control", line),
                timestamp_type: match get(&f, "timestamp_type", line) {
                    "create" => Some(TimestampType::CreateTime),
                    "log_append" => Some(TimestampType::LogAppendTime),
                    "none" => None,
                    t => panic!("records.txt: unknown timestamp_type {t}"),
                },
                records: Vec::new(),
            };
            match out.last_mut() {
                Some(v) if v.name == name => v.batches.push(batch),
                _ => out.push(ExpectedVector { name, batches: vec![batch] }),
            }
        } else if line.starts_with("record ") {
            let headers = match get(&f, "headers", line) {
                "none" => Vec::new(),
                hs => hs
                    .split(',')
                    .map(|h| {
                        let (k, v) = h.split_once(':').expect("header key:value");
                        Header { key: parse_bytes(k).expect("header key is never null"), value: parse_bytes(v) }
                    })
                    .collect(),
            };
            let rec = ExpectedRecord {
                offset: num(&f, "offset", line),
                timestamp: num(&f, "timestamp", line),
                create_timestamp: num(&f, "create_timestamp", line),
                key: parse_bytes(get(&f, "key", line)),
                value: parse_bytes(get(&f, "value", line)),
                headers,
            };
            out.last_mut().and_then(|v| v.batches.last_mut()).expect("record line before any batch line").records.push(rec);
        } else {
            panic!("records.txt: unexpected line: {line}");
        }
    }
    out
}

pub fn load() -> Vec<ExpectedVector> {
    let path = crate::values::golden_dir().join("records.txt");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    parse(&text)
}

/// Writes the expected batches with rill: the magic-2 builder, or the legacy
/// message set encoder for magic 0/1 (one call per Java "batch": an uncompressed
/// legacy message, or one compressed wrapper).
pub fn rill_write(v: &ExpectedVector) -> Result<Bytes, String> {
    let mut out = BytesMut::new();
    for b in &v.batches {
        if b.magic >= 2 {
            let mut builder = RecordBatchBuilder::with_buffer(std::mem::take(&mut out), b.base_offset)
                .compression(b.codec)
                .timestamp_type(b.timestamp_type.unwrap_or_default())
                .transactional(b.transactional)
                .control(b.control)
                .producer(b.producer_id, b.producer_epoch, b.base_sequence)
                .partition_leader_epoch(b.partition_leader_epoch);
            for r in &b.records {
                let (key, value) = if b.control { control_record(r)? } else { (r.key.clone(), r.value.clone()) };
                builder
                    .append(r.create_timestamp, key.as_deref(), value.as_deref(), &r.headers)
                    .map_err(|e| format!("rill cannot append a record: {e}"))?;
            }
            if b.timestamp_type == Some(TimestampType::LogAppendTime) {
                builder = builder.max_timestamp(b.max_timestamp());
            }
            out = builder.finish().map_err(|e| format!("rill cannot finish the batch: {e}"))?;
        } else {
            let messages: Vec<LegacyMessage> = b
                .records
                .iter()
                .map(|r| LegacyMessage { timestamp: r.create_timestamp, key: r.key.clone(), value: r.value.clone() })
                .collect();
            let first = b.records[0].offset;
            let ts_type = b.timestamp_type.unwrap_or_default();
            encode_message_set(&mut out, b.magic, b.codec, ts_type, first, &messages)
                .map_err(|e| format!("rill cannot write the magic {} message set: {e}", b.magic))?;
        }
    }
    Ok(out.freeze())
}

/// The key and value of a transaction marker, written by rill's control record API
/// (only the marker type and coordinator epoch are taken from Java's record).
fn control_record(r: &ExpectedRecord) -> Result<(Option<Bytes>, Option<Bytes>), String> {
    let (_, kind) = ControlRecordType::parse_key(r.key.as_deref().unwrap_or_default()).map_err(|e| e.to_string())?;
    let marker = EndTxnMarker::parse(r.value.as_deref().unwrap_or_default()).map_err(|e| e.to_string())?;
    let value = EndTxnMarker { version: 0, coordinator_epoch: marker.coordinator_epoch }.value_bytes();
    Ok((Some(kind.key_bytes()), Some(value)))
}
