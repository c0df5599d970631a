//! Writes the record batch benchmark's records, as uncompressed batches
//! rill encodes, one file a shape (`DIR/<shape>_none.bin`), for
//! `benches/data/regenerate.sh` to have Apache Kafka's Java code write
//! them again with each codec.
//!
//! Usage: cargo run -p rill-benches --bin bench-batches -- DIR

use rill_benches::record_batch::{Input, SHAPES};
use rill_protocol::compression::Compression;

fn main() {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: bench-batches DIR");
        std::process::exit(2);
    };
    for (size, count, label) in SHAPES {
        let path = std::path::Path::new(&dir).join(format!("{label}_none.bin"));
        if let Err(e) = std::fs::write(&path, Input::new(count, size).rill_encode(Compression::None)) {
            eprintln!("bench-batches: writing {}: {e}", path.display());
            std::process::exit(1);
        }
    }
}
