//! The broker: one node, its state, its background tasks and how it serves
//! connections.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rill_client::backoff::Rng;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;

use crate::config::BrokerConfig;
use crate::connection::{self, ConnectionError};
use crate::controller::{Controller, ControllerConfig};
use crate::disk::{Disk, FlushPolicy, TopicPartition};
use crate::faults::{BugSwitches, Interceptor};
use crate::fetch_session::FetchSessions;
use crate::partition::Replica;
use crate::transport::{Connector, Listener, TcpTransport};

/// Mutable broker state, behind one lock that is never held across an await.
#[derive(Debug)]
pub(crate) struct State {
    pub replicas: BTreeMap<TopicPartition, Replica>,
    pub sessions: FetchSessions,
    pub rng: Rng,
    /// Partitions with a running follower fetcher.
    pub fetchers: BTreeSet<TopicPartition>,
}

/// Everything a handler needs; shared by the connections and tasks of one broker.
pub(crate) struct Shared {
    pub config: BrokerConfig,
    pub disk: Disk,
    pub controller: Controller,
    pub connector: Arc<dyn Connector>,
    state: Mutex<State>,
    /// Bumped on every append, high-watermark move and role change: wakes
    /// acks=all waiters and long-polling fetches.
    changes: watch::Sender<u64>,
    interceptor: Mutex<Option<Arc<dyn Interceptor>>>,
    bugs: Mutex<BugSwitches>,
    started: AtomicBool,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker").field("node_id", &self.config.node_id).finish_non_exhaustive()
    }
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn me(&self) -> i32 {
        self.config.node_id
    }

    /// Wakes everything waiting for a change.
    pub(crate) fn bump(&self) {
        self.changes.send_modify(|v| *v = v.wrapping_add(1));
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    pub(crate) fn bugs(&self) -> BugSwitches {
        *self.bugs.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn interceptor(&self) -> Option<Arc<dyn Interceptor>> {
        self.interceptor.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn controller_config(&self) -> ControllerConfig {
        self.controller.config()
    }
}

/// One broker (node). Cheap to clone; clones share the broker.
#[derive(Debug, Clone)]
pub struct Broker {
    shared: Arc<Shared>,
}

impl Broker {
    /// A broker of a cluster run by `controller`, storing on `disk`, opening
    /// follower connections with `connector`.
    pub fn new(config: BrokerConfig, disk: Disk, controller: Controller, connector: Arc<dyn Connector>) -> Broker {
        let (changes, _) = watch::channel(0);
        let rng = Rng::new(config.rng_seed);
        let sessions = FetchSessions::new(config.max_fetch_sessions);
        Broker {
            shared: Arc::new(Shared {
                config,
                disk,
                controller,
                connector,
                state: Mutex::new(State { replicas: BTreeMap::new(), sessions, rng, fetchers: BTreeSet::new() }),
                changes,
                interceptor: Mutex::new(None),
                bugs: Mutex::new(BugSwitches::default()),
                started: AtomicBool::new(false),
            }),
        }
    }

    /// A one-node cluster with its own controller (the dev broker).
    pub fn single_node(config: BrokerConfig, disk: Disk, controller_config: ControllerConfig) -> Broker {
        Broker::new(config, disk, Controller::new(controller_config), Arc::new(TcpTransport))
    }

    /// Installs the per-request fault hook.
    pub fn set_interceptor(&self, interceptor: Option<Arc<dyn Interceptor>>) {
        *self.shared.interceptor.lock().unwrap_or_else(|p| p.into_inner()) = interceptor;
    }

    /// Switches on deliberate bugs (tests of the simulator's checkers only).
    #[cfg(feature = "fault-injection")]
    pub fn set_bugs(&self, bugs: BugSwitches) {
        *self.shared.bugs.lock().unwrap_or_else(|p| p.into_inner()) = bugs;
    }

    pub fn config(&self) -> &BrokerConfig {
        &self.shared.config
    }

    #[cfg(test)]
    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }

    pub fn disk(&self) -> &Disk {
        &self.shared.disk
    }

    pub fn controller(&self) -> &Controller {
        &self.shared.controller
    }

    /// This broker's high watermark of a partition, if it has a replica of it.
    pub fn high_watermark(&self, topic: &str, partition: i32) -> Option<i64> {
        self.shared.lock().replicas.get(&(topic.to_string(), partition)).map(|r| r.high_watermark)
    }

    /// Registers with the controller and starts the background tasks
    /// (flushing, follower fetchers, ISR shrinking). Idempotent; `serve`
    /// calls it. Must run inside a tokio runtime (or turmoil host).
    pub fn start(&self) {
        if self.shared.started.swap(true, Ordering::SeqCst) {
            return;
        }
        let s = &self.shared;
        s.controller.register_broker(s.me(), &s.config.advertised_host, s.config.advertised_port);
        if let FlushPolicy::Interval(every) = s.disk.policy() {
            let disk = s.disk.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    disk.flush();
                }
            });
        }
        let shared = self.shared.clone();
        tokio::spawn(async move { crate::replication::run(shared).await });
        tokio::spawn(crate::txn_coordinator::run(self.shared.clone()));
    }

    /// Serves connections from `listener` until accepting fails. Each
    /// connection runs in its own task.
    pub async fn serve<L: Listener>(&self, mut listener: L) -> io::Result<()> {
        self.start();
        loop {
            let stream = listener.accept().await?;
            let broker = self.clone();
            tokio::spawn(async move {
                if let Err(e) = broker.serve_connection(stream).await {
                    tracing::debug!(node = broker.shared.me(), error = %e, "connection closed with an error");
                }
            });
        }
    }

    /// Serves one connection until the peer closes it (`Ok`) or sends
    /// something that is not a valid request (`Err`; the connection is
    /// closed, as Kafka does).
    pub async fn serve_connection<S: AsyncRead + AsyncWrite + Send + Unpin>(&self, stream: S) -> Result<(), ConnectionError> {
        connection::serve(self.shared.clone(), stream).await
    }
}

/// How long to wait between ISR-shrink checks.
pub(crate) fn isr_check_interval(config: &BrokerConfig) -> Duration {
    (config.replica_lag_time_max / 2).max(Duration::from_millis(10))
}
