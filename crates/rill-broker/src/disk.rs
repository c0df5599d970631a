//! The broker's durable storage, kept outside the broker so it outlives a
//! crash.
//!
//! A [`Disk`] is a cloneable handle: the simulator keeps one per broker
//! host, hands it to every incarnation of that broker, and calls
//! [`Disk::crash`] when it kills the host. What was appended but not yet
//! flushed is then gone, as the page cache is after a power loss; what was
//! flushed survives. When data is flushed is the [`FlushPolicy`]
//! (Kafka's `log.flush.interval.messages` / `log.flush.interval.ms`; Kafka's
//! default is to never force a flush and rely on replication, which is
//! [`FlushPolicy::Manual`] here).
//!
//! Per partition the disk holds the batches and the leader-epoch checkpoint
//! (KIP-101: the first offset of each leader epoch). There is no log start
//! other than 0: this model keeps everything (no retention, no compaction).
//! A dev broker with `--data-dir` writes the flushed state to files (see
//! [`Disk::open_dir`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;

use crate::log::{split_batches, StoredBatch};

/// A topic name and a partition index.
pub type TopicPartition = (String, i32);

/// When appended data becomes durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushPolicy {
    /// Every append is flushed before it is acknowledged (fsync per write).
    EveryAppend,
    /// A background task of the broker flushes every interval (simulated time).
    Interval(Duration),
    /// Only explicit [`Disk::flush`] calls flush: a crash loses every
    /// append since the last one. Kafka's default (durability by replication).
    Manual,
}

/// One partition's log on disk.
#[derive(Debug, Clone, Default)]
struct DiskLog {
    batches: Vec<StoredBatch>,
    /// How many of `batches` are durable.
    flushed: usize,
    /// Leader epoch -> first offset of that epoch (KIP-101 checkpoint).
    epochs: BTreeMap<i32, i64>,
}

impl DiskLog {
    fn end_offset(&self) -> i64 {
        self.batches.last().map_or(0, StoredBatch::next_offset)
    }

    /// Removes every batch that ends at or after `offset`, and every epoch
    /// entry starting at or after the new end (Kafka's `truncateTo` plus
    /// `LeaderEpochFileCache.truncateFromEnd`).
    fn truncate_to(&mut self, offset: i64) {
        let keep = self.batches.partition_point(|b| b.last_offset < offset);
        self.batches.truncate(keep);
        self.flushed = self.flushed.min(keep);
        let end = self.end_offset();
        self.epochs.retain(|_, start| *start < end);
    }

    /// Records that `epoch` starts at `start_offset`, keeping the checkpoint
    /// monotonic in both epoch and start offset (Kafka's
    /// `LeaderEpochFileCache.assign`): nothing changes when `epoch` is already
    /// the latest entry and starts no later; otherwise every entry of an
    /// epoch `>= epoch` or starting at or after `start_offset` is dropped
    /// first. Such an entry is one a leader assigned at its log end and never
    /// wrote in (it became a follower again): kept, it would claim the offsets
    /// of the batches appended after it, so the epoch before it would end
    /// too early on this replica (KIP-101: followers truncate to that end).
    fn assign_epoch(&mut self, epoch: i32, start_offset: i64) {
        let latest = self.epochs.iter().next_back().map(|(e, s)| (*e, *s));
        if latest.is_some_and(|(e, s)| e == epoch && start_offset >= s) {
            return;
        }
        self.epochs.retain(|e, s| *e < epoch && *s < start_offset);
        self.epochs.insert(epoch, start_offset);
    }
}

#[derive(Debug)]
struct DiskState {
    policy: FlushPolicy,
    logs: BTreeMap<TopicPartition, DiskLog>,
    dir: Option<PathBuf>,
}

/// A broker's durable storage: cloneable, shared, survives the broker task.
#[derive(Debug, Clone)]
pub struct Disk {
    state: Arc<Mutex<DiskState>>,
}

/// The end offset of an epoch: the largest epoch `<= requested` and the
/// first offset after it (Kafka's `LeaderEpochFileCache.endOffsetFor`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEnd {
    pub epoch: i32,
    pub end_offset: i64,
}

