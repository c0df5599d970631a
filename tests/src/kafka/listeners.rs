//! The client listeners every harness broker exposes, and the SASL mechanisms on them.

use std::fmt;

/// A client-facing listener. Each has its own port on every broker (behind a
/// harness proxy, see [`crate::proxy`]). Controller and inter-broker traffic
/// use separate internal PLAINTEXT listeners, so any of these can be stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Listener {
    /// No encryption, no authentication.
    Plaintext,
    /// TLS with the harness CA; no client certificate.
    Ssl,
    /// TLS with `ssl.client.auth=required`: clients need a certificate from the harness CA.
    Mtls,
    /// SASL without TLS: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, GSSAPI.
    SaslPlaintext,
    /// SASL over TLS: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, GSSAPI, OAUTHBEARER.
    SaslSsl,
    /// TLS like [`Listener::Ssl`], but the broker presents a certificate
    /// from the harness CA that expired in 2021 (its own key store,
    /// `listener.name.ssl_expired.ssl.keystore.*`): clients must refuse it.
    SslExpired,
    /// TLS with a broker certificate from the harness CA valid only from 2099.
    SslNotYetValid,
}

impl Listener {
    pub const ALL: [Listener; 7] = [
        Listener::Plaintext,
        Listener::Ssl,
        Listener::Mtls,
        Listener::SaslPlaintext,
        Listener::SaslSsl,
        Listener::SslExpired,
        Listener::SslNotYetValid,
    ];

    /// The listener name in the broker configuration.
    pub fn name(self) -> &'static str {
        match self {
            Listener::Plaintext => "PLAINTEXT",
            Listener::Ssl => "SSL",
            Listener::Mtls => "MTLS",
            Listener::SaslPlaintext => "SASL_PLAINTEXT",
            Listener::SaslSsl => "SASL_SSL",
            Listener::SslExpired => "SSL_EXPIRED",
            Listener::SslNotYetValid => "SSL_NOT_YET_VALID",
        }
    }

    /// Kafka's `security.protocol` for clients of this listener.
    pub fn security_protocol(self) -> &'static str {
        match self {
            Listener::Plaintext => "PLAINTEXT",
            Listener::Ssl | Listener::Mtls | Listener::SslExpired | Listener::SslNotYetValid => "SSL",
            Listener::SaslPlaintext => "SASL_PLAINTEXT",
            Listener::SaslSsl => "SASL_SSL",
        }
    }

    pub fn uses_tls(self) -> bool {
        matches!(self, Listener::Ssl | Listener::Mtls | Listener::SaslSsl | Listener::SslExpired | Listener::SslNotYetValid)
    }

    pub fn uses_sasl(self) -> bool {
        matches!(self, Listener::SaslPlaintext | Listener::SaslSsl)
    }

    /// The SASL mechanisms enabled on this listener (empty when not SASL).
    pub fn sasl_mechanisms(self) -> &'static [SaslMechanism] {
        match self {
            Listener::SaslPlaintext => {
                &[SaslMechanism::Plain, SaslMechanism::ScramSha256, SaslMechanism::ScramSha512, SaslMechanism::Gssapi]
            }
            Listener::SaslSsl => &SaslMechanism::ALL,
            _ => &[],
        }
    }
}

impl fmt::Display for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SaslMechanism {
    Plain,
    ScramSha256,
    ScramSha512,
    Gssapi,
    OAuthBearer,
}

impl SaslMechanism {
    pub const ALL: [SaslMechanism; 5] =
        [SaslMechanism::Plain, SaslMechanism::ScramSha256, SaslMechanism::ScramSha512, SaslMechanism::Gssapi, SaslMechanism::OAuthBearer];

    /// The mechanism name on the wire and in `sasl.mechanism`.
    pub fn name(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
            SaslMechanism::Gssapi => "GSSAPI",
            SaslMechanism::OAuthBearer => "OAUTHBEARER",
        }
    }
}

impl fmt::Display for SaslMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
