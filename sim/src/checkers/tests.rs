//! Each checker against crafted histories: a clean run passes, and each
//! deliberate anomaly is reported as exactly the violation it is.

use super::*;
use crate::history::{Isolation, LogRecord, Polled, TopicPartition};

fn tp(p: i32) -> TopicPartition {
    TopicPartition::new("t", p)
}

fn id(producer: u32, seq: u64) -> RecordId {
    RecordId::new(producer, seq)
}

fn send(at_ms: u64, p: i32, rid: RecordId) -> Event {
    Event::Send { at_ms, tp: tp(p), id: rid, txn: None }
}

fn ack(at_ms: u64, p: i32, rid: RecordId, offset: i64) -> Event {
    Event::Ack { at_ms, tp: tp(p), id: rid, offset }
}

fn poll(at_ms: u64, consumer: u32, generation: i32, p: i32, records: &[(i64, RecordId)]) -> Event {
    Event::Poll {
        at_ms,
        consumer,
        generation,
        isolation: Isolation::ReadCommitted,
        tp: tp(p),
        records: records.iter().map(|(offset, id)| Polled { offset: *offset, id: *id }).collect(),
    }
}

fn processed(at_ms: u64, consumer: u32, generation: i32, p: i32, offset: i64) -> Event {
    Event::Processed { at_ms, consumer, generation, tp: tp(p), offset }
}

fn commit(at_ms: u64, consumer: u32, generation: i32, p: i32, offset: i64) -> Event {
    Event::Commit { at_ms, consumer, generation, tp: tp(p), offset }
}

fn log(partitions: &[(i32, &[(i64, RecordId)])]) -> FinalLog {
    FinalLog {
        partitions: partitions
            .iter()
            .map(|(p, records)| (tp(*p), records.iter().map(|(offset, id)| LogRecord { offset: *offset, id: *id }).collect()))
            .collect(),
    }
}

/// Two producers, one consumer that polls, processes and commits everything.
fn clean() -> (History, FinalLog) {
    let events = vec![
        send(1, 0, id(0, 0)),
        send(1, 0, id(1, 0)),
        send(2, 0, id(0, 1)),
        ack(5, 0, id(0, 0), 0),
        ack(5, 0, id(1, 0), 1),
        ack(6, 0, id(0, 1), 2),
        poll(10, 0, 1, 0, &[(0, id(0, 0)), (1, id(1, 0))]),
        processed(11, 0, 1, 0, 0),
        processed(11, 0, 1, 0, 1),
        commit(12, 0, 1, 0, 2),
        poll(13, 0, 1, 0, &[(2, id(0, 1))]),
        processed(14, 0, 1, 0, 2),
        commit(15, 0, 1, 0, 3),
    ];
    (History { events }, log(&[(0, &[(0, id(0, 0)), (1, id(1, 0)), (2, id(0, 1))])]))
}

fn kinds(violations: &[Violation]) -> Vec<&'static str> {
    violations.iter().map(Violation::kind).collect()
}

fn bound() -> LivenessBound {
    LivenessBound { faults_stopped_ms: 3, recover_within_ms: 20, run_ended_ms: 100 }
}

#[test]
fn a_clean_history_has_no_violations() {
    let (history, log) = clean();
    assert_eq!(check(&history, &log, Some(bound())), vec![]);
}

#[test]
fn lost_write_is_detected() {
    let (history, _) = clean();
    // The broker lost offset 2 (e.g. acks=all answered before the ISR had it, then a leader change).
    let log = log(&[(0, &[(0, id(0, 0)), (1, id(1, 0))])]);
    let v = lost_writes(&history, &log);
    assert_eq!(v, vec![Violation::LostWrite { tp: tp(0), id: id(0, 1), acked_offset: 2 }]);
    assert!(v[0].to_string().contains("p0-1 acked at t-0@2 is not in the final log"), "{}", v[0]);
    assert!(kinds(&check(&history, &log, None)).contains(&"lost-write"));
}

