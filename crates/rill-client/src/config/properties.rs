//! Property names, as the Java client and librdkafka spell them.
//!
//! [`KNOWN_KEYS`] lists every accepted key (aliases included). Parsing is
//! strict: an unknown key is an error that suggests the closest known key,
//! and a bad value is an error naming the key, the value and the expected form.

use std::time::Duration;

use rill_protocol::compression::Compression;

use super::consumer::positive_i32;
use super::{Acks, AutoOffsetReset, ClientConfig, ConfigError, IsolationLevel, SaslMechanism, Secret, SecurityProtocol};

type Setter = fn(&mut ClientConfig, &str) -> Result<(), &'static str>;

/// One accepted property: its names (canonical first), whether its value is
/// sensitive, and how to apply it.
pub(super) struct Property {
    pub(super) names: &'static [&'static str],
    pub(super) sensitive: bool,
    pub(super) set: Setter,
}

const MS: &str = "a non-negative integer number of milliseconds";

pub(super) fn millis(value: &str) -> Result<Duration, &'static str> {
    value.trim().parse::<u64>().map(Duration::from_millis).map_err(|_| MS)
}

fn positive_usize(value: &str, expected: &'static str) -> Result<usize, &'static str> {
    match value.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(expected),
    }
}

/// A limit on Produce requests' bytes: a request's size is an int32 on the wire.
fn request_bytes(value: &str) -> Result<usize, &'static str> {
    const EXPECTED: &str = "a number of bytes from 100 to 2147483647";
    let n = positive_usize(value, EXPECTED)?;
    if !(100..=i32::MAX as usize).contains(&n) {
        return Err(EXPECTED);
    }
    Ok(n)
}

pub(super) fn boolean(value: &str) -> Result<bool, &'static str> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err("`true` or `false`"),
    }
}

/// Splits `host:port` (IPv6 hosts in brackets: `[::1]:9092`).
pub(crate) fn parse_host_port(server: &str) -> Result<(String, u16), &'static str> {
    const EXPECTED: &str = "a comma-separated list of host:port";
    let server = server.trim();
    let (host, port) = server.rsplit_once(':').ok_or(EXPECTED)?;
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(EXPECTED);
    }
    let port = port.parse::<u16>().ok().filter(|p| *p != 0).ok_or(EXPECTED)?;
    Ok((host.to_string(), port))
}

fn set_bootstrap(c: &mut ClientConfig, v: &str) -> Result<(), &'static str> {
    let servers: Vec<String> = v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect();
    if servers.is_empty() {
        return Err("a comma-separated list of host:port");
    }
    for s in &servers {
        parse_host_port(s)?;
    }
    c.bootstrap_servers = servers;
    Ok(())
}

