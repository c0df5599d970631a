//! Typed client errors. Every error that involves a broker names it.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use rill_protocol::frame::FrameError;
use rill_protocol::{ApiKey, DecodeError, EncodeError, ErrorCode, VersionRange};

use crate::config::ConfigError;

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a client operation failed.
///
/// `Clone` so that one connection failure can be handed to every request
/// that was in flight on it (I/O errors are shared through an `Arc`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is invalid.
    Config(ConfigError),
    /// The TCP (or other transport) connection could not be opened.
    Connect { broker: String, source: Arc<io::Error> },
    /// Connecting took longer than `socket.connection.setup.timeout.ms`.
    ConnectTimeout { broker: String, timeout: Duration },
    /// Reading from or writing to an open connection failed.
    Io { broker: String, source: Arc<io::Error> },
    /// The byte stream from the broker is not a valid Kafka frame sequence
    /// (oversized or negative size prefix, a TLS or HTTP peer, truncation).
    Frame { broker: String, source: FrameError },
    /// A response arrived for a different request than the oldest one in flight.
    CorrelationMismatch { broker: String, expected: i32, received: i32 },
    /// No response within `request.timeout.ms`; the connection was closed
    /// (later responses on it could no longer be matched).
    RequestTimeout { broker: String, api: ApiKey, timeout: Duration },
    /// TLS failed: `kind` says which check (unknown CA, host name, expiry,
    /// client certificate refused, ...).
    Tls { broker: String, kind: crate::tls::TlsErrorKind, message: String },
    /// SASL authentication failed; `message` is the broker's (never the password).
    Authentication { broker: String, mechanism: &'static str, message: String },
    /// The connection closed before the request was answered.
    ConnectionClosed { broker: String, reason: String },
    /// The connection closed before the request was written: the broker
    /// never saw it, so it is safe to send again on a new connection.
    NotSent { broker: String, reason: String },
    /// A request could not be encoded.
    Encode { api: ApiKey, version: i16, source: EncodeError },
    /// A response could not be decoded.
    Decode { broker: String, source: DecodeError },
    /// Client and broker share no version of an API.
    UnsupportedVersion { broker: String, api: ApiKey, ours: Option<VersionRange>, theirs: Option<VersionRange> },
    /// The broker answered with a Kafka error code.
    Kafka { broker: String, context: String, code: ErrorCode, message: Option<String> },
    /// The cluster metadata has no usable leader for a partition (after refreshing).
    PartitionUnavailable { topic: String, partition: i32, code: ErrorCode },
    /// Every bootstrap server failed.
    NoBrokerReachable { tried: Vec<String>, last: Option<Box<Error>> },
    /// The node id is not in the cluster metadata.
    UnknownBroker { node_id: i32 },
    /// The client was shut down.
    Closed,
    /// Consumer: a partition has no position and `auto.offset.reset` is `none`.
    NoOffset { topic: String, partition: i32 },
    /// Consumer: the fetch offset is outside the log and `auto.offset.reset` is `none`.
    OffsetOutOfRange { topic: String, partition: i32, offset: i64 },
    /// Consumer: the leader's log diverges from what was fetched (KIP-320);
    /// `divergent_offset` is the first offset known to differ, when known.
    LogTruncation { topic: String, partition: i32, offset: i64, divergent_offset: Option<i64> },
    /// Consumer: the partition is not assigned to this consumer.
    NotAssigned { topic: String, partition: i32 },
    /// No OAUTHBEARER token could be had: `kind` says whether the token
    /// endpoint was unreachable, refused the client, or answered nonsense.
    /// The message never contains the client secret or a token.
    OAuthToken { kind: crate::oauth::OAuthErrorKind, message: String },
    /// SASL GSSAPI: Kerberos failed (at the KDC or with the broker's
    /// answer); `kind` says why. The message never contains the password or a key.
    Kerberos { broker: String, kind: KerberosErrorKind, message: String },
}