impl Disk {
    /// An empty in-memory disk.
    pub fn new(policy: FlushPolicy) -> Disk {
        Disk { state: Arc::new(Mutex::new(DiskState { policy, logs: BTreeMap::new(), dir: None })) }
    }

    fn lock(&self) -> MutexGuard<'_, DiskState> {
        // A panic elsewhere while holding the lock must not take the disk down with it.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The flush policy.
    pub fn policy(&self) -> FlushPolicy {
        self.lock().policy
    }

    /// Appends batches (already stamped with offsets and epochs) to a partition.
    pub fn append(&self, tp: &TopicPartition, batches: Vec<StoredBatch>) {
        let mut state = self.lock();
        let every = state.policy == FlushPolicy::EveryAppend;
        let log = state.logs.entry(tp.clone()).or_default();
        for b in batches {
            log.assign_epoch(b.leader_epoch, b.base_offset);
            log.batches.push(b);
        }
        if every {
            log.flushed = log.batches.len();
            persist(&state, tp);
        }
    }

    /// Records that `epoch` starts at `start_offset` (a new leader does this
    /// when it takes over, KIP-101), dropping the entries it supersedes.
    pub fn assign_epoch(&self, tp: &TopicPartition, epoch: i32, start_offset: i64) {
        self.lock().logs.entry(tp.clone()).or_default().assign_epoch(epoch, start_offset);
    }

    /// Truncates a partition to `offset` (a follower dropping its divergent suffix).
    pub fn truncate_to(&self, tp: &TopicPartition, offset: i64) {
        let mut state = self.lock();
        if let Some(log) = state.logs.get_mut(tp) {
            log.truncate_to(offset);
        }
        persist(&state, tp);
    }

    /// Makes everything appended so far durable.
    pub fn flush(&self) {
        let mut state = self.lock();
        let names: Vec<TopicPartition> = state
            .logs
            .iter_mut()
            .filter(|(_, log)| log.flushed < log.batches.len())
            .map(|(tp, log)| {
                log.flushed = log.batches.len();
                tp.clone()
            })
            .collect();
        for tp in names {
            persist(&state, &tp);
        }
    }

    /// Simulates a power loss: every unflushed append is lost.
    pub fn crash(&self) {
        let mut state = self.lock();
        for log in state.logs.values_mut() {
            let flushed = log.flushed;
            let offset = log.batches.get(flushed).map_or(i64::MAX, |b| b.base_offset);
            log.truncate_to(offset);
        }
    }

    /// The offset after the last batch (0 for an empty or unknown partition).
    pub fn log_end_offset(&self, tp: &TopicPartition) -> i64 {
        self.lock().logs.get(tp).map_or(0, DiskLog::end_offset)
    }

    /// The latest epoch in the checkpoint (a follower's `last_fetched_epoch`,
    /// as Kafka's fetcher sends `log.latestEpoch`: an epoch this replica led
    /// without writing in is checked with the leader, and truncated away,
    /// like any other).
    pub fn latest_epoch(&self, tp: &TopicPartition) -> Option<i32> {
        self.lock().logs.get(tp).and_then(|l| l.epochs.keys().next_back().copied())
    }

    /// The first offset of `epoch` in the checkpoint.
    pub fn epoch_start(&self, tp: &TopicPartition, epoch: i32) -> Option<i64> {
        self.lock().logs.get(tp).and_then(|l| l.epochs.get(&epoch).copied())
    }

    /// The end offset of the largest epoch `<= epoch`: the start of the next
    /// epoch, or the log end for the latest (KIP-101 / KIP-279). An epoch
    /// older than every known one ends where the first known one starts,
    /// answered under the asked epoch (Kafka's `LeaderEpochFileCache.endOffsetFor`:
    /// a log that lost its old epochs, e.g. a replica that came back empty,
    /// still tells a reader of those epochs that its data diverges there).
    /// `None` when no epoch is known (Kafka answers UNDEFINED_EPOCH, -1).
    pub fn end_offset_for_epoch(&self, tp: &TopicPartition, epoch: i32) -> Option<EpochEnd> {
        let state = self.lock();
        let log = state.logs.get(tp)?;
        let Some((&found, _)) = log.epochs.range(..=epoch).next_back() else {
            let (_, &first_start) = log.epochs.range(epoch.saturating_add(1)..).next()?;
            return Some(EpochEnd { epoch, end_offset: first_start });
        };
        let end_offset = match log.epochs.range(found.saturating_add(1)..).next() {
            Some((_, &next_start)) => next_start,
            None => log.end_offset(),
        };
        Some(EpochEnd { epoch: found, end_offset })
    }

