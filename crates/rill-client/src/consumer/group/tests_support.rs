//! Builders shared by the assignor tests.

use std::collections::BTreeMap;

use super::{MemberSubscription, TopicPartition};

pub(crate) fn member(id: &str, topics: &[&str]) -> (String, MemberSubscription) {
    (
        id.to_string(),
        MemberSubscription {
            member_id: id.to_string(),
            topics: topics.iter().map(|t| t.to_string()).collect(),
            generation: -1,
            ..Default::default()
        },
    )
}

pub(crate) fn static_member(id: &str, instance: &str, topics: &[&str]) -> (String, MemberSubscription) {
    let (id, mut s) = member(id, topics);
    s.group_instance_id = Some(instance.to_string());
    (id, s)
}

pub(crate) fn owning(id: &str, topics: &[&str], generation: i32, owned: &[(&str, i32)]) -> MemberSubscription {
    let (_, mut s) = member(id, topics);
    s.generation = generation;
    s.owned_partitions = parts(owned);
    s
}

pub(crate) fn topics(t: &[(&str, i32)]) -> BTreeMap<String, i32> {
    t.iter().map(|(n, c)| (n.to_string(), *c)).collect()
}

pub(crate) fn parts(p: &[(&str, i32)]) -> Vec<TopicPartition> {
    p.iter().map(|(t, n)| TopicPartition::new(*t, *n)).collect()
}
