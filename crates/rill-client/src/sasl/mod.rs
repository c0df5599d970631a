//! SASL authentication (`security.protocol=SASL_PLAINTEXT` / `SASL_SSL`):
//! SaslHandshake, then the mechanism's messages: in SaslAuthenticate round
//! trips (KIP-152, SaslHandshake v1+), or as raw size-prefixed tokens after
//! SaslHandshake v0 on brokers before 1.0 ([`framing`]). PLAIN (RFC 4616), SCRAM-SHA-256/512 (RFC 5802,
//! RFC 7677; the server signature is verified), OAUTHBEARER (RFC 7628,
//! tokens from [`crate::oauth`]) and, with the `gssapi` feature, GSSAPI
//! (Kerberos 5, RFC 4752, [`gssapi`]). The session lifetime the broker grants
//! (SaslAuthenticate v1+, KIP-368) is returned so the connection can
//! re-authenticate before it ends.
//!
//! Errors carry the broker's message, never the password.

mod framing;
#[cfg(feature = "gssapi")]
mod gssapi;
mod scram;
#[cfg(test)]
pub(crate) mod v0_tests;

use std::time::Duration;

use rill_protocol::messages::SaslHandshakeRequest;
use rill_protocol::{ApiKey, ErrorCode};
use ring::{digest, hmac, pbkdf2};
use tracing::debug;

use framing::Framing;
use scram::Scram;

use crate::config::{SaslConfig, SaslMechanism};
use crate::connection::Connection;
use crate::error::{Error, Result};
use crate::oauth::{self, TokenCache};

/// Authenticates `connection` (after ApiVersions, before anything else; or
/// again, KIP-368). Returns the session lifetime the broker granted, if any.
pub(crate) async fn authenticate(connection: &Connection, config: &SaslConfig, tokens: Option<&TokenCache>) -> Result<Option<Duration>> {
    let mechanism = config.mechanism.name();
    let broker = connection.broker().to_string();
    let fail = |message: String| Error::Authentication { broker: broker.clone(), mechanism, message };
    let username = config.username.as_deref().unwrap_or_default();
    let password = config.password.as_ref().map(|p| p.expose()).unwrap_or_default();

    let session_lifetime_ms: i64;
    let framing = Framing::for_handshake_version(connection.version_for(ApiKey::SASL_HANDSHAKE)?);
    let fail_ref: &(dyn Fn(String) -> Error + Sync) = &fail;
    let round = move |message: Vec<u8>| framing.round(connection, message, fail_ref);
    let handshake = connection.send(&SaslHandshakeRequest { mechanism: mechanism.to_string(), ..Default::default() }).await?;
    let code = ErrorCode(handshake.error_code);
    if code != ErrorCode::NONE {
        return Err(fail(format!("{code}; the broker enables {}", handshake.mechanisms.join(", "))));
    }

    match config.mechanism {
        SaslMechanism::Plain => {
            let mut message = Vec::with_capacity(2 + username.len() + password.len());
            message.push(0);
            message.extend_from_slice(username.as_bytes());
            message.push(0);
            message.extend_from_slice(password.as_bytes());
            session_lifetime_ms = round(message).await?.1;
        }
        SaslMechanism::ScramSha256 | SaslMechanism::ScramSha512 => {
            let (digest_alg, hmac_alg, pbkdf2_alg) = if config.mechanism == SaslMechanism::ScramSha256 {
                (&digest::SHA256, hmac::HMAC_SHA256, pbkdf2::PBKDF2_HMAC_SHA256)
            } else {
                (&digest::SHA512, hmac::HMAC_SHA512, pbkdf2::PBKDF2_HMAC_SHA512)
            };
            let mut scram = Scram::new(username, digest_alg, hmac_alg, pbkdf2_alg)?;
            let (server_first, _) = round(scram.client_first().into_bytes()).await?;
            let client_final = scram.client_final(password, &server_first).map_err(fail)?;
            let (server_final, lifetime_ms) = round(client_final.into_bytes()).await?;
            scram.verify_server_final(&server_final).map_err(|m| fail(m.to_string()))?;
            session_lifetime_ms = lifetime_ms;
        }
        SaslMechanism::OAuthBearer => {
            let tokens = tokens.ok_or_else(|| fail("no OAUTHBEARER token source configured".to_string()))?;
            let token = tokens.token().await.map_err(Error::from)?;
            let first = oauth::message::client_first(token.value.expose(), &token.extensions);
            let (challenge, lifetime_ms) = round(first).await?;
            if !challenge.is_empty() {
                // An error challenge (RFC 7628 section 3.2.2, JSON with the
                // status): acknowledge it so the broker ends the exchange
                // with its error, and report both.
                let status: String = String::from_utf8_lossy(&challenge).chars().filter(|c| !c.is_control()).take(300).collect();
                let ending = match round(oauth::message::ERROR_ACK.to_vec()).await {
                    Err(Error::Authentication { message, .. }) => format!("; {}", message.replace(&status, "").trim()),
                    _ => String::new(),
                };
                let refusal = format!("the broker rejected the token of {}: {status}{ending}", token.principal);
                return Err(expired(token.value.expose(), &broker, &refusal).unwrap_or_else(|| fail(refusal)));
            }
            session_lifetime_ms = lifetime_ms;
        }
        #[cfg(feature = "gssapi")]
        SaslMechanism::Gssapi => session_lifetime_ms = gssapi::authenticate(connection, config, round).await?,
        #[cfg(not(feature = "gssapi"))]
        SaslMechanism::Gssapi => return Err(fail("rill-client was built without the `gssapi` feature".to_string())),
    }
    let session_lifetime = u64::try_from(session_lifetime_ms).ok().filter(|ms| *ms > 0).map(Duration::from_millis);
    debug!(broker = %connection.broker(), mechanism, ?session_lifetime, "SASL authenticated");
    Ok(session_lifetime)
}

/// A refused token whose JWT `exp` had passed is [`OAuthErrorKind::Expired`]
/// (the broker's answer is the same `invalid_token` for every reason).
/// `exp` is wall-clock time by definition, so this reads the system clock:
/// only to explain a refusal, never to decide what to send.
///
/// [`OAuthErrorKind::Expired`]: crate::oauth::OAuthErrorKind::Expired
fn expired(token: &str, broker: &str, refusal: &str) -> Option<Error> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
    let ago = oauth::jwt::expired_secs_ago(token, now)?;
    Some(Error::OAuthToken {
        kind: oauth::OAuthErrorKind::Expired,
        message: format!(
            "broker {broker}: {refusal}; the token expired {ago} s ago (its exp claim): the token provider handed out a \
             stale token"
        ),
    })
}