/// Why Kerberos authentication (SASL GSSAPI) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KerberosErrorKind {
    /// The KDC refused the password (KDC_ERR_PREAUTH_FAILED with `sasl.password`).
    WrongPassword,
    /// The KDC refused the keytab's key (KDC_ERR_PREAUTH_FAILED with
    /// `sasl.kerberos.keytab`): the principal was re-keyed since the keytab
    /// was exported, or the keytab is another principal's.
    StaleKeytab,
    /// The keytab has no usable key for the principal.
    NoKeytabEntry,
    /// The KDC does not know the client principal (KDC_ERR_C_PRINCIPAL_UNKNOWN).
    UnknownPrincipal,
    /// The KDC does not know the broker's principal
    /// `<sasl.kerberos.service.name>/<host>@REALM` (KDC_ERR_S_PRINCIPAL_UNKNOWN).
    UnknownService,
    /// No KDC answered within `sasl.kerberos.kdc.timeout.ms`, or none could be reached.
    KdcUnreachable,
    /// The KDC answered with another Kerberos error.
    KdcError,
    /// The broker refused the ticket or its answer does not verify
    /// (mutual authentication, the security-layer message).
    BrokerRejected,
    /// A KDC or broker message could not be decoded.
    Malformed,
}

impl fmt::Display for KerberosErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KerberosErrorKind::WrongPassword => "wrong password",
            KerberosErrorKind::StaleKeytab => "stale keytab",
            KerberosErrorKind::NoKeytabEntry => "no key for the principal in the keytab",
            KerberosErrorKind::UnknownPrincipal => "unknown client principal",
            KerberosErrorKind::UnknownService => "unknown broker principal",
            KerberosErrorKind::KdcUnreachable => "KDC unreachable",
            KerberosErrorKind::KdcError => "KDC error",
            KerberosErrorKind::BrokerRejected => "broker rejected the authentication",
            KerberosErrorKind::Malformed => "malformed Kerberos message",
        })
    }
}

impl From<crate::oauth::OAuthError> for Error {
    fn from(e: crate::oauth::OAuthError) -> Self {
        Error::OAuthToken { kind: e.kind, message: e.message }
    }
}

impl Error {
    pub(crate) fn io(broker: &str, source: io::Error) -> Error {
        if let Some(e) = crate::tls::rustls_error(&source) {
            return Error::tls(broker, e);
        }
        if let Some(refused) = crate::tls::refusal(&source) {
            return Error::tls_refused(broker, refused);
        }
        Error::Io { broker: broker.to_string(), source: Arc::new(source) }
    }

    /// A failed connect; TLS handshake failures become [`Error::Tls`].
    pub(crate) fn connect(broker: &str, source: io::Error) -> Error {
        if let Some(e) = crate::tls::rustls_error(&source) {
            return Error::tls(broker, e);
        }
        if let Some(refused) = crate::tls::refusal(&source) {
            return Error::tls_refused(broker, refused);
        }
        Error::Connect { broker: broker.to_string(), source: Arc::new(source) }
    }

    fn tls(broker: &str, e: &rustls::Error) -> Error {
        Error::Tls { broker: broker.to_string(), kind: crate::tls::classify(e), message: e.to_string() }
    }

    fn tls_refused(broker: &str, refused: &dyn std::fmt::Display) -> Error {
        Error::Tls { broker: broker.to_string(), kind: crate::tls::TlsErrorKind::ClientCertificateRefused, message: refused.to_string() }
    }

    /// Which TLS check failed, for [`Error::Tls`] (also when wrapped in
    /// [`Error::NoBrokerReachable`]).
    pub fn tls_kind(&self) -> Option<crate::tls::TlsErrorKind> {
        match self {
            Error::Tls { kind, .. } => Some(*kind),
            Error::NoBrokerReachable { last: Some(last), .. } => last.tls_kind(),
            _ => None,
        }
    }

    /// Why no OAUTHBEARER token could be had, for [`Error::OAuthToken`]
    /// (also when wrapped in [`Error::NoBrokerReachable`]).
    pub fn oauth_kind(&self) -> Option<crate::oauth::OAuthErrorKind> {
        match self {
            Error::OAuthToken { kind, .. } => Some(*kind),
            Error::NoBrokerReachable { last: Some(last), .. } => last.oauth_kind(),
            _ => None,
        }
    }

    /// Whether the client could not prove who it is: SASL authentication
    /// or Kerberos failed, the TLS handshake failed, or no OAUTHBEARER token could be had
    /// (also when wrapped in [`Error::NoBrokerReachable`]). Background tasks
    /// that retry on their own (the consumer's) hand these to the
    /// application too, so that a refused or expired credential is never a
    /// silent stall.
    pub fn is_auth_failure(&self) -> bool {
        match self {
            Error::Authentication { .. } | Error::Tls { .. } | Error::OAuthToken { .. } | Error::Kerberos { .. } => true,
            Error::NoBrokerReachable { last: Some(last), .. } => last.is_auth_failure(),
            _ => false,
        }
    }

