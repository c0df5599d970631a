//! Helpers for the handler unit tests: a registered one-node broker with a topic.

use bytes::Bytes;
use rill_protocol::records::RecordBatchBuilder;

use crate::{Broker, BrokerConfig, ControllerConfig, Disk, FlushPolicy};

/// Node 1, registered with its own controller (no background tasks), topic `t` with 2 partitions.
pub(crate) fn broker() -> Broker {
    let broker = Broker::single_node(BrokerConfig::new(1, "localhost", 9092), Disk::new(FlushPolicy::Manual), ControllerConfig::default());
    broker.controller().register_broker(1, "localhost", 9092);
    broker.controller().create_topic("t", 2, 1, &[], false).unwrap();
    broker
}

/// A batch of `n` records with timestamps 100, 101, ...
pub(crate) fn batch(n: usize) -> Bytes {
    let mut b = RecordBatchBuilder::new(0);
    for i in 0..n {
        b.append(100 + i as i64, None, Some(b"v"), &[]).unwrap();
    }
    b.finish().unwrap().freeze()
}

/// A dynamic group member subscribed with `range`, last seen at `now`, with
/// a 6 s session and a 20 s rebalance timeout (the simulator's members).
pub(crate) fn group_member(now: tokio::time::Instant) -> crate::coordinator::Member {
    crate::coordinator::Member {
        protocols: vec![("range".into(), Bytes::new())],
        session_timeout: std::time::Duration::from_secs(6),
        rebalance_timeout: std::time::Duration::from_secs(20),
        last_seen: now,
        joined: true,
        assignment: Bytes::new(),
        instance_id: None,
    }
}
