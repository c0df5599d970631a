//! [`ChunkPool`]: memory for decoded records, used again.
//!
//! A fetch answer is decoded into chunks of [`ConsumerRecord`]s (about 140
//! bytes each; thousands per answer) that are emptied as the application
//! polls. Freed, that memory went back to the kernel (glibc trims the top of
//! its heaps once enough is free there) and the next answer's chunks faulted
//! fresh pages in: with compressed batches, whose own buffers are pooled
//! (rill-protocol's `BufferPool`) and whose frames are read into populated
//! maps, these were nine page faults in ten of a consumer of 1 KiB lz4
//! records in peer-bench (about 13,000 per million records). An emptied
//! chunk comes back here instead and is lent to the next decode.
//!
//! The pool holds at most `max_idle_records` records' worth of empty chunks.
//! Chunks are made in powers of two, so that chunks of batches of about the
//! same size fit each other; when none idle is large enough, the largest is
//! grown rather than kept beside a new one.

use std::sync::{Arc, Mutex, MutexGuard};

use super::record::ConsumerRecord;

/// Empty record chunks to lend again; cheap to clone (shared).
#[derive(Clone, Default)]
pub(crate) struct ChunkPool {
    idle: Arc<Mutex<Idle>>,
}

#[derive(Default)]
struct Idle {
    chunks: Vec<Vec<ConsumerRecord>>,
    /// Capacity of `chunks`, summed, in records.
    records: usize,
    max_records: usize,
}

impl ChunkPool {
    /// A pool keeping at most `max_idle_records` records' worth of empty chunks.
    pub fn new(max_idle_records: usize) -> Self {
        ChunkPool { idle: Arc::new(Mutex::new(Idle { max_records: max_idle_records, ..Idle::default() })) }
    }

    /// An empty chunk with room for at least `records` records: the smallest
    /// idle one that fits, else the largest idle one grown, else a new one.
    pub fn take(&self, records: usize) -> Vec<ConsumerRecord> {
        let mut idle = lock(&self.idle);
        let fits = idle.chunks.iter().enumerate().filter(|(_, c)| c.capacity() >= records).min_by_key(|(_, c)| c.capacity());
        let at = fits.or_else(|| idle.chunks.iter().enumerate().max_by_key(|(_, c)| c.capacity())).map(|(at, _)| at);
        let chunk = at.map(|at| idle.chunks.swap_remove(at));
        idle.records -= chunk.as_ref().map_or(0, Vec::capacity);
        drop(idle);
        let wanted = records.checked_next_power_of_two().unwrap_or(records);
        match chunk {
            Some(chunk) if chunk.capacity() >= records => chunk,
            Some(mut chunk) => {
                chunk.reserve_exact(wanted);
                chunk
            }
            None => Vec::with_capacity(wanted),
        }
    }

    /// Takes back `chunk` (its records, if any, are dropped), or lets it go
    /// if the pool is full.
    pub fn give_back(&self, mut chunk: Vec<ConsumerRecord>) {
        // Records hold `Bytes` whose last drop may give memory back to other
        // pools: done before taking this pool's lock.
        chunk.clear();
        let capacity = chunk.capacity();
        if capacity == 0 {
            return;
        }
        let mut idle = lock(&self.idle);
        if idle.records.saturating_add(capacity) <= idle.max_records {
            idle.records += capacity;
            idle.chunks.push(chunk);
            return;
        }
        // Over the limit: freed once the lock is released.
        drop(idle);
        drop(chunk);
    }

    /// Capacity of the idle chunks, summed, in records.
    #[cfg(test)]
    pub fn idle_records(&self) -> usize {
        lock(&self.idle).records
    }
}

impl std::fmt::Debug for ChunkPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let idle = lock(&self.idle);
        f.debug_struct("ChunkPool").field("idle_chunks", &idle.chunks.len()).field("idle_records", &idle.records).finish()
    }
}

/// Nothing panics while the lock is held, so a poisoned lock's data is whole.
fn lock(idle: &Mutex<Idle>) -> MutexGuard<'_, Idle> {
    idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_emptied_chunk_is_lent_again() {
        let pool = ChunkPool::new(10_000);
        let mut chunk = pool.take(100);
        assert_eq!(chunk.capacity(), 128, "made in powers of two");
        chunk.extend(ConsumerRecord::empty_at(0..100));
        let address = chunk.as_ptr();
        pool.give_back(chunk);
        assert_eq!(pool.idle_records(), 128);
        let again = pool.take(120);
        assert!(again.is_empty(), "records given back are dropped");
        assert_eq!(again.as_ptr(), address, "the same memory is lent again");
        assert_eq!(pool.idle_records(), 0);
    }

    #[test]
    fn the_smallest_chunk_that_fits_is_lent_else_the_largest_grows() {
        let pool = ChunkPool::new(10_000);
        for n in [64, 256, 1024] {
            pool.give_back(Vec::with_capacity(n));
        }
        assert_eq!(pool.take(200).capacity(), 256);
        assert_eq!(pool.idle_records(), 64 + 1024);
        let grown = pool.take(2000);
        assert!(grown.capacity() >= 2000, "{}", grown.capacity());
        assert_eq!(pool.idle_records(), 64, "the largest idle chunk was grown, not kept beside a new one");
    }

    #[test]
    fn idle_chunks_stay_under_the_limit() {
        let pool = ChunkPool::new(1000);
        for _ in 0..5 {
            pool.give_back(Vec::with_capacity(300));
        }
        assert_eq!(pool.idle_records(), 900);
        let unused = ChunkPool::new(0);
        unused.give_back(Vec::with_capacity(10));
        assert_eq!(unused.idle_records(), 0);
    }
}
