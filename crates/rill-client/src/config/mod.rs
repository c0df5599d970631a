//! Client configuration: [`ClientConfig`], built from the property names
//! people already use with the Java client and librdkafka
//! ([`ClientConfig::from_properties`], see [`properties`]) or with a typed
//! builder ([`ClientConfig::builder`], see [`builder`]).
//!
//! Unknown keys and bad values are errors that name the key. Values of
//! sensitive keys are held in [`Secret`] and never appear in `Debug` output
//! or error messages. Any value can instead refer to an environment
//! variable or a file, as Kafka's config providers do: `${env:NAME}`,
//! `${file:/path}`, `${file:/path:key}` (see [`providers`]).

pub mod builder;
pub mod consumer;
pub mod group;
pub mod kerberos;
pub mod oauthbearer;
pub mod properties;
pub mod providers;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use rill_protocol::compression::Compression;

pub use builder::ClientConfigBuilder;
pub use consumer::{AutoOffsetReset, ConsumerConfig, IsolationLevel};
pub use group::{AssignmentStrategy, GroupConfig};
pub use kerberos::KerberosConfig;
pub use oauthbearer::OAuthBearerConfig;

/// A value that must not leak into logs: `Debug` and `Display` print `<redacted>`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself; call only where it is sent to the broker.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// `security.protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SecurityProtocol {
    #[default]
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    /// Whether the connection runs over TLS.
    pub fn uses_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    /// Whether the connection authenticates with SASL.
    pub fn uses_sasl(self) -> bool {
        matches!(self, SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl)
    }
}

/// TLS settings (`ssl.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// `ssl.ca.location`: PEM bundle of trusted CAs; `None`: the Mozilla roots.
    pub ca_location: Option<PathBuf>,
    /// `ssl.endpoint.identification.algorithm`: `https` (true, default) or `none`.
    pub verify_hostname: bool,
    /// `ssl.certificate.location`: client certificate chain (PEM).
    pub certificate_location: Option<PathBuf>,
    /// `ssl.key.location`: client private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key_location: Option<PathBuf>,
    /// `ssl.key.password`: the password of an encrypted PKCS#8 `ssl.key.location`.
    pub key_password: Option<Secret>,
    /// `ssl.keystore.location`: a PKCS#12 keystore with the client key and
    /// certificate chain (what Java users have), instead of the PEM pair.
    pub keystore_location: Option<PathBuf>,
    /// `ssl.keystore.password`.
    pub keystore_password: Option<Secret>,
    /// `ssl.truststore.location`: trusted CAs as a PKCS#12 store
    /// (`ssl.truststore.type=PKCS12`, default) or a PEM bundle (`PEM`).
    pub truststore_location: Option<PathBuf>,
    /// `ssl.truststore.password` (PKCS#12 truststores).
    pub truststore_password: Option<Secret>,
    /// `ssl.truststore.type=PEM`: the truststore is a PEM bundle.
    pub truststore_is_pem: bool,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            ca_location: None,
            verify_hostname: true,
            certificate_location: None,
            key_location: None,
            key_password: None,
            keystore_location: None,
            keystore_password: None,
            truststore_location: None,
            truststore_password: None,
            truststore_is_pem: false,
        }
    }
}

/// `sasl.mechanism` (`sasl.mechanisms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SaslMechanism {
    #[default]
    Plain,
    ScramSha256,
    ScramSha512,
    /// RFC 7628 bearer tokens (KIP-255), e.g. from an OIDC token endpoint (KIP-768).
    OAuthBearer,
    /// Kerberos 5 (RFC 4752), with the `gssapi` feature.
    Gssapi,
}

impl SaslMechanism {
    /// The name sent in SaslHandshake.
    pub fn name(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
            SaslMechanism::OAuthBearer => "OAUTHBEARER",
            SaslMechanism::Gssapi => "GSSAPI",
        }
    }
}

/// SASL settings (`sasl.*`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SaslConfig {
    pub mechanism: SaslMechanism,
    /// `sasl.username`.
    pub username: Option<String>,
    /// `sasl.password` (with GSSAPI: the Kerberos principal's password).
    pub password: Option<Secret>,
    /// `sasl.oauthbearer.*` (with `sasl.mechanism=OAUTHBEARER`).
    pub oauthbearer: OAuthBearerConfig,
    /// `sasl.kerberos.*` (with `sasl.mechanism=GSSAPI`).
    pub kerberos: KerberosConfig,
}

/// `acks`: how many replicas must acknowledge a produce request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Acks {
    /// `acks=0`: the broker sends no response.
    None,
    /// `acks=1`: the leader only.
    Leader,
    /// `acks=all` (`-1`): every in-sync replica.
    #[default]
    All,
}

