//! What one benchmark cell measures: record size, count, codec, and the
//! producer settings every client gets alike.

use std::path::{Path, PathBuf};

use crate::payload::json_payloads;

/// The codecs the tables compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Compression {
    None,
    Lz4,
}

impl Compression {
    /// The `compression.type` value (Java, librdkafka and rill agree on it).
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Lz4 => "lz4",
        }
    }

    pub fn parse(text: &str) -> Option<Compression> {
        match text {
            "none" => Some(Compression::None),
            "lz4" => Some(Compression::Lz4),
            _ => None,
        }
    }
}

/// One cell of the table.
#[derive(Debug, Clone)]
pub struct Workload {
    pub records: u64,
    pub record_bytes: usize,
    pub compression: Compression,
    pub partitions: u32,
    /// Shared producer settings: acks=all, this linger and batch size, idempotence on.
    pub linger_ms: u64,
    pub batch_bytes: usize,
}

impl Workload {
    /// `linger.ms=5` is the Java client's default since Kafka 4.0 and
    /// librdkafka's; one batch size for everyone keeps batching comparable.
    pub fn new(records: u64, record_bytes: usize, compression: Compression) -> Workload {
        Workload { records, record_bytes, compression, partitions: 6, linger_ms: 5, batch_bytes: 256 * 1024 }
    }

    pub fn label(&self) -> String {
        format!("{} B, {}", self.record_bytes, self.compression.name())
    }

    /// Producer properties in Java / librdkafka names, shared by every client.
    pub fn producer_properties(&self, bootstrap: &str) -> Vec<(String, String)> {
        [
            ("bootstrap.servers", bootstrap.to_string()),
            ("acks", "all".to_string()),
            ("enable.idempotence", "true".to_string()),
            ("compression.type", self.compression.name().to_string()),
            ("linger.ms", self.linger_ms.to_string()),
            ("batch.size", self.batch_bytes.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

/// Writes 1024 distinct JSON payloads of `record_bytes` each, one per line
/// (they hold no newline), to `dir/payloads-<size>.txt`: the file every
/// client reads, so all send the same bytes.
pub fn write_payload_file(dir: &Path, record_bytes: usize) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("payloads-{record_bytes}.txt"));
    let mut text = Vec::with_capacity(1024 * (record_bytes + 1));
    for payload in json_payloads(1024, record_bytes, 0x5eed) {
        text.extend(payload.iter().map(|&b| if b == b'\n' { b' ' } else { b }));
        text.push(b'\n');
    }
    std::fs::write(&path, text)?;
    Ok(path)
}

/// Reads a payload file back (one value per line).
pub fn read_payload_file(path: &Path) -> std::io::Result<Vec<bytes::Bytes>> {
    let text = std::fs::read(path)?;
    Ok(text.split(|&b| b == b'\n').filter(|line| !line.is_empty()).map(bytes::Bytes::copy_from_slice).collect())
}