#[test]
fn a_rewritten_offset_is_detected() {
    let (history, _) = clean();
    let log = log(&[(0, &[(0, id(0, 0)), (1, id(1, 0)), (3, id(0, 1))])]);
    assert_eq!(lost_writes(&history, &log), vec![Violation::MovedWrite { tp: tp(0), id: id(0, 1), acked_offset: 2, log_offset: 3 }]);
}

#[test]
fn an_acknowledgement_without_an_offset_needs_the_record_anywhere_in_the_log() {
    // A retry answered DUPLICATE_SEQUENCE_NUMBER: delivered, offset unknown (-1).
    let history = History { events: vec![send(0, 0, id(0, 0)), ack(1, 0, id(0, 0), -1)] };
    assert!(lost_writes(&history, &log(&[(0, &[(7, id(0, 0))])])).is_empty());
    assert_eq!(lost_writes(&history, &log(&[(0, &[])])), vec![Violation::LostWrite { tp: tp(0), id: id(0, 0), acked_offset: -1 }]);
}

#[test]
fn duplicate_is_detected_within_and_across_partitions() {
    let log1 = log(&[(0, &[(0, id(0, 0)), (1, id(0, 0)), (2, id(0, 1))])]);
    assert_eq!(duplicates(&log1), vec![Violation::Duplicate { id: id(0, 0), copies: vec![(tp(0), 0), (tp(0), 1)] }]);
    let log2 = log(&[(0, &[(0, id(0, 0))]), (1, &[(0, id(0, 0))])]);
    assert_eq!(kinds(&duplicates(&log2)), vec!["duplicate"]);
    assert_eq!(duplicates(&clean().1), vec![]);
}

#[test]
fn producer_order_is_checked_per_partition_and_producer() {
    // Producer 0's seq 1 landed before its seq 0 (a retried batch reordered).
    let reordered = log(&[(0, &[(0, id(0, 1)), (1, id(1, 0)), (2, id(0, 0))])]);
    assert_eq!(
        producer_order(&reordered),
        vec![Violation::ProducerOrder { tp: tp(0), earlier: id(0, 0), earlier_offset: 2, later: id(0, 1), later_offset: 0 }]
    );
    // Interleaving producers, and one producer's order across partitions, are fine.
    let fine = log(&[(0, &[(0, id(0, 0)), (1, id(1, 5)), (2, id(0, 3))]), (1, &[(0, id(0, 2)), (1, id(1, 0))])]);
    assert_eq!(producer_order(&fine), vec![]);
}

#[test]
fn poll_skip_within_a_generation_is_detected() {
    let (mut history, log) = clean();
    // A second consumer polls offset 0 then offset 2 in the same generation: it skipped 1.
    history.events.push(poll(20, 1, 2, 0, &[(0, id(0, 0))]));
    history.events.push(poll(21, 1, 2, 0, &[(2, id(0, 1))]));
    assert_eq!(
        poll_skips(&history, &log),
        vec![Violation::PollSkip { consumer: 1, generation: 2, tp: tp(0), from_offset: 0, to_offset: 2, skipped_offset: 1 }]
    );
}

#[test]
fn gaps_of_aborted_records_and_new_generations_are_not_skips() {
    let (mut history, _) = clean();
    // Offset 1 belongs to an aborted transaction: a read_committed reader must not see it.
    history.events.push(Event::Send { at_ms: 30, tp: tp(0), id: id(2, 0), txn: Some(7) });
    history.events.push(Event::TxnEnd { at_ms: 31, producer: 2, txn: 7, committed: false });
    let log = log(&[(0, &[(0, id(0, 0)), (1, id(2, 0)), (2, id(0, 1))])]);
    history.events.push(poll(32, 1, 2, 0, &[(0, id(0, 0)), (2, id(0, 1))]));
    // A new generation may start anywhere (from the committed offset).
    history.events.push(poll(33, 1, 3, 0, &[(2, id(0, 1))]));
    assert_eq!(poll_skips(&history, &log), vec![]);
    assert_eq!(non_monotonic_polls(&history, &log), vec![]);
}

