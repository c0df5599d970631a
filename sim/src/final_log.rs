//! Reads the final log back after the run quiesced: every partition from
//! offset 0 to its high watermark, through Fetch to the partition leader
//! (read_uncommitted, so aborted records show too; control batches are
//! skipped), decoding each record value back to the [`RecordId`] written.

use std::time::Duration;

use rill_client::protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use rill_client::protocol::messages::FetchRequest;
use rill_client::protocol::records::{DecodeOptions, RecordBatches};
use rill_client::protocol::ErrorCode;
use rill_client::Client;

use crate::clock::now_ms;
use crate::history::{FinalLog, LogRecord, RecordId, TopicPartition};

/// Reads `partitions` of `topic`; retries each fetch until `give_up_ms`.
pub async fn read(client: &Client, topic: &str, partitions: i32, give_up_ms: u64) -> Result<FinalLog, String> {
    let mut log = FinalLog::default();
    for partition in 0..partitions {
        let tp = TopicPartition::new(topic, partition);
        let records = read_partition(client, &tp, give_up_ms).await?;
        log.partitions.insert(tp, records);
    }
    Ok(log)
}

async fn read_partition(client: &Client, tp: &TopicPartition, give_up_ms: u64) -> Result<Vec<LogRecord>, String> {
    let mut out = Vec::new();
    let mut offset = 0i64;
    let _ = client.metadata(&[tp.topic.as_str()]).await;
    let mut last_error = String::new();
    loop {
        if now_ms() >= give_up_ms {
            return Err(format!("reading the final log of {tp} at offset {offset}: {last_error}"));
        }
        // Fetch v13+ names topics by id (KIP-516).
        let topic_id = client.cached_metadata().topic(&tp.topic).map(|t| t.id).unwrap_or_default();
        let request = FetchRequest {
            replica_id: -1,
            max_wait_ms: 0,
            min_bytes: 0,
            max_bytes: 1 << 20,
            isolation_level: 0,
            session_id: 0,
            session_epoch: -1,
            topics: vec![FetchTopic {
                topic: tp.topic.clone(),
                topic_id,
                partitions: vec![FetchPartition {
                    partition: tp.partition,
                    current_leader_epoch: -1,
                    fetch_offset: offset,
                    last_fetched_epoch: -1,
                    log_start_offset: -1,
                    partition_max_bytes: 1 << 20,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let result = match client.leader_for(&tp.topic, tp.partition).await {
            Ok(leader) => client.send(leader, &request).await,
            Err(e) => Err(e),
        };
        let response = match result {
            Ok(r) => r,
            Err(e) => {
                last_error = e.to_string();
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let Some(data) = response.responses.iter().flat_map(|t| t.partitions.iter()).find(|p| p.partition_index == tp.partition) else {
            last_error = "partition missing from the fetch response".into();
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let code = ErrorCode(data.error_code);
        if code.is_error() {
            client.note_error(&tp.topic, code);
            last_error = code.name().to_string();
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        let before = offset;
        if let Some(bytes) = &data.records {
            for batch in RecordBatches::new(bytes, &DecodeOptions::default()) {
                let batch = batch.map_err(|e| format!("decoding the final log of {tp}: {e}"))?;
                if batch.is_control() {
                    offset = offset.max(batch.next_offset());
                    continue;
                }
                for (record_offset, _, record) in batch.iter() {
                    if record_offset < offset {
                        continue;
                    }
                    let value = record.value.as_deref().unwrap_or_default();
                    let id =
                        RecordId::from_value(value).ok_or_else(|| format!("{tp}@{record_offset}: a value no workload wrote: {value:?}"))?;
                    out.push(LogRecord { offset: record_offset, id });
                }
                offset = offset.max(batch.next_offset());
            }
        }
        if offset >= data.high_watermark {
            return Ok(out);
        }
        if offset == before {
            last_error = format!("no progress below the high watermark {}", data.high_watermark);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
