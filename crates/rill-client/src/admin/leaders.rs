//! Per-partition admin work that must reach each partition's leader
//! (DeleteRecords): grouped into one request per leader, with partitions
//! whose metadata turned out stale (NOT_LEADER_OR_FOLLOWER,
//! UNKNOWN_TOPIC_OR_PARTITION, FENCED_LEADER_EPOCH, an unreachable leader)
//! asked again after a metadata refresh.

use std::collections::BTreeMap;
use std::future::Future;

use rill_protocol::ErrorCode;
use tracing::debug;

use super::retry::missing;
use super::ItemResult;
use crate::backoff::Backoff;
use crate::client::{Client, PartitionResults};
use crate::error::{Error, Result};

/// Attempts per partition (the first plus two after metadata refreshes).
const ATTEMPTS: u32 = 3;

/// One partition's work for its leader.
#[derive(Debug, Clone)]
pub(crate) struct LeaderWork<V> {
    pub topic: String,
    pub partition: i32,
    pub value: V,
}

/// What a leader answered for each partition it was sent.
pub(crate) type LeaderAnswers<T> = Vec<((String, i32), ItemResult<T>)>;

impl Client {
    /// Runs `call` once per leader (in node id order) with that leader's
    /// partitions. Partitions answered with an error that marks metadata stale,
    /// or whose leader could not be reached, are retried up to three times in
    /// all, `retry.backoff.ms` apart (growing), after refreshing their topics.
    pub(crate) async fn on_leaders<V, T, F, Fut>(
        &self,
        api: &'static str,
        items: BTreeMap<(String, i32), V>,
        mut call: F,
    ) -> Result<PartitionResults<T>>
    where
        V: Clone,
        F: FnMut(i32, Vec<LeaderWork<V>>) -> Fut,
        Fut: Future<Output = Result<LeaderAnswers<T>>>,
    {
        let config = self.config();
        let mut backoff = Backoff::new(config.retry_backoff, config.retry_backoff_max);
        let mut results = BTreeMap::new();
        let mut remaining = items;
        for attempt in 1..=ATTEMPTS {
            let last = attempt == ATTEMPTS;
            let mut topics: Vec<&str> = remaining.keys().map(|(t, _)| t.as_str()).collect();
            topics.dedup();
            self.refresh_stale_topics(&topics).await?;
            let snapshot = self.cached_metadata();
            let mut by_leader: BTreeMap<i32, Vec<LeaderWork<V>>> = BTreeMap::new();
            let mut again = BTreeMap::new();
            for ((topic, partition), value) in remaining {
                let found = snapshot.partition(&topic, partition);
                if let Some(leader) = found.and_then(|p| p.leader) {
                    by_leader.entry(leader).or_default().push(LeaderWork { topic, partition, value });
                    continue;
                }
                let code = if found.is_some() { ErrorCode::LEADER_NOT_AVAILABLE } else { ErrorCode::UNKNOWN_TOPIC_OR_PARTITION };
                if last {
                    results.insert((topic.clone(), partition), Err(Error::PartitionUnavailable { topic, partition, code }));
                } else {
                    self.note_error(&topic, code);
                    again.insert((topic, partition), value);
                }
            }
            for (leader, work) in by_leader {
                let sent: Vec<((String, i32), V)> = work.iter().map(|w| ((w.topic.clone(), w.partition), w.value.clone())).collect();
                let answers = match call(leader, work).await {
                    Ok(answers) => answers,
                    Err(e) if e.is_retriable() && !last => {
                        debug!(api, leader, error = %e, "leader unreachable; will refresh metadata and retry");
                        for (key, value) in sent {
                            self.note_error(&key.0, ErrorCode::NOT_LEADER_OR_FOLLOWER);
                            again.insert(key, value);
                        }
                        continue;
                    }
                    Err(e) => {
                        results.extend(sent.into_iter().map(|(key, _)| (key, Err(e.clone()))));
                        continue;
                    }
                };
                let mut answers: BTreeMap<(String, i32), ItemResult<T>> = answers.into_iter().collect();
                for (key, value) in sent {
                    match answers.remove(&key) {
                        None => {
                            let context = format!("{api} {}-{}", key.0, key.1);
                            results.insert(key, Err(missing(&self.broker_name(leader), context)));
                        }
                        Some(Err(e)) if !last && e.code().is_some_and(|code| self.note_error(&key.0, code)) => {
                            if let Some(broker) = e.broker() {
                                self.stats_retry(broker);
                            }
                            debug!(api, topic = %key.0, partition = key.1, error = %e, "stale metadata; will retry");
                            again.insert(key, value);
                        }
                        Some(answer) => {
                            results.insert(key, answer);
                        }
                    }
                }
            }
            if again.is_empty() {
                break;
            }
            remaining = again;
            tokio::time::sleep(self.backoff_delay(&mut backoff)).await;
        }
        Ok(results)
    }
}
