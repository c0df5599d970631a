//! Interop runners: other Kafka clients driven from tests against harness clusters.
//!
//! - [`java`]: Kafka's own Java tools (console producer and consumer, topic,
//!   reassignment and leader-election commands) and the harness's Java probe;
//! - [`kcat`]: kcat (librdkafka) from Debian, configured by [`librdkafka`];
//! - [`python`]: kafka-python and confluent-kafka from the project virtualenv.

pub mod java;
pub mod kcat;
pub mod librdkafka;
pub mod python;