const PROPERTIES: &[Property] = &[
    Property { names: &["bootstrap.servers", "metadata.broker.list"], sensitive: false, set: set_bootstrap },
    Property {
        names: &["client.id"],
        sensitive: false,
        set: |c, v| {
            c.client_id = v.to_string();
            Ok(())
        },
    },
    Property {
        names: &["request.timeout.ms"],
        sensitive: false,
        set: |c, v| {
            c.request_timeout = millis(v)?;
            if c.request_timeout.is_zero() {
                return Err("a positive integer number of milliseconds");
            }
            Ok(())
        },
    },
    Property {
        names: &["socket.connection.setup.timeout.ms"],
        sensitive: false,
        set: |c, v| {
            c.connection_setup_timeout = millis(v)?;
            Ok(())
        },
    },
    Property {
        names: &["reconnect.backoff.ms"],
        sensitive: false,
        set: |c, v| {
            c.reconnect_backoff = millis(v)?;
            Ok(())
        },
    },
    Property {
        names: &["reconnect.backoff.max.ms"],
        sensitive: false,
        set: |c, v| {
            c.reconnect_backoff_max = millis(v)?;
            Ok(())
        },
    },
    Property {
        names: &["retry.backoff.ms"],
        sensitive: false,
        set: |c, v| {
            c.retry_backoff = millis(v)?;
            Ok(())
        },
    },
    Property {
        names: &["retry.backoff.max.ms"],
        sensitive: false,
        set: |c, v| {
            c.retry_backoff_max = millis(v)?;
            Ok(())
        },
    },
    Property {
        names: &["connections.max.idle.ms"],
        sensitive: false,
        set: |c, v| {
            c.connections_max_idle = millis(v)?;
            Ok(())
        },
    },
    Property {
        names: &["metadata.max.age.ms", "topic.metadata.refresh.interval.ms"],
        sensitive: false,
        set: |c, v| {
            c.metadata_max_age = millis(v)?;
            Ok(())
        },
    },
    Property {
        names: &["max.in.flight.requests.per.connection", "max.in.flight"],
        sensitive: false,
        set: |c, v| {
            c.max_in_flight_per_connection = positive_usize(v, "an integer of at least 1")?;
            Ok(())
        },
    },
    Property {
        names: &["receive.message.max.bytes", "rill.max.response.bytes"],
        sensitive: false,
        set: |c, v| {
            let n = positive_usize(v, "a positive number of bytes, at most 2147483647")?;
            if n > i32::MAX as usize {
                return Err("a positive number of bytes, at most 2147483647");
            }
            c.max_response_bytes = n;
            Ok(())
        },
    },
    Property {
        names: &["security.protocol"],
        sensitive: false,
        set: |c, v| match v.trim().to_ascii_uppercase().as_str() {
            "PLAINTEXT" => {
                c.security_protocol = SecurityProtocol::Plaintext;
                Ok(())
            }
            "SSL" => {
                c.security_protocol = SecurityProtocol::Ssl;
                Ok(())
            }
            "SASL_PLAINTEXT" => {
                c.security_protocol = SecurityProtocol::SaslPlaintext;
                Ok(())
            }
            "SASL_SSL" => {
                c.security_protocol = SecurityProtocol::SaslSsl;
                Ok(())
            }
            _ => Err("one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"),
        },
    },
    Property {
        names: &["ssl.ca.location"],
        sensitive: false,
        set: |c, v| {
            c.tls.ca_location = Some(non_empty_path(v)?);
            Ok(())
        },
    },
    Property {
        names: &["ssl.endpoint.identification.algorithm"],
        sensitive: false,
        set: |c, v| {
            c.tls.verify_hostname = match v.trim().to_ascii_lowercase().as_str() {
                "https" => true,
                "none" | "" => false,
                _ => return Err("one of https, none"),
            };
            Ok(())
        },
    },
    Property {
        names: &["ssl.certificate.location"],
        sensitive: false,
        set: |c, v| {
            c.tls.certificate_location = Some(non_empty_path(v)?);
            Ok(())
        },
    },
    Property {
        names: &["ssl.key.location"],
        sensitive: false,
        set: |c, v| {
            c.tls.key_location = Some(non_empty_path(v)?);
            Ok(())
        },
    },
    Property {
        names: &["ssl.key.password"],
        sensitive: true,
        set: |c, v| {
            c.tls.key_password = Some(Secret::new(v));
            Ok(())
        },
    },
    Property {
        names: &["ssl.keystore.location"],
        sensitive: false,
        set: |c, v| {
            c.tls.keystore_location = Some(non_empty_path(v)?);
            Ok(())
        },
    },
    Property {
        names: &["ssl.keystore.password"],
        sensitive: true,
        set: |c, v| {
            c.tls.keystore_password = Some(Secret::new(v));
            Ok(())
        },
    },
    Property {
        names: &["ssl.keystore.type"],
        sensitive: false,
        // Only PKCS#12 is a keystore file here; PEM material goes in
        // ssl.certificate.location / ssl.key.location, and JKS (a Java-only
        // format) converts with `keytool -importkeystore -deststoretype pkcs12`.
        set: |_, v| {
            match v.trim().to_ascii_uppercase().as_str() {
            "PKCS12" | "P12" | "PFX" => Ok(()),
            _ => Err("PKCS12 (convert JKS with `keytool -importkeystore -deststoretype pkcs12`; for PEM use ssl.certificate.location and ssl.key.location)"),
        }
        },
    },
    Property {
        names: &["ssl.truststore.location"],
        sensitive: false,
        set: |c, v| {
            c.tls.truststore_location = Some(non_empty_path(v)?);
            Ok(())
        },
    },
    Property {
        names: &["ssl.truststore.password"],
        sensitive: true,
        set: |c, v| {
            c.tls.truststore_password = Some(Secret::new(v));
            Ok(())
        },
    },
    Property {
        names: &["ssl.truststore.type"],
        sensitive: false,
        set: |c, v| {
            c.tls.truststore_is_pem = match v.trim().to_ascii_uppercase().as_str() {
                "PKCS12" | "P12" | "PFX" => false,
                "PEM" => true,
                _ => return Err("PKCS12 or PEM (convert JKS with `keytool -importkeystore -deststoretype pkcs12`)"),
            };
            Ok(())
        },
    },
    Property {
        names: &["sasl.mechanism", "sasl.mechanisms"],
        sensitive: false,
        set: |c, v| {
            c.sasl.mechanism = match v.trim().to_ascii_uppercase().as_str() {
                "PLAIN" => SaslMechanism::Plain,
                "SCRAM-SHA-256" => SaslMechanism::ScramSha256,
                "SCRAM-SHA-512" => SaslMechanism::ScramSha512,
                "OAUTHBEARER" => SaslMechanism::OAuthBearer,
                "GSSAPI" if cfg!(feature = "gssapi") => SaslMechanism::Gssapi,
                "GSSAPI" => return Err(UNSUPPORTED_SASL),
                _ => return Err("one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER, GSSAPI"),
            };
            Ok(())
        },
    },
    Property {
        names: &["sasl.username"],
        sensitive: false,
        set: |c, v| {
            c.sasl.username = Some(v.to_string());
            Ok(())
        },
    },
    Property {
        names: &["sasl.password"],
        sensitive: true,
        set: |c, v| {
            c.sasl.password = Some(Secret::new(v));
            Ok(())
        },
    },
    Property {
        names: &["acks", "request.required.acks"],
        sensitive: false,
        set: |c, v| {
            c.producer.acks = match v.trim().to_ascii_lowercase().as_str() {
                "all" | "-1" => Acks::All,
                "1" => Acks::Leader,
                "0" => Acks::None,
                _ => return Err("one of all, -1, 0, 1"),
            };
            Ok(())
        },
    },
    Property {
        names: &["linger.ms", "queue.buffering.max.ms"],
        sensitive: false,
        set: |c, v| {
            c.producer.linger = millis(v)?;
            Ok(())
        },
    },
    Property {
        names: &["batch.size"],
        sensitive: false,
        set: |c, v| {
            c.producer.batch_size = positive_usize(v, "a positive number of bytes")?;
            Ok(())
        },
    },
    Property {
        names: &["compression.type", "compression.codec"],
        sensitive: false,
        set: |c, v| {
            c.producer.compression = Compression::from_name(v.trim()).ok_or("one of none, gzip, snappy, lz4, zstd")?;
            Ok(())
        },
    },
    Property {
        names: &["partitioner.adaptive.partitioning.enable"],
        sensitive: false,
        set: |c, v| {
            c.producer.adaptive_partitioning = boolean(v)?;
            Ok(())
        },
    },
    Property {
        names: &["partitioner.availability.timeout.ms"],
        sensitive: false,
        set: |c, v| {
            c.producer.partitioner_availability_timeout = millis(v)?;
            Ok(())
        },
    },
    Property {
        names: &["enable.idempotence"],
        sensitive: false,
        set: |c, v| {
            c.producer.enable_idempotence = boolean(v)?;
            Ok(())
        },
    },
    Property {
        names: &["transactional.id"],
        sensitive: false,
        set: |c, v| {
            if v.is_empty() {
                return Err("a non-empty string");
            }
            c.producer.transactional_id = Some(v.to_string());
            Ok(())
        },
    },
    Property {
        names: &["group.id"],
        sensitive: false,
        set: |c, v| {
            if v.is_empty() {
                return Err("a non-empty string");
            }
            c.consumer.group_id = Some(v.to_string());
            Ok(())
        },
    },
    Property {
        names: &["auto.offset.reset"],
        sensitive: false,
        set: |c, v| {
            c.consumer.auto_offset_reset = match v.trim().to_ascii_lowercase().as_str() {
                "earliest" | "smallest" | "beginning" => AutoOffsetReset::Earliest,
                "latest" | "largest" | "end" => AutoOffsetReset::Latest,
                "none" | "error" => AutoOffsetReset::None,
                _ => return Err("one of earliest, latest, none"),
            };
            Ok(())
        },
    },
    Property {
        names: &["isolation.level"],
        sensitive: false,
        set: |c, v| {
            c.consumer.isolation_level = match v.trim().to_ascii_lowercase().as_str() {
                "read_uncommitted" => IsolationLevel::ReadUncommitted,
                "read_committed" => IsolationLevel::ReadCommitted,
                _ => return Err("one of read_uncommitted, read_committed"),
            };
            Ok(())
        },
    },
    Property {
        names: &["fetch.min.bytes"],
        sensitive: false,
        set: |c, v| {
            c.consumer.fetch_min_bytes = positive_i32(v, BYTES_I32)?;
            Ok(())
        },
    },
    Property {
        names: &["fetch.max.bytes"],
        sensitive: false,
        set: |c, v| {
            c.consumer.fetch_max_bytes = positive_i32(v, BYTES_I32)?;
            Ok(())
        },
    },
    Property {
        names: &["max.partition.fetch.bytes", "fetch.message.max.bytes"],
        sensitive: false,
        set: |c, v| {
            c.consumer.max_partition_fetch_bytes = positive_i32(v, BYTES_I32)?;
            Ok(())
        },
    },
    Property {
        names: &["fetch.max.wait.ms", "fetch.wait.max.ms"],
        sensitive: false,
        set: |c, v| {
            let wait = millis(v)?;
            if wait.as_millis() > i32::MAX as u128 {
                return Err(MS);
            }
            c.consumer.fetch_max_wait = wait;
            Ok(())
        },
    },
    Property {
        names: &["max.poll.records"],
        sensitive: false,
        set: |c, v| {
            c.consumer.max_poll_records = positive_usize(v, "an integer of at least 1")?;
            Ok(())
        },
    },
    Property {
        names: &["fetch.buffer.max.bytes"],
        sensitive: false,
        set: |c, v| {
            c.consumer.fetch_buffer_max_bytes = positive_usize(v, "a positive number of bytes")?;
            Ok(())
        },
    },
    Property {
        names: &["check.crcs"],
        sensitive: false,
        set: |c, v| {
            c.consumer.check_crcs = boolean(v)?;
            Ok(())
        },
    },
    Property {
        names: &["buffer.memory"],
        sensitive: false,
        set: |c, v| {
            const EXPECTED: &str = "a positive number of bytes, at most 4294967295";
            let n = positive_usize(v, EXPECTED)?;
            if n > u32::MAX as usize {
                return Err(EXPECTED);
            }
            c.producer.buffer_memory = n;
            Ok(())
        },
    },
    Property {
        names: &["max.request.size", "message.max.bytes"],
        sensitive: false,
        set: |c, v| {
            c.producer.max_request_size = Some(request_bytes(v)?);
            Ok(())
        },
    },
    Property {
        names: &["rill.produce.request.max.bytes"],
        sensitive: false,
        set: |c, v| {
            c.producer.produce_request_max_bytes = Some(request_bytes(v)?);
            Ok(())
        },
    },
    Property {
        names: &["delivery.timeout.ms", "message.timeout.ms"],
        sensitive: false,
        set: |c, v| {
            c.producer.delivery_timeout = millis(v)?;
            if c.producer.delivery_timeout.is_zero() {
                return Err("a positive integer number of milliseconds");
            }
            Ok(())
        },
    },
    Property {
        names: &["retries", "message.send.max.retries"],
        sensitive: false,
        set: |c, v| {
            c.producer.retries = v.trim().parse::<u32>().map_err(|_| "a non-negative integer")?;
            Ok(())
        },
    },
    Property {
        names: &["max.block.ms"],
        sensitive: false,
        set: |c, v| {
            c.producer.max_block = millis(v)?;
            Ok(())
        },
    },
    Property {
        names: &["transaction.timeout.ms"],
        sensitive: false,
        set: |c, v| {
            c.producer.transaction_timeout = millis(v)?;
            if c.producer.transaction_timeout.is_zero() {
                return Err("a positive integer number of milliseconds");
            }
            Ok(())
        },
    },
];

