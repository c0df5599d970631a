//! Consumer settings ([`ConsumerConfig`]): the keys of the Java consumer
//! (`group.id`, `auto.offset.reset`, `isolation.level`, `fetch.min.bytes`,
//! `fetch.max.bytes`, `max.partition.fetch.bytes`, `fetch.max.wait.ms`,
//! `max.poll.records`, `check.crcs`) plus rill's `fetch.buffer.max.bytes`,
//! the hard budget for records buffered across all partitions.
//!
//! The keys are parsed with the client's (see [`super::properties`]) into
//! [`super::ClientConfig::consumer`]; [`ConsumerConfig::validate`] checks
//! the relations between them.

use std::time::Duration;

use super::ConfigError;

/// `auto.offset.reset`: where a partition without a valid position starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AutoOffsetReset {
    /// The log start offset.
    Earliest,
    /// The log end offset (the last stable offset under read_committed).
    #[default]
    Latest,
    /// No reset: the application gets a typed error and must seek.
    None,
}

impl AutoOffsetReset {
    pub fn name(self) -> &'static str {
        match self {
            AutoOffsetReset::Earliest => "earliest",
            AutoOffsetReset::Latest => "latest",
            AutoOffsetReset::None => "none",
        }
    }
}

/// `isolation.level` (KIP-98).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IsolationLevel {
    /// Every record, including those of open and aborted transactions.
    #[default]
    ReadUncommitted,
    /// Only committed records: aborted transactions are dropped, control
    /// records hidden, and fetching stops at the last stable offset.
    ReadCommitted,
}

impl IsolationLevel {
    /// The value of the `isolation_level` field of Fetch and ListOffsets.
    pub fn wire_value(self) -> i8 {
        match self {
            IsolationLevel::ReadUncommitted => 0,
            IsolationLevel::ReadCommitted => 1,
        }
    }
}

/// Consumer settings, validated and stored for the consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerConfig {
    /// `group.id`: the consumer group (`None`: manual assignment only).
    pub group_id: Option<String>,
    /// `auto.offset.reset`.
    pub auto_offset_reset: AutoOffsetReset,
    /// `isolation.level`.
    pub isolation_level: IsolationLevel,
    /// `fetch.min.bytes`: the broker answers once this much is available (or `fetch_max_wait` passed).
    pub fetch_min_bytes: i32,
    /// `fetch.max.bytes`: the most one fetch response may carry (a first
    /// batch larger than this is still returned, KIP-74); capped by the
    /// client's `receive.message.max.bytes`.
    pub fetch_max_bytes: i32,
    /// `max.partition.fetch.bytes`: the most one partition may contribute to one response.
    pub max_partition_fetch_bytes: i32,
    /// `fetch.max.wait.ms`: how long the broker may hold a fetch waiting for `fetch_min_bytes`.
    pub fetch_max_wait: Duration,
    /// `max.poll.records`: the most records one `poll` returns.
    pub max_poll_records: usize,
    /// `fetch.buffer.max.bytes` (rill's key): the budget for records fetched
    /// and not yet handed to the application, across all partitions, and
    /// for the fetch responses the last poll's records came from until the
    /// next poll (uncompressed records are slices of their response), and
    /// for the memory the client keeps mapped to read large responses into.
    /// Fetching stops while it is used up.
    pub fetch_buffer_max_bytes: usize,
    /// `check.crcs`: verify record batch CRCs.
    pub check_crcs: bool,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        // Java client defaults; the buffer budget is rill's.
        ConsumerConfig {
            group_id: None,
            auto_offset_reset: AutoOffsetReset::Latest,
            isolation_level: IsolationLevel::ReadUncommitted,
            fetch_min_bytes: 1,
            fetch_max_bytes: 52_428_800,
            max_partition_fetch_bytes: 1_048_576,
            fetch_max_wait: Duration::from_millis(500),
            max_poll_records: 500,
            fetch_buffer_max_bytes: 64 * 1024 * 1024,
            check_crcs: true,
        }
    }
}

