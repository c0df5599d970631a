//! Client-versus-client benchmarks against one real Kafka broker: rill,
//! librdkafka (through the `rdkafka` crate, benches/peers/rdkafka-child), the Java
//! client (`kafka-producer-perf-test` / `kafka-consumer-perf-test` from
//! kafka-tools) and franz-go (benches/peers/franz-go), measured in the same
//! run on the same broker with the same payloads.
//!
//! Every client runs as its own child process, so its CPU time is exactly
//! what the kernel charged that process (`getrusage(RUSAGE_CHILDREN)` around
//! the run, [`cpu`]). Throughput is what each client reports for its own
//! timed span (first send to last acknowledgement), so JVM start-up is not
//! counted as produce time (it is counted as CPU, as a user would pay it).

pub mod cpu;
pub mod franz;
pub mod java;
pub mod outcome;
pub mod rdkafka;
pub mod rust_child;
pub mod workload;

pub use outcome::{Measurement, RunReport};
pub use workload::{Compression, Workload};
