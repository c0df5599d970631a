//! [`BufferPool`]: memory for decompressed batches, used again.
//!
//! A consumer decompresses each compressed batch into a buffer that its
//! records are zero-copy slices of (`Bytes`); the buffer goes when the last
//! of them is dropped. Given back to the allocator, that memory went back to
//! the kernel (glibc unmaps large chunks and trims the top of its heaps), so
//! the next batch faulted fresh pages in and zeroed them: reading 1 KiB lz4
//! records took about 200 page faults per thousand records, a third of the
//! consumer's CPU. A buffer lent from a pool comes back to it when its last
//! `Bytes` is dropped and is lent again as it is: no fault, no zeroing (see
//! [`super::Compression::decompress_into`]). Java's consumer keeps its
//! decompression buffers for the same reason (`BufferSupplier`).
//!
//! The pool holds at most `max_idle_bytes` of buffers nobody uses. When no
//! idle buffer is large enough, the largest is grown rather than kept beside
//! a new one, so the memory in use plus the memory idle stays near what the
//! busiest moment needed. (Letting it go instead, and allocating anew, made
//! one take in twenty fault in fresh pages for consumers of 1 KiB lz4
//! records in peer-bench, whose Java-written batches decompress to anything
//! from 64 to 576 KiB.)

use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;

/// Reusable buffers for decompressed batches; cheap to clone (shared).
#[derive(Clone)]
pub struct BufferPool {
    idle: Arc<Mutex<Idle>>,
}

#[derive(Default)]
struct Idle {
    buffers: Vec<Vec<u8>>,
    /// Capacity of `buffers`, summed.
    bytes: usize,
    max_bytes: usize,
}

impl BufferPool {
    /// A pool keeping at most `max_idle_bytes` of unused buffers.
    pub fn new(max_idle_bytes: usize) -> Self {
        BufferPool { idle: Arc::new(Mutex::new(Idle { max_bytes: max_idle_bytes, ..Idle::default() })) }
    }

    /// A buffer with room for at least `capacity` bytes: the smallest idle
    /// one that fits, else the largest idle one grown, else a new one. Its
    /// contents are the last user's (write over them).
    pub fn take(&self, capacity: usize) -> Vec<u8> {
        let mut idle = lock(&self.idle);
        let fits = idle.buffers.iter().enumerate().filter(|(_, b)| b.capacity() >= capacity).min_by_key(|(_, b)| b.capacity());
        if let Some((at, _)) = fits {
            let buf = idle.buffers.swap_remove(at);
            idle.bytes -= buf.capacity();
            return buf;
        }
        let largest = idle.buffers.iter().enumerate().max_by_key(|(_, b)| b.capacity()).map(|(at, _)| at);
        let grown = largest.map(|at| idle.buffers.swap_remove(at));
        idle.bytes -= grown.as_ref().map_or(0, Vec::capacity);
        drop(idle);
        match grown {
            // Its length (what earlier uses initialized) is kept: the
            // reallocation copies those bytes, cheaper than faulting in and
            // zero-filling fresh pages for them (and where glibc serves the
            // buffer with a map of its own, it remaps without copying).
            Some(mut buf) => {
                buf.reserve_exact(capacity.saturating_sub(buf.len()));
                buf
            }
            None => Vec::with_capacity(capacity),
        }
    }

    /// Shares `buf` as `Bytes`; it comes back to the pool when the last
    /// `Bytes` made from it (slices included) is dropped.
    pub fn freeze(&self, buf: Vec<u8>) -> Bytes {
        Bytes::from_owner(Lent { buf, idle: self.idle.clone() })
    }

    /// Takes back a buffer that was not frozen (after a failed decode).
    pub fn give_back(&self, buf: Vec<u8>) {
        put_back(&self.idle, buf);
    }

    /// Capacity of the idle buffers, summed.
    pub fn idle_bytes(&self) -> usize {
        lock(&self.idle).bytes
    }
}

