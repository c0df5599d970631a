//! Record batch encode and decode, rill side by side with the `kafka-protocol`
//! crate on the same inputs in the same run (criterion, wall-clock time).
//!
//! Groups are named `<op>_<codec>_<size>`; each holds "rill", "rill-view"
//! (decode only) and "kafka-protocol" functions, and throughput is per
//! record, so `cargo run -p rill-benches --bin bench-report` prints ns/record
//! and speed-ups. On a busy machine prefer the paired bench
//! (`--bench record_batch_ratio`), which measures thread CPU time in
//! alternating rounds. Payloads are JSON sensor readings; compressed
//! batches are decoded as the Java client writes them (`decode_<codec>_<size>`)
//! and as rill does (`..._rill-written`).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rill_benches::record_batch::*;
use rill_protocol::records::DecodeOptions;

fn benches(c: &mut Criterion) {
    for (size, count, size_label) in SHAPES {
        let input = Input::new(count, size);
        let kp_records = input.kp_records();
        for codec in CODECS {
            let id = format!("{}_{size_label}", codec_name(codec));

            let mut g = c.benchmark_group(format!("encode_{id}"));
            g.throughput(Throughput::Elements(count as u64));
            g.bench_function("rill", |b| b.iter(|| black_box(input.rill_encode(codec))));
            g.bench_function("kafka-protocol", |b| b.iter(|| black_box(kp_encode(&kp_records, codec, input.bytes_hint()))));
            g.finish();

            // Both decoders read the same batch: compressed ones as Java
            // writes them (`java_written`), then as rill writes them.
            // kafka-protocol's own output is checked to decode with rill too.
            let theirs = kp_encode(&kp_records, codec, input.bytes_hint()).freeze();
            let opts = DecodeOptions::default();
            let ours = rill_decode_owned(&theirs, &opts);
            assert_eq!(ours.iter().map(|b| b.records.len()).sum::<usize>(), count);
            let mut inputs = vec![];
            if let Some(java) = java_written(size_label, codec) {
                input.check_holds(&java).expect("run benches/data/regenerate.sh");
                inputs.push((format!("decode_{id}"), java));
                inputs.push((format!("decode_{id}_rill-written"), input.rill_encode(codec).freeze()));
            } else {
                inputs.push((format!("decode_{id}"), input.rill_encode(codec).freeze()));
            }
            for (group, encoded) in &inputs {
                let mut g = c.benchmark_group(group);
                g.throughput(Throughput::Elements(count as u64));
                g.bench_function("rill", |b| b.iter(|| black_box(rill_decode_owned(encoded, &opts))));
                g.bench_function("rill-view", |b| b.iter(|| rill_decode_view(encoded, &opts)));
                g.bench_function("kafka-protocol", |b| b.iter(|| black_box(kp_decode(encoded))));
                g.finish();
            }
        }
    }
}

criterion_group! {
    name = record_batch;
    config = Criterion::default().sample_size(30).warm_up_time(std::time::Duration::from_millis(500)).measurement_time(std::time::Duration::from_secs(2));
    targets = benches
}
criterion_main!(record_batch);
