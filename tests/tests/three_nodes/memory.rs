//! The consumer's memory stays bounded by `fetch.buffer.max.bytes` reading
//! from three brokers at once (a connection to each, their idle response
//! maps in one pool counted in the budget): see `common/consumer_memory.rs`.

use rill_e2e::KafkaCluster;

use crate::common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consuming_2_gib_from_three_brokers_with_a_64_mib_budget_keeps_memory_bounded() {
    let _alone = common::three_nodes_alone().await;
    common::consumer_memory::a_slow_application_keeps_memory_bounded(KafkaCluster::three_nodes()).await;
}
