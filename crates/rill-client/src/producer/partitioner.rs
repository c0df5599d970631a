//! Partition choice, exactly as the Java client's built-in partitioner:
//! keyed records go to `toPositive(murmur2(key)) % partitions`, so rill and
//! Java producers agree; records without a key use the uniform sticky
//! partitioner of KIP-794 (stay on one partition until `batch.size` bytes
//! went to it, then move to a random partition that has a leader; with
//! adaptive partitioning, partitions with shorter queues are drawn more
//! often, and leaders that stopped taking batches are skipped).

use std::collections::BTreeMap;

use crate::backoff::Rng;

/// Kafka's murmur2 (`org.apache.kafka.common.utils.Utils.murmur2`), as a
/// signed 32-bit value like Java's.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    // Java's `int length`: keys longer than 2^31 bytes cannot exist in a record.
    let mut h: u32 = SEED ^ (data.len() as u32);
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes(chunk.try_into().unwrap_or_default());
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        // Java's switch falls through from case 3 to case 1.
        for (i, byte) in tail.iter().enumerate().rev() {
            h ^= u32::from(*byte) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// Java's `Utils.toPositive`: clears the sign bit (not `abs`, which
/// overflows for `i32::MIN`).
pub fn to_positive(n: i32) -> i32 {
    n & 0x7fff_ffff
}

/// The partition the Java client picks for `key` among `partitions` (> 0).
pub fn partition_for_key(key: &[u8], partitions: usize) -> i32 {
    let partitions = i32::try_from(partitions).unwrap_or(i32::MAX).max(1);
    to_positive(murmur2(key)) % partitions
}

/// KIP-794's uniform sticky partitioner for records without a key (and
/// without an explicit partition): per topic, one partition takes records
/// until `batch.size` bytes were produced to it; then a partition is drawn
/// uniformly from those with a leader (all partitions if none has one).
#[derive(Debug)]
pub struct StickyPartitioner {
    sticky_batch_bytes: usize,
    topics: BTreeMap<String, Sticky>,
    /// Per topic, KIP-794 part 2's load statistics; none: draw uniformly.
    loads: BTreeMap<String, PartitionLoad>,
}

/// Java's `BuiltInPartitioner.PartitionLoadStats`: a cumulative frequency
/// table over the partitions that may be drawn, each weighted by
/// `longest queue + 1 - its queue`, so a partition with a shorter queue
/// (its leader takes batches faster) is drawn more often.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PartitionLoad {
    cumulative: Vec<usize>,
    partitions: Vec<i32>,
}

#[derive(Debug, Clone, Copy)]
struct Sticky {
    partition: i32,
    produced_bytes: usize,
}

impl StickyPartitioner {
    /// `sticky_batch_bytes`: how much goes to one partition before switching (`batch.size`).
    pub fn new(sticky_batch_bytes: usize) -> Self {
        StickyPartitioner { sticky_batch_bytes: sticky_batch_bytes.max(1), topics: BTreeMap::new(), loads: BTreeMap::new() }
    }

    /// KIP-794 part 2 (Java's `updatePartitionLoadStats`): `queues` holds,
    /// for each partition of `topic` that may be drawn (it has a leader that
    /// is taking batches), its number of queued batches; `partitions` is the
    /// topic's partition count. When every partition is there with the same
    /// queue length (or the topic has one partition) the draw stays uniform.
    pub fn update_load(&mut self, topic: &str, queues: &[(i32, usize)], partitions: usize) {
        let all_equal = queues.windows(2).all(|pair| matches!(pair, [a, b] if a.1 == b.1));
        if queues.is_empty() || partitions < 2 || (all_equal && queues.len() == partitions) {
            self.loads.remove(topic);
            return;
        }
        let longest_plus_one = queues.iter().map(|(_, q)| *q).max().unwrap_or(0) + 1;
        let mut sum = 0usize;
        let cumulative = queues
            .iter()
            .map(|(_, q)| {
                sum += longest_plus_one - q;
                sum
            })
            .collect();
        let load = PartitionLoad { cumulative, partitions: queues.iter().map(|(p, _)| *p).collect() };
        self.loads.insert(topic.to_string(), load);
    }