/// Consumer byte counts travel as INT32.
const BYTES_I32: &str = "a positive number of bytes, at most 2147483647";

/// Marker the setter returns for a SASL mechanism that is recognised but not implemented.
const UNSUPPORTED_SASL: &str =
    "GSSAPI needs rill-client's `gssapi` feature (features = [\"gssapi\"]); PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 and OAUTHBEARER are built in";

fn non_empty_path(v: &str) -> Result<std::path::PathBuf, &'static str> {
    if v.trim().is_empty() {
        return Err("a file path");
    }
    Ok(std::path::PathBuf::from(v.trim()))
}

/// Every accepted key, aliases included, in table order.
pub fn known_keys() -> impl Iterator<Item = &'static str> {
    all_properties().flat_map(|p| p.names.iter().copied())
}

/// The client's and the consumer group's properties.
fn all_properties() -> impl Iterator<Item = &'static Property> {
    PROPERTIES
        .iter()
        .chain(super::group::GROUP_PROPERTIES.iter())
        .chain(super::oauthbearer::OAUTHBEARER_PROPERTIES.iter())
        .chain(super::kerberos::KERBEROS_PROPERTIES.iter())
}

/// Applies one property to `config`.
pub fn apply(config: &mut ClientConfig, key: &str, value: &str) -> Result<(), ConfigError> {
    let Some(property) = all_properties().find(|p| p.names.contains(&key)) else {
        return Err(ConfigError::UnknownKey { key: key.to_string(), suggestion: closest_key(key) });
    };
    // `${env:NAME}`, `${file:/path}`, `${file:/path:key}` (see `providers`).
    let name = property.names.iter().copied().find(|n| *n == key).unwrap_or(key_fallback(property));
    let resolved = super::providers::resolve(name, value)?;
    let value = resolved.as_deref().unwrap_or(value);
    (property.set)(config, value).map_err(|expected| {
        if expected == UNSUPPORTED_SASL {
            ConfigError::Unsupported { key: key.to_string(), value: value.to_string(), reason: UNSUPPORTED_SASL }
        } else {
            ConfigError::InvalidValue { key: key.to_string(), value: (!property.sensitive).then(|| value.to_string()), expected }
        }
    })
}

