//! Prints the side-by-side table of the last `cargo bench -p rill-benches` run.
//!
//! Usage: cargo run -p rill-benches --bin bench-report [-- <criterion dir>]

use std::path::PathBuf;

fn main() {
    let dir =
        std::env::args().nth(1).map(PathBuf::from).unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/criterion"));
    let table = rill_benches::report::load(&dir);
    if table.is_empty() {
        eprintln!("no criterion results under {}: run `cargo bench -p rill-benches` first", dir.display());
        std::process::exit(1);
    }
    print!("{}", rill_benches::report::render(&table, "kafka-protocol"));
}
