//! [`RecordQueue`]: a partition's fetched records not yet handed out, kept
//! in the chunks they were decoded in.
//!
//! A fetch answer is decoded outside the consumer's lock into one `Vec` per
//! partition; the queue takes that `Vec` as it is (`VecDeque::from` reuses
//! its memory) instead of moving every record into one long deque under the
//! lock. Records are about 140 bytes each, and that move (and the deque's
//! regrowth) showed in profiles of consumers of 1 KiB records.

use std::collections::VecDeque;

use super::record::ConsumerRecord;

/// Records in offset order, front first. No chunk is ever empty.
#[derive(Debug, Default)]
pub(crate) struct RecordQueue {
    chunks: VecDeque<VecDeque<ConsumerRecord>>,
    len: usize,
}

impl RecordQueue {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn front(&self) -> Option<&ConsumerRecord> {
        self.chunks.front().and_then(VecDeque::front)
    }

    pub fn back(&self) -> Option<&ConsumerRecord> {
        self.chunks.back().and_then(VecDeque::back)
    }

    /// Appends decoded records (which follow those queued).
    pub fn push_chunk(&mut self, records: Vec<ConsumerRecord>) {
        if !records.is_empty() {
            self.len += records.len();
            self.chunks.push_back(VecDeque::from(records));
        }
    }

    pub fn pop_front(&mut self) -> Option<ConsumerRecord> {
        let chunk = self.chunks.front_mut()?;
        let record = chunk.pop_front();
        if chunk.is_empty() {
            self.chunks.pop_front();
        }
        self.len -= usize::from(record.is_some());
        record
    }

    pub fn pop_back(&mut self) -> Option<ConsumerRecord> {
        let chunk = self.chunks.back_mut()?;
        let record = chunk.pop_back();
        if chunk.is_empty() {
            self.chunks.pop_back();
        }
        self.len -= usize::from(record.is_some());
        record
    }

    pub fn clear(&mut self) {
        self.chunks.clear();
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn records(offsets: std::ops::Range<i64>) -> Vec<ConsumerRecord> {
        offsets
            .map(|offset| ConsumerRecord {
                topic: Arc::from("t"),
                partition: 0,
                offset,
                timestamp: 0,
                key: None,
                value: None,
                headers: Vec::new(),
                leader_epoch: None,
            })
            .collect()
    }

    fn offsets(q: &mut RecordQueue, from_back: bool) -> Vec<i64> {
        let mut out = Vec::new();
        while let Some(r) = if from_back { q.pop_back() } else { q.pop_front() } {
            out.push(r.offset);
        }
        out
    }

    #[test]
    fn records_come_out_in_order_across_chunks_from_either_end() {
        let mut q = RecordQueue::default();
        q.push_chunk(records(0..3));
        q.push_chunk(Vec::new());
        q.push_chunk(records(3..4));
        q.push_chunk(records(4..7));
        assert_eq!(q.len(), 7);
        assert_eq!(q.front().map(|r| r.offset), Some(0));
        assert_eq!(q.back().map(|r| r.offset), Some(6));
        assert_eq!(q.pop_back().map(|r| r.offset), Some(6));
        assert_eq!(q.pop_front().map(|r| r.offset), Some(0));
        assert_eq!(q.len(), 5);
        assert_eq!(offsets(&mut q, false), vec![1, 2, 3, 4, 5]);
        assert!(q.is_empty());
        assert!(q.front().is_none() && q.back().is_none());

        q.push_chunk(records(10..12));
        q.push_chunk(records(12..13));
        assert_eq!(offsets(&mut q, true), vec![12, 11, 10]);
        assert_eq!(q.len(), 0);

        q.push_chunk(records(20..25));
        q.clear();
        assert!(q.is_empty() && q.pop_front().is_none() && q.pop_back().is_none());
    }
}