impl Acks {
    /// The value of the produce request's `acks` field.
    pub fn wire_value(self) -> i16 {
        match self {
            Acks::None => 0,
            Acks::Leader => 1,
            Acks::All => -1,
        }
    }
}

/// Producer settings, validated and stored for the producer.
#[derive(Debug, Clone, PartialEq)]
pub struct ProducerConfig {
    pub acks: Acks,
    pub linger: Duration,
    pub batch_size: usize,
    pub compression: Compression,
    pub enable_idempotence: bool,
    pub transactional_id: Option<String>,
    /// `buffer.memory`: bytes of records waiting to be delivered; `send` waits beyond it.
    pub buffer_memory: usize,
    /// `max.request.size` (librdkafka `message.max.bytes`): the largest
    /// record the producer takes, and when given, the largest ProduceRequest
    /// as in Java. `None`: not given; records up to
    /// [`DEFAULT_MAX_REQUEST_SIZE`]. Read it with [`Self::record_max_bytes`].
    pub max_request_size: Option<usize>,
    /// `rill.produce.request.max.bytes`: the most bytes of record batches one
    /// ProduceRequest carries. `None`: `max.request.size` if that was given,
    /// else [`DEFAULT_PRODUCE_REQUEST_MAX_BYTES`]. Read it with
    /// [`Self::request_max_bytes`].
    pub produce_request_max_bytes: Option<usize>,
    /// `delivery.timeout.ms` (librdkafka `message.timeout.ms`): a record fails when not delivered in time.
    pub delivery_timeout: Duration,
    /// `retries` (librdkafka `message.send.max.retries`): sends of a batch after the first.
    pub retries: u32,
    /// `max.block.ms`: how long `send` waits for buffer memory or metadata.
    pub max_block: Duration,
    /// `transaction.timeout.ms`.
    pub transaction_timeout: Duration,
    /// `partitioner.adaptive.partitioning.enable` (KIP-794): records without
    /// a key favour partitions with shorter queues (slower leaders queue more).
    pub adaptive_partitioning: bool,
    /// `partitioner.availability.timeout.ms` (KIP-794): a leader that had
    /// batches ready but took none for this long is skipped by keyless
    /// records; zero: never skipped.
    pub partitioner_availability_timeout: Duration,
}

/// How many bytes of batches a ProduceRequest carries unless told: under
/// the broker's default `socket.request.max.bytes` (104857600), the largest
/// request it reads, with 4 MiB left for the request's other fields (topic
/// names and partition headers). Java caps requests at `max.request.size`
/// (1 MiB), which splits a pass over six partitions' 256 KiB batches into
/// two requests, and a broker handles one request per connection at a time:
/// the second waits for the first's answer. franz-go's write limit is the
/// broker's too. A broker that reads less (Azure Event Hubs closes the
/// connection above 1046528 bytes) needs `max.request.size` or
/// `rill.produce.request.max.bytes` set; the [`crate::azure`] presets set it.
pub const DEFAULT_PRODUCE_REQUEST_MAX_BYTES: usize = 96 * 1024 * 1024;

/// Java's `max.request.size` default: the largest record unless told.
pub const DEFAULT_MAX_REQUEST_SIZE: usize = 1024 * 1024;

impl ProducerConfig {
    /// The largest record (its batch of one) the producer takes.
    pub fn record_max_bytes(&self) -> usize {
        self.max_request_size.unwrap_or(DEFAULT_MAX_REQUEST_SIZE)
    }

    /// The most bytes of record batches one ProduceRequest carries (a single
    /// batch larger than this still goes, alone): `rill.produce.request.max.bytes`,
    /// else `max.request.size` when given, else
    /// [`DEFAULT_PRODUCE_REQUEST_MAX_BYTES`].
    pub fn request_max_bytes(&self) -> usize {
        self.produce_request_max_bytes.or(self.max_request_size).unwrap_or(DEFAULT_PRODUCE_REQUEST_MAX_BYTES)
    }

    /// Whether the application chose the request limit (either property).
    pub fn request_limit_given(&self) -> bool {
        self.produce_request_max_bytes.is_some() || self.max_request_size.is_some()
    }
}

impl Default for ProducerConfig {
    fn default() -> Self {
        // Java client defaults (Kafka 3.x+).
        ProducerConfig {
            acks: Acks::All,
            linger: Duration::from_millis(5),
            batch_size: 16_384,
            compression: Compression::None,
            enable_idempotence: true,
            transactional_id: None,
            buffer_memory: 32 * 1024 * 1024,
            max_request_size: None,
            produce_request_max_bytes: None,
            delivery_timeout: Duration::from_millis(120_000),
            retries: i32::MAX as u32,
            max_block: Duration::from_millis(60_000),
            transaction_timeout: Duration::from_millis(60_000),
            adaptive_partitioning: true,
            partitioner_availability_timeout: Duration::ZERO,
        }
    }
}

