//! The cooperative-sticky assignor (`cooperative-sticky`, Java's
//! `CooperativeStickyAssignor`, KIP-429 incremental rebalancing).
//!
//! Members keep what they own as far as balance allows. A partition that
//! must move from one member to another is first only taken away (left out
//! of every assignment); its old owner revokes it and rejoins, and the next
//! rebalance gives it to its new owner. So a partition is never owned by
//! two members at once, and partitions that do not move are never revoked.
//!
//! When all members subscribe to the same topics (the usual case) this
//! follows Java's constrained algorithm step by step (no racks: rill sends
//! none): owned partitions kept up to the quota (sorted by partition then
//! topic), the rest dealt round-robin to the members below their quota in
//! member-id order. Java walks members in hash-map order where rill walks
//! them in id order; the two differ only when more members own over the
//! quota than may keep it. With different subscriptions per member, rill
//! keeps owned partitions and balances (each partition to the eligible
//! member with the fewest, then moves from fuller to emptier members), which
//! is not always the exact partition choice of Java's general algorithm;
//! a Java member accepts any assignment, so a mixed group still works.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::assignor::MemberSubscription;
use super::TopicPartition;

pub(crate) fn assign(
    partitions_per_topic: &BTreeMap<String, i32>,
    subscriptions: &BTreeMap<String, MemberSubscription>,
) -> BTreeMap<String, Vec<TopicPartition>> {
    if subscriptions.is_empty() {
        return BTreeMap::new();
    }
    // Only topics someone subscribes to and that exist take part.
    let subscribed: BTreeSet<&str> = subscriptions.values().flat_map(|s| s.topics.iter().map(String::as_str)).collect();
    let topics: BTreeMap<&str, i32> =
        partitions_per_topic.iter().filter(|(t, _)| subscribed.contains(t.as_str())).map(|(t, n)| (t.as_str(), (*n).max(0))).collect();
    let owned = owned_partitions(&topics, subscriptions);
    let first = subscriptions.values().next().map(|s| s.topics.iter().collect::<BTreeSet<_>>());
    let all_equal = subscriptions.values().all(|s| Some(s.topics.iter().collect::<BTreeSet<_>>()) == first);

    let (mut assignment, transferring) = if all_equal {
        constrained(&topics, &owned)
    } else {
        let assignment = general(&topics, subscriptions, &owned.by_member);
        let transferring = moving_partitions(subscriptions, &assignment);
        (assignment, transferring)
    };
    // KIP-429: a partition changing owner is only revoked in this round.
    for (tp, new_owner) in transferring {
        if let Some(list) = assignment.get_mut(&new_owner) {
            list.retain(|p| *p != tp);
        }
    }
    assignment
}

/// Each member's claimed and still valid partitions.
struct Owned {
    by_member: BTreeMap<String, Vec<TopicPartition>>,
    /// Claimed by two members of the same generation: trusted to neither.
    multiply_claimed: BTreeSet<TopicPartition>,
}

fn owned_partitions(topics: &BTreeMap<&str, i32>, subscriptions: &BTreeMap<String, MemberSubscription>) -> Owned {
    let mut by_member: BTreeMap<String, Vec<TopicPartition>> = BTreeMap::new();
    let mut owner_of: BTreeMap<TopicPartition, String> = BTreeMap::new();
    let mut multiply_claimed = BTreeSet::new();
    for (member, subscription) in subscriptions {
        by_member.entry(member.clone()).or_default();
        let generation = subscription.generation;
        for tp in &subscription.owned_partitions {
            if !topics.get(tp.topic.as_str()).is_some_and(|n| tp.partition >= 0 && tp.partition < *n) {
                continue;
            }
            match owner_of.get(tp).cloned() {
                None => {
                    by_member.entry(member.clone()).or_default().push(tp.clone());
                    owner_of.insert(tp.clone(), member.clone());
                }
                Some(other) => {
                    let other_generation = subscriptions.get(&other).map_or(-1, |s| s.generation);
                    if generation >= other_generation {
                        if let Some(list) = by_member.get_mut(&other) {
                            list.retain(|p| p != tp);
                        }
                        owner_of.insert(tp.clone(), member.clone());
                        if generation == other_generation {
                            multiply_claimed.insert(tp.clone());
                        } else {
                            by_member.entry(member.clone()).or_default().push(tp.clone());
                        }
                    }
                }
            }
        }
    }
    Owned { by_member, multiply_claimed }
}

