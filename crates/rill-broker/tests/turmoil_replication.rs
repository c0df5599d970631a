//! Replication over turmoil's simulated TCP: three brokers, one topic with
//! three replicas and `min.insync.replicas` 2. The leader is cut off from
//! its followers and the controller after it appended a record nobody else
//! has, is declared dead, and crashes; a follower takes over with a new
//! leader epoch and keeps every record acknowledged with acks=all. When the
//! old leader comes back, the new leader's diverging epoch makes it
//! truncate the record that was never replicated, and it rejoins the ISR
//! with a log identical to the leader's.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rill_broker::{Broker, BrokerConfig, Controller, ControllerConfig, Disk, FlushPolicy, Listener};
use rill_client::transport::{BoxStream, ConnectFuture};
use rill_client::{Client, ClientConfig, NewTopic, Transport};
use rill_protocol::messages::produce_request::{PartitionProduceData, ProduceRequest, TopicProduceData};
use rill_protocol::messages::ProduceResponse;
use rill_protocol::records::{DecodeOptions, RecordBatch, RecordBatchBuilder};

struct SimNet;

impl Transport for SimNet {
    fn connect(&self, host: &str, port: u16) -> ConnectFuture {
        let host = host.to_string();
        Box::pin(async move {
            let stream = turmoil::net::TcpStream::connect((host.as_str(), port)).await?;
            Ok(Box::new(stream) as BoxStream)
        })
    }
}

struct SimListener(turmoil::net::TcpListener);

impl Listener for SimListener {
    type Stream = turmoil::net::TcpStream;
    async fn accept(&mut self) -> std::io::Result<Self::Stream> {
        self.0.accept().await.map(|(s, _)| s)
    }
}

#[derive(Debug, Default, Clone, PartialEq)]
enum Phase {
    #[default]
    Running,
    /// The client asks the test to crash this broker.
    Crash(i32),
    Crashed,
    /// The client asks the test to restart it.
    Restart(i32),
    Restarted,
}

fn record(producer_id: i64, sequence: i32, value: &str) -> Bytes {
    let mut b = RecordBatchBuilder::new(0).producer(producer_id, 0, sequence);
    b.append(0, None, Some(value.as_bytes()), &[]).unwrap();
    b.finish().unwrap().freeze()
}