impl std::fmt::Debug for BufferPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let idle = lock(&self.idle);
        f.debug_struct("BufferPool").field("idle_buffers", &idle.buffers.len()).field("idle_bytes", &idle.bytes).finish()
    }
}

/// Pools are equal when they are the same pool.
impl PartialEq for BufferPool {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.idle, &other.idle)
    }
}

impl Eq for BufferPool {}

/// Nothing panics while the lock is held, so a poisoned lock's data is whole.
fn lock(idle: &Mutex<Idle>) -> MutexGuard<'_, Idle> {
    idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn put_back(idle: &Mutex<Idle>, buf: Vec<u8>) {
    let capacity = buf.capacity();
    if capacity == 0 {
        return;
    }
    let mut idle = lock(idle);
    if idle.bytes.saturating_add(capacity) <= idle.max_bytes {
        idle.bytes += capacity;
        idle.buffers.push(buf);
        return;
    }
    // Over the limit: freed once the lock is released.
    drop(idle);
    drop(buf);
}

/// A pooled buffer behind `Bytes`.
struct Lent {
    buf: Vec<u8>,
    idle: Arc<Mutex<Idle>>,
}

impl AsRef<[u8]> for Lent {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        put_back(&self.idle, std::mem::take(&mut self.buf));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frozen_buffer_comes_back_when_its_last_slice_goes() {
        let pool = BufferPool::new(1 << 20);
        let mut buf = pool.take(1000);
        let address = buf.as_ptr();
        buf.extend_from_slice(b"hello, world");
        let bytes = pool.freeze(buf);
        let slice = bytes.slice(7..);
        drop(bytes);
        assert_eq!(pool.idle_bytes(), 0, "a slice still holds it");
        assert_eq!(&slice[..], b"world");
        drop(slice);
        assert!(pool.idle_bytes() >= 1000);
        let again = pool.take(1000);
        assert_eq!(again.as_ptr(), address, "the same memory is lent again");
        assert_eq!(&again[..], b"hello, world", "with its old contents, to write over");
        assert_eq!(pool.idle_bytes(), 0);
    }

    #[test]
    fn the_smallest_buffer_that_fits_is_lent() {
        let pool = BufferPool::new(1 << 20);
        pool.give_back(Vec::with_capacity(4000));
        pool.give_back(Vec::with_capacity(2000));
        pool.give_back(Vec::with_capacity(500));
        let buf = pool.take(1500);
        assert!((2000..4000).contains(&buf.capacity()), "{}", buf.capacity());
        assert_eq!(pool.idle_bytes(), 4500);
    }

    #[test]
    fn the_largest_buffer_too_small_is_grown_keeping_what_it_initialized() {
        let pool = BufferPool::new(1 << 20);
        let mut small = Vec::with_capacity(100);
        small.extend_from_slice(b"written before");
        pool.give_back(small);
        pool.give_back(Vec::with_capacity(50));
        let grown = pool.take(1000);
        assert!(grown.capacity() >= 1000, "{}", grown.capacity());
        assert_eq!(&grown[..], b"written before", "initialized bytes stay, to write over");
        assert_eq!(pool.idle_bytes(), 50, "the smaller one stays idle");
    }

    #[test]
    fn idle_memory_stays_under_the_limit() {
        let pool = BufferPool::new(10_000);
        for _ in 0..5 {
            pool.give_back(Vec::with_capacity(3000));
        }
        assert!(pool.idle_bytes() <= 10_000);
        assert!(pool.idle_bytes() >= 9000);
        // Nothing fits: an idle buffer (too small) is grown.
        let before = pool.idle_bytes();
        let big = pool.take(5000);
        assert!(big.capacity() >= 5000);
        assert_eq!(pool.idle_bytes(), before - 3000);
        drop(big);
        assert!(pool.idle_bytes() <= 10_000);
        let unused = BufferPool::new(0);
        unused.give_back(Vec::with_capacity(10));
        assert_eq!(unused.idle_bytes(), 0);
    }
}
