//! The round-robin assignor (`roundrobin`, Java's `RoundRobinAssignor`):
//! all partitions of all subscribed topics, sorted by topic then partition,
//! dealt in turn to the members in `MemberInfo` order, skipping members not
//! subscribed to a partition's topic.

use std::collections::{BTreeMap, BTreeSet};

use super::assignor::{member_order, MemberSubscription};
use super::TopicPartition;

pub(crate) fn assign(
    partitions_per_topic: &BTreeMap<String, i32>,
    subscriptions: &BTreeMap<String, MemberSubscription>,
) -> BTreeMap<String, Vec<TopicPartition>> {
    let mut assignment: BTreeMap<String, Vec<TopicPartition>> = subscriptions.keys().map(|m| (m.clone(), Vec::new())).collect();
    let mut members: Vec<&MemberSubscription> = subscriptions.values().collect();
    members.sort_by(|a, b| member_order(a, b));
    if members.is_empty() {
        return assignment;
    }
    let all_topics: BTreeSet<&str> = members.iter().flat_map(|m| m.topics.iter().map(String::as_str)).collect();
    let mut next = 0usize;
    for topic in all_topics {
        let Some(&count) = partitions_per_topic.get(topic) else { continue };
        for partition in 0..count.max(0) {
            // Java's CircularIterator: advance until a subscribed member is at the front.
            let mut skipped = 0;
            while skipped < members.len() {
                let Some(member) = members.get(next % members.len()) else { break };
                if member.topics.iter().any(|t| t == topic) {
                    break;
                }
                next += 1;
                skipped += 1;
            }
            if skipped == members.len() {
                break;
            }
            if let Some(member) = members.get(next % members.len()) {
                if let Some(list) = assignment.get_mut(&member.member_id) {
                    list.push(TopicPartition::new(topic, partition));
                }
            }
            next += 1;
        }
    }
    assignment
}

#[cfg(test)]
mod tests {
    use super::super::assign;
    use super::super::tests_support::{member, parts, static_member, topics};
    use crate::config::AssignmentStrategy::RoundRobin;

    // Cases mirror the expectations of Kafka's RoundRobinAssignorTest.

    #[test]
    fn one_consumer_multiple_topics() {
        let r = assign(RoundRobin, &topics(&[("t1", 1), ("t2", 2)]), &[member("c", &["t1", "t2"])].into());
        assert_eq!(r["c"], parts(&[("t1", 0), ("t2", 0), ("t2", 1)]));
    }

    #[test]
    fn two_consumers_one_topic_one_partition() {
        let r = assign(RoundRobin, &topics(&[("t", 1)]), &[member("c1", &["t"]), member("c2", &["t"])].into());
        assert_eq!(r["c1"], parts(&[("t", 0)]));
        assert_eq!(r["c2"], parts(&[]));
    }

    #[test]
    fn multiple_consumers_mixed_topics() {
        let subs = [member("c1", &["t1"]), member("c2", &["t1", "t2"]), member("c3", &["t1"])].into();
        let r = assign(RoundRobin, &topics(&[("t1", 3), ("t2", 2)]), &subs);
        assert_eq!(r["c1"], parts(&[("t1", 0)]));
        assert_eq!(r["c2"], parts(&[("t1", 1), ("t2", 0), ("t2", 1)]));
        assert_eq!(r["c3"], parts(&[("t1", 2)]));
    }

    #[test]
    fn two_consumers_two_topics_six_partitions() {
        let subs = [member("c1", &["t1", "t2"]), member("c2", &["t1", "t2"])].into();
        let r = assign(RoundRobin, &topics(&[("t1", 3), ("t2", 3)]), &subs);
        assert_eq!(r["c1"], parts(&[("t1", 0), ("t1", 2), ("t2", 1)]));
        assert_eq!(r["c2"], parts(&[("t1", 1), ("t2", 0), ("t2", 2)]));
    }

    #[test]
    fn static_members_in_instance_id_order() {
        let subs = [
            static_member("consumer-b", "instance-1", &["t"]),
            static_member("consumer-a", "instance-2", &["t"]),
            member("consumer-0", &["t"]),
        ]
        .into();
        let r = assign(RoundRobin, &topics(&[("t", 4)]), &subs);
        assert_eq!(r["consumer-b"], parts(&[("t", 0), ("t", 3)]));
        assert_eq!(r["consumer-a"], parts(&[("t", 1)]));
        assert_eq!(r["consumer-0"], parts(&[("t", 2)]));
    }
}
