//! Deliberate client bugs, for the simulator's sensitivity checks only
//! (issue 7: the checkers must catch each one). Compiled in with the
//! `fault-injection` feature; every switch is off by default.

/// The client's bug switches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientBugs {
    /// The consumer ignores truncation as before KIP-320: no
    /// OffsetForLeaderEpoch check of a position after a leader change, no
    /// last fetched epoch in its fetches and a Fetch answer's diverging
    /// epoch disregarded, so it fetches on past a log that was cut below its
    /// position and skips what the new leader wrote there.
    pub skip_truncation_detection: bool,
    /// The transactional producer's sender, in a pass that found batches
    /// ready for partitions already in the transaction and others still to
    /// be added, awaits AddPartitionsToTxn first and drops the ready batches
    /// (marked in flight, never sent): their records never resolve and the
    /// commit waits for them. The bug fixed in 082dc6b, which hung CI.
    pub drop_batches_beside_added_partitions: bool,
}