fn all_partitions(topics: &BTreeMap<&str, i32>) -> Vec<TopicPartition> {
    topics.iter().flat_map(|(t, n)| (0..*n).map(|p| TopicPartition::new(*t, p))).collect()
}

type Transfers = BTreeMap<TopicPartition, String>;

/// Java's constrained assignment (all subscriptions equal).
fn constrained(topics: &BTreeMap<&str, i32>, owned: &Owned) -> (BTreeMap<String, Vec<TopicPartition>>, Transfers) {
    let all = all_partitions(topics);
    let members = owned.by_member.len().max(1);
    let min_quota = all.len() / members;
    let max_quota = all.len().div_ceil(members);
    let expected_over_min = all.len() % members;
    let mut current_over_min = 0usize;

    let mut assignment: BTreeMap<String, Vec<TopicPartition>> = BTreeMap::new();
    let mut assigned: BTreeSet<TopicPartition> = BTreeSet::new();
    let mut revoked: BTreeSet<TopicPartition> = BTreeSet::new();
    let mut under_min: Vec<String> = Vec::new();
    let mut exactly_min: VecDeque<String> = VecDeque::new();
    let mut transferring = Transfers::new();

    for (member, claimed) in &owned.by_member {
        let mut mine: Vec<TopicPartition> = claimed.iter().filter(|tp| !owned.multiply_claimed.contains(*tp)).cloned().collect();
        mine.sort_by(|a, b| a.partition.cmp(&b.partition).then_with(|| a.topic.cmp(&b.topic)));
        let list = assignment.entry(member.clone()).or_default();
        if mine.len() < min_quota {
            assigned.extend(mine.iter().cloned());
            list.extend(mine);
            under_min.push(member.clone());
        } else if mine.len() >= max_quota && current_over_min < expected_over_min {
            current_over_min += 1;
            if current_over_min == expected_over_min {
                exactly_min.clear();
            }
            let rest = mine.split_off(max_quota);
            revoked.extend(rest);
            assigned.extend(mine.iter().cloned());
            list.extend(mine);
        } else {
            let rest = mine.split_off(min_quota);
            revoked.extend(rest);
            assigned.extend(mine.iter().cloned());
            list.extend(mine);
            if current_over_min < expected_over_min {
                exactly_min.push_back(member.clone());
            }
        }
    }
    under_min.sort();
    exactly_min.make_contiguous().sort();

    let unassigned: Vec<TopicPartition> = all.into_iter().filter(|tp| !assigned.contains(tp)).collect();
    let mut cursor = 0usize;
    for tp in unassigned {
        let (consumer, position) = if cursor < under_min.len() {
            cursor += 1;
            (under_min.get(cursor - 1).cloned(), Some(cursor - 1))
        } else if under_min.is_empty() {
            (exactly_min.pop_front(), None)
        } else {
            cursor = 1;
            (under_min.first().cloned(), Some(0))
        };
        // Java throws here ("no more unfilled consumers"); the quotas make it unreachable.
        let Some(consumer) = consumer else { break };
        let list = assignment.entry(consumer.clone()).or_default();
        list.push(tp.clone());
        let count = list.len();
        if revoked.contains(&tp) || owned.multiply_claimed.contains(&tp) {
            transferring.insert(tp, consumer.clone());
        }
        if count == min_quota {
            if let Some(i) = position {
                under_min.remove(i);
                cursor -= 1;
            }
            exactly_min.push_back(consumer);
        }
    }
    (assignment, transferring)
}

