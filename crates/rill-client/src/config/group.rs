//! Consumer-group settings (`group.instance.id`, `session.timeout.ms`,
//! `partition.assignment.strategy`, ...), with the Java client's names and
//! defaults. `group.id` itself is a consumer key ([`super::ConsumerConfig::group_id`]).

use std::time::Duration;

use super::properties::{boolean, millis, Property};
use super::{ClientConfig, ConfigError};

/// A partition assignor, by the name it has in the consumer protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AssignmentStrategy {
    /// `range` (`org.apache.kafka.clients.consumer.RangeAssignor`).
    Range,
    /// `roundrobin` (`org.apache.kafka.clients.consumer.RoundRobinAssignor`).
    RoundRobin,
    /// `cooperative-sticky` (`org.apache.kafka.clients.consumer.CooperativeStickyAssignor`, KIP-429).
    CooperativeSticky,
}

impl AssignmentStrategy {
    /// The protocol name sent in JoinGroup (the same for Java and librdkafka).
    pub fn protocol_name(self) -> &'static str {
        match self {
            AssignmentStrategy::Range => "range",
            AssignmentStrategy::RoundRobin => "roundrobin",
            AssignmentStrategy::CooperativeSticky => "cooperative-sticky",
        }
    }

    /// Parses a short name or a Java class name.
    pub fn from_name(name: &str) -> Option<AssignmentStrategy> {
        match name.trim() {
            "range" | "org.apache.kafka.clients.consumer.RangeAssignor" => Some(AssignmentStrategy::Range),
            "roundrobin" | "org.apache.kafka.clients.consumer.RoundRobinAssignor" => Some(AssignmentStrategy::RoundRobin),
            "cooperative-sticky" | "org.apache.kafka.clients.consumer.CooperativeStickyAssignor" => {
                Some(AssignmentStrategy::CooperativeSticky)
            }
            _ => None,
        }
    }

    /// Whether members keep their partitions across a rebalance (KIP-429).
    pub fn is_cooperative(self) -> bool {
        matches!(self, AssignmentStrategy::CooperativeSticky)
    }
}

/// Consumer-group settings, stored for the group member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupConfig {
    /// `group.instance.id`: static membership (KIP-345).
    pub group_instance_id: Option<String>,
    /// `session.timeout.ms`.
    pub session_timeout: Duration,
    /// `heartbeat.interval.ms`.
    pub heartbeat_interval: Duration,
    /// `max.poll.interval.ms`; also the rebalance timeout sent in JoinGroup (as Java does).
    pub max_poll_interval: Duration,
    /// `partition.assignment.strategy`, in preference order.
    pub assignment_strategies: Vec<AssignmentStrategy>,
    /// `enable.auto.commit`.
    pub enable_auto_commit: bool,
    /// `auto.commit.interval.ms`.
    pub auto_commit_interval: Duration,
}

impl Default for GroupConfig {
    fn default() -> Self {
        // The Java consumer's defaults (Kafka 3.x+).
        GroupConfig {
            group_instance_id: None,
            session_timeout: Duration::from_millis(45_000),
            heartbeat_interval: Duration::from_millis(3_000),
            max_poll_interval: Duration::from_millis(300_000),
            assignment_strategies: vec![AssignmentStrategy::Range, AssignmentStrategy::CooperativeSticky],
            enable_auto_commit: true,
            auto_commit_interval: Duration::from_millis(5_000),
        }
    }
}

const STRATEGIES: &str = "a comma-separated list of range, roundrobin, cooperative-sticky \
     (or the Java class names org.apache.kafka.clients.consumer.RangeAssignor, RoundRobinAssignor, CooperativeStickyAssignor)";

fn non_empty(v: &str) -> Result<String, &'static str> {
    if v.trim().is_empty() {
        return Err("a non-empty string");
    }
    Ok(v.to_string())
}

fn positive_millis(v: &str) -> Result<Duration, &'static str> {
    let d = millis(v)?;
    if d.is_zero() {
        return Err("a positive integer number of milliseconds");
    }
    Ok(d)
}

