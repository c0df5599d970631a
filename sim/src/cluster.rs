//! The turmoil wiring of a rill cluster: one host per broker (the broker
//! model over simulated TCP, its [`Disk`] kept outside the host so it
//! survives crashes), a host running the controller's liveness probe, and
//! how each fault action of the schedule is carried out on the simulation.

use std::sync::Arc;

use rill_broker::disk::{Disk, FlushPolicy};
use rill_broker::faults::BugSwitches;
use rill_broker::{Broker, BrokerConfig, Controller, Listener};

use crate::injector::Injector;
use crate::net::TurmoilTransport;
use crate::schedule::FaultAction;

/// The port every broker host listens on.
pub const BROKER_PORT: u16 = 9092;
/// The host that runs the controller's liveness probe.
pub const CONTROLLER_HOST: &str = "controller";

/// turmoil's listener as the broker's [`Listener`].
pub struct SimListener(pub turmoil::net::TcpListener);

impl Listener for SimListener {
    type Stream = turmoil::net::TcpStream;
    async fn accept(&mut self) -> std::io::Result<Self::Stream> {
        self.0.accept().await.map(|(stream, _)| stream)
    }
}

/// The host name of broker `index` (its node id is `index`).
pub fn broker_host(index: usize) -> String {
    format!("broker{index}")
}

/// The host name of consumer-group member `index` (a host, not a client,
/// so that member crashes can restart it).
pub fn member_host(index: usize) -> String {
    format!("member{index}")
}

/// The brokers' state that outlives their hosts.
pub struct Cluster {
    pub controller: Controller,
    pub disks: Vec<Disk>,
    pub injectors: Vec<Arc<Injector>>,
    pub hosts: Vec<String>,
}

impl Cluster {
    /// Registers `brokers` broker hosts and the controller's probe host.
    pub fn start(
        sim: &mut turmoil::Sim<'_>,
        controller: Controller,
        brokers: usize,
        flush: FlushPolicy,
        bugs: BugSwitches,
        seed: u64,
    ) -> Cluster {
        let mut cluster = Cluster { controller, disks: Vec::new(), injectors: Vec::new(), hosts: Vec::new() };
        for index in 0..brokers {
            let host = broker_host(index);
            let disk = Disk::new(flush);
            let injector = Arc::new(Injector::default());
            let controller = cluster.controller.clone();
            let (host_disk, host_injector, name) = (disk.clone(), injector.clone(), host.clone());
            let node_id = i32::try_from(index).unwrap_or(i32::MAX);
            sim.host(host.as_str(), move || {
                let mut config = BrokerConfig::new(node_id, name.clone(), BROKER_PORT);
                config.rng_seed = seed ^ (0xb0 + index as u64);
                let broker = Broker::new(config, host_disk.clone(), controller.clone(), Arc::new(TurmoilTransport));
                broker.set_interceptor(Some(host_injector.clone()));
                broker.set_bugs(bugs);
                async move {
                    let listener = turmoil::net::TcpListener::bind(("0.0.0.0", BROKER_PORT)).await?;
                    broker.serve(SimListener(listener)).await?;
                    Ok(())
                }
            });
            cluster.disks.push(disk);
            cluster.injectors.push(injector);
            cluster.hosts.push(host);
        }
        let controller = cluster.controller.clone();
        sim.host(CONTROLLER_HOST, move || {
            let controller = controller.clone();
            async move {
                controller.run_liveness_probe(Arc::new(TurmoilTransport)).await;
                Ok(())
            }
        });
        cluster
    }

    fn index_of(&self, host: &str) -> Option<usize> {
        self.hosts.iter().position(|h| h == host)
    }

    /// Carries out one fault action; returns what happened, for the trace
    /// (and logs it, for a replay with `RUST_LOG=info`).
    pub fn apply(&self, sim: &mut turmoil::Sim<'_>, topic: &str, action: &FaultAction) -> String {
        let detail = self.carry_out(sim, topic, action);
        tracing::info!(kind = %action.kind(), "fault: {detail}");
        detail
    }