    /// Why Kerberos failed, for [`Error::Kerberos`] (also when wrapped in
    /// [`Error::NoBrokerReachable`]).
    pub fn kerberos_kind(&self) -> Option<KerberosErrorKind> {
        match self {
            Error::Kerberos { kind, .. } => Some(*kind),
            Error::NoBrokerReachable { last: Some(last), .. } => last.kerberos_kind(),
            _ => None,
        }
    }

    /// The broker this error is about, if any.
    pub fn broker(&self) -> Option<&str> {
        match self {
            Error::Connect { broker, .. }
            | Error::ConnectTimeout { broker, .. }
            | Error::Io { broker, .. }
            | Error::Frame { broker, .. }
            | Error::CorrelationMismatch { broker, .. }
            | Error::RequestTimeout { broker, .. }
            | Error::ConnectionClosed { broker, .. }
            | Error::NotSent { broker, .. }
            | Error::Tls { broker, .. }
            | Error::Authentication { broker, .. }
            | Error::Kerberos { broker, .. }
            | Error::Decode { broker, .. }
            | Error::UnsupportedVersion { broker, .. }
            | Error::Kafka { broker, .. } => Some(broker),
            _ => None,
        }
    }

    /// Whether a request that failed with this error may still reach the
    /// broker and take effect, its answer lost: it was written (or may have
    /// been), and then the connection timed out, broke or carried something
    /// unreadable. A request that never left (a failed connect, `NotSent`,
    /// an encoding error) or that was answered is not in doubt.
    pub fn leaves_request_in_doubt(&self) -> bool {
        matches!(
            self,
            Error::Io { .. }
                | Error::RequestTimeout { .. }
                | Error::ConnectionClosed { .. }
                | Error::Frame { .. }
                | Error::CorrelationMismatch { .. }
                | Error::Decode { .. }
        )
    }

    /// Whether retrying the same operation (perhaps on a new connection, after
    /// a metadata refresh) may succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            Error::Connect { .. }
            | Error::ConnectTimeout { .. }
            | Error::Io { .. }
            | Error::RequestTimeout { .. }
            | Error::ConnectionClosed { .. }
            | Error::NotSent { .. }
            | Error::CorrelationMismatch { .. } => true,
            // The node left the metadata (a dead broker is not listed) before the
            // request went out: a refresh names the new leader, the request was never sent.
            Error::UnknownBroker { .. } => true,
            Error::Kafka { code, .. } | Error::PartitionUnavailable { code, .. } => code.is_retriable(),
            Error::OAuthToken { kind, .. } => kind.is_retriable(),
            Error::Kerberos { kind, .. } => *kind == KerberosErrorKind::KdcUnreachable,
            // A refused certificate or password will not get better by retrying.
            Error::NoBrokerReachable { last, .. } => {
                !matches!(last.as_deref(), Some(Error::Tls { .. } | Error::Authentication { .. }))
                    && last.as_deref().is_none_or(|e| !matches!(e, Error::Kerberos { .. }) || e.is_retriable())
                    && last.as_deref().is_none_or(|e| !matches!(e, Error::OAuthToken { .. }) || e.is_retriable())
            }
            _ => false,
        }
    }

    /// The Kafka error code, for [`Error::Kafka`].
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Error::Kafka { code, .. } | Error::PartitionUnavailable { code, .. } => Some(*code),
            _ => None,
        }
    }
}

