//! Apache Kafka itself: where the jars are, how a broker is configured,
//! started and stopped, and how nodes form the single-node and 3-node clusters.

pub mod broker_jvm;
pub mod client;
pub mod cluster;
pub mod config;
pub mod credentials;
pub mod listeners;
pub mod node;
pub mod provision;
pub mod zookeeper;