/// Everything the client core needs. Build with [`ClientConfig::builder`] or
/// [`ClientConfig::from_properties`]; the fields are public for reading.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ClientConfig {
    /// `bootstrap.servers` / `metadata.broker.list`: `host:port` entries.
    pub bootstrap_servers: Vec<String>,
    /// `client.id`.
    pub client_id: String,
    /// `request.timeout.ms`.
    pub request_timeout: Duration,
    /// `socket.connection.setup.timeout.ms`.
    pub connection_setup_timeout: Duration,
    /// `reconnect.backoff.ms`.
    pub reconnect_backoff: Duration,
    /// `reconnect.backoff.max.ms`.
    pub reconnect_backoff_max: Duration,
    /// `retry.backoff.ms`.
    pub retry_backoff: Duration,
    /// `retry.backoff.max.ms`.
    pub retry_backoff_max: Duration,
    /// `connections.max.idle.ms`.
    pub connections_max_idle: Duration,
    /// `metadata.max.age.ms`.
    pub metadata_max_age: Duration,
    /// `max.in.flight.requests.per.connection`.
    pub max_in_flight_per_connection: usize,
    /// `receive.message.max.bytes` (librdkafka; also `rill.max.response.bytes`):
    /// the largest response frame accepted, checked before it is buffered.
    pub max_response_bytes: usize,
    /// `security.protocol`.
    pub security_protocol: SecurityProtocol,
    /// `ssl.*` (used when `security_protocol` is SSL or SASL_SSL).
    pub tls: TlsConfig,
    /// `sasl.*` (used when `security_protocol` is SASL_PLAINTEXT or SASL_SSL).
    pub sasl: SaslConfig,
    /// Producer keys (`acks`, `linger.ms`, `batch.size`, ...).
    pub producer: ProducerConfig,
    /// Consumer keys (`group.id`, `auto.offset.reset`, `fetch.max.bytes`, ...).
    pub consumer: ConsumerConfig,
    /// Consumer-group keys (`group.id`, `session.timeout.ms`, ...).
    pub group: GroupConfig,
    /// Seed of the client's RNG (bootstrap order, backoff jitter). `None`:
    /// seeded from the OS once at start-up. Set it for reproducible runs.
    pub rng_seed: Option<u64>,
    /// Deliberate bugs (the simulator's sensitivity checks); all off.
    #[cfg(feature = "fault-injection")]
    pub bugs: crate::bugs::ClientBugs,
}

impl ClientConfig {
    /// Whether the sender drops ready batches beside partitions still to be
    /// added to the transaction; only the `fault-injection` bug switch does.
    pub(crate) fn drops_batches_beside_added_partitions(&self) -> bool {
        #[cfg(feature = "fault-injection")]
        {
            self.bugs.drop_batches_beside_added_partitions
        }
        #[cfg(not(feature = "fault-injection"))]
        {
            false
        }
    }

    /// Whether the consumer checks positions against log truncation
    /// (KIP-320); only the `fault-injection` bug switch turns it off.
    pub(crate) fn detects_truncation(&self) -> bool {
        #[cfg(feature = "fault-injection")]
        {
            !self.bugs.skip_truncation_detection
        }
        #[cfg(not(feature = "fault-injection"))]
        {
            true
        }
    }
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            bootstrap_servers: Vec::new(),
            client_id: "rill".to_string(),
            request_timeout: Duration::from_millis(30_000),
            connection_setup_timeout: Duration::from_millis(10_000),
            reconnect_backoff: Duration::from_millis(50),
            reconnect_backoff_max: Duration::from_millis(1_000),
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_millis(1_000),
            connections_max_idle: Duration::from_millis(540_000),
            metadata_max_age: Duration::from_millis(300_000),
            max_in_flight_per_connection: 5,
            max_response_bytes: rill_protocol::frame::DEFAULT_MAX_FRAME_BYTES,
            security_protocol: SecurityProtocol::Plaintext,
            tls: TlsConfig::default(),
            sasl: SaslConfig::default(),
            producer: ProducerConfig::default(),
            consumer: ConsumerConfig::default(),
            group: GroupConfig::default(),
            rng_seed: None,
            #[cfg(feature = "fault-injection")]
            bugs: crate::bugs::ClientBugs::default(),
        }
    }
}

impl ClientConfig {
    /// A typed builder.
    pub fn builder() -> ClientConfigBuilder {
        ClientConfigBuilder::default()
    }

    /// Parses Java / librdkafka style properties, e.g.
    /// `[("bootstrap.servers", "localhost:9092"), ("client.id", "app")]`.
    pub fn from_properties<'a, I>(properties: I) -> Result<ClientConfig, ConfigError>
    where
        I: IntoIterator<Item = (&'a str, &'a str)>,
    {
        let mut config = ClientConfig::default();
        for (key, value) in properties {
            properties::apply(&mut config, key, value)?;
        }
        config.validate()?;
        Ok(config)
    }

