//! Client-side settings for a listener, rendered as Java client properties.
//!
//! Tests describe *what* a client presents (which listener, which
//! credentials, which CA it trusts, which certificate it shows) with
//! [`ClientSettings`]; [`crate::KafkaCluster::client_properties`] turns that
//! into the properties Kafka's Java clients and tools read.

use std::fmt;
use std::path::PathBuf;

use super::config::{escape_property_value, jaas_quote};
use super::listeners::{Listener, SaslMechanism};
use crate::error::{Context, Result};
use crate::secret::Secret;

/// Which CA the client trusts for the broker certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// The harness CA that signed the broker certificate.
    HarnessCa,
    /// An unrelated CA: the TLS handshake must fail.
    RogueCa,
}

/// Which certificate the client presents (mTLS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientCert {
    /// Signed by the harness CA: accepted by the MTLS listener.
    Harness,
    /// Signed by the rogue CA: refused by the MTLS listener.
    Rogue,
}

/// File format of the client's trust store and keystore.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreFormat {
    /// PEM files (`ssl.truststore.type=PEM`, `ssl.keystore.type=PEM`).
    Pem,
    /// PKCS#12 files with a password.
    Pkcs12,
}

/// What the client authenticates with.
#[derive(Debug, Clone)]
pub enum ClientAuth {
    /// Nothing beyond TLS (if any).
    None,
    /// PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 with a user name and password.
    Password { mechanism: SaslMechanism, username: String, password: Secret },
    /// OAUTHBEARER through Kafka's own login handler, which fetches a token
    /// from the harness token endpoint with the client-credentials grant.
    OAuthClientCredentials { client_id: String, client_secret: Secret, scope: Option<String> },
    /// OAUTHBEARER presenting exactly this JWT, unchecked by the client
    /// (for expired or wrongly signed tokens the broker must refuse).
    OAuthToken { token: Secret },
    /// GSSAPI with a keytab.
    Kerberos { principal: String, keytab: PathBuf, service_name: String },
}

impl ClientAuth {
    pub fn mechanism(&self) -> Option<SaslMechanism> {
        match self {
            ClientAuth::None => None,
            ClientAuth::Password { mechanism, .. } => Some(*mechanism),
            ClientAuth::OAuthClientCredentials { .. } | ClientAuth::OAuthToken { .. } => Some(SaslMechanism::OAuthBearer),
            ClientAuth::Kerberos { .. } => Some(SaslMechanism::Gssapi),
        }
    }
}

/// A client's view of one listener.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    pub listener: Listener,
    pub auth: ClientAuth,
    pub trust: Trust,
    pub client_cert: Option<ClientCert>,
    pub store_format: StoreFormat,
}

impl ClientSettings {
    /// No credentials, trusting the harness CA, presenting the harness client
    /// certificate on the MTLS listener only.
    pub fn new(listener: Listener) -> Self {
        ClientSettings {
            listener,
            auth: ClientAuth::None,
            trust: Trust::HarnessCa,
            client_cert: (listener == Listener::Mtls).then_some(ClientCert::Harness),
            store_format: StoreFormat::Pem,
        }
    }

    pub fn store_format(mut self, store_format: StoreFormat) -> Self {
        self.store_format = store_format;
        self
    }

    pub fn auth(mut self, auth: ClientAuth) -> Self {
        self.auth = auth;
        self
    }

    pub fn trust(mut self, trust: Trust) -> Self {
        self.trust = trust;
        self
    }

    pub fn client_cert(mut self, client_cert: Option<ClientCert>) -> Self {
        self.client_cert = client_cert;
        self
    }
}

/// Java client properties (`bootstrap.servers`, `security.protocol`, ...).
/// Debug output hides JAAS configurations and passwords.
#[derive(Clone, Default)]
pub struct ClientProperties {
    entries: Vec<(String, String)>,
}

impl ClientProperties {
    pub fn new() -> Self {
        ClientProperties::default()
    }

    /// Sets `key`, replacing an earlier value.
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) -> &mut Self {
        let key = key.into();
        let value = value.into();
        match self.entries.iter_mut().find(|(existing, _)| *existing == key) {
            Some(entry) => entry.1 = value,
            None => self.entries.push((key, value)),
        }
        self
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.iter().find(|(existing, _)| existing == key).map(|(_, value)| value.as_str())
    }

    pub fn entries(&self) -> &[(String, String)] {
        &self.entries
    }

    /// The `.properties` file text.
    pub fn to_properties_text(&self) -> String {
        self.entries.iter().map(|(key, value)| format!("{key}={}\n", escape_property_value(value))).collect()
    }

    /// Writes the properties file (it may hold secrets: keep it under target/).
    pub fn write(&self, path: &std::path::Path) -> Result<()> {
        std::fs::write(path, self.to_properties_text()).context(|| format!("writing {}", path.display()))
    }

    fn is_secret(key: &str) -> bool {
        key.contains("jaas") || key.contains("password") || key.contains("secret")
    }
}

impl fmt::Debug for ClientProperties {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (key, value) in &self.entries {
            if ClientProperties::is_secret(key) {
                map.entry(key, &"<redacted>");
            } else {
                map.entry(key, value);
            }
        }
        map.finish()
    }
}

/// Renders JAAS for password mechanisms.
pub(crate) fn password_jaas(mechanism: SaslMechanism, username: &str, password: &Secret) -> String {
    let module = match mechanism {
        SaslMechanism::Plain => "org.apache.kafka.common.security.plain.PlainLoginModule",
        _ => "org.apache.kafka.common.security.scram.ScramLoginModule",
    };
    format!("{module} required username={} password={};", jaas_quote(username), jaas_quote(password.expose()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_jaas_and_passwords() {
        let mut props = ClientProperties::new();
        props.set("sasl.jaas.config", password_jaas(SaslMechanism::Plain, "alice", &Secret::new("s3cr3t")));
        props.set("ssl.keystore.password", "s3cr3t");
        props.set("bootstrap.servers", "localhost:1");
        let debug = format!("{props:?}");
        assert!(!debug.contains("s3cr3t"), "{debug}");
        assert!(debug.contains("localhost:1"), "{debug}");
        assert!(props.to_properties_text().contains("s3cr3t"));
    }
}