    /// The batches of a partition that hold offsets in `from..until`,
    /// starting with the one containing `from`, up to `max_bytes` (always at
    /// least one batch, KIP-74).
    pub fn read(&self, tp: &TopicPartition, from: i64, until: i64, max_bytes: usize) -> Vec<StoredBatch> {
        let state = self.lock();
        let Some(log) = state.logs.get(tp) else { return Vec::new() };
        let first = log.batches.partition_point(|b| b.last_offset < from);
        let mut out = Vec::new();
        let mut size = 0usize;
        for b in log.batches.iter().skip(first) {
            if b.next_offset() > until {
                break;
            }
            size = size.saturating_add(b.bytes.len());
            if size > max_bytes && !out.is_empty() {
                break;
            }
            out.push(b.clone());
        }
        out
    }

    /// Every batch of a partition (rebuilding producer state, timestamp lookups).
    pub fn batches(&self, tp: &TopicPartition) -> Vec<StoredBatch> {
        self.lock().logs.get(tp).map(|l| l.batches.clone()).unwrap_or_default()
    }

    /// The partitions that have a log.
    pub fn partitions(&self) -> Vec<TopicPartition> {
        self.lock().logs.keys().cloned().collect()
    }

    /// A disk whose flushed state is mirrored in files under `dir` (the dev
    /// broker's `--data-dir`): one `<topic>-<partition>.log` of raw batches
    /// per partition, rewritten on flush and truncation. Existing files are
    /// loaded (their epochs rebuilt from the batches' leader epochs).
    pub fn open_dir(dir: &Path, policy: FlushPolicy) -> std::io::Result<Disk> {
        std::fs::create_dir_all(dir)?;
        let mut logs = BTreeMap::new();
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else { continue };
            let Some(stem) = name.strip_suffix(".log") else { continue };
            let Some((topic, partition)) = stem.rsplit_once('-') else { continue };
            let Ok(partition) = partition.parse::<i32>() else { continue };
            let bytes = Bytes::from(std::fs::read(&path)?);
            let batches = split_batches(&bytes)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{}: {}", path.display(), e.message)))?;
            let mut log = DiskLog::default();
            for b in batches {
                log.assign_epoch(b.leader_epoch, b.base_offset);
                log.batches.push(b);
            }
            log.flushed = log.batches.len();
            logs.insert((topic.to_string(), partition), log);
        }
        Ok(Disk { state: Arc::new(Mutex::new(DiskState { policy, logs, dir: Some(dir.to_path_buf()) })) })
    }
}

