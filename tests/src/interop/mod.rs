//! Interop runners: other Kafka clients driven from tests against harness clusters.
//!
//! - [`java`]: Kafka's own Java tools (console producer and consumer, topic,
//!   reassignment and leader-election commands) and the harness's Java probe;
//! - [`java_assignors`]: Kafka's consumer assignors run on test-described groups;
//! - [`java_group_consumer`]: Kafka's console consumer as a long-running group member;
//! - [`java_producer`]: Kafka's Java producer run from a script (codecs,
//!   headers, null keys, committed and aborted transactions);
//! - [`kcat`]: kcat (librdkafka) from Debian, configured by [`librdkafka`];
//! - [`python`]: kafka-python and confluent-kafka from the project virtualenv.

pub mod java;
pub mod java_assignors;
pub mod java_group_consumer;
pub mod java_producer;
pub mod kcat;
pub mod librdkafka;
pub mod python;