    /// Checks the relations between settings (called by both constructors).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.bootstrap_servers.is_empty() {
            return Err(ConfigError::Missing { key: "bootstrap.servers" });
        }
        for server in &self.bootstrap_servers {
            properties::parse_host_port(server).map_err(|expected| ConfigError::InvalidValue {
                key: "bootstrap.servers".to_string(),
                value: Some(server.clone()),
                expected,
            })?;
        }
        if self.reconnect_backoff_max < self.reconnect_backoff {
            return Err(ConfigError::Conflict {
                message: format!(
                    "reconnect.backoff.max.ms ({} ms) is less than reconnect.backoff.ms ({} ms)",
                    self.reconnect_backoff_max.as_millis(),
                    self.reconnect_backoff.as_millis()
                ),
            });
        }
        if self.max_in_flight_per_connection == 0 {
            return Err(ConfigError::InvalidValue {
                key: "max.in.flight.requests.per.connection".to_string(),
                value: Some("0".to_string()),
                expected: "an integer of at least 1",
            });
        }
        if self.security_protocol.uses_sasl() && self.sasl.mechanism == SaslMechanism::OAuthBearer {
            self.sasl.oauthbearer.validate()?;
        } else if self.security_protocol.uses_sasl() && self.sasl.mechanism == SaslMechanism::Gssapi {
            self.sasl.kerberos.validate(self.sasl.password.is_some())?;
        } else if self.security_protocol.uses_sasl() {
            if self.sasl.username.is_none() {
                return Err(ConfigError::Missing { key: "sasl.username" });
            }
            if self.sasl.password.is_none() {
                return Err(ConfigError::Missing { key: "sasl.password" });
            }
        }
        let p = &self.producer;
        if p.transactional_id.is_some() && !p.enable_idempotence {
            return Err(ConfigError::Conflict {
                message: "transactional.id requires enable.idempotence=true (remove enable.idempotence=false)".to_string(),
            });
        }
        if p.enable_idempotence && self.max_in_flight_per_connection > 5 {
            return Err(ConfigError::Conflict {
                message: format!(
                    "enable.idempotence=true allows at most 5 for max.in.flight.requests.per.connection (got {}); \
                     lower it or set enable.idempotence=false",
                    self.max_in_flight_per_connection
                ),
            });
        }
        if p.delivery_timeout < p.linger + self.request_timeout {
            return Err(ConfigError::Conflict {
                message: format!(
                    "delivery.timeout.ms ({} ms) must be at least linger.ms + request.timeout.ms ({} ms)",
                    p.delivery_timeout.as_millis(),
                    (p.linger + self.request_timeout).as_millis()
                ),
            });
        }
        if self.producer.enable_idempotence && self.producer.acks != Acks::All {
            return Err(ConfigError::Conflict {
                message: "enable.idempotence=true requires acks=all (set enable.idempotence=false to use acks=0 or 1)".to_string(),
            });
        }
        self.consumer.validate()?;
        group::validate(self)?;
        Ok(())
    }
}

/// A configuration error; it names the key (and the value, unless the key is sensitive).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// The key is not a known property.
    UnknownKey { key: String, suggestion: Option<&'static str> },
    /// The value does not parse or is out of range. `value` is `None` for sensitive keys.
    InvalidValue { key: String, value: Option<String>, expected: &'static str },
    /// The key is known but what it asks for is not implemented yet.
    Unsupported { key: String, value: String, reason: &'static str },
    /// A required key is missing.
    Missing { key: &'static str },
    /// Two settings contradict each other.
    Conflict { message: String },
    /// A file a key names cannot be used (missing, unreadable, no PEM item).
    File { key: &'static str, path: PathBuf, reason: String },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::UnknownKey { key, suggestion } => {
                write!(f, "unknown configuration key `{key}`")?;
                if let Some(s) = suggestion {
                    write!(f, "; did you mean `{s}`?")?;
                }
                Ok(())
            }
            ConfigError::InvalidValue { key, value: Some(value), expected } => {
                write!(f, "invalid value `{value}` for configuration key `{key}`: expected {expected}")
            }
            ConfigError::InvalidValue { key, value: None, expected } => {
                write!(f, "invalid value for configuration key `{key}`: expected {expected}")
            }
            ConfigError::Unsupported { key, value, reason } => {
                write!(f, "configuration key `{key}` = `{value}` is not supported yet: {reason}")
            }
            ConfigError::Missing { key } => write!(f, "required configuration key `{key}` is missing"),
            ConfigError::Conflict { message } => write!(f, "conflicting configuration: {message}"),
            ConfigError::File { key, path, reason } => {
                write!(f, "configuration key `{key}`: file {}: {reason}", path.display())
            }
        }
    }
}

impl std::error::Error for ConfigError {}