#[test]
fn non_monotonic_poll_is_detected() {
    let (mut history, log) = clean();
    // Consumer 0, still generation 1, goes back to offset 1.
    history.events.push(poll(20, 0, 1, 0, &[(1, id(1, 0))]));
    assert_eq!(
        non_monotonic_polls(&history, &log),
        vec![Violation::NonMonotonicPoll { consumer: 0, generation: 1, tp: tp(0), previous_offset: 2, offset: 1 }]
    );
}

/// Consumer 0 read p0-0, p1-0 and p0-1 at 0-2; the log then lost offsets
/// 1-2 (a crash of every replica that had them) and the new leader wrote
/// p2-0 at 1 and p2-1 at 2, p2-2 at 3.
fn truncated_at_1() -> (History, FinalLog) {
    let (history, _) = clean();
    (history, log(&[(0, &[(0, id(0, 0)), (1, id(2, 0)), (2, id(2, 1)), (3, id(2, 2))])]))
}

#[test]
fn a_consumer_that_catches_a_truncation_rewinds_to_it_legitimately() {
    let (mut history, log) = truncated_at_1();
    // KIP-320: it finds the divergence at 1 and reads the new records from there.
    history.events.push(poll(20, 0, 1, 0, &[(1, id(2, 0)), (2, id(2, 1)), (3, id(2, 2))]));
    assert_eq!(non_monotonic_polls(&history, &log), vec![]);
    assert_eq!(missed_records(&history, &log), vec![]);
}

#[test]
fn a_consumer_that_misses_a_truncation_skips_what_replaced_the_lost_records() {
    let (mut history, log) = truncated_at_1();
    // It fetches on at 3, its position, and never reads p2-0 and p2-1.
    history.events.push(poll(20, 0, 1, 0, &[(3, id(2, 2))]));
    let v = missed_records(&history, &log);
    assert_eq!(v, vec![Violation::MissedRecord { tp: tp(0), offset: 1, id: id(2, 0), consumer: 0, generation: 1, read_offset: 3 }]);
    assert!(v[0].to_string().contains("no consumer read p2-0 at t-0@1, below t-0@3, which consumer 0 (generation 1) read"), "{}", v[0]);
    assert!(kinds(&check(&history, &log, None)).contains(&"missed-record"));
    // The same skip in a later generation (resuming from an offset committed
    // before the truncation) is just as missed; another consumer's read covers it.
    let (mut history, log) = truncated_at_1();
    history.events.push(poll(20, 1, 2, 0, &[(3, id(2, 2))]));
    assert_eq!(kinds(&missed_records(&history, &log)), vec!["missed-record"]);
    history.events.push(poll(21, 2, 2, 0, &[(1, id(2, 0)), (2, id(2, 1))]));
    assert_eq!(missed_records(&history, &log), vec![]);
}

#[test]
fn a_decreasing_commit_is_detected() {
    let (mut history, _) = clean();
    // A late commit from an old generation rewinds the group's offset.
    history.events.push(commit(20, 1, 0, 0, 1));
    assert_eq!(
        commit_decreased(&history, &clean().1),
        vec![Violation::CommitDecreased { tp: tp(0), consumer: 1, generation: 0, previous: 3, offset: 1 }]
    );
}

#[test]
fn a_commit_back_to_a_truncation_is_allowed_and_one_past_it_is_not() {
    // Records read at 1 and 2 (committed: 3) are gone from the final log.
    let (mut history, truncated) = truncated_at_1();
    history.events.push(commit(20, 0, 1, 0, 1));
    assert_eq!(commit_decreased(&history, &truncated), vec![]);
    // Back to 0 would re-read record 0, which the log still holds: a rewind.
    let (mut history, truncated) = truncated_at_1();
    history.events.push(commit(20, 0, 1, 0, 0));
    assert_eq!(
        commit_decreased(&history, &truncated),
        vec![Violation::CommitDecreased { tp: tp(0), consumer: 0, generation: 1, previous: 3, offset: 0 }]
    );
    // Back past the first lost record (to 1, still in the log, when only 2 was lost) is a rewind too.
    let (mut history, _) = clean();
    history.events.push(commit(20, 1, 0, 0, 1));
    let log_lost_only_2 = log(&[(0, &[(0, id(0, 0)), (1, id(1, 0)), (2, id(2, 9))])]);
    assert_eq!(kinds(&commit_decreased(&history, &log_lost_only_2)), vec!["commit-decreased"]);
}

