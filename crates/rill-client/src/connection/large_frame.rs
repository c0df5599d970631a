//! [`LargeFrame`]: a response frame too large for the connection's shared
//! read buffer (fetch responses, mostly), read into an anonymous memory map of
//! its own and handed out as `Bytes`; when their last slice drops, the map
//! goes back to the connection's [`MapPool`] for a later frame of the same
//! size, or is unmapped if the pool is full.
//!
//! Why not the heap: glibc serves large allocations with mmap only until the
//! first such block is freed; then its threshold rises to that block's size
//! (up to 32 MiB) and later frames land in the heap, where freed pages stay
//! resident while anything above them is live. A consumer cycling its
//! budget's worth of frames then kept far more than that resident
//! (rill-e2e's consumer_memory: peaks of 86-106 MiB for a 64 MiB budget,
//! 82-84 MiB with `MALLOC_MMAP_THRESHOLD_` pinned, 79-83 MiB with a map per
//! frame). Maps hold what is live plus the pool's few idle ones, whatever
//! allocator the embedding program uses, and an unmapped one returns its
//! pages at once.
//!
//! Why the pool: a fresh map costs a page fault per 4 KiB on first touch and
//! an unmap per frame; mapping every frame anew made consuming 1 KiB records
//! take 0.6-0.8 CPU seconds per million instead of 0.41-0.46 from the heap.
//! A consumer's frames come in a few sizes (each fetch asks for the same
//! `max_bytes` again), so a map released by the application is often the one
//! the next frame is read into, already faulted in: four frames in five for
//! uncompressed records in peer-bench, one in three for lz4 ones, whose fetch
//! sizes follow the changing compression ratio. Fresh maps ask for
//! transparent huge pages, which makes the misses cheap as well: 1 KiB lz4
//! records cost 0.93-1.10 CPU s per million with both, 0.91-0.98 from the
//! heap, 1.0-1.35 with the pool alone. They are also populated a little
//! ahead of the bytes read, a megabyte or so per call, instead of a fault
//! per 4 KiB where no huge page fits (see [`LargeFrame::populate_ahead`]).

use std::sync::{Arc, Mutex, Weak};

use bytes::Bytes;
use memmap2::MmapMut;
use rill_protocol::frame::SIZE_PREFIX_LEN;

/// Maps are made in multiples of this, so frames of about the same size
/// share a map size and reuse each other's maps.
const MAP_GRANULE_BYTES: usize = 256 * 1024;
/// Idle maps a client keeps at most, over all its connections, by count and
/// by bytes: the steady state of a consumer needs one or two (a frame
/// released, the next fetch's frame read into it). Per client, not per
/// connection: a consumer reading from N brokers kept up to N times 16 MiB
/// idle. The consumer counts them in its budget (`Budget::responses`):
/// outside it, they came on top of it (rill-e2e's consumer_memory against
/// three brokers: 97-103 MiB resident for a 64 MiB budget, 83-88 since).
const MAX_IDLE_MAPS: usize = 2;
/// How far ahead of the bytes read a fresh map is populated, and (half of
/// it) how close they may come before it is populated further.
const POPULATE_AHEAD_BYTES: usize = 2 * 1024 * 1024;
const PAGE_BYTES: usize = 4096;
const MAX_IDLE_BYTES: usize = 16 * 1024 * 1024;

/// Idle maps, oldest first, each with the connection that read a frame
/// into it last.
type Idle = Mutex<Vec<(ConnectionId, MmapMut)>>;

/// Which connection reads frames: a miss unmaps that connection's stale map
/// only ([`MapPool::take`]).
pub(crate) type ConnectionId = u64;

/// Memory maps for large response frames that are idle, kept to read later
/// frames of the same size into, shared by the connections of one client:
/// clones of a pool are the same pool (a `ConnectionConfig` carries it to
/// each connection made with it).
#[derive(Debug, Clone, Default)]
pub struct MapPool {
    idle: Arc<Idle>,
}

