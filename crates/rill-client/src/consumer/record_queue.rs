//! [`RecordQueue`]: a partition's fetched records not yet handed out, kept
//! in the chunks they were decoded in.
//!
//! A fetch answer is decoded outside the consumer's lock into one `Vec` per
//! partition; the queue takes that `Vec` as it is (`VecDeque::from` reuses
//! its memory) instead of moving every record into one long deque under the
//! lock. Records are about 140 bytes each, and that move (and the deque's
//! regrowth) showed in profiles of consumers of 1 KiB records.

use std::collections::VecDeque;

use super::chunk_pool::ChunkPool;
use super::record::ConsumerRecord;

/// Records in offset order, front first. No chunk is ever empty.
#[derive(Debug, Default)]
pub(crate) struct RecordQueue {
    chunks: VecDeque<VecDeque<ConsumerRecord>>,
    len: usize,
    /// Where emptied chunks go: the pool of the chunks pushed.
    pool: Option<ChunkPool>,
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

    /// Appends decoded records (which follow those queued); the chunk goes
    /// back to `pool` once emptied.
    pub fn push_chunk(&mut self, records: Vec<ConsumerRecord>, pool: &ChunkPool) {
        if records.is_empty() {
            pool.give_back(records);
            return;
        }
        if self.pool.is_none() {
            self.pool = Some(pool.clone());
        }
        self.len += records.len();
        self.chunks.push_back(VecDeque::from(records));
    }

    pub fn pop_front(&mut self) -> Option<ConsumerRecord> {
        let chunk = self.chunks.front_mut()?;
        let record = chunk.pop_front();
        if chunk.is_empty() {
            let emptied = self.chunks.pop_front();
            self.recycle(emptied);
        }
        self.len -= usize::from(record.is_some());
        record
    }

    pub fn pop_back(&mut self) -> Option<ConsumerRecord> {
        let chunk = self.chunks.back_mut()?;
        let record = chunk.pop_back();
        if chunk.is_empty() {
            let emptied = self.chunks.pop_back();
            self.recycle(emptied);
        }
        self.len -= usize::from(record.is_some());
        record
    }

    pub fn clear(&mut self) {
        for chunk in std::mem::take(&mut self.chunks) {
            self.recycle(Some(chunk));
        }
        self.len = 0;
    }

    /// Gives a chunk's memory back to the pool (its records, if any, dropped).
    fn recycle(&self, chunk: Option<VecDeque<ConsumerRecord>>) {
        if let (Some(pool), Some(chunk)) = (&self.pool, chunk) {
            // An empty deque becomes a Vec without moving anything.
            pool.give_back(Vec::from(chunk));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(offsets: std::ops::Range<i64>) -> Vec<ConsumerRecord> {
        ConsumerRecord::empty_at(offsets)
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
        let pool = ChunkPool::default();
        let mut q = RecordQueue::default();
        q.push_chunk(records(0..3), &pool);
        q.push_chunk(Vec::new(), &pool);
        q.push_chunk(records(3..4), &pool);
        q.push_chunk(records(4..7), &pool);
        assert_eq!(q.len(), 7);
        assert_eq!(q.front().map(|r| r.offset), Some(0));
        assert_eq!(q.back().map(|r| r.offset), Some(6));
        assert_eq!(q.pop_back().map(|r| r.offset), Some(6));
        assert_eq!(q.pop_front().map(|r| r.offset), Some(0));
        assert_eq!(q.len(), 5);
        assert_eq!(offsets(&mut q, false), vec![1, 2, 3, 4, 5]);
        assert!(q.is_empty());
        assert!(q.front().is_none() && q.back().is_none());

        q.push_chunk(records(10..12), &pool);
        q.push_chunk(records(12..13), &pool);
        assert_eq!(offsets(&mut q, true), vec![12, 11, 10]);
        assert_eq!(q.len(), 0);

        q.push_chunk(records(20..25), &pool);
        q.clear();
        assert!(q.is_empty() && q.pop_front().is_none() && q.pop_back().is_none());
    }

    #[test]
    fn emptied_chunks_go_back_to_the_pool() {
        let pool = ChunkPool::new(1 << 20);
        let mut q = RecordQueue::default();
        let chunk = |offsets: std::ops::Range<i64>| {
            let mut c = pool.take(64);
            c.extend(records(offsets));
            c
        };
        q.push_chunk(chunk(0..3), &pool);
        q.push_chunk(chunk(3..5), &pool);
        q.push_chunk(chunk(5..9), &pool);
        q.push_chunk(Vec::with_capacity(64), &pool);
        assert_eq!(pool.idle_records(), 64, "an empty chunk is not queued");
        assert_eq!(q.pop_front().map(|r| r.offset), Some(0));
        assert_eq!(pool.idle_records(), 64);
        q.pop_front();
        q.pop_front();
        assert_eq!(pool.idle_records(), 128, "the first chunk, emptied from the front");
        q.pop_back();
        q.pop_back();
        q.pop_back();
        q.pop_back();
        assert_eq!(pool.idle_records(), 192, "the last chunk, emptied from the back");
        q.clear();
        assert_eq!(pool.idle_records(), 256, "clear gives back the chunks it drops");
        assert!(q.is_empty());
    }
}
