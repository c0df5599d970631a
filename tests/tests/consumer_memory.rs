//! The consumer's memory stays bounded by `fetch.buffer.max.bytes` (issue 5),
//! reading from one broker: see `common/consumer_memory.rs`.

#[path = "common/mod.rs"]
mod common;

use rill_e2e::KafkaCluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consuming_2_gib_with_a_64_mib_budget_and_a_slow_application_keeps_memory_bounded() {
    common::consumer_memory::a_slow_application_keeps_memory_bounded(KafkaCluster::single()).await;
}
