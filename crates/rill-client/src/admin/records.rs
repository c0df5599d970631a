//! Deleting records: DeleteRecords moves a partition's log start offset
//! forward, on the partition's leader.

use std::collections::BTreeMap;
use std::time::Duration;

use rill_protocol::messages::delete_records_request::{DeleteRecordsPartition, DeleteRecordsTopic};
use rill_protocol::messages::DeleteRecordsRequest;

use super::leaders::LeaderAnswers;
use super::retry::{check, timeout_ms};
use crate::client::{Client, PartitionResults};
use crate::error::Result;

/// DeleteRecords' offset meaning "up to the high watermark".
pub const DELETE_TO_HIGH_WATERMARK: i64 = -1;

impl Client {
    /// Deletes the records before `offset` in each `(topic, partition,
    /// offset)` ([`DELETE_TO_HIGH_WATERMARK`] for all). Answers each
    /// partition's new low watermark (log start offset). A partition listed
    /// twice is asked once, with the last offset given.
    #[tracing::instrument(level = "debug", skip_all, fields(partitions = partitions.len()))]
    pub async fn delete_records(&self, partitions: &[(&str, i32, i64)], timeout: Duration) -> Result<PartitionResults<i64>> {
        let items: BTreeMap<(String, i32), i64> = partitions.iter().map(|(t, p, o)| ((t.to_string(), *p), *o)).collect();
        self.on_leaders("DeleteRecords", items, |leader, work| async move {
            let mut topics: BTreeMap<String, Vec<DeleteRecordsPartition>> = BTreeMap::new();
            for w in &work {
                topics.entry(w.topic.clone()).or_default().push(DeleteRecordsPartition {
                    partition_index: w.partition,
                    offset: w.value,
                    ..Default::default()
                });
            }
            let request = DeleteRecordsRequest {
                topics: topics
                    .into_iter()
                    .map(|(name, partitions)| DeleteRecordsTopic { name, partitions, ..Default::default() })
                    .collect(),
                timeout_ms: timeout_ms(timeout),
                ..Default::default()
            };
            let response = self.send(leader, &request).await?;
            let broker = self.broker_name(leader);
            let mut answers: LeaderAnswers<i64> = Vec::new();
            for topic in response.topics {
                for p in topic.partitions {
                    let context = || format!("DeleteRecords {}-{}", topic.name, p.partition_index);
                    let result = check(&broker, context, p.error_code, None).map(|()| p.low_watermark);
                    answers.push(((topic.name.clone(), p.partition_index), result));
                }
            }
            Ok(answers)
        })
        .await
    }
}