fn produce(records: Bytes, timeout_ms: i32) -> ProduceRequest {
    ProduceRequest {
        acks: -1,
        timeout_ms,
        topic_data: vec![TopicProduceData {
            name: "t".to_string(),
            partition_data: vec![PartitionProduceData { index: 0, records: Some(records), ..Default::default() }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// Produces until acknowledged, following leader changes; returns the offset.
async fn produce_acked(client: &Client, sequence: i32, value: &str) -> i64 {
    loop {
        let metadata = client.metadata(&["t"]).await;
        let leader = metadata.ok().and_then(|m| m.topic("t").and_then(|t| t.partitions.get(&0).and_then(|p| p.leader)));
        if let Some(leader) = leader {
            if let Ok(r) = client.send::<ProduceRequest>(leader, &produce(record(1, sequence, value), 2_000)).await {
                let r: ProduceResponse = r;
                let p = &r.responses[0].partition_responses[0];
                if p.error_code == 0 {
                    return p.base_offset;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn leader_and_isr(client: &Client) -> (i32, Vec<i32>) {
    loop {
        if let Ok(m) = client.metadata(&["t"]).await {
            if let Some(p) = m.topic("t").and_then(|t| t.partitions.get(&0)) {
                if let Some(leader) = p.leader {
                    return (leader, p.isr.clone());
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_for_phase(phase: &Rc<RefCell<Phase>>, want: Phase) {
    while *phase.borrow() != want {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn values(disk: &Disk) -> Vec<(i64, String)> {
    disk.batches(&("t".to_string(), 0))
        .iter()
        .flat_map(|b| {
            let batch = RecordBatch::decode(&b.bytes, &DecodeOptions::default()).unwrap();
            batch
                .iter()
                .map(|(offset, _, r)| (offset, String::from_utf8_lossy(r.value.as_deref().unwrap_or(b"")).to_string()))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn leader_crash_keeps_acked_records_and_the_old_leader_truncates() {
    let mut sim = turmoil::Builder::new().simulation_duration(Duration::from_secs(300)).rng_seed(7).build();
    let controller = Controller::new(ControllerConfig {
        min_insync_replicas: 2,
        probe_interval: Duration::from_millis(100),
        session_timeout: Duration::from_millis(1_000),
        ..Default::default()
    });
    let disks: Vec<Disk> = (0..3).map(|_| Disk::new(FlushPolicy::EveryAppend)).collect();
    for id in 1..=3 {
        let disk = disks[id as usize - 1].clone();
        let controller = controller.clone();
        sim.host(format!("broker-{id}"), move || {
            let disk = disk.clone();
            let controller = controller.clone();
            async move {
                let listener = turmoil::net::TcpListener::bind(("0.0.0.0", 9092)).await?;
                let mut config = BrokerConfig::new(id, format!("broker-{id}"), 9092);
                config.replica_lag_time_max = Duration::from_secs(2);
                config.replica_fetch_wait_max = Duration::from_millis(100);
                config.replica_fetch_backoff = Duration::from_millis(50);
                Broker::new(config, disk, controller, Arc::new(SimNet)).serve(SimListener(listener)).await?;
                Ok(())
            }
        });
    }
    let probe = controller.clone();
    sim.host("controller", move || {
        let probe = probe.clone();
        async move {
            probe.run_liveness_probe(Arc::new(SimNet)).await;
            Ok(())
        }
    });

    let phase = Rc::new(RefCell::new(Phase::Running));
    let acked: Rc<RefCell<Vec<(i64, String)>>> = Rc::default();
    let old_leader = Rc::new(RefCell::new(0));
    {
        let (phase, acked, old_leader) = (phase.clone(), acked.clone(), old_leader.clone());
        sim.client("producer", async move {
            let mut config = ClientConfig::from_properties([
                ("bootstrap.servers", "broker-1:9092,broker-2:9092,broker-3:9092"),
                ("request.timeout.ms", "3000"),
            ])?;
            config.rng_seed = Some(3);
            let client = Client::with_transport(config, Arc::new(SimNet)).await?;
            let created = client.create_topics(&[NewTopic::new("t", 1, 3)], Duration::from_secs(5)).await?;
            assert!(created[0].result.is_ok());
            // Wait until every follower is in the ISR... it starts there; records need all three.
            for i in 0..10 {
                let value = format!("before-{i}");
                let offset = produce_acked(&client, i, &value).await;
                acked.borrow_mut().push((offset, value));
            }
            let (leader, isr) = leader_and_isr(&client).await;
            assert_eq!(isr.len(), 3);
            *old_leader.borrow_mut() = leader;
            // Cut the leader off from the followers and the controller, then give it a
            // record only it will have: acks=all cannot be answered.
            let name = format!("broker-{leader}");
            for other in (1..=3).filter(|o| *o != leader) {
                turmoil::partition(name.as_str(), format!("broker-{other}").as_str());
            }
            turmoil::partition(name.as_str(), "controller");
            let lonely: ProduceResponse = client.send(leader, &produce(record(2, 0, "never-acked"), 500)).await?;
            let code = lonely.responses[0].partition_responses[0].error_code;
            assert_ne!(code, 0, "acks=all must not be answered without the ISR");
            // The controller declares it dead and a follower takes over.
            loop {
                let (new_leader, _) = leader_and_isr(&client).await;
                if new_leader != leader {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            *phase.borrow_mut() = Phase::Crash(leader);
            wait_for_phase(&phase, Phase::Crashed).await;
            for other in (1..=3).filter(|o| *o != leader) {
                turmoil::repair(name.as_str(), format!("broker-{other}").as_str());
            }
            turmoil::repair(name.as_str(), "controller");
            for i in 10..20 {
                let value = format!("after-{i}");
                let offset = produce_acked(&client, i, &value).await;
                acked.borrow_mut().push((offset, value));
            }
            *phase.borrow_mut() = Phase::Restart(leader);
            wait_for_phase(&phase, Phase::Restarted).await;
            // The old leader catches up (after truncating) and rejoins the ISR.
            loop {
                let (_, isr) = leader_and_isr(&client).await;
                if isr.contains(&leader) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Ok(())
        });
    }

    while !sim.step().unwrap() {
        let next = phase.borrow().clone();
        match next {
            Phase::Crash(id) => {
                sim.crash(format!("broker-{id}"));
                disks[id as usize - 1].crash();
                *phase.borrow_mut() = Phase::Crashed;
            }
            Phase::Restart(id) => {
                // The crashed leader kept (flushed) the record nobody else has.
                let before = values(&disks[id as usize - 1]);
                assert!(before.iter().any(|(_, v)| v == "never-acked"), "{before:?}");
                sim.bounce(format!("broker-{id}"));
                *phase.borrow_mut() = Phase::Restarted;
            }
            _ => {}
        }
    }

    let old = *old_leader.borrow();
    let leader = controller.partition("t", 0).unwrap().leader;
    assert_ne!(leader, old);
    let leader_log = values(&disks[leader as usize - 1]);
    // Every acknowledged record is in the new leader's log, at its acknowledged offset.
    for (offset, value) in acked.borrow().iter() {
        assert!(leader_log.contains(&(*offset, value.clone())), "acked {value} at {offset} lost: {leader_log:?}");
    }
    assert_eq!(leader_log.len(), 20, "{leader_log:?}");
    // The old leader dropped the record only it had and now holds the leader's log.
    let old_log = values(&disks[old as usize - 1]);
    assert!(!old_log.iter().any(|(_, v)| v == "never-acked"), "{old_log:?}");
    assert_eq!(old_log, leader_log);
    assert!(controller.partition("t", 0).unwrap().leader_epoch >= 1);
}
