//! Paired record batch benchmark: rill against the `kafka-protocol` crate on
//! the same inputs, timed in alternating rounds by thread CPU time (see
//! `rill_benches::paired`). Prints a markdown table of ns/record and the
//! speed-up (median of per-round ratios, with the interquartile range).
//!
//!   cargo bench -p rill-benches --bench record_batch_ratio
//!   cargo bench -p rill-benches --bench record_batch_ratio -- encode_none   # only rows whose name contains it

use std::hint::black_box;
use std::time::Duration;

use rill_benches::paired::{compare, compare_consuming, Paired};
use rill_benches::record_batch::*;
use rill_protocol::compression::{BufferPool, Compression};
use rill_protocol::records::DecodeOptions;

const ROUNDS: usize = 15;
const ROUND_TIME: Duration = Duration::from_millis(60);

fn row(name: &str, ours: &str, r: &Paired) {
    println!("| {name} | {ours} | {:.1} | {:.1} | {:.2}x ({:.2}-{:.2}) |", r.b_ns, r.a_ns, r.speedup_of_a, r.speedup_p25, r.speedup_p75);
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing special: run a tiny round then.
    let quick = !std::env::args().any(|a| a == "--bench");
    let (rounds, round_time) = if quick { (1, Duration::from_millis(1)) } else { (ROUNDS, ROUND_TIME) };
    // Arguments that are not flags pick benchmarks by a part of their name
    // (to profile one, or re-measure a few).
    let filters: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let wanted = |name: &str| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()));
    println!("| benchmark | rill variant | kafka-protocol ns/record | rill ns/record | rill speed-up (IQR) |");
    println!("|---|---|---:|---:|---:|");
    let opts = DecodeOptions::default();
    let pooled = DecodeOptions::default().with_buffers(BufferPool::new(64 * 1024 * 1024));
    for (size, count, size_label) in SHAPES {
        let input = Input::new(count, size);
        let kp_records = input.kp_records();
        for codec in CODECS {
            let id = format!("{}_{size_label}", codec_name(codec));
            let n = count as u64;
            if wanted(&format!("encode_{id}")) {
                let r = compare(n, rounds, round_time, &mut || drop(black_box(input.rill_encode(codec))), &mut || {
                    drop(black_box(kp_encode(&kp_records, codec, input.bytes_hint())))
                });
                row(&format!("encode_{id}"), "builder", &r);
                if codec == Compression::None {
                    // kafka-protocol encodes its own `Record` values, which
                    // the rows above make before timing; an application
                    // makes them from its keys and values for every batch
                    // (a reference count taken per key and value, and
                    // dropped after). rill's builder takes the keys and
                    // values as they are.
                    let r = compare(n, rounds, round_time, &mut || drop(black_box(input.rill_encode(codec))), &mut || {
                        drop(black_box(kp_encode(&input.kp_records(), codec, input.bytes_hint())))
                    });
                    row(&format!("encode_{id}"), "builder; kafka-protocol makes its records in the loop", &r);
                }
                if codec == Compression::None && size >= rill_protocol::records::SHARE_MIN_BYTES {
                    // As the producer encodes: values moved in and kept by
                    // reference, the batch in pieces (written out with one
                    // writev); kafka-protocol borrows its records.
                    let r = compare_consuming(
                        n,
                        rounds,
                        round_time,
                        &mut || input.values(),
                        &mut |values| drop(black_box(input.rill_encode_shared(values, codec))),
                        &mut || drop(black_box(kp_encode(&kp_records, codec, input.bytes_hint()))),
                    );
                    row(&format!("encode_{id}"), "values by reference", &r);
                }
                if codec == Compression::None {
                    let r = compare(n, rounds, round_time, &mut || drop(black_box(floor::copy_and_crc(&input))), &mut || {
                        drop(black_box(kp_encode(&kp_records, codec, input.bytes_hint())))
                    });
                    row(&format!("encode_{id}"), "floor: copy and CRC only", &r);
                }
            }
            if !wanted(&format!("decode_{id}")) {
                continue;
            }
            // Compressed batches as a Java producer writes them (see
            // `java_written`), then as rill writes them; uncompressed
            // batches are the same bytes whoever writes them.
            let mut inputs = vec![];
            if let Some(java) = java_written(size_label, codec) {
                input.check_holds(&java).expect("run benches/data/regenerate.sh");
                inputs.push((" (Java-written)", java));
            }
            let written_by_rill = if codec == Compression::None { "" } else { " (rill-written)" };
            inputs.push((written_by_rill, input.rill_encode(codec).freeze()));
            for (written_by, encoded) in &inputs {
                // Into fresh memory, and (compressed batches) as the consumer
                // decodes: into buffers its pool lends again.
                let variants: &[(&str, &DecodeOptions)] = if codec == Compression::None {
                    &[("owned", &opts), ("view", &opts)]
                } else {
                    &[("owned", &opts), ("view", &opts), ("owned, pooled", &pooled), ("view, pooled", &pooled)]
                };
                for &(variant, options) in variants {
                    let r = if variant.starts_with("owned") {
                        compare(n, rounds, round_time, &mut || drop(black_box(rill_decode_owned(encoded, options))), &mut || {
                            drop(black_box(kp_decode(encoded)))
                        })
                    } else {
                        compare(
                            n,
                            rounds,
                            round_time,
                            &mut || {
                                black_box(rill_decode_view(encoded, options));
                            },
                            &mut || drop(black_box(kp_decode(encoded))),
                        )
                    };
                    row(&format!("decode_{id}"), &format!("{variant}{written_by}"), &r);
                }
                // The least any decoder does here (see `floor`).
                let r = if codec == Compression::None {
                    let ranges = floor::key_value_ranges(encoded);
                    let mut out = Vec::with_capacity(ranges.len());
                    compare(n, rounds, round_time, &mut || floor::owned_decode(encoded, &ranges, &mut out), &mut || {
                        drop(black_box(kp_decode(encoded)))
                    })
                } else {
                    let mut out = Vec::new();
                    compare(n, rounds, round_time, &mut || floor::decompress(encoded, codec, &mut out), &mut || {
                        drop(black_box(kp_decode(encoded)))
                    })
                };
                let what = if codec == Compression::None { "floor: CRC and Bytes key, value only" } else { "floor: decompression only" };
                row(&format!("decode_{id}"), &format!("{what}{written_by}"), &r);
            }
        }
    }
}
