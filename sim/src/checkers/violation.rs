//! What a checker reports.

use std::fmt;

use crate::history::{RecordId, TopicPartition};

/// One broken invariant, with what is needed to find it in the trace.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Violation {
    /// Acknowledged to the producer but not in the final log.
    LostWrite { tp: TopicPartition, id: RecordId, acked_offset: i64 },
    /// Acknowledged at one offset, found at another (the log was rewritten).
    MovedWrite { tp: TopicPartition, id: RecordId, acked_offset: i64, log_offset: i64 },
    /// The same record more than once in the final log.
    Duplicate { id: RecordId, copies: Vec<(TopicPartition, i64)> },
    /// A producer's records in one partition out of send order.
    ProducerOrder { tp: TopicPartition, earlier: RecordId, earlier_offset: i64, later: RecordId, later_offset: i64 },
    /// A consumer jumped over a record within one generation.
    PollSkip { consumer: u32, generation: i32, tp: TopicPartition, from_offset: i64, to_offset: i64, skipped_offset: i64 },
    /// No consumer read the final log's record `id` at `offset`, below
    /// `read_offset`, which `consumer` read (in `generation`): skipped, e.g.
    /// by a consumer that missed a truncation (KIP-320).
    MissedRecord { tp: TopicPartition, offset: i64, id: RecordId, consumer: u32, generation: i32, read_offset: i64 },
    /// A consumer went back (or repeated) within one generation.
    NonMonotonicPoll { consumer: u32, generation: i32, tp: TopicPartition, previous_offset: i64, offset: i64 },
    /// The group's committed offset went down.
    CommitDecreased { tp: TopicPartition, consumer: u32, generation: i32, previous: i64, offset: i64 },
    /// An offset was committed before the record below it was processed.
    CommitNotProcessed { tp: TopicPartition, consumer: u32, generation: i32, offset: i64, unprocessed_offset: i64 },
    /// A read_committed consumer saw a record of an aborted transaction.
    AbortedRead { tp: TopicPartition, consumer: u32, id: RecordId, offset: i64 },
    /// A transactional producer's group offset does not match its transactions' outcomes.
    TxnOffset { producer: u32, offset: Option<i64>, problem: String },
    /// No progress within the liveness bound after faults stopped.
    NoProgress { what: String },
    /// A violation reported by a seed that ran in another process (its kind and text).
    Reported { kind: &'static str, text: String },
}

impl Violation {
    /// A short stable name for counting violations by kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Violation::LostWrite { .. } => "lost-write",
            Violation::MovedWrite { .. } => "moved-write",
            Violation::Duplicate { .. } => "duplicate",
            Violation::ProducerOrder { .. } => "producer-order",
            Violation::PollSkip { .. } => "poll-skip",
            Violation::NonMonotonicPoll { .. } => "non-monotonic-poll",
            Violation::MissedRecord { .. } => "missed-record",
            Violation::CommitDecreased { .. } => "commit-decreased",
            Violation::CommitNotProcessed { .. } => "commit-not-processed",
            Violation::AbortedRead { .. } => "aborted-read",
            Violation::TxnOffset { .. } => "txn-offset",
            Violation::NoProgress { .. } => "no-progress",
            Violation::Reported { kind, .. } => kind,
        }
    }

    /// Every kind name [`kind`](Self::kind) returns.
    pub const KINDS: [&'static str; 12] = [
        "lost-write",
        "moved-write",
        "duplicate",
        "producer-order",
        "poll-skip",
        "non-monotonic-poll",
        "missed-record",
        "commit-decreased",
        "commit-not-processed",
        "aborted-read",
        "txn-offset",
        "no-progress",
    ];

    /// Rebuilds a violation from its [`Display`](fmt::Display) text (another
    /// process's report); `None` if the text does not start with a known kind.
    pub fn from_report(text: &str) -> Option<Violation> {
        let (kind, _) = text.split_once(": ")?;
        let kind = Self::KINDS.iter().copied().find(|k| *k == kind)?;
        Some(Violation::Reported { kind, text: text.to_string() })
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Violation::Reported { text, .. } = self {
            return f.write_str(text);
        }
        write!(f, "{}: ", self.kind())?;
        match self {
            Violation::LostWrite { tp, id, acked_offset } => {
                write!(f, "{id} acked at {tp}@{acked_offset} is not in the final log")
            }
            Violation::MovedWrite { tp, id, acked_offset, log_offset } => {
                write!(f, "{id} acked at {tp}@{acked_offset} is at @{log_offset} in the final log")
            }
            Violation::Duplicate { id, copies } => {
                write!(f, "{id} is in the final log {} times:", copies.len())?;
                for (tp, offset) in copies {
                    write!(f, " {tp}@{offset}")?;
                }
                Ok(())
            }
            Violation::ProducerOrder { tp, earlier, earlier_offset, later, later_offset } => {
                write!(f, "in {tp}, {later}@{later_offset} precedes {earlier}@{earlier_offset} although it was sent after it")
            }
            Violation::PollSkip { consumer, generation, tp, from_offset, to_offset, skipped_offset } => write!(
                f,
                "consumer {consumer} (generation {generation}) polled {tp}@{from_offset} then @{to_offset}, skipping @{skipped_offset}"
            ),
            Violation::NonMonotonicPoll { consumer, generation, tp, previous_offset, offset } => {
                write!(f, "consumer {consumer} (generation {generation}) polled {tp}@{previous_offset} then @{offset}")
            }
            Violation::MissedRecord { tp, offset, id, consumer, generation, read_offset } => write!(
                f,
                "no consumer read {id} at {tp}@{offset}, below {tp}@{read_offset}, which consumer {consumer} (generation {generation}) read"
            ),
            Violation::CommitDecreased { tp, consumer, generation, previous, offset } => {
                write!(f, "committed offset of {tp} went from {previous} to {offset} (consumer {consumer}, generation {generation})")
            }
            Violation::CommitNotProcessed { tp, consumer, generation, offset, unprocessed_offset } => {
                write!(f, "consumer {consumer} (generation {generation}) committed {tp}@{offset} before processing @{unprocessed_offset}")
            }
            Violation::AbortedRead { tp, consumer, id, offset } => {
                write!(f, "read_committed consumer {consumer} saw aborted {id} at {tp}@{offset}")
            }
            Violation::TxnOffset { producer, offset, problem } => {
                write!(f, "the offsets producer {producer} sent to its transactions are at {offset:?}: {problem}")
            }
            Violation::NoProgress { what } => f.write_str(what),
            Violation::Reported { text, .. } => f.write_str(text),
        }
    }
}