/// Members with different subscriptions: keep owned partitions, place the
/// rest on the eligible member with the fewest, then even out.
fn general(
    topics: &BTreeMap<&str, i32>,
    subscriptions: &BTreeMap<String, MemberSubscription>,
    owned: &BTreeMap<String, Vec<TopicPartition>>,
) -> BTreeMap<String, Vec<TopicPartition>> {
    let eligible = |member: &str, tp: &TopicPartition| subscriptions.get(member).is_some_and(|s| s.topics.contains(&tp.topic));
    let mut assignment: BTreeMap<String, Vec<TopicPartition>> = BTreeMap::new();
    let mut assigned = BTreeSet::new();
    for member in subscriptions.keys() {
        let keep: Vec<TopicPartition> = owned.get(member).into_iter().flatten().filter(|tp| eligible(member, tp)).cloned().collect();
        assigned.extend(keep.iter().cloned());
        assignment.insert(member.clone(), keep);
    }
    // Partitions with the fewest eligible members first.
    let mut unassigned: Vec<(usize, TopicPartition)> = all_partitions(topics)
        .into_iter()
        .filter(|tp| !assigned.contains(tp))
        .map(|tp| (subscriptions.keys().filter(|m| eligible(m, &tp)).count(), tp))
        .collect();
    unassigned.sort();
    for (_, tp) in unassigned {
        let target = assignment
            .iter()
            .filter(|(m, _)| eligible(m, &tp))
            .min_by(|(a, la), (b, lb)| la.len().cmp(&lb.len()).then_with(|| a.cmp(b)))
            .map(|(m, _)| m.clone());
        if let Some(member) = target {
            assignment.entry(member).or_default().push(tp);
        }
    }
    // Even out: move from the fullest member to an eligible member with at least two fewer.
    let total: usize = assignment.values().map(Vec::len).sum();
    for _ in 0..=total {
        let mut moved = false;
        let mut by_size: Vec<(usize, String)> = assignment.iter().map(|(m, l)| (l.len(), m.clone())).collect();
        by_size.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        'search: for (size, from) in &by_size {
            let candidates: Vec<TopicPartition> = assignment.get(from).cloned().unwrap_or_default();
            for tp in candidates.iter().rev() {
                let to = assignment
                    .iter()
                    .filter(|(m, l)| *m != from && l.len() + 1 < *size && eligible(m, tp))
                    .min_by(|(a, la), (b, lb)| la.len().cmp(&lb.len()).then_with(|| a.cmp(b)))
                    .map(|(m, _)| m.clone());
                if let Some(to) = to {
                    if let Some(list) = assignment.get_mut(from) {
                        list.retain(|p| p != tp);
                    }
                    assignment.entry(to).or_default().push(tp.clone());
                    moved = true;
                    break 'search;
                }
            }
        }
        if !moved {
            break;
        }
    }
    assignment
}

