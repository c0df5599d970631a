//! Counters per broker and a snapshot of them.
//!
//! Connections update their broker's [`BrokerStats`] with relaxed atomics;
//! [`Stats::snapshot`] copies everything into plain values, ordered by broker
//! address (a `BTreeMap`, so the output is deterministic).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use crate::producer::stats::ProducerStats;
pub use crate::producer::ProducerStatsSnapshot;

/// Live counters of one broker address.
#[derive(Debug, Default)]
pub struct BrokerStats {
    requests: AtomicU64,
    responses: AtomicU64,
    bytes_sent: AtomicU64,
    bytes_received: AtomicU64,
    errors: AtomicU64,
    timeouts: AtomicU64,
    connects: AtomicU64,
    connect_failures: AtomicU64,
    disconnects: AtomicU64,
    retries: AtomicU64,
    rtt_total_us: AtomicU64,
    rtt_max_us: AtomicU64,
    reauthentications: AtomicU64,
}

macro_rules! incr {
    ($($name:ident => $field:ident),* $(,)?) => {
        $(pub(crate) fn $name(&self) { self.$field.fetch_add(1, Ordering::Relaxed); })*
    };
}

impl BrokerStats {
    incr! {
        request_sent => requests,
        error => errors,
        timeout => timeouts,
        connected => connects,
        connect_failed => connect_failures,
        disconnected => disconnects,
        retry => retries,
        reauthenticated => reauthentications,
    }

    pub(crate) fn bytes_sent(&self, n: usize) {
        self.bytes_sent.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn response(&self, bytes: usize, rtt: Duration) {
        self.responses.fetch_add(1, Ordering::Relaxed);
        self.bytes_received.fetch_add(bytes as u64, Ordering::Relaxed);
        let us = u64::try_from(rtt.as_micros()).unwrap_or(u64::MAX);
        self.rtt_total_us.fetch_add(us, Ordering::Relaxed);
        self.rtt_max_us.fetch_max(us, Ordering::Relaxed);
    }

    fn snapshot(&self) -> BrokerSnapshot {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let responses = get(&self.responses);
        BrokerSnapshot {
            requests: get(&self.requests),
            responses,
            bytes_sent: get(&self.bytes_sent),
            bytes_received: get(&self.bytes_received),
            errors: get(&self.errors),
            timeouts: get(&self.timeouts),
            connects: get(&self.connects),
            connect_failures: get(&self.connect_failures),
            disconnects: get(&self.disconnects),
            retries: get(&self.retries),
            rtt_avg: Duration::from_micros(get(&self.rtt_total_us).checked_div(responses).unwrap_or(0)),
            rtt_max: Duration::from_micros(get(&self.rtt_max_us)),
            reauthentications: get(&self.reauthentications),
        }
    }
}

/// A copy of one broker's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BrokerSnapshot {
    pub requests: u64,
    pub responses: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub errors: u64,
    pub timeouts: u64,
    pub connects: u64,
    pub connect_failures: u64,
    pub disconnects: u64,
    pub retries: u64,
    /// Mean round-trip time of answered requests.
    pub rtt_avg: Duration,
    pub rtt_max: Duration,
    /// SASL re-authentications of open connections (KIP-368).
    pub reauthentications: u64,
}

/// A copy of every broker's counters, keyed by `host:port`, and of the
/// counters of the client's producers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub brokers: BTreeMap<String, BrokerSnapshot>,
    /// The producers on this client that are alive, their counters added
    /// up (`None` without one); each producer's own: `Producer::stats()`.
    pub producer: Option<ProducerStatsSnapshot>,
}

impl StatsSnapshot {
    /// Totals over all brokers (RTT fields: the maximum of the brokers').
    pub fn total(&self) -> BrokerSnapshot {
        let mut t = BrokerSnapshot::default();
        for b in self.brokers.values() {
            t.requests += b.requests;
            t.responses += b.responses;
            t.bytes_sent += b.bytes_sent;
            t.bytes_received += b.bytes_received;
            t.errors += b.errors;
            t.timeouts += b.timeouts;
            t.connects += b.connects;
            t.connect_failures += b.connect_failures;
            t.disconnects += b.disconnects;
            t.retries += b.retries;
            t.rtt_avg = t.rtt_avg.max(b.rtt_avg);
            t.rtt_max = t.rtt_max.max(b.rtt_max);
            t.reauthentications += b.reauthentications;
        }
        t
    }
}

/// The registry of per-broker counters, shared by a client and its
/// connections, and of the counters of the producers on the client.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    brokers: Arc<Mutex<BTreeMap<String, Arc<BrokerStats>>>>,
    producers: Arc<Mutex<Vec<Weak<ProducerStats>>>>,
}

impl Stats {
    /// The counters of `broker`, created on first use.
    pub fn broker(&self, broker: &str) -> Arc<BrokerStats> {
        let mut map = self.brokers.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(broker.to_string()).or_default().clone()
    }

    /// Adds a producer's counters to the snapshots (for as long as it lives).
    pub(crate) fn register_producer(&self, producer: &Arc<ProducerStats>) {
        let mut producers = self.producers.lock().unwrap_or_else(|p| p.into_inner());
        producers.retain(|p| p.strong_count() > 0);
        producers.push(Arc::downgrade(producer));
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        let brokers = {
            let map = self.brokers.lock().unwrap_or_else(|p| p.into_inner());
            map.iter().map(|(k, v)| (k.clone(), v.snapshot())).collect()
        };
        let producers = self.producers.lock().unwrap_or_else(|p| p.into_inner());
        let producer = producers.iter().filter_map(Weak::upgrade).fold(None, |sum: Option<ProducerStatsSnapshot>, p| {
            let mut sum = sum.unwrap_or_default();
            sum.add(&p.snapshot());
            Some(sum)
        });
        StatsSnapshot { brokers, producer }
    }
}

#[cfg(test)]
impl BrokerStats {
    /// (requests, responses, timeouts, disconnects)
    pub(crate) fn snapshot_for_test(&self) -> (u64, u64, u64, u64) {
        let s = self.snapshot();
        (s.requests, s.responses, s.timeouts, s.disconnects)
    }

    pub(crate) fn snapshot_public_for_test(&self) -> BrokerSnapshot {
        self.snapshot()
    }
}
