//! [`GroupConsumer`]: a [`Consumer`] whose partitions come from a consumer
//! group: `subscribe(topics | pattern)`, `poll`, commit after processing.
//!
//! The rebalance listener that joins the two ([`ConsumerRebalance`]) runs,
//! awaited by the member, before partitions change hands:
//! - assigned: the committed offsets are looked up (OffsetFetch) and the
//!   partitions start there (or per `auto.offset.reset` without a commit),
//!   then the application's `on_partitions_assigned` runs (it may seek);
//!   when the lookup fails past `request.timeout.ms`, the partitions wait
//!   unfetched while it is retried, never starting per the policy while a
//!   commit may exist;
//! - revoked: the application's `on_partitions_revoked` runs first, while
//!   the partitions are still owned (it may flush and commit), then they
//!   are removed from fetching with their buffered records;
//! - lost: removed at once, then the application is told.
//!
//! Every record `poll` returns is marked as delivered, so auto-commit
//! (`enable.auto.commit`) and [`GroupConsumer::commit_consumed`] commit only
//! offsets the application was handed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use tracing::{debug, info, warn};

use super::callbacks::{CallbackFuture, RebalanceListener};
use super::member::{GroupMember, Subscription};
use super::TopicPartition;
use crate::client::Client;
use crate::consumer::{Consumer, ConsumerRecord, Position};
use crate::error::Result;

/// How long a poll waits, at most, while the member's generation is in
/// doubt (it hands out nothing then); the member task is joining again.
const IN_DOUBT_POLL_WAIT: Duration = Duration::from_millis(50);

/// The listener between the group member and the consumer.
pub struct ConsumerRebalance {
    consumer: Arc<Consumer>,
    member: OnceLock<Weak<GroupMember>>,
    application: Arc<dyn RebalanceListener>,
}

impl ConsumerRebalance {
    fn member(&self) -> Option<Arc<GroupMember>> {
        self.member.get().and_then(Weak::upgrade)
    }

    fn list(partitions: &BTreeSet<TopicPartition>) -> Vec<TopicPartition> {
        partitions.iter().cloned().collect()
    }
}

impl RebalanceListener for ConsumerRebalance {
    fn on_partitions_assigned<'a>(&'a self, partitions: &'a BTreeSet<TopicPartition>) -> CallbackFuture<'a> {
        Box::pin(async move {
            if !partitions.is_empty() {
                let committed = match self.member() {
                    Some(member) => member.committed(partitions).await,
                    None => Ok(BTreeMap::new()),
                };
                match committed {
                    Ok(offsets) => {
                        // A committed leader epoch makes the consumer validate the
                        // position against the leader before fetching (KIP-320).
                        let starts = partitions.iter().map(|tp| (tp.clone(), offsets.get(tp).copied().flatten())).collect();
                        if let Err(e) = self.consumer.add_partitions(starts) {
                            warn!(error = %e, "consumer closed during a rebalance");
                        }
                    }
                    Err(e) => {
                        // Starting per auto.offset.reset would repeat or skip
                        // records when a commit exists: the partitions wait,
                        // unfetched, while the lookup is retried (as the Java
                        // consumer keeps a partition without a position until
                        // its committed offset is known).
                        warn!(error = %e, "committed offsets unavailable; the partitions wait for them");
                        let list = Self::list(partitions);
                        match self.consumer.add_partitions_awaiting(&list) {
                            Ok(lookup) => {
                                let retry = LookupRetry {
                                    consumer: self.consumer.clone(),
                                    member: self.member.get().cloned().unwrap_or_default(),
                                    lookup,
                                };
                                tokio::spawn(retry.run());
                            }
                            Err(e) => warn!(error = %e, "consumer closed during a rebalance"),
                        }
                    }
                }
            }
            self.application.on_partitions_assigned(partitions).await;
        })
    }

    fn on_partitions_revoked<'a>(&'a self, partitions: &'a BTreeSet<TopicPartition>) -> CallbackFuture<'a> {
        Box::pin(async move {
            self.application.on_partitions_revoked(partitions).await;
            self.consumer.remove_partitions(&Self::list(partitions));
        })
    }

    fn on_partitions_lost<'a>(&'a self, partitions: &'a BTreeSet<TopicPartition>) -> CallbackFuture<'a> {
        Box::pin(async move {
            self.consumer.remove_partitions(&Self::list(partitions));
            self.application.on_partitions_lost(partitions).await;
        })
    }
}

/// Retries the committed-offset lookup of partitions that wait for it
/// ([`Consumer::add_partitions_awaiting`]) until it is answered, the
/// partitions stop waiting (revoked, sought, reassigned), the member is
/// gone or the consumer is closed.
struct LookupRetry {
    consumer: Arc<Consumer>,
    member: Weak<GroupMember>,
    lookup: u64,
}