#[test]
fn a_commit_before_processing_is_detected() {
    let (mut history, log) = clean();
    // Commit 3 moved before the processing of offset 2.
    let processed_at = history.events.iter().position(|e| *e == processed(14, 0, 1, 0, 2)).unwrap();
    let event = history.events.remove(processed_at);
    history.events.push(event);
    assert_eq!(
        commit_not_processed(&history, &log),
        vec![Violation::CommitNotProcessed { tp: tp(0), consumer: 0, generation: 1, offset: 3, unprocessed_offset: 2 }]
    );
}

#[test]
fn an_aborted_record_seen_by_read_committed_is_detected() {
    let (mut history, _) = clean();
    history.events.push(Event::Send { at_ms: 30, tp: tp(0), id: id(2, 0), txn: Some(7) });
    history.events.push(Event::Send { at_ms: 30, tp: tp(0), id: id(2, 1), txn: Some(8) });
    history.events.push(Event::TxnEnd { at_ms: 31, producer: 2, txn: 7, committed: false });
    history.events.push(Event::TxnEnd { at_ms: 32, producer: 2, txn: 8, committed: true });
    history.events.push(poll(33, 0, 1, 0, &[(3, id(2, 0)), (5, id(2, 1))]));
    assert_eq!(aborted_reads(&history), vec![Violation::AbortedRead { tp: tp(0), consumer: 0, id: id(2, 0), offset: 3 }]);
    // read_uncommitted readers may see it.
    if let Some(Event::Poll { isolation, .. }) = history.events.last_mut() {
        *isolation = Isolation::ReadUncommitted;
    }
    assert_eq!(aborted_reads(&history), vec![]);
}

#[test]
fn an_unacknowledged_send_after_faults_stop_is_no_progress() {
    let (mut history, log) = clean();
    history.events.push(send(40, 0, id(0, 2)));
    let v = liveness(&history, &log, bound());
    assert_eq!(kinds(&v), vec!["no-progress"]);
    assert!(v[0].to_string().contains("p0-2 sent to t-0 at 40 ms was not acknowledged by 60 ms"), "{}", v[0]);
    // Acknowledged late is no better; acknowledged in time is fine.
    history.events.push(ack(61, 0, id(0, 2), 3));
    assert_eq!(kinds(&liveness(&history, &log, bound())), vec!["no-progress"]);
    history.events.pop();
    history.events.push(ack(60, 0, id(0, 2), 3));
    assert_eq!(liveness(&history, &log, bound()), vec![]);
    // A send whose bound lies past the end of the run is not judged.
    history.events.push(send(90, 0, id(0, 3)));
    assert_eq!(liveness(&history, &log, bound()), vec![]);
}

/// A record sent while faults were on may fail after they stop (its
/// delivery timeout ran from a time the cluster could not take it), by the
/// deadline; one sent after they stopped must be acknowledged.
#[test]
fn a_failure_after_faults_stop_counts_only_for_records_sent_during_them() {
    let (mut history, log) = clean();
    history.events.push(send(2, 0, id(0, 2)));
    history.events.push(Event::SendFailed { at_ms: 20, tp: tp(0), id: id(0, 2), error: "delivery timeout".into() });
    assert_eq!(liveness(&history, &log, bound()), vec![]);
    history.events.push(send(5, 0, id(0, 3)));
    history.events.push(Event::SendFailed { at_ms: 6, tp: tp(0), id: id(0, 3), error: "delivery timeout".into() });
    assert_eq!(kinds(&liveness(&history, &log, bound())), vec!["no-progress"]);
}

