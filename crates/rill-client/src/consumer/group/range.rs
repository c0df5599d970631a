//! The range assignor (`range`, Java's `RangeAssignor`): per topic, the
//! subscribed members in `MemberInfo` order (static members by instance id,
//! then dynamic members by member id) get consecutive ranges of partitions;
//! the first `partitions % members` members get one extra.
//!
//! Without consumer racks (rill sends none) this is exactly the Java result.

use std::collections::BTreeMap;

use super::assignor::{member_order, MemberSubscription};
use super::TopicPartition;

pub(crate) fn assign(
    partitions_per_topic: &BTreeMap<String, i32>,
    subscriptions: &BTreeMap<String, MemberSubscription>,
) -> BTreeMap<String, Vec<TopicPartition>> {
    let mut assignment: BTreeMap<String, Vec<TopicPartition>> = subscriptions.keys().map(|m| (m.clone(), Vec::new())).collect();
    for (topic, &count) in partitions_per_topic {
        let mut members: Vec<&MemberSubscription> = subscriptions.values().filter(|s| s.topics.iter().any(|t| t == topic)).collect();
        if members.is_empty() || count <= 0 {
            continue;
        }
        members.sort_by(|a, b| member_order(a, b));
        let n = members.len() as i64;
        let per_member = i64::from(count) / n;
        let extra = i64::from(count) % n;
        for (i, member) in members.iter().enumerate() {
            let i = i as i64;
            let start = per_member * i + i.min(extra);
            let length = per_member + i64::from(i < extra);
            let Some(list) = assignment.get_mut(&member.member_id) else { continue };
            for p in start..start + length {
                list.push(TopicPartition::new(topic.clone(), p as i32));
            }
        }
    }
    assignment
}

#[cfg(test)]
mod tests {
    use super::super::assign;
    use super::super::tests_support::{member, parts, static_member, topics};
    use crate::config::AssignmentStrategy::Range;

    // Cases mirror the expectations of Kafka's RangeAssignorTest.

    #[test]
    fn one_consumer_no_topic_or_nonexistent_topic() {
        let subs = [member("c", &["t"])].into();
        let r = assign(Range, &topics(&[]), &subs);
        assert_eq!(r["c"], parts(&[]));
    }

    #[test]
    fn one_consumer_one_topic() {
        let r = assign(Range, &topics(&[("t", 3)]), &[member("c", &["t"])].into());
        assert_eq!(r["c"], parts(&[("t", 0), ("t", 1), ("t", 2)]));
    }

    #[test]
    fn only_assigns_partitions_from_subscribed_topics() {
        let r = assign(Range, &topics(&[("t", 3), ("other", 3)]), &[member("c", &["t"])].into());
        assert_eq!(r["c"], parts(&[("t", 0), ("t", 1), ("t", 2)]));
    }

    #[test]
    fn two_consumers_one_topic_one_partition() {
        let r = assign(Range, &topics(&[("t", 1)]), &[member("c1", &["t"]), member("c2", &["t"])].into());
        assert_eq!(r["c1"], parts(&[("t", 0)]));
        assert_eq!(r["c2"], parts(&[]));
    }

    #[test]
    fn two_consumers_one_topic_two_partitions() {
        let r = assign(Range, &topics(&[("t", 2)]), &[member("c1", &["t"]), member("c2", &["t"])].into());
        assert_eq!(r["c1"], parts(&[("t", 0)]));
        assert_eq!(r["c2"], parts(&[("t", 1)]));
    }

    #[test]
    fn multiple_consumers_mixed_topic_subscriptions() {
        let subs = [member("c1", &["t1"]), member("c2", &["t1", "t2"]), member("c3", &["t1"])].into();
        let r = assign(Range, &topics(&[("t1", 3), ("t2", 2)]), &subs);
        assert_eq!(r["c1"], parts(&[("t1", 0)]));
        assert_eq!(r["c2"], parts(&[("t1", 1), ("t2", 0), ("t2", 1)]));
        assert_eq!(r["c3"], parts(&[("t1", 2)]));
    }

    #[test]
    fn two_consumers_two_topics_six_partitions() {
        let subs = [member("c1", &["t1", "t2"]), member("c2", &["t1", "t2"])].into();
        let r = assign(Range, &topics(&[("t1", 3), ("t2", 3)]), &subs);
        assert_eq!(r["c1"], parts(&[("t1", 0), ("t1", 1), ("t2", 0), ("t2", 1)]));
        assert_eq!(r["c2"], parts(&[("t1", 2), ("t2", 2)]));
    }

    #[test]
    fn static_members_come_first_ordered_by_instance_id() {
        // Member ids sort the other way round; instance ids decide, then dynamic members last.
        let subs =
            [static_member("a-member", "instance-2", &["t"]), static_member("b-member", "instance-1", &["t"]), member("0-dynamic", &["t"])]
                .into();
        let r = assign(Range, &topics(&[("t", 5)]), &subs);
        assert_eq!(r["b-member"], parts(&[("t", 0), ("t", 1)]));
        assert_eq!(r["a-member"], parts(&[("t", 2), ("t", 3)]));
        assert_eq!(r["0-dynamic"], parts(&[("t", 4)]));
    }
}