impl LookupRetry {
    async fn run(self) {
        let config = self.consumer.shared.client.config();
        let mut delay = config.retry_backoff;
        loop {
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(config.retry_backoff_max.max(config.retry_backoff));
            let waiting: BTreeSet<TopicPartition> = self.consumer.awaiting(self.lookup).into_iter().collect();
            if waiting.is_empty() {
                return;
            }
            let Some(member) = self.member.upgrade() else { return };
            match member.committed(&waiting).await {
                Ok(offsets) => {
                    info!(partitions = waiting.len(), "committed offsets found; the waiting partitions start");
                    self.consumer.start_awaiting(self.lookup, Ok(offsets));
                    return;
                }
                Err(e) if super::commit::e_is_retriable(&e) => {
                    debug!(error = %e, "committed offsets still unavailable; retrying");
                }
                Err(e) => {
                    warn!(error = %e, "committed offsets cannot be looked up; the partitions fail until sought");
                    self.consumer.start_awaiting(self.lookup, Err(e));
                    return;
                }
            }
        }
    }
}

/// A consumer in a consumer group.
#[derive(Debug)]
pub struct GroupConsumer {
    consumer: Arc<Consumer>,
    member: Arc<GroupMember>,
}

impl GroupConsumer {
    /// Joins the group of the client's `group.id` with `subscription`;
    /// `listener` is the application's rebalance listener.
    /// The same as `Consumer::from_client(client)?.subscribe_with_listener(..)`.
    pub fn subscribe(client: Client, subscription: Subscription, listener: Arc<dyn RebalanceListener>) -> Result<GroupConsumer> {
        Consumer::from_client(client)?.subscribe_with_listener(subscription, listener)
    }

    /// Joins the group with an unassigned consumer.
    pub(crate) fn join(consumer: Arc<Consumer>, subscription: Subscription, listener: Arc<dyn RebalanceListener>) -> Result<GroupConsumer> {
        let client = consumer.shared.client.clone();
        let bridge = Arc::new(ConsumerRebalance { consumer: consumer.clone(), member: OnceLock::new(), application: listener });
        let member = Arc::new(GroupMember::new(client, bridge.clone())?);
        let _ = bridge.member.set(Arc::downgrade(&member));
        member.subscribe(subscription)?;
        Ok(GroupConsumer { consumer, member })
    }

    /// The fetching consumer (positions, lag, pause/resume, stats).
    pub fn consumer(&self) -> &Consumer {
        &self.consumer
    }

    /// The group membership (assignment, generation, commits).
    pub fn member(&self) -> &GroupMember {
        &self.member
    }

    /// Changes the subscription (the member rejoins).
    pub fn resubscribe(&self, subscription: Subscription) -> Result<()> {
        self.member.subscribe(subscription)
    }

    /// Up to `max.poll.records` records of the owned partitions; also
    /// resets the `max.poll.interval.ms` timer.
    pub async fn poll(&self, timeout: Duration) -> Result<Vec<ConsumerRecord>> {
        self.member.poll_notice();
        // While a commit of the member's generation is in doubt, nothing
        // handed out could be committed any more (in the three_nodes groups
        // test a member processed 13 more polls after its coordinator was
        // killed, all of them again after it rejoined): polls hand out
        // nothing until the member has lost its partitions and joined again,
        // or the generation has moved on with them (a rebalance under way:
        // the coordinator refuses the old generation's commits since).
        if self.member.generation_in_doubt() {
            tokio::time::sleep(timeout.min(IN_DOUBT_POLL_WAIT)).await;
            return Ok(Vec::new());
        }
        let records = self.consumer.poll(timeout).await?;
        if self.member.generation_in_doubt() {
            // Given back, not dropped: if the partitions stay with the member, these come again.
            let mut firsts: BTreeMap<TopicPartition, Position> = BTreeMap::new();
            for r in &records {
                firsts.entry(r.topic_partition()).or_insert(Position::new(r.offset, r.leader_epoch));
            }
            self.consumer.give_back(firsts);
            return Ok(Vec::new());
        }
        // Per partition: after the last record, with its batch's leader epoch (committed with it, KIP-320).
        let mut delivered: BTreeMap<TopicPartition, Position> = BTreeMap::new();
        for r in &records {
            let next = Position::new(r.offset + 1, r.leader_epoch);
            let entry = delivered.entry(r.topic_partition()).or_insert(next);
            if next.offset > entry.offset {
                *entry = next;
            }
        }
        for (tp, next) in delivered {
            self.member.mark_delivered(&tp, next);
        }
        self.member.poll_notice();
        Ok(records)
    }

    /// Commits the offsets after every record handed out so far (commit after processing).
    pub async fn commit_consumed(&self) -> Result<()> {
        self.member.commit_delivered().await
    }

    /// Commits `offsets` (next offset to consume per partition).
    pub async fn commit(&self, offsets: &BTreeMap<TopicPartition, i64>) -> Result<()> {
        self.member.commit_sync(offsets).await
    }

    /// Leaves the group (committing with `enable.auto.commit`) and stops
    /// fetching; returns within `timeout`.
    pub async fn close(&self, timeout: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        let result = self.member.close(timeout.mul_f64(0.8)).await;
        self.consumer.close(deadline.saturating_duration_since(tokio::time::Instant::now())).await;
        result
    }
}