#[test]
fn a_partition_not_consumed_to_its_end_is_no_progress() {
    let (history, _) = clean();
    let longer = log(&[(0, &[(0, id(0, 0)), (1, id(1, 0)), (2, id(0, 1)), (3, id(1, 1))])]);
    let v = liveness(&history, &longer, bound());
    assert_eq!(kinds(&v), vec!["no-progress"]);
    assert!(v[0].to_string().contains("t-0 was not consumed to its end (3)"), "{}", v[0]);
}

/// Producer 2's transactions 7 (aborted) and 8 (committed) in partition 0 after the clean run.
fn with_transactions() -> (History, FinalLog) {
    let (mut history, _) = clean();
    history.events.push(Event::Send { at_ms: 30, tp: tp(0), id: id(2, 0), txn: Some(7) });
    history.events.push(Event::TxnEnd { at_ms: 31, producer: 2, txn: 7, committed: false });
    history.events.push(Event::Send { at_ms: 32, tp: tp(0), id: id(2, 1), txn: Some(8) });
    history.events.push(Event::TxnEnd { at_ms: 33, producer: 2, txn: 8, committed: true });
    let log = log(&[(0, &[(0, id(0, 0)), (1, id(1, 0)), (2, id(0, 1)), (3, id(2, 0)), (5, id(2, 1))])]);
    (history, log)
}

#[test]
fn a_read_committed_reader_short_of_the_last_committed_record_is_no_progress() {
    let (mut history, log) = with_transactions();
    // Consumer 0 read up to offset 2 only: the committed p2-1 at 5 is missing.
    let v = read_committed_caught_up(&history, &log);
    assert_eq!(kinds(&v), vec!["no-progress"]);
    assert!(v[0].to_string().contains("c0 never read p2-1 at t-0@5"), "{}", v[0]);
    // Reading it (the aborted record at 3 stays hidden) is caught up.
    history.events.push(poll(40, 0, 1, 0, &[(5, id(2, 1))]));
    assert_eq!(read_committed_caught_up(&history, &log), vec![]);
    // A last record of an aborted transaction need not be read.
    history.events.push(Event::Send { at_ms: 41, tp: tp(0), id: id(2, 2), txn: Some(9) });
    history.events.push(Event::TxnEnd { at_ms: 42, producer: 2, txn: 9, committed: false });
    let mut longer = log.clone();
    longer.partitions.get_mut(&tp(0)).unwrap().push(LogRecord { offset: 7, id: id(2, 2) });
    assert_eq!(read_committed_caught_up(&history, &longer), vec![]);
}

#[test]
fn transaction_offsets_must_be_those_of_committed_transactions() {
    let (mut history, _) = with_transactions();
    let at = |history: &History, offset: Option<i64>| txn_offsets(history, &std::collections::BTreeMap::from([(2, offset)]));
    assert_eq!(at(&history, Some(8)), vec![]);
    assert_eq!(kinds(&at(&history, Some(7))), vec!["txn-offset"], "transaction 7 aborted");
    assert!(at(&history, Some(7))[0].to_string().contains("transaction 7 was aborted"));
    assert_eq!(kinds(&at(&history, None)), vec!["txn-offset"], "transaction 8 committed");
    assert_eq!(kinds(&at(&history, Some(4))), vec!["txn-offset"], "no transaction 4");
    // A later transaction whose end the producer never learned may have committed.
    history.events.push(Event::Send { at_ms: 50, tp: tp(0), id: id(2, 3), txn: Some(9) });
    assert_eq!(at(&history, Some(9)), vec![]);
    // An earlier committed offset after a later commit is a rewind.
    history.events.push(Event::Send { at_ms: 51, tp: tp(0), id: id(2, 4), txn: Some(10) });
    history.events.push(Event::TxnEnd { at_ms: 52, producer: 2, txn: 10, committed: true });
    assert_eq!(kinds(&at(&history, Some(8))), vec!["txn-offset"]);
    // A producer that never committed has no offset.
    assert_eq!(txn_offsets(&history, &std::collections::BTreeMap::from([(5, None)])), vec![]);
}