    /// The partition for the next record of `topic`, which has `partitions`
    /// partitions of which `available` have a leader.
    pub fn partition(&mut self, topic: &str, partitions: usize, available: &[i32], rng: &mut Rng) -> i32 {
        match self.topics.get(topic) {
            Some(s) if usize::try_from(s.partition).is_ok_and(|p| p < partitions) => s.partition,
            _ => {
                let partition = self.draw(topic, partitions, available, rng);
                self.topics.insert(topic.to_string(), Sticky { partition, produced_bytes: 0 });
                partition
            }
        }
    }

    /// Records that `bytes` went to `partition` of `topic`; switches to a new
    /// partition once `batch.size` bytes were produced to the current one.
    pub fn record_appended(&mut self, topic: &str, partition: i32, bytes: usize, partitions: usize, available: &[i32], rng: &mut Rng) {
        let Some(sticky) = self.topics.get_mut(topic) else { return };
        if sticky.partition != partition {
            return;
        }
        sticky.produced_bytes += bytes;
        if sticky.produced_bytes >= self.sticky_batch_bytes {
            let partition = self.draw(topic, partitions, available, rng);
            self.topics.insert(topic.to_string(), Sticky { partition, produced_bytes: 0 });
        }
    }

    fn draw(&self, topic: &str, partitions: usize, available: &[i32], rng: &mut Rng) -> i32 {
        let load = self.loads.get(topic).filter(|l| {
            // Statistics from before a partition count change are not used.
            l.partitions.iter().all(|p| usize::try_from(*p).is_ok_and(|p| p < partitions))
        });
        if let Some(load) = load {
            // The first partition whose running sum is above a uniform draw below the total.
            let total = load.cumulative.last().copied().unwrap_or(0);
            if total > 0 {
                let r = rng.below(total);
                let index = load.cumulative.partition_point(|c| *c <= r);
                if let Some(p) = load.partitions.get(index) {
                    return *p;
                }
            }
        }
        if available.is_empty() {
            i32::try_from(rng.below(partitions)).unwrap_or(0)
        } else {
            available.get(rng.below(available.len())).copied().unwrap_or(0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_kafkas_utils_test_vectors() {
        // org.apache.kafka.common.utils.UtilsTest#testMurmur2.
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58_897_971),
            (b"abc", 479_470_107),
        ];
        for (input, expected) in cases {
            assert_eq!(murmur2(input), expected, "{:?}", String::from_utf8_lossy(input));
        }
        // Every tail length (0-3 bytes after the 4-byte chunks) is covered above:
        // 2, 6, 24, 26, 48, 3 bytes.
        assert_eq!(murmur2(b""), murmur2(&[]));
    }

    #[test]
    fn to_positive_clears_the_sign_bit_only() {
        assert_eq!(to_positive(-973_932_308), 1_173_551_340);
        assert_eq!(to_positive(i32::MIN), 0);
        assert_eq!(to_positive(5), 5);
        assert_eq!(partition_for_key(b"21", 7), 1_173_551_340 % 7);
        assert_eq!(partition_for_key(b"foobar", 1), 0);
    }

    #[test]
    fn sticky_partitioner_stays_until_batch_size_then_moves_uniformly() {
        let mut rng = Rng::new(7);
        let mut sticky = StickyPartitioner::new(100);
        let available = [0, 1, 2, 3, 4, 5];
        let first = sticky.partition("t", 6, &available, &mut rng);
        // 99 bytes: still the same partition.
        for _ in 0..9 {
            assert_eq!(sticky.partition("t", 6, &available, &mut rng), first);
            sticky.record_appended("t", first, 11, 6, &available, &mut rng);
        }
        assert_eq!(sticky.partition("t", 6, &available, &mut rng), first);
        // Other topics are independent.
        let other = sticky.partition("u", 6, &available, &mut rng);
        sticky.record_appended("u", other, 1000, 6, &available, &mut rng);
        assert_eq!(sticky.partition("t", 6, &available, &mut rng), first);
        // Over many switches every available partition gets picked about equally often.
        let mut counts = [0usize; 6];
        for _ in 0..6000 {
            let p = sticky.partition("t", 6, &available, &mut rng);
            counts[p as usize] += 1;
            sticky.record_appended("t", p, 100, 6, &available, &mut rng);
        }
        for c in counts {
            assert!((800..1200).contains(&c), "{counts:?}");
        }
    }

    #[test]
    fn sticky_partitioner_prefers_partitions_with_a_leader() {
        let mut rng = Rng::new(3);
        let mut sticky = StickyPartitioner::new(1);
        for _ in 0..200 {
            let p = sticky.partition("t", 4, &[1, 3], &mut rng);
            assert!(p == 1 || p == 3, "{p}");
            sticky.record_appended("t", p, 1, 4, &[1, 3], &mut rng);
        }
        // No partition with a leader: any partition.
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let p = sticky.partition("v", 4, &[], &mut rng);
            seen.insert(p);
            sticky.record_appended("v", p, 1, 4, &[], &mut rng);
        }
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), [0, 1, 2, 3]);
        // Fewer partitions than before (never happens in Kafka, but the choice stays in range).
        let p = sticky.partition("v", 1, &[0], &mut rng);
        assert_eq!(p, 0);
    }

    fn draws(sticky: &mut StickyPartitioner, partitions: usize, n: usize, rng: &mut Rng) -> Vec<usize> {
        let available: Vec<i32> = (0..partitions as i32).collect();
        let mut counts = vec![0usize; partitions];
        for _ in 0..n {
            let p = sticky.partition("t", partitions, &available, rng);
            counts[p as usize] += 1;
            // One record per batch.size: a new draw every time.
            sticky.record_appended("t", p, 1, partitions, &available, rng);
        }
        counts
    }

    #[test]
    fn adaptive_partitioning_favours_shorter_queues_like_java() {
        let mut rng = Rng::new(11);
        let mut sticky = StickyPartitioner::new(1);
        // Java's example: queues 0 3 1 -> weights 4 1 3 (of 8).
        sticky.update_load("t", &[(0, 0), (1, 3), (2, 1)], 3);
        assert_eq!(sticky.loads["t"], PartitionLoad { cumulative: vec![4, 5, 8], partitions: vec![0, 1, 2] });
        let counts = draws(&mut sticky, 3, 8000, &mut rng);
        for (p, expected) in [(0, 4000), (1, 1000), (2, 3000)] {
            assert!(counts[p].abs_diff(expected) < 250, "partition {p}: {counts:?}");
        }
        // Equal queues on every partition: uniform again.
        sticky.update_load("t", &[(0, 2), (1, 2), (2, 2)], 3);
        assert!(!sticky.loads.contains_key("t"));
        let counts = draws(&mut sticky, 3, 6000, &mut rng);
        assert!(counts.iter().all(|c| c.abs_diff(2000) < 200), "{counts:?}");
        // One partition is not offered (its leader took nothing for
        // partitioner.availability.timeout.ms): never drawn, even with equal queues.
        sticky.update_load("t", &[(0, 1), (2, 1)], 3);
        let counts = draws(&mut sticky, 3, 3000, &mut rng);
        assert_eq!(counts[1], 0, "{counts:?}");
        assert!(counts[0].abs_diff(1500) < 150, "{counts:?}");
        // One partition: nothing to weigh.
        sticky.update_load("t", &[(0, 5)], 1);
        assert!(!sticky.loads.contains_key("t"));
        // Statistics for more partitions than the topic now has are not used.
        sticky.update_load("t", &[(0, 0), (5, 9)], 6);
        let counts = draws(&mut sticky, 3, 300, &mut rng);
        assert_eq!(counts.iter().sum::<usize>(), 300);
    }

    #[test]
    fn the_weighted_draw_is_the_first_running_sum_above_the_random_value() {
        // Java: random values 0..3 -> partition 0, 4 -> 1, 5..7 -> 2.
        let load = PartitionLoad { cumulative: vec![4, 5, 8], partitions: vec![10, 11, 12] };
        let pick = |r: usize| load.partitions[load.cumulative.partition_point(|c| *c <= r)];
        assert_eq!((0..8).map(pick).collect::<Vec<_>>(), [10, 10, 10, 10, 11, 12, 12, 12]);
    }
}
