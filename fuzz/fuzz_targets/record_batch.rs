//! Fuzz target: record batch decode (magic 0, 1 and 2) with decompression of
//! all four codecs under a 1 MiB cap; decoded magic-2 batches must round-trip,
//! and their borrowed views must read the same records.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| rill_fuzz::record_batches(data));
