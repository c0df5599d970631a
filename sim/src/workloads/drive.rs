//! The simulation loop of the cluster workloads that run beside
//! `scenario.rs` (transactional, consumer groups): step turmoil, create the
//! topic once every broker registered, carry out the fault schedule tick by
//! tick (each action is an event of the history), stop faults when the
//! workload says so, and flag the run quiesced once every fault healed, for
//! the final-log reader ([`spawn_reader`]).

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rill_broker::Controller;
use rill_client::{Client, ClientConfig};

use crate::cluster::Cluster;
use crate::history::{Event, History};
use crate::scenario::connect;
use crate::schedule::Scheduler;

/// The topic the workload writes and what it needs to run.
pub struct Drive<'a> {
    pub controller: &'a Controller,
    pub cluster: &'a Cluster,
    pub topic: &'a str,
    pub partitions: i32,
    pub replication_factor: i16,
    pub history: &'a Mutex<History>,
    /// Set once faults stopped and healed.
    pub quiesced: &'a AtomicBool,
}

/// Runs `sim` to its end. `stop_faults(now)`: whether the workload is done
/// with faults (checked every step until it says yes); `each_step(now)`
/// runs after every step. Returns why the run failed, if it did.
pub fn drive(
    sim: &mut turmoil::Sim<'_>,
    scheduler: &mut Scheduler,
    d: &Drive<'_>,
    mut stop_faults: impl FnMut(Duration) -> bool,
    mut each_step: impl FnMut(Duration),
) -> Option<String> {
    let brokers = d.cluster.hosts.len();
    let mut topic_created = false;
    let mut next_tick = Duration::ZERO;
    let mut stopped = false;
    loop {
        let finished = match sim.step() {
            Ok(finished) => finished,
            Err(e) => return Some(format!("simulation failed: {e}")),
        };
        let now = sim.elapsed();
        if !topic_created && d.controller.brokers().len() == brokers {
            if let Err(e) = d.controller.create_topic(d.topic, d.partitions, d.replication_factor, &[], false) {
                return Some(format!("creating {}: {}", d.topic, e.message));
            }
            topic_created = true;
        }
        if !stopped && stop_faults(now) {
            stopped = true;
            scheduler.stop();
        }
        if topic_created && now >= next_tick {
            let at_ms = now.as_millis() as u64;
            for action in scheduler.actions(now) {
                let detail = d.cluster.apply(sim, d.topic, &action);
                d.history.lock().unwrap_or_else(|p| p.into_inner()).push(Event::Fault { at_ms, kind: action.kind(), detail });
            }
            next_tick = now + scheduler.tick;
        }
        each_step(now);
        if stopped && scheduler.quiet() {
            d.quiesced.store(true, Ordering::SeqCst);
        }
        if finished {
            return None;
        }
    }
}

/// What the final-state reader read (`None` until it finished).
pub type FinalRead<T> = Arc<Mutex<Option<Result<T, String>>>>;

/// Registers the `reader` client: it waits until the run quiesced and
/// restarted brokers settled, bootstraps with `config`, and runs `read`
/// (the final log, and whatever else the workload checks) until `read_until_ms`.
pub fn spawn_reader<T, F, Fut>(
    sim: &mut turmoil::Sim<'_>,
    quiesced: Arc<AtomicBool>,
    config: Result<ClientConfig, rill_client::ConfigError>,
    read_until_ms: u64,
    read: F,
) -> FinalRead<T>
where
    T: Send + 'static,
    F: FnOnce(Client) -> Fut + 'static,
    Fut: Future<Output = Result<T, String>> + 'static,
{
    let out: FinalRead<T> = Arc::new(Mutex::new(None));
    let result = out.clone();
    sim.client("reader", async move {
        while !quiesced.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Time for restarted brokers to rejoin and leaders to settle.
        tokio::time::sleep(Duration::from_secs(10)).await;
        let read = match config {
            Ok(config) => match connect(config, "reader", read_until_ms).await {
                Some(client) => read(client).await,
                None => Err("the reader could not bootstrap".to_string()),
            },
            Err(e) => Err(e.to_string()),
        };
        *result.lock().unwrap_or_else(|p| p.into_inner()) = Some(read);
        Ok(())
    });
    out
}