fn range(r: &Option<VersionRange>) -> String {
    match r {
        Some(r) => format!("v{}-v{}", r.min, r.max),
        None => "none".to_string(),
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(e) => write!(f, "{e}"),
            Error::Connect { broker, source } => write!(f, "broker {broker}: cannot connect: {source}"),
            Error::ConnectTimeout { broker, timeout } => {
                write!(f, "broker {broker}: connection not established within {timeout:?} (socket.connection.setup.timeout.ms)")
            }
            Error::Io { broker, source } => write!(f, "broker {broker}: connection error: {source}"),
            Error::Frame { broker, source } => write!(f, "broker {broker}: {source}"),
            Error::CorrelationMismatch { broker, expected, received } => write!(
                f,
                "broker {broker}: protocol error: expected the response to correlation id {expected}, \
                 received {received}; the connection was closed"
            ),
            Error::RequestTimeout { broker, api, timeout } => {
                write!(f, "broker {broker}: {api} request timed out after {timeout:?} (request.timeout.ms); the connection was closed")
            }
            Error::Tls { broker, kind, message } => write!(f, "broker {broker}: TLS: {kind}: {message}"),
            Error::Authentication { broker, mechanism, message } => {
                write!(f, "broker {broker}: SASL {mechanism} authentication failed: {message}")
            }
            Error::ConnectionClosed { broker, reason } => write!(f, "broker {broker}: connection closed: {reason}"),
            Error::NotSent { broker, reason } => {
                write!(f, "broker {broker}: request not sent, the connection closed first: {reason}")
            }
            Error::Encode { api, version, source } => write!(f, "encoding {api} v{version} request: {source}"),
            Error::Decode { broker, source } => write!(f, "broker {broker}: {source}"),
            Error::UnsupportedVersion { broker, api, ours, theirs } => write!(
                f,
                "broker {broker}: no common version of {api}: rill supports {}, the broker supports {}",
                range(ours),
                range(theirs)
            ),
            Error::Kafka { broker, context, code, message } => {
                write!(f, "broker {broker}: {context}: {code}")?;
                if let Some(m) = message.as_deref().filter(|m| !m.is_empty()) {
                    write!(f, " ({})", peer_text(m))?;
                }
                Ok(())
            }
            Error::PartitionUnavailable { topic, partition, code } => {
                write!(f, "{topic}-{partition}: no leader in the cluster metadata: {code}")
            }
            Error::NoBrokerReachable { tried, last } => {
                write!(f, "no broker reachable (tried {})", tried.join(", "))?;
                if let Some(last) = last {
                    write!(f, "; last error: {last}")?;
                }
                Ok(())
            }
            Error::UnknownBroker { node_id } => write!(f, "broker {node_id} is not in the cluster metadata"),
            Error::Closed => f.write_str("the client was shut down"),
            Error::NoOffset { topic, partition } => write!(
                f,
                "{topic}-{partition}: no position and auto.offset.reset=none; seek first or set auto.offset.reset=earliest|latest"
            ),
            Error::OffsetOutOfRange { topic, partition, offset } => write!(
                f,
                "{topic}-{partition}: offset {offset} is out of range and auto.offset.reset=none; \
                 seek to a valid offset or set auto.offset.reset=earliest|latest"
            ),
            Error::LogTruncation { topic, partition, offset, divergent_offset } => {
                write!(f, "{topic}-{partition}: log truncation detected at fetch offset {offset}")?;
                match divergent_offset {
                    Some(d) => write!(f, " (the log diverges from offset {d})")?,
                    None => f.write_str(" (divergence point unknown)")?,
                }
                f.write_str("; auto.offset.reset=none, so seek to continue")
            }
            Error::NotAssigned { topic, partition } => write!(f, "{topic}-{partition} is not assigned to this consumer"),
            Error::OAuthToken { kind, message } => write!(f, "OAUTHBEARER token: {kind}: {message}"),
            Error::Kerberos { broker, kind, message } => {
                write!(f, "broker {broker}: SASL GSSAPI (Kerberos): {kind}: {message}")
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Config(e) => Some(e),
            Error::Connect { source, .. } | Error::Io { source, .. } => Some(source.as_ref()),
            Error::Frame { source, .. } => Some(source),
            Error::Encode { source, .. } => Some(source),
            Error::Decode { source, .. } => Some(source),
            Error::NoBrokerReachable { last: Some(last), .. } => Some(last.as_ref()),
            _ => None,
        }
    }
}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Config(e)
    }
}

/// The most characters of a peer's text an error or a log line shows.
const PEER_TEXT_MAX_CHARS: usize = 300;

/// Text a peer sent (a broker's error message, a KDC's e-text, a token's
/// subject) as errors and logs show it: control characters dropped, so a
/// peer cannot forge log lines or send terminal escapes, and at most
/// [`PEER_TEXT_MAX_CHARS`] characters.
pub(crate) fn peer_text(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(PEER_TEXT_MAX_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_brokers_message_shows_without_control_characters_and_cut_short() {
        let message = format!("bad\n2026-12-07 INFO forged line\u{1b}[31m{}", "x".repeat(1000));
        let e = Error::Kafka {
            broker: "b:9092".into(),
            context: "CreateTopics t".into(),
            code: ErrorCode::INVALID_CONFIG,
            message: Some(message),
        };
        let shown = e.to_string();
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
        assert!(shown.contains("(bad2026-12-07 INFO forged line[31mxxx"), "{shown}");
        assert!(shown.len() < 400, "{}", shown.len());
    }
}