pub(super) const GROUP_PROPERTIES: &[Property] = &[
    Property {
        names: &["group.instance.id"],
        sensitive: false,
        set: |c, v| {
            c.group.group_instance_id = Some(non_empty(v)?);
            Ok(())
        },
    },
    Property {
        names: &["session.timeout.ms"],
        sensitive: false,
        set: |c, v| {
            c.group.session_timeout = positive_millis(v)?;
            Ok(())
        },
    },
    Property {
        names: &["heartbeat.interval.ms"],
        sensitive: false,
        set: |c, v| {
            c.group.heartbeat_interval = positive_millis(v)?;
            Ok(())
        },
    },
    Property {
        names: &["max.poll.interval.ms"],
        sensitive: false,
        set: |c, v| {
            c.group.max_poll_interval = positive_millis(v)?;
            Ok(())
        },
    },
    Property {
        names: &["partition.assignment.strategy"],
        sensitive: false,
        set: |c, v| {
            let mut strategies = Vec::new();
            for name in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                let strategy = AssignmentStrategy::from_name(name).ok_or(STRATEGIES)?;
                if !strategies.contains(&strategy) {
                    strategies.push(strategy);
                }
            }
            if strategies.is_empty() {
                return Err(STRATEGIES);
            }
            c.group.assignment_strategies = strategies;
            Ok(())
        },
    },
    Property {
        names: &["enable.auto.commit"],
        sensitive: false,
        set: |c, v| {
            c.group.enable_auto_commit = boolean(v)?;
            Ok(())
        },
    },
    Property {
        names: &["auto.commit.interval.ms"],
        sensitive: false,
        set: |c, v| {
            c.group.auto_commit_interval = positive_millis(v)?;
            Ok(())
        },
    },
];

/// Checks the relations between group settings (as the Java consumer does).
pub(super) fn validate(config: &ClientConfig) -> Result<(), ConfigError> {
    let g = &config.group;
    if g.heartbeat_interval >= g.session_timeout {
        return Err(ConfigError::Conflict {
            message: format!(
                "heartbeat.interval.ms ({} ms) must be less than session.timeout.ms ({} ms); \
                 set it to at most a third of the session timeout",
                g.heartbeat_interval.as_millis(),
                g.session_timeout.as_millis()
            ),
        });
    }
    if g.group_instance_id.is_some() && config.consumer.group_id.is_none() {
        return Err(ConfigError::Conflict {
            message: "group.instance.id is set but group.id is not; static membership needs a group".to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(props: &[(&str, &str)]) -> Result<ClientConfig, ConfigError> {
        ClientConfig::from_properties([("bootstrap.servers", "a:1")].into_iter().chain(props.iter().copied()))
    }

    #[test]
    fn group_keys_parse_with_java_names_and_short_names() {
        let c = parse(&[
            ("group.id", "g"),
            ("group.instance.id", "i-1"),
            ("session.timeout.ms", "10000"),
            ("heartbeat.interval.ms", "1000"),
            ("max.poll.interval.ms", "60000"),
            ("partition.assignment.strategy", "org.apache.kafka.clients.consumer.CooperativeStickyAssignor, roundrobin,range"),
            ("enable.auto.commit", "false"),
            ("auto.commit.interval.ms", "250"),
        ])
        .unwrap();
        assert_eq!(c.consumer.group_id.as_deref(), Some("g"));
        assert_eq!(c.group.group_instance_id.as_deref(), Some("i-1"));
        assert_eq!(c.group.session_timeout, Duration::from_secs(10));
        assert_eq!(c.group.heartbeat_interval, Duration::from_secs(1));
        assert_eq!(c.group.max_poll_interval, Duration::from_secs(60));
        assert_eq!(
            c.group.assignment_strategies,
            [AssignmentStrategy::CooperativeSticky, AssignmentStrategy::RoundRobin, AssignmentStrategy::Range]
        );
        assert!(!c.group.enable_auto_commit);
        assert_eq!(c.group.auto_commit_interval, Duration::from_millis(250));
        let d = parse(&[]).unwrap();
        assert_eq!(d.group, GroupConfig::default());
        assert_eq!(d.group.assignment_strategies, [AssignmentStrategy::Range, AssignmentStrategy::CooperativeSticky]);
    }

    #[test]
    fn bad_group_values_name_the_key() {
        let err = parse(&[("partition.assignment.strategy", "org.apache.kafka.clients.consumer.StickyAssignor")]).unwrap_err();
        assert!(err.to_string().contains("`partition.assignment.strategy`") && err.to_string().contains("cooperative-sticky"), "{err}");
        let err = parse(&[("session.timeout.ms", "0")]).unwrap_err();
        assert!(err.to_string().contains("`session.timeout.ms`"), "{err}");
        let err = parse(&[("enable.auto.commit", "maybe")]).unwrap_err();
        assert!(err.to_string().contains("`enable.auto.commit`"), "{err}");
        let err = parse(&[("group.id", "g"), ("group.instance.id", " ")]).unwrap_err();
        assert!(err.to_string().contains("`group.instance.id`"), "{err}");
        let err = parse(&[("session.timeout.ms", "3000"), ("heartbeat.interval.ms", "3000")]).unwrap_err();
        assert!(err.to_string().contains("heartbeat.interval.ms") && err.to_string().contains("session.timeout.ms"), "{err}");
        let err = parse(&[("group.instance.id", "i")]).unwrap_err();
        assert!(err.to_string().contains("group.instance.id"), "{err}");
        let err = parse(&[("group.idd", "g")]).unwrap_err();
        assert!(err.to_string().contains("did you mean `group.id`?"), "{err}");
    }
}