/// A property's canonical name.
fn key_fallback(property: &Property) -> &'static str {
    property.names.first().copied().unwrap_or_default()
}

/// The known key closest to `key` by edit distance, if it is close enough to be a typo.
fn closest_key(key: &str) -> Option<&'static str> {
    let key = key.to_ascii_lowercase();
    let mut best: Option<(usize, &'static str)> = None;
    for candidate in known_keys() {
        let d = edit_distance(&key, candidate);
        // Strictly smaller keeps the first of equals: table order decides, deterministically.
        if best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, candidate));
        }
    }
    let (distance, candidate) = best?;
    (distance <= (candidate.len() / 3).max(2)).then_some(candidate)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        current.fill(0);
        if let Some(first) = current.first_mut() {
            *first = i + 1;
        }
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous.get(j).copied().unwrap_or(0) + usize::from(ca != *cb);
            let deletion = previous.get(j + 1).copied().unwrap_or(0) + 1;
            let insertion = current.get(j).copied().unwrap_or(0) + 1;
            if let Some(slot) = current.get_mut(j + 1) {
                *slot = substitution.min(deletion).min(insertion);
            }
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous.last().copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(props: &[(&str, &str)]) -> Result<ClientConfig, ConfigError> {
        ClientConfig::from_properties(props.iter().copied())
    }

    #[test]
    fn java_and_librdkafka_names() {
        let c = parse(&[
            ("bootstrap.servers", "a:9092, b:9093"),
            ("client.id", "app"),
            ("request.timeout.ms", "1500"),
            ("socket.connection.setup.timeout.ms", "700"),
            ("reconnect.backoff.ms", "10"),
            ("reconnect.backoff.max.ms", "200"),
            ("retry.backoff.ms", "20"),
            ("connections.max.idle.ms", "60000"),
            ("metadata.max.age.ms", "1000"),
            ("max.in.flight.requests.per.connection", "3"),
            ("receive.message.max.bytes", "1000000"),
            ("security.protocol", "plaintext"),
            ("acks", "all"),
            ("linger.ms", "7"),
            ("batch.size", "65536"),
            ("compression.type", "zstd"),
            ("enable.idempotence", "true"),
            ("transactional.id", "tx-1"),
        ])
        .unwrap();
        assert_eq!(c.bootstrap_servers, ["a:9092", "b:9093"]);
        assert_eq!(c.client_id, "app");
        assert_eq!(c.request_timeout, Duration::from_millis(1500));
        assert_eq!(c.connection_setup_timeout, Duration::from_millis(700));
        assert_eq!(c.reconnect_backoff_max, Duration::from_millis(200));
        assert_eq!(c.max_in_flight_per_connection, 3);
        assert_eq!(c.max_response_bytes, 1_000_000);
        assert_eq!(c.producer.compression, Compression::Zstd);
        assert_eq!(c.producer.batch_size, 65536);
        assert_eq!(c.producer.transactional_id.as_deref(), Some("tx-1"));

        let c = parse(&[
            ("metadata.broker.list", "[::1]:9092"),
            ("request.required.acks", "1"),
            ("enable.idempotence", "false"),
            ("compression.codec", "lz4"),
            ("queue.buffering.max.ms", "3"),
        ])
        .unwrap();
        assert_eq!(c.bootstrap_servers, ["[::1]:9092"]);
        assert_eq!(c.producer.acks, Acks::Leader);
        assert_eq!(c.producer.linger, Duration::from_millis(3));
    }

    #[test]
    fn unknown_key_names_it_and_suggests() {
        let err = parse(&[("bootstrap.servers", "a:1"), ("bootstrap.server", "a:1")]).unwrap_err();
        assert_eq!(err, ConfigError::UnknownKey { key: "bootstrap.server".into(), suggestion: Some("bootstrap.servers") });
        assert_eq!(err.to_string(), "unknown configuration key `bootstrap.server`; did you mean `bootstrap.servers`?");
        let err = parse(&[("bootstrap.servers", "a:1"), ("lingr.ms", "5")]).unwrap_err();
        assert!(err.to_string().contains("did you mean `linger.ms`?"), "{err}");
        let err = parse(&[("bootstrap.servers", "a:1"), ("completely.different.thing", "5")]).unwrap_err();
        assert_eq!(err, ConfigError::UnknownKey { key: "completely.different.thing".into(), suggestion: None });
    }

    #[test]
    fn bad_values_name_key_value_and_form() {
        let err = parse(&[("bootstrap.servers", "a:1"), ("linger.ms", "soon")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid value `soon` for configuration key `linger.ms`: expected a non-negative integer number of milliseconds"
        );
        let err = parse(&[("bootstrap.servers", "a:1"), ("acks", "2")]).unwrap_err();
        assert!(err.to_string().contains("`acks`") && err.to_string().contains("one of all, -1, 0, 1"));
        let err = parse(&[("bootstrap.servers", "localhost")]).unwrap_err();
        assert!(err.to_string().contains("`bootstrap.servers`") && err.to_string().contains("host:port"));
        let err = parse(&[("bootstrap.servers", "a:1"), ("enable.idempotence", "yes")]).unwrap_err();
        assert!(err.to_string().contains("`true` or `false`"));
        let err = parse(&[("bootstrap.servers", "a:1"), ("compression.type", "brotli")]).unwrap_err();
        assert!(err.to_string().contains("`brotli`") && err.to_string().contains("compression.type"));
        let err = parse(&[("bootstrap.servers", "a:1"), ("max.in.flight.requests.per.connection", "0")]).unwrap_err();
        assert!(err.to_string().contains("max.in.flight.requests.per.connection"));
    }

    #[test]
    fn unimplemented_sasl_mechanisms_say_why() {
        for mechanism in ["GSSAPI", "gssapi"] {
            let parsed = parse(&[("bootstrap.servers", "a:1"), ("sasl.mechanism", mechanism)]);
            if cfg!(feature = "gssapi") {
                assert_eq!(parsed.unwrap().sasl.mechanism, SaslMechanism::Gssapi);
            } else {
                let err = parsed.unwrap_err();
                assert!(matches!(err, ConfigError::Unsupported { .. }));
                assert!(err.to_string().contains("sasl.mechanism") && err.to_string().contains("`gssapi` feature"));
            }
        }
        let err = parse(&[("bootstrap.servers", "a:1"), ("security.protocol", "QUIC")]).unwrap_err();
        assert!(matches!(err, ConfigError::InvalidValue { .. }));
    }

    #[test]
    fn security_protocols_tls_and_sasl_keys() {
        for (name, protocol) in [
            ("plaintext", SecurityProtocol::Plaintext),
            ("SSL", SecurityProtocol::Ssl),
            ("sasl_plaintext", SecurityProtocol::SaslPlaintext),
            ("SASL_SSL", SecurityProtocol::SaslSsl),
        ] {
            let c = parse(&[("bootstrap.servers", "a:1"), ("security.protocol", name), ("sasl.username", "u"), ("sasl.password", "p")])
                .unwrap();
            assert_eq!(c.security_protocol, protocol);
        }
        let c = parse(&[
            ("bootstrap.servers", "a:1"),
            ("security.protocol", "SSL"),
            ("ssl.ca.location", "/ca.pem"),
            ("ssl.endpoint.identification.algorithm", "none"),
            ("ssl.certificate.location", "/c.pem"),
            ("ssl.key.location", "/k.pem"),
            ("ssl.key.password", "kp-secret"),
            ("sasl.mechanisms", "SCRAM-SHA-512"),
        ])
        .unwrap();
        assert_eq!(c.tls.ca_location.as_deref(), Some(std::path::Path::new("/ca.pem")));
        assert!(!c.tls.verify_hostname);
        assert_eq!(c.sasl.mechanism, SaslMechanism::ScramSha512);
        assert!(!format!("{c:?}").contains("kp-secret"));
        let err = parse(&[("bootstrap.servers", "a:1"), ("security.protocol", "SASL_SSL"), ("sasl.password", "p")]).unwrap_err();
        assert_eq!(err, ConfigError::Missing { key: "sasl.username" });
        let err = parse(&[("bootstrap.servers", "a:1"), ("ssl.keystore.type", "JKS")]).unwrap_err();
        assert!(err.to_string().contains("ssl.keystore.type") && err.to_string().contains("keytool"), "{err}");
        let c = parse(&[
            ("bootstrap.servers", "a:1"),
            ("ssl.keystore.location", "/ks.p12"),
            ("ssl.keystore.password", "ks-secret"),
            ("ssl.truststore.location", "/ts.pem"),
            ("ssl.truststore.type", "PEM"),
            ("ssl.truststore.password", "ts-secret"),
        ])
        .unwrap();
        assert_eq!(c.tls.keystore_location.as_deref(), Some(std::path::Path::new("/ks.p12")));
        assert!(c.tls.truststore_is_pem);
        let debug = format!("{c:?}");
        assert!(!debug.contains("ks-secret") && !debug.contains("ts-secret"), "{debug}");
        let err = parse(&[("bootstrap.servers", "a:1"), ("ssl.endpoint.identification.algorithm", "dns")]).unwrap_err();
        assert!(matches!(err, ConfigError::InvalidValue { .. }));
    }

    #[test]
    fn missing_and_conflicts() {
        assert_eq!(parse(&[]).unwrap_err(), ConfigError::Missing { key: "bootstrap.servers" });
        let err = parse(&[("bootstrap.servers", "a:1"), ("acks", "1")]).unwrap_err();
        assert!(err.to_string().contains("enable.idempotence=true requires acks=all"));
        let err = parse(&[("bootstrap.servers", "a:1"), ("reconnect.backoff.ms", "500"), ("reconnect.backoff.max.ms", "10")]).unwrap_err();
        assert!(err.to_string().contains("reconnect.backoff.max.ms"));
    }

    #[test]
    fn producer_limits_and_timeouts() {
        let c = parse(&[
            ("bootstrap.servers", "a:1"),
            ("buffer.memory", "1048576"),
            ("max.request.size", "500000"),
            ("delivery.timeout.ms", "45000"),
            ("retries", "3"),
            ("max.block.ms", "2000"),
            ("transaction.timeout.ms", "10000"),
        ])
        .unwrap();
        assert_eq!(c.producer.buffer_memory, 1_048_576);
        assert_eq!(c.producer.record_max_bytes(), 500_000);
        assert_eq!(c.producer.request_max_bytes(), 500_000, "max.request.size given alone caps requests, as in Java");
        assert_eq!(c.producer.delivery_timeout, Duration::from_millis(45_000));
        assert_eq!(c.producer.retries, 3);
        assert_eq!(c.producer.max_block, Duration::from_millis(2000));
        assert_eq!(c.producer.transaction_timeout, Duration::from_millis(10_000));
        let c = parse(&[("bootstrap.servers", "a:1"), ("message.max.bytes", "2000"), ("message.timeout.ms", "60000")]).unwrap();
        assert_eq!(c.producer.record_max_bytes(), 2000);
        assert_eq!(c.producer.delivery_timeout, Duration::from_millis(60_000));
        // Not given: records up to 1 MiB, requests under the broker's socket.request.max.bytes.
        let c = parse(&[("bootstrap.servers", "a:1")]).unwrap();
        assert_eq!((c.producer.record_max_bytes(), c.producer.request_max_bytes()), (1_048_576, 96 * 1_048_576));
        // The request limit of its own wins over max.request.size, in either order.
        for pair in [
            [("max.request.size", "2000000"), ("rill.produce.request.max.bytes", "8388608")],
            [("rill.produce.request.max.bytes", "8388608"), ("max.request.size", "2000000")],
        ] {
            let mut all = vec![("bootstrap.servers", "a:1")];
            all.extend(pair);
            let c = parse(&all).unwrap();
            assert_eq!((c.producer.record_max_bytes(), c.producer.request_max_bytes()), (2_000_000, 8_388_608), "{pair:?}");
        }
        for (key, value, expected) in [
            ("buffer.memory", "0", "positive number of bytes"),
            ("buffer.memory", "5000000000", "at most 4294967295"),
            ("max.request.size", "10", "from 100"),
            ("rill.produce.request.max.bytes", "3000000000", "to 2147483647"),
            ("retries", "-1", "non-negative integer"),
            ("delivery.timeout.ms", "0", "positive"),
        ] {
            let err = parse(&[("bootstrap.servers", "a:1"), (key, value)]).unwrap_err();
            assert!(err.to_string().contains(&format!("`{key}`")) && err.to_string().contains(expected), "{err}");
        }
        let err = parse(&[("bootstrap.servers", "a:1"), ("delivery.timeout.ms", "1000")]).unwrap_err();
        assert!(err.to_string().contains("delivery.timeout.ms (1000 ms) must be at least linger.ms + request.timeout.ms"), "{err}");
        let err = parse(&[("bootstrap.servers", "a:1"), ("transactional.id", "t"), ("enable.idempotence", "false")]).unwrap_err();
        assert!(err.to_string().contains("transactional.id requires enable.idempotence=true"), "{err}");
        let err = parse(&[("bootstrap.servers", "a:1"), ("max.in.flight.requests.per.connection", "6")]).unwrap_err();
        assert!(err.to_string().contains("at most 5 for max.in.flight.requests.per.connection"), "{err}");
    }

    #[test]
    fn every_known_key_is_unique() {
        let mut keys: Vec<_> = known_keys().collect();
        let n = keys.len();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), n);
    }
}