impl MapPool {
    /// An idle map of exactly the size a new map for `len` bytes would have,
    /// or a new one (`true`: fresh, nothing in it resident yet). Only equal
    /// sizes are reused: a map keeps resident every page an earlier frame
    /// touched, so a larger one would hold more than the frame it carries.
    /// On a miss the oldest idle map `reader` gave back is unmapped, as its
    /// frames no longer come in that size; other connections' stay (one
    /// broker's frames missing would otherwise unmap what another's reuse).
    fn take(&self, len: usize, reader: ConnectionId) -> Option<(MmapMut, bool)> {
        let size = len.div_ceil(MAP_GRANULE_BYTES).saturating_mul(MAP_GRANULE_BYTES);
        let stale = match self.idle.lock() {
            Ok(mut idle) => match idle.iter().rposition(|(_, m)| m.len() == size) {
                Some(i) => return Some((idle.remove(i).1, false)),
                None => idle.iter().position(|(r, _)| *r == reader).map(|i| idle.remove(i)),
            },
            Err(_) => None,
        };
        drop(stale);
        let map = MmapMut::map_anon(size).ok()?;
        // A fresh map faults in on first touch; transparent huge pages make
        // that one fault per 2 MiB instead of per 4 KiB (filling 6 MiB: 0.6
        // ms against 2.1 ms here). Only a hint: where they are off, nothing changes.
        #[cfg(target_os = "linux")]
        let _ = map.advise(memmap2::Advice::HugePage);
        Some((map, true))
    }

    /// Bytes of the idle maps.
    pub fn idle_bytes(&self) -> usize {
        self.idle.lock().map(|idle| idle.iter().map(|(_, m)| m.len()).sum()).unwrap_or(0)
    }

    #[cfg(test)]
    fn idle_sizes(&self) -> Vec<usize> {
        self.idle.lock().map(|idle| idle.iter().map(|(_, m)| m.len()).collect()).unwrap_or_default()
    }
}

/// Takes `map` back into its pool (unmapping the oldest idle maps past the
/// limits), or unmaps it when it alone is over the byte limit or the
/// connection is gone.
fn give_back(pool: &Weak<Idle>, reader: ConnectionId, map: MmapMut) {
    if map.len() > MAX_IDLE_BYTES {
        return;
    }
    let Some(pool) = pool.upgrade() else { return };
    let mut unmapped = Vec::new();
    if let Ok(mut idle) = pool.lock() {
        idle.push((reader, map));
        while idle.len() > MAX_IDLE_MAPS || idle.iter().map(|(_, m)| m.len()).sum::<usize>() > MAX_IDLE_BYTES {
            unmapped.push(idle.remove(0));
        }
    }
    // Unmapped here, after the lock is released.
    drop(unmapped);
}

/// A frame of known size being read into a map.
#[derive(Debug)]
pub(crate) struct LargeFrame {
    map: MmapMut,
    /// The frame's size, size prefix included (the map may be up to a granule larger).
    total: usize,
    filled: usize,
    /// How much of the map needs no populating: a fresh map's, what has
    /// been populated so far; a reused map's, the whole frame (an earlier
    /// frame of its size made it resident, all but its last granule at
    /// least, and what is left faults in as it is written).
    populated: usize,
    pool: Weak<Idle>,
    reader: ConnectionId,
}

impl LargeFrame {
    /// Memory for a frame of `total` bytes (size prefix included) that starts
    /// with `head`, the bytes of it already read by connection `reader`.
    /// `None` when the system refuses the mapping; the caller then reads the
    /// frame into the heap.
    pub fn new(total: usize, head: &[u8], pool: &MapPool, reader: ConnectionId) -> Option<Self> {
        if total < SIZE_PREFIX_LEN || head.len() > total {
            return None;
        }
        let (mut map, fresh) = pool.take(total, reader)?;
        map.get_mut(..head.len())?.copy_from_slice(head);
        let populated = if fresh { 0 } else { total };
        Some(LargeFrame { map, total, filled: head.len(), populated, pool: Arc::downgrade(&pool.idle), reader })
    }

    /// The part still to be read.
    pub fn unfilled(&mut self) -> &mut [u8] {
        self.populate_ahead();
        self.map.get_mut(self.filled..self.total).unwrap_or_default()
    }

    /// Populates a fresh map a little ahead of the bytes read, in one call
    /// per megabyte or so (MADV_POPULATE_WRITE, Linux 5.14) instead of a
    /// fault per 4 KiB as they are written. Huge pages cover only the whole
    /// 2 MiB pages inside a map; the rest of a frame (of a 5.25 MiB map,
    /// 1.25 MiB or more) took those faults: 11,000 per million 1 KiB lz4
    /// records in peer-bench, half of that consumer's page faults. Only
    /// ahead, not the whole frame at once: that made the frame resident
    /// before its bytes came, while the application was still releasing
    /// older ones (rill-e2e's consumer_memory: one peak of 91 MiB against
    /// 84-87). A hint: where refused, the pages fault in as they are written.
    fn populate_ahead(&mut self) {
        if self.populated >= self.total || self.filled.saturating_add(POPULATE_AHEAD_BYTES / 2) < self.populated {
            return;
        }
        let end = self.filled.saturating_add(POPULATE_AHEAD_BYTES).min(self.total);
        let end = end.div_ceil(PAGE_BYTES).saturating_mul(PAGE_BYTES).min(self.map.len());
        #[cfg(target_os = "linux")]
        let _ = self.map.advise_range(memmap2::Advice::PopulateWrite, self.populated, end.saturating_sub(self.populated));
        self.populated = end;
    }

