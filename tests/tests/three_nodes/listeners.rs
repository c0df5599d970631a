//! Every listener of every node of the 3-node cluster accepts the right
//! credentials and refuses wrong ones.

use rill_e2e::KafkaCluster;

use crate::common;

#[test]
fn every_listener_accepts_right_credentials_and_refuses_wrong_ones() {
    let _serial = common::three_nodes_alone_blocking();
    let cluster = KafkaCluster::three_nodes();
    assert_eq!(cluster.node_ids(), vec![1, 2, 3]);
    let outcomes = common::listener_matrix(cluster);
    common::assert_outcomes(cluster, &outcomes);
}