impl ConsumerConfig {
    /// Checks the relations between consumer settings.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.fetch_min_bytes > self.fetch_max_bytes {
            return Err(ConfigError::Conflict {
                message: format!("fetch.min.bytes ({}) is larger than fetch.max.bytes ({})", self.fetch_min_bytes, self.fetch_max_bytes),
            });
        }
        Ok(())
    }
}

/// Room for the fetch response's own fields around the records (as
/// librdkafka reserves): a fetch asks for at most
/// `receive.message.max.bytes` minus this, whatever `fetch.max.bytes` says.
pub const FETCH_RESPONSE_OVERHEAD: usize = 512;

/// Parses a positive `i32` byte count (the wire fields are INT32).
pub(crate) fn positive_i32(value: &str, expected: &'static str) -> Result<i32, &'static str> {
    match value.trim().parse::<i32>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(expected),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ClientConfig;

    fn parse(props: &[(&str, &str)]) -> Result<ClientConfig, ConfigError> {
        let mut all = vec![("bootstrap.servers", "k:9092")];
        all.extend_from_slice(props);
        ClientConfig::from_properties(all)
    }

    #[test]
    fn consumer_keys_parse() {
        let c = parse(&[
            ("group.id", "g1"),
            ("auto.offset.reset", "earliest"),
            ("isolation.level", "read_committed"),
            ("fetch.min.bytes", "10"),
            ("fetch.max.bytes", "1000000"),
            ("max.partition.fetch.bytes", "65536"),
            ("fetch.max.wait.ms", "100"),
            ("max.poll.records", "7"),
            ("fetch.buffer.max.bytes", "2000000"),
            ("check.crcs", "false"),
        ])
        .unwrap();
        let consumer = &c.consumer;
        assert_eq!(consumer.group_id.as_deref(), Some("g1"));
        assert_eq!(consumer.auto_offset_reset, AutoOffsetReset::Earliest);
        assert_eq!(consumer.isolation_level, IsolationLevel::ReadCommitted);
        assert_eq!((consumer.fetch_min_bytes, consumer.fetch_max_bytes, consumer.max_partition_fetch_bytes), (10, 1_000_000, 65536));
        assert_eq!(consumer.fetch_max_wait, Duration::from_millis(100));
        assert_eq!((consumer.max_poll_records, consumer.fetch_buffer_max_bytes), (7, 2_000_000));
        assert!(!consumer.check_crcs);
        // librdkafka spellings.
        let c = parse(&[("auto.offset.reset", "smallest"), ("fetch.wait.max.ms", "5"), ("fetch.message.max.bytes", "9")]).unwrap();
        assert_eq!(c.consumer.auto_offset_reset, AutoOffsetReset::Earliest);
        assert_eq!(c.consumer.fetch_max_wait, Duration::from_millis(5));
        assert_eq!(c.consumer.max_partition_fetch_bytes, 9);
        assert_eq!(parse(&[("auto.offset.reset", "none")]).unwrap().consumer.auto_offset_reset, AutoOffsetReset::None);
        assert_eq!(ConsumerConfig::default(), parse(&[]).unwrap().consumer);
    }

    #[test]
    fn bad_consumer_values_name_the_key() {
        for (key, value, expected) in [
            ("auto.offset.reset", "oldest", "earliest, latest, none"),
            ("isolation.level", "serializable", "read_uncommitted, read_committed"),
            ("fetch.min.bytes", "0", "positive"),
            ("fetch.max.bytes", "-1", "positive"),
            ("max.partition.fetch.bytes", "3000000000", "positive"),
            ("fetch.max.wait.ms", "soon", "milliseconds"),
            ("max.poll.records", "0", "at least 1"),
            ("fetch.buffer.max.bytes", "0", "positive"),
            ("group.id", "", "non-empty"),
        ] {
            let err = parse(&[(key, value)]).unwrap_err();
            let text = err.to_string();
            assert!(text.contains(&format!("`{key}`")) && text.contains(expected), "{key}: {text}");
        }
    }

    #[test]
    fn conflicting_consumer_values() {
        let err = parse(&[("fetch.min.bytes", "100"), ("fetch.max.bytes", "10")]).unwrap_err();
        assert!(err.to_string().contains("fetch.min.bytes (100) is larger than fetch.max.bytes (10)"), "{err}");
    }
}
