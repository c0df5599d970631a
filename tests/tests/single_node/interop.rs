//! Interop runners against the single-node cluster: Kafka's console tools, kcat, Python.

use rill_e2e::{ClientSettings, KafkaCluster, Listener, SaslMechanism};

#[test]
fn java_console_tools_round_trip_across_secured_listeners() {
    let cluster = KafkaCluster::single();
    let topic = cluster.unique_topic("console");
    cluster.create_topic(&topic, 1, 1).expect("create topic");
    let producer = cluster
        .client_properties(&ClientSettings::new(Listener::SaslSsl).auth(cluster.valid_auth(SaslMechanism::ScramSha512)))
        .expect("producer properties");
    let consumer = cluster.client_properties(&ClientSettings::new(Listener::Mtls)).expect("consumer properties");
    cluster.java().console_produce(&producer, &topic, &["one", "two", "three"]).expect("console producer");
    let records = cluster.java().console_consume(&consumer, &topic, 3, 30_000).expect("console consumer");
    assert_eq!(records, vec!["one", "two", "three"]);
}