    /// `n` more bytes were read into [`unfilled`](Self::unfilled).
    pub fn advance(&mut self, n: usize) {
        self.filled = self.filled.saturating_add(n).min(self.total);
    }

    pub fn is_complete(&self) -> bool {
        self.filled == self.total
    }

    /// Bytes read so far and the frame's whole size, for a truncation error.
    pub fn progress(&self) -> (usize, usize) {
        (self.filled, self.total)
    }

    /// The frame's body (what follows the size prefix); zero-copy slices of
    /// it keep the map, and the last one dropped gives it back.
    pub fn into_body(self) -> Bytes {
        let LargeFrame { map, total, pool, reader, .. } = self;
        Bytes::from_owner(FrameMemory { map: Some(map), len: total, pool, reader }).slice(SIZE_PREFIX_LEN..)
    }
}

/// The owner behind a large frame's `Bytes`.
struct FrameMemory {
    map: Option<MmapMut>,
    len: usize,
    pool: Weak<Idle>,
    reader: ConnectionId,
}

impl AsRef<[u8]> for FrameMemory {
    fn as_ref(&self) -> &[u8] {
        self.map.as_ref().and_then(|m| m.get(..self.len)).unwrap_or_default()
    }
}

impl Drop for FrameMemory {
    fn drop(&mut self) {
        if let Some(map) = self.map.take() {
            give_back(&self.pool, self.reader, map);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1024 * 1024;

    fn wire_of(body_len: usize, seed: u8) -> Vec<u8> {
        let mut wire = (body_len as i32).to_be_bytes().to_vec();
        wire.extend((0..body_len).map(|i| (i % 251) as u8 ^ seed));
        wire
    }

    fn read_whole(wire: &[u8], head: usize, pool: &MapPool) -> Bytes {
        read_whole_by(wire, head, pool, 0)
    }

    fn read_whole_by(wire: &[u8], head: usize, pool: &MapPool, reader: ConnectionId) -> Bytes {
        let mut frame = LargeFrame::new(wire.len(), &wire[..head], pool, reader).unwrap();
        let mut at = head;
        while !frame.is_complete() {
            let dst = frame.unfilled();
            let n = dst.len().min(100_000);
            dst[..n].copy_from_slice(&wire[at..at + n]);
            frame.advance(n);
            at += n;
        }
        assert_eq!(frame.progress(), (wire.len(), wire.len()));
        frame.into_body()
    }

    #[test]
    fn a_frame_read_in_pieces_comes_out_whole_without_its_prefix() {
        let pool = MapPool::default();
        let wire = wire_of(3 * MIB + 5, 0);
        let got = read_whole(&wire, 10, &pool);
        assert!(got == wire[4..], "the body differs");
        // Slices outlive the handle they came from; the map comes back with the last.
        let tail = got.slice(got.len() - 5..);
        drop(got);
        assert_eq!(&tail[..], &wire[wire.len() - 5..]);
        assert!(pool.idle_sizes().is_empty());
        drop(tail);
        assert_eq!(pool.idle_sizes(), [3 * MIB + MAP_GRANULE_BYTES]);
    }

    #[test]
    fn maps_are_reused_for_frames_of_their_size_and_the_pool_is_bounded() {
        let pool = MapPool::default();
        drop(read_whole(&wire_of(2 * MIB - 4, 1), 4, &pool));
        assert_eq!(pool.idle_sizes(), [2 * MIB]);
        // A slightly smaller frame (same map size) reuses it, and reads its own bytes, not the old ones.
        let wire = wire_of(2 * MIB - 1000, 2);
        let second = read_whole(&wire, 4, &pool);
        assert!(pool.idle_sizes().is_empty());
        assert!(second == wire[4..]);
        drop(second);
        // A frame of another size does not take it; the stale map is unmapped.
        let other = read_whole(&wire_of(MIB + 1, 3), 4, &pool);
        assert!(pool.idle_sizes().is_empty());
        drop(other);
        assert_eq!(pool.idle_sizes(), [MIB + MAP_GRANULE_BYTES]);
        // At most MAX_IDLE_MAPS idle, the latest kept, and never more than MAX_IDLE_BYTES.
        let many: Vec<Bytes> = (0..5).map(|i| read_whole(&wire_of(MIB + 7, i), 4, &pool)).collect();
        drop(many);
        assert_eq!(pool.idle_sizes().len(), MAX_IDLE_MAPS);
        let big: Vec<Bytes> = (0..2).map(|i| read_whole(&wire_of(10 * MIB, i), 4, &pool)).collect();
        drop(big);
        assert_eq!(pool.idle_sizes(), [10 * MIB + MAP_GRANULE_BYTES]);
        drop(read_whole(&wire_of(20 * MIB, 0), 4, &pool));
        assert!(pool.idle_sizes().iter().sum::<usize>() <= MAX_IDLE_BYTES);
    }

    #[test]
    fn connections_share_one_bounded_pool_and_a_miss_unmaps_only_its_own_map() {
        let pool = MapPool::default();
        let of_a = pool.clone();
        drop(read_whole_by(&wire_of(2 * MIB - 4, 1), 4, &of_a, 1));
        drop(read_whole_by(&wire_of(3 * MIB - 4, 2), 4, &pool, 2));
        assert_eq!(pool.idle_sizes(), [2 * MIB, 3 * MIB], "clones are one pool");
        // Connection 2 misses (a new size): its stale map goes, connection 1's stays.
        let other = read_whole_by(&wire_of(4 * MIB - 4, 3), 4, &pool, 2);
        assert_eq!(pool.idle_sizes(), [2 * MIB]);
        drop(other);
        // Any connection reuses a map of its frame's size.
        drop(read_whole_by(&wire_of(2 * MIB - 100, 4), 4, &pool, 2));
        assert_eq!(pool.idle_sizes(), [4 * MIB, 2 * MIB]);
        // Many connections' maps together stay within the client's bounds.
        let held: Vec<Bytes> = (0..8).map(|i| read_whole_by(&wire_of(5 * MIB + i * MIB, i as u8), 4, &pool, 10 + i as u64)).collect();
        drop(held);
        let sizes = pool.idle_sizes();
        assert!(sizes.len() <= MAX_IDLE_MAPS && sizes.iter().sum::<usize>() <= MAX_IDLE_BYTES, "{sizes:?}");
    }

    #[test]
    fn a_fresh_map_is_populated_a_little_ahead_of_the_bytes_read() {
        let pool = MapPool::default();
        let total = 5 * MIB + 100;
        let mut frame = LargeFrame::new(total, &[0; 4], &pool, 0).unwrap();
        assert_eq!(frame.populated, 0);
        let read = |frame: &mut LargeFrame, n: usize| {
            let len = frame.unfilled().len().min(n);
            frame.advance(len);
        };
        let page_up = |n: usize| n.div_ceil(4096) * 4096;
        read(&mut frame, 100);
        assert_eq!(frame.populated, page_up(4 + 2 * MIB), "2 MiB ahead of the 4 bytes read");
        read(&mut frame, MIB);
        assert_eq!(frame.populated, page_up(4 + 2 * MIB), "not again while the reads are over 1 MiB behind");
        read(&mut frame, 8192);
        read(&mut frame, 100);
        assert_eq!(frame.populated, page_up(MIB + 8296 + 2 * MIB), "2 MiB ahead again, page-aligned");
        while !frame.is_complete() {
            read(&mut frame, 300_000);
        }
        assert!(frame.populated >= total && frame.populated <= frame.map.len() && frame.populated.is_multiple_of(4096));
        drop(frame.into_body());
        // A map used again is resident already: nothing to populate.
        let again = LargeFrame::new(total, &[0; 4], &pool, 0).unwrap();
        assert_eq!(again.populated, total);
    }

    #[test]
    fn maps_outliving_their_connection_are_unmapped() {
        let pool = MapPool::default();
        let body = read_whole(&wire_of(2 * MIB, 0), 4, &pool);
        let weak = Arc::downgrade(&pool.idle);
        drop(pool);
        assert!(weak.upgrade().is_none());
        drop(body); // gives back to nothing, without panicking
    }

    #[test]
    fn impossible_sizes_are_refused() {
        let pool = MapPool::default();
        assert!(LargeFrame::new(2, &[], &pool, 0).is_none());
        assert!(LargeFrame::new(8, &[0; 9], &pool, 0).is_none());
    }
}