/// Partitions assigned to a member other than the one that owns them now.
fn moving_partitions(
    subscriptions: &BTreeMap<String, MemberSubscription>,
    assignment: &BTreeMap<String, Vec<TopicPartition>>,
) -> Transfers {
    let mut added = Transfers::new();
    let mut revoked = BTreeSet::new();
    for (member, partitions) in assignment {
        let owned: &[TopicPartition] = subscriptions.get(member).map_or(&[], |s| &s.owned_partitions);
        for tp in partitions {
            if !owned.contains(tp) {
                added.insert(tp.clone(), member.clone());
            }
        }
        for tp in owned {
            if !partitions.contains(tp) {
                revoked.insert(tp.clone());
            }
        }
    }
    added.retain(|tp, _| revoked.contains(tp));
    added
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::super::assign;
    use super::super::tests_support::{member, owning, parts, topics};
    use super::super::{MemberSubscription, TopicPartition};
    use crate::config::AssignmentStrategy::CooperativeSticky;

    fn run(t: &[(&str, i32)], subs: &[MemberSubscription]) -> BTreeMap<String, Vec<TopicPartition>> {
        let subs: BTreeMap<String, MemberSubscription> = subs.iter().map(|s| (s.member_id.clone(), s.clone())).collect();
        assign(CooperativeSticky, &topics(t), &subs)
    }

    #[test]
    fn fresh_group_deals_round_robin_in_member_order() {
        let r = run(&[("t", 7)], &[member("c1", &["t"]).1, member("c2", &["t"]).1, member("c3", &["t"]).1]);
        assert_eq!(r["c1"], parts(&[("t", 0), ("t", 3), ("t", 6)]));
        assert_eq!(r["c2"], parts(&[("t", 1), ("t", 4)]));
        assert_eq!(r["c3"], parts(&[("t", 2), ("t", 5)]));
    }

    #[test]
    fn fresh_group_two_topics_sorted_by_topic_then_partition() {
        let r = run(&[("t1", 3), ("t2", 3)], &[member("c1", &["t1", "t2"]).1, member("c2", &["t1", "t2"]).1]);
        assert_eq!(r["c1"], parts(&[("t1", 0), ("t1", 2), ("t2", 1)]));
        assert_eq!(r["c2"], parts(&[("t1", 1), ("t2", 0), ("t2", 2)]));
    }

    #[test]
    fn joining_member_gets_moved_partitions_only_in_the_second_rebalance() {
        let c1 = owning("c1", &["t"], 1, &[("t", 0), ("t", 1), ("t", 2)]);
        let c2 = owning("c2", &["t"], 1, &[("t", 3), ("t", 4), ("t", 5)]);
        let c3 = member("c3", &["t"]).1;
        // First rebalance: c1 and c2 keep two each and give up one; nobody gets those yet.
        let first = run(&[("t", 6)], &[c1, c2, c3]);
        assert_eq!(first["c1"], parts(&[("t", 0), ("t", 1)]));
        assert_eq!(first["c2"], parts(&[("t", 3), ("t", 4)]));
        assert_eq!(first["c3"], parts(&[]));
        // Second rebalance (after the revocation): the free partitions go to c3, nothing else moves.
        let c1 = owning("c1", &["t"], 2, &[("t", 0), ("t", 1)]);
        let c2 = owning("c2", &["t"], 2, &[("t", 3), ("t", 4)]);
        let c3 = owning("c3", &["t"], 2, &[]);
        let second = run(&[("t", 6)], &[c1, c2, c3]);
        assert_eq!(second["c1"], parts(&[("t", 0), ("t", 1)]));
        assert_eq!(second["c2"], parts(&[("t", 3), ("t", 4)]));
        assert_eq!(second["c3"], parts(&[("t", 2), ("t", 5)]));
    }

    #[test]
    fn leaving_member_partitions_move_at_once_and_nothing_else_moves() {
        let c1 = owning("c1", &["t"], 3, &[("t", 0), ("t", 1)]);
        let c2 = owning("c2", &["t"], 3, &[("t", 2), ("t", 3)]);
        let r = run(&[("t", 6)], &[c1, c2]);
        assert_eq!(r["c1"], parts(&[("t", 0), ("t", 1), ("t", 4)]));
        assert_eq!(r["c2"], parts(&[("t", 2), ("t", 3), ("t", 5)]));
    }

    #[test]
    fn owned_partitions_kept_in_partition_then_topic_order_up_to_quota() {
        // c1 owns everything (4 partitions), c2 is new: c1 keeps the quota sorted by (partition, topic).
        let c1 = owning("c1", &["a", "b"], 4, &[("a", 0), ("a", 1), ("b", 0), ("b", 1)]);
        let c2 = member("c2", &["a", "b"]).1;
        let r = run(&[("a", 2), ("b", 2)], &[c1, c2]);
        assert_eq!(r["c1"], parts(&[("a", 0), ("b", 0)]));
        assert_eq!(r["c2"], parts(&[]));
    }

    #[test]
    fn partition_claimed_twice_in_one_generation_is_trusted_to_neither() {
        let c1 = owning("c1", &["t"], 5, &[("t", 0), ("t", 1)]);
        let c2 = owning("c2", &["t"], 5, &[("t", 1), ("t", 2)]);
        let r = run(&[("t", 4)], &[c1, c2]);
        // t-1 is claimed by both: it is revoked from both before anyone gets it.
        assert!(!r["c1"].contains(&TopicPartition::new("t", 1)) && !r["c2"].contains(&TopicPartition::new("t", 1)));
        assert!(r["c1"].contains(&TopicPartition::new("t", 0)) && r["c2"].contains(&TopicPartition::new("t", 2)));
    }

    #[test]
    fn newer_generation_wins_a_double_claim() {
        let c1 = owning("c1", &["t"], 4, &[("t", 0), ("t", 1)]);
        let c2 = owning("c2", &["t"], 5, &[("t", 1)]);
        let r = run(&[("t", 2)], &[c1, c2]);
        assert_eq!(r["c1"], parts(&[("t", 0)]));
        assert_eq!(r["c2"], parts(&[("t", 1)]));
    }

    #[test]
    fn different_subscriptions_are_balanced_valid_and_sticky() {
        let c1 = owning("c1", &["a"], 2, &[("a", 0), ("a", 1), ("a", 2)]);
        let c2 = owning("c2", &["a", "b"], 2, &[("b", 0)]);
        let c3 = member("c3", &["b"]).1;
        let r = run(&[("a", 3), ("b", 3)], &[c1.clone(), c2.clone(), c3.clone()]);
        let all: BTreeSet<_> = r.values().flatten().cloned().collect();
        let count: usize = r.values().map(Vec::len).sum();
        assert_eq!(all.len(), count, "no partition twice: {r:?}");
        for (m, list) in &r {
            let subs = [&c1, &c2, &c3].into_iter().find(|s| s.member_id == *m).unwrap();
            assert!(list.iter().all(|tp| subs.topics.contains(&tp.topic)), "{m} got an unsubscribed topic");
        }
        // Owned partitions stay where balance allows: c1 keeps a-0..a-2, c2 keeps b-0.
        assert_eq!(r["c1"], parts(&[("a", 0), ("a", 1), ("a", 2)]));
        assert!(r["c2"].contains(&TopicPartition::new("b", 0)));
        assert_eq!(count, 6);
    }
}