    fn carry_out(&self, sim: &mut turmoil::Sim<'_>, topic: &str, action: &FaultAction) -> String {
        match action {
            FaultAction::CrashBroker { broker } => {
                sim.crash(broker.as_str());
                if let Some(disk) = self.index_of(broker).and_then(|i| self.disks.get(i)) {
                    disk.crash();
                }
                format!("{broker} crashed (unflushed data lost)")
            }
            FaultAction::RestartBroker { broker } => {
                sim.bounce(broker.as_str());
                format!("{broker} restarted")
            }
            FaultAction::Partition { a, b } => {
                sim.partition(a.as_str(), b.as_str());
                format!("{a} <-/-> {b}")
            }
            FaultAction::Heal { a, b } => {
                sim.repair(a.as_str(), b.as_str());
                format!("{a} <---> {b} healed")
            }
            FaultAction::PartitionOneWay { from, to } => {
                sim.partition_oneway(from.as_str(), to.as_str());
                format!("{from} -/-> {to}")
            }
            FaultAction::HealOneWay { from, to } => {
                sim.repair_oneway(from.as_str(), to.as_str());
                format!("{from} ---> {to} healed")
            }
            FaultAction::SetLatency { a, b, latency } => {
                sim.hold(a.as_str(), b.as_str());
                format!("{a} <-> {b} held for {latency:?}")
            }
            FaultAction::ResetLatency { a, b } => {
                sim.release(a.as_str(), b.as_str());
                format!("{a} <-> {b} released")
            }
            FaultAction::BreakConnections { client, broker } => {
                sim.partition(client.as_str(), broker.as_str());
                format!("{client} <-> {broker} connections cut")
            }
            FaultAction::MoveLeader { partition } => {
                let partition = i32::try_from(*partition).unwrap_or(0);
                let Some(state) = self.controller.partition(topic, partition) else {
                    return format!("{topic}-{partition}: no such partition");
                };
                // The next ISR member after the leader, in ISR order: deterministic.
                let at = state.isr.iter().position(|r| *r == state.leader).unwrap_or(0);
                let target = state.isr.iter().cycle().skip(at + 1).take(state.isr.len()).find(|r| **r != state.leader);
                match target {
                    Some(&to) => match self.controller.move_leader(topic, partition, to) {
                        Ok(p) => format!("{topic}-{partition} leader {} -> {to} (epoch {})", state.leader, p.leader_epoch),
                        Err(e) => format!("{topic}-{partition} leader move to {to} refused: {}", e.message),
                    },
                    None => format!("{topic}-{partition}: no other ISR member (isr {:?})", state.isr),
                }
            }
            FaultAction::ShrinkReplicas { partition, drop } => {
                let partition = i32::try_from(*partition).unwrap_or(0);
                let Some(state) = self.controller.partition(topic, partition) else {
                    return format!("{topic}-{partition}: no such partition");
                };
                if state.replicas.len() < 2 {
                    return format!("{topic}-{partition}: one replica ({:?}), none to drop", state.replicas);
                }
                let dropped = state.replicas.get(drop % state.replicas.len()).copied().unwrap_or(state.leader);
                let kept: Vec<i32> = state.replicas.iter().copied().filter(|r| *r != dropped).collect();
                match self.controller.reassign(topic, partition, kept.clone()) {
                    Ok(p) => format!(
                        "{topic}-{partition} reassigned {:?} -> {kept:?} (leader {} epoch {})",
                        state.replicas, p.leader, p.leader_epoch
                    ),
                    Err(e) => format!("{topic}-{partition} reassignment to {kept:?} refused: {}", e.message),
                }
            }
            FaultAction::RestoreReplicas { partition } => {
                let partition = i32::try_from(*partition).unwrap_or(0);
                let Some(state) = self.controller.partition(topic, partition) else {
                    return format!("{topic}-{partition}: no such partition");
                };
                // The replicas kept, in their order, then the others by id.
                let mut all = state.replicas.clone();
                let mut others: Vec<i32> = self.controller.brokers().iter().map(|b| b.id).filter(|id| !all.contains(id)).collect();
                others.sort_unstable();
                all.extend(others);
                match self.controller.reassign(topic, partition, all.clone()) {
                    Ok(p) => format!("{topic}-{partition} reassigned {:?} -> {all:?} (isr {:?})", state.replicas, p.isr),
                    Err(e) => format!("{topic}-{partition} reassignment to {all:?} refused: {}", e.message),
                }
            }
            FaultAction::InjectError { broker, error, count } => {
                if let Some(injector) = self.index_of(broker).and_then(|i| self.injectors.get(i)) {
                    injector.arm(*error, *count);
                }
                format!("{broker} answers {count} requests with {error:?}")
            }
            FaultAction::MoveCoordinator => {
                self.controller.move_coordinators();
                "every group and transaction coordinator moved to the next live broker".to_string()
            }
            FaultAction::CrashMember { member } => {
                let host = member_host(*member);
                sim.crash(host.as_str());
                format!("{host} crashed")
            }
            FaultAction::RestartMember { member } => {
                let host = member_host(*member);
                sim.bounce(host.as_str());
                format!("{host} restarted")
            }
        }
    }
}