/// Writes a partition's flushed batches to its file when the disk has a directory.
fn persist(state: &DiskState, tp: &TopicPartition) {
    let (Some(dir), Some(log)) = (&state.dir, state.logs.get(tp)) else { return };
    let path = dir.join(format!("{}-{}.log", tp.0, tp.1));
    let mut data = Vec::new();
    for b in log.batches.iter().take(log.flushed) {
        data.extend_from_slice(&b.bytes);
    }
    if let Err(e) = std::fs::write(&path, data) {
        tracing::warn!(path = %path.display(), error = %e, "could not write partition log");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::restamp;
    use rill_protocol::records::RecordBatchBuilder;

    fn batch(offset: i64, epoch: i32, n: usize) -> StoredBatch {
        let mut b = RecordBatchBuilder::new(0);
        for _ in 0..n {
            b.append(0, None, Some(b"x"), &[]).unwrap();
        }
        let raw = split_batches(&b.finish().unwrap().freeze()).unwrap().remove(0);
        restamp(&raw, offset, epoch)
    }

    fn tp() -> TopicPartition {
        ("t".to_string(), 0)
    }

    #[test]
    fn crash_drops_the_unflushed_suffix_only() {
        let disk = Disk::new(FlushPolicy::Manual);
        disk.append(&tp(), vec![batch(0, 0, 2)]);
        disk.flush();
        disk.append(&tp(), vec![batch(2, 1, 3)]);
        assert_eq!(disk.log_end_offset(&tp()), 5);
        disk.crash();
        assert_eq!(disk.log_end_offset(&tp()), 2);
        assert_eq!(disk.latest_epoch(&tp()), Some(0));

        let always = Disk::new(FlushPolicy::EveryAppend);
        always.append(&tp(), vec![batch(0, 0, 2)]);
        always.crash();
        assert_eq!(always.log_end_offset(&tp()), 2);
    }

    #[test]
    fn epoch_end_offsets_and_truncation() {
        let disk = Disk::new(FlushPolicy::EveryAppend);
        disk.append(&tp(), vec![batch(0, 1, 2), batch(2, 1, 1), batch(3, 3, 2)]);
        assert_eq!(disk.end_offset_for_epoch(&tp(), 1), Some(EpochEnd { epoch: 1, end_offset: 3 }));
        assert_eq!(disk.end_offset_for_epoch(&tp(), 2), Some(EpochEnd { epoch: 1, end_offset: 3 }));
        assert_eq!(disk.end_offset_for_epoch(&tp(), 3), Some(EpochEnd { epoch: 3, end_offset: 5 }));
        // Older than every known epoch: it ends where the first known one (1) starts.
        assert_eq!(disk.end_offset_for_epoch(&tp(), 0), Some(EpochEnd { epoch: 0, end_offset: 0 }));
        assert_eq!(Disk::new(FlushPolicy::EveryAppend).end_offset_for_epoch(&tp(), 0), None);
        disk.truncate_to(&tp(), 4);
        assert_eq!(disk.log_end_offset(&tp()), 3);
        assert_eq!(disk.latest_epoch(&tp()), Some(1));
        assert_eq!(disk.read(&tp(), 1, i64::MAX, 1).len(), 1);
        assert_eq!(disk.read(&tp(), 1, i64::MAX, 1_000_000).len(), 2);
        assert_eq!(disk.read(&tp(), 0, 2, 1_000_000).len(), 1);
    }

    #[test]
    fn an_epoch_led_without_writes_gives_way_to_the_batches_appended_after_it() {
        let disk = Disk::new(FlushPolicy::EveryAppend);
        disk.append(&tp(), vec![batch(0, 4, 3)]);
        // This replica led epoch 5 from its log end (3) and wrote nothing; as a
        // follower again it appends the new leader's epoch-4 records 3..5.
        disk.assign_epoch(&tp(), 5, 3);
        disk.append(&tp(), vec![batch(3, 4, 2)]);
        // Epoch 4 ends at the log end, not at 3: a follower asking about epoch 4
        // from offset 5 must not be told to truncate to 3 (it would fetch the
        // same records again and be told so again, forever; the ISR never refills).
        assert_eq!(disk.end_offset_for_epoch(&tp(), 4), Some(EpochEnd { epoch: 4, end_offset: 5 }));
        assert_eq!(disk.end_offset_for_epoch(&tp(), 5), Some(EpochEnd { epoch: 4, end_offset: 5 }));
        assert_eq!(disk.latest_epoch(&tp()), Some(4));
        // A new epoch at the log end, then a batch of it: one entry, where the epoch began.
        disk.assign_epoch(&tp(), 6, 5);
        disk.append(&tp(), vec![batch(5, 6, 1)]);
        assert_eq!(disk.epoch_start(&tp(), 6), Some(5));
        assert_eq!(disk.end_offset_for_epoch(&tp(), 4), Some(EpochEnd { epoch: 4, end_offset: 5 }));
    }

    #[test]
    fn dir_round_trip() {
        let dir = std::env::temp_dir().join(format!("rill-broker-disk-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let disk = Disk::open_dir(&dir, FlushPolicy::EveryAppend).unwrap();
        disk.append(&("a-b".to_string(), 2), vec![batch(0, 4, 3)]);
        let again = Disk::open_dir(&dir, FlushPolicy::EveryAppend).unwrap();
        assert_eq!(again.log_end_offset(&("a-b".to_string(), 2)), 3);
        assert_eq!(again.latest_epoch(&("a-b".to_string(), 2)), Some(4));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
