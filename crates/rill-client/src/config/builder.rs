//! The typed builder: `ClientConfig::builder().bootstrap_servers(["k:9092"]).build()?`.

use std::time::Duration;

use rill_protocol::compression::Compression;

use super::{Acks, ClientConfig, ConfigError, SaslMechanism, Secret, SecurityProtocol, TlsConfig};

/// Builds a [`ClientConfig`]; [`build`](Self::build) validates like
/// [`ClientConfig::from_properties`]. Property-style settings can be mixed in
/// with [`property`](Self::property).
#[derive(Debug, Clone, Default)]
pub struct ClientConfigBuilder {
    config: ClientConfig,
    error: Option<ConfigError>,
}

impl ClientConfigBuilder {
    pub fn bootstrap_servers<I, S>(mut self, servers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.config.bootstrap_servers = servers.into_iter().map(Into::into).collect();
        self
    }

    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.config.client_id = id.into();
        self
    }

    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.config.request_timeout = timeout;
        self
    }

    pub fn connection_setup_timeout(mut self, timeout: Duration) -> Self {
        self.config.connection_setup_timeout = timeout;
        self
    }

    pub fn reconnect_backoff(mut self, base: Duration, max: Duration) -> Self {
        self.config.reconnect_backoff = base;
        self.config.reconnect_backoff_max = max;
        self
    }

    pub fn retry_backoff(mut self, base: Duration, max: Duration) -> Self {
        self.config.retry_backoff = base;
        self.config.retry_backoff_max = max;
        self
    }

    pub fn connections_max_idle(mut self, idle: Duration) -> Self {
        self.config.connections_max_idle = idle;
        self
    }

    pub fn metadata_max_age(mut self, age: Duration) -> Self {
        self.config.metadata_max_age = age;
        self
    }

    pub fn max_in_flight_per_connection(mut self, n: usize) -> Self {
        self.config.max_in_flight_per_connection = n;
        self
    }

    pub fn max_response_bytes(mut self, n: usize) -> Self {
        self.config.max_response_bytes = n;
        self
    }

    pub fn acks(mut self, acks: Acks) -> Self {
        self.config.producer.acks = acks;
        self
    }

    pub fn linger(mut self, linger: Duration) -> Self {
        self.config.producer.linger = linger;
        self
    }

    pub fn batch_size(mut self, bytes: usize) -> Self {
        self.config.producer.batch_size = bytes;
        self
    }

    pub fn compression(mut self, compression: Compression) -> Self {
        self.config.producer.compression = compression;
        self
    }

    pub fn enable_idempotence(mut self, on: bool) -> Self {
        self.config.producer.enable_idempotence = on;
        self
    }

    pub fn transactional_id(mut self, id: impl Into<String>) -> Self {
        self.config.producer.transactional_id = Some(id.into());
        self
    }

    /// `buffer.memory`.
    pub fn buffer_memory(mut self, bytes: usize) -> Self {
        self.config.producer.buffer_memory = bytes;
        self
    }

    /// `max.request.size`: the largest record, and (unless
    /// [`Self::produce_request_max_bytes`] is set) the largest ProduceRequest.
    pub fn max_request_size(mut self, bytes: usize) -> Self {
        self.config.producer.max_request_size = Some(bytes);
        self
    }

    /// `rill.produce.request.max.bytes`: the most bytes of batches one ProduceRequest carries.
    pub fn produce_request_max_bytes(mut self, bytes: usize) -> Self {
        self.config.producer.produce_request_max_bytes = Some(bytes);
        self
    }

    /// `delivery.timeout.ms`.
    pub fn delivery_timeout(mut self, timeout: Duration) -> Self {
        self.config.producer.delivery_timeout = timeout;
        self
    }

    /// `retries`.
    pub fn retries(mut self, retries: u32) -> Self {
        self.config.producer.retries = retries;
        self
    }

    /// `max.block.ms`.
    pub fn max_block(mut self, timeout: Duration) -> Self {
        self.config.producer.max_block = timeout;
        self
    }

    /// `transaction.timeout.ms`.
    pub fn transaction_timeout(mut self, timeout: Duration) -> Self {
        self.config.producer.transaction_timeout = timeout;
        self
    }

    /// `security.protocol`.
    pub fn security_protocol(mut self, protocol: SecurityProtocol) -> Self {
        self.config.security_protocol = protocol;
        self
    }

    /// The `ssl.*` settings (used with SSL and SASL_SSL).
    pub fn tls(mut self, tls: TlsConfig) -> Self {
        self.config.tls = tls;
        self
    }

    /// `sasl.mechanism`, `sasl.username`, `sasl.password` (used with SASL_PLAINTEXT and SASL_SSL).
    pub fn sasl(mut self, mechanism: SaslMechanism, username: impl Into<String>, password: Secret) -> Self {
        self.config.sasl.mechanism = mechanism;
        self.config.sasl.username = Some(username.into());
        self.config.sasl.password = Some(password);
        self
    }

    /// SASL/OAUTHBEARER with these settings (client credentials or a token provider).
    pub fn oauthbearer(mut self, oauthbearer: super::OAuthBearerConfig) -> Self {
        self.config.sasl.mechanism = SaslMechanism::OAuthBearer;
        self.config.sasl.oauthbearer = oauthbearer;
        self
    }

    /// SASL/OAUTHBEARER with tokens from the application's own provider.
    pub fn oauthbearer_token_provider(mut self, provider: impl crate::oauth::OAuthBearerTokenProvider) -> Self {
        self.config.sasl.mechanism = SaslMechanism::OAuthBearer;
        self.config.sasl.oauthbearer.token_provider = Some(crate::oauth::TokenProviderRef::new(provider));
        self
    }

    /// Seeds the client's RNG (bootstrap order, backoff jitter) for reproducible runs.
    pub fn rng_seed(mut self, seed: u64) -> Self {
        self.config.rng_seed = Some(seed);
        self
    }

    /// Applies a Java / librdkafka property; an error surfaces from [`build`](Self::build).
    pub fn property(mut self, key: &str, value: &str) -> Self {
        if self.error.is_none() {
            if let Err(e) = super::properties::apply(&mut self.config, key, value) {
                self.error = Some(e);
            }
        }
        self
    }

    pub fn build(self) -> Result<ClientConfig, ConfigError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        self.config.validate()?;
        Ok(self.config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    #[test]
    fn builder_matches_properties() {
        let built = ClientConfig::builder()
            .bootstrap_servers(["k1:9092", "k2:9092"])
            .client_id("svc")
            .request_timeout(Duration::from_secs(5))
            .max_in_flight_per_connection(2)
            .build()
            .unwrap();
        let parsed = ClientConfig::from_properties([
            ("bootstrap.servers", "k1:9092,k2:9092"),
            ("client.id", "svc"),
            ("request.timeout.ms", "5000"),
            ("max.in.flight.requests.per.connection", "2"),
        ])
        .unwrap();
        assert_eq!(built, parsed);
    }

    #[test]
    fn builder_validates() {
        assert_eq!(ClientConfig::builder().build().unwrap_err(), ConfigError::Missing { key: "bootstrap.servers" });
        let err = ClientConfig::builder().bootstrap_servers(["k:1"]).property("acks", "most").build().unwrap_err();
        assert!(err.to_string().contains("`acks`"));
        let err = ClientConfig::builder().bootstrap_servers(["nope"]).build().unwrap_err();
        assert!(err.to_string().contains("bootstrap.servers"));
    }

    #[test]
    fn secrets_are_redacted() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        assert_eq!(s.to_string(), "<redacted>");
        assert_eq!(s.expose(), "hunter2");
        #[derive(Debug)]
        #[allow(dead_code)]
        struct WithSecret {
            password: Secret,
        }
        assert!(!format!("{:?}", WithSecret { password: s }).contains("hunter2"));
    }
}

#[cfg(test)]
mod security_tests {
    use super::*;

    #[test]
    fn builder_sets_tls_and_sasl() {
        let c = ClientConfig::builder()
            .bootstrap_servers(["k:9093"])
            .security_protocol(SecurityProtocol::SaslSsl)
            .tls(TlsConfig { verify_hostname: false, ..TlsConfig::default() })
            .sasl(SaslMechanism::ScramSha256, "alice", Secret::new("builder-secret"))
            .build()
            .unwrap();
        assert_eq!(c.sasl.mechanism.name(), "SCRAM-SHA-256");
        assert!(!c.tls.verify_hostname);
        assert!(!format!("{c:?}").contains("builder-secret"));
        let err = ClientConfig::builder().bootstrap_servers(["k:9093"]).security_protocol(SecurityProtocol::SaslPlaintext).build();
        assert_eq!(err.unwrap_err(), ConfigError::Missing { key: "sasl.username" });
    }
}
