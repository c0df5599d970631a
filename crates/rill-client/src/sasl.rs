//! SASL authentication (`security.protocol=SASL_PLAINTEXT` / `SASL_SSL`):
//! SaslHandshake, then SaslAuthenticate round trips (KIP-152) carrying the
//! mechanism's messages. PLAIN (RFC 4616), SCRAM-SHA-256/512 (RFC 5802,
//! RFC 7677; the server signature is verified) and OAUTHBEARER (RFC 7628,
//! tokens from [`crate::oauth`]). The session lifetime the broker grants
//! (SaslAuthenticate v1+, KIP-368) is returned so the connection can
//! re-authenticate before it ends.
//!
//! Errors carry the broker's message, never the password.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use bytes::Bytes;
use ring::{digest, hmac, pbkdf2};
use rill_protocol::messages::{SaslAuthenticateRequest, SaslHandshakeRequest};
use rill_protocol::ErrorCode;
use tracing::debug;

use crate::config::{SaslConfig, SaslMechanism};
use crate::connection::Connection;
use crate::error::{Error, Result};
use crate::oauth::{self, TokenCache};

/// Authenticates `connection` (after ApiVersions, before anything else; or
/// again, KIP-368). Returns the session lifetime the broker granted, if any.
pub(crate) async fn authenticate(
    connection: &Connection,
    config: &SaslConfig,
    tokens: Option<&TokenCache>,
) -> Result<Option<Duration>> {
    let mechanism = config.mechanism.name();
    let broker = connection.broker().to_string();
    let fail = |message: String| Error::Authentication { broker: broker.clone(), mechanism, message };
    let username = config.username.as_deref().unwrap_or_default();
    let password = config.password.as_ref().map(|p| p.expose()).unwrap_or_default();

    let session_lifetime_ms: i64;
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
            session_lifetime_ms = round(connection, message, &fail).await?.1;
        }
        SaslMechanism::ScramSha256 | SaslMechanism::ScramSha512 => {
            let (digest_alg, hmac_alg, pbkdf2_alg) = if config.mechanism == SaslMechanism::ScramSha256 {
                (&digest::SHA256, hmac::HMAC_SHA256, pbkdf2::PBKDF2_HMAC_SHA256)
            } else {
                (&digest::SHA512, hmac::HMAC_SHA512, pbkdf2::PBKDF2_HMAC_SHA512)
            };
            let mut scram = Scram::new(username, digest_alg, hmac_alg, pbkdf2_alg)?;
            let (server_first, _) = round(connection, scram.client_first().into_bytes(), &fail).await?;
            let client_final = scram.client_final(password, &server_first).map_err(|m| fail(m.to_string()))?;
            let (server_final, lifetime_ms) = round(connection, client_final.into_bytes(), &fail).await?;
            scram.verify_server_final(&server_final).map_err(|m| fail(m.to_string()))?;
            session_lifetime_ms = lifetime_ms;
        }
        SaslMechanism::OAuthBearer => {
            let tokens = tokens.ok_or_else(|| fail("no OAUTHBEARER token source configured".to_string()))?;
            let token = tokens.token().await.map_err(Error::from)?;
            let first = oauth::message::client_first(token.value.expose(), &token.extensions);
            let (challenge, lifetime_ms) = round(connection, first, &fail).await?;
            if !challenge.is_empty() {
                // An error challenge (RFC 7628 section 3.2.2, JSON with the
                // status): acknowledge it so the broker ends the exchange
                // with its error, and report both.
                let status: String =
                    String::from_utf8_lossy(&challenge).chars().filter(|c| !c.is_control()).take(300).collect();
                let ending = match round(connection, oauth::message::ERROR_ACK.to_vec(), &fail).await {
                    Err(Error::Authentication { message, .. }) => format!("; {}", message.replace(&status, "").trim()),
                    _ => String::new(),
                };
                return Err(fail(format!("the broker rejected the token of {}: {status}{ending}", token.principal)));
            }
            session_lifetime_ms = lifetime_ms;
        }
    }
    let session_lifetime = u64::try_from(session_lifetime_ms).ok().filter(|ms| *ms > 0).map(Duration::from_millis);
    debug!(broker = %connection.broker(), mechanism, ?session_lifetime, "SASL authenticated");
    Ok(session_lifetime)
}

/// One SaslAuthenticate round trip; returns the server's bytes and the
/// session lifetime (0: none, or before SaslAuthenticate v1).
async fn round(
    connection: &Connection,
    message: Vec<u8>,
    fail: &(dyn Fn(String) -> Error + Sync),
) -> Result<(Vec<u8>, i64)> {
    let response =
        connection.send(&SaslAuthenticateRequest { auth_bytes: Bytes::from(message), ..Default::default() }).await?;
    let code = ErrorCode(response.error_code);
    if code != ErrorCode::NONE {
        let message = match response.error_message.filter(|m| !m.is_empty()) {
            Some(m) => format!("{m} ({code})"),
            None => code.to_string(),
        };
        return Err(fail(message));
    }
    Ok((response.auth_bytes.to_vec(), response.session_lifetime_ms))
}

/// SCRAM client state (RFC 5802 section 3).
struct Scram {
    digest: &'static digest::Algorithm,
    hmac: hmac::Algorithm,
    pbkdf2: pbkdf2::Algorithm,
    client_first_bare: String,
    nonce: String,
    auth_message: String,
    salted_password: Vec<u8>,
}

impl Scram {
    fn new(
        username: &str,
        digest: &'static digest::Algorithm,
        hmac: hmac::Algorithm,
        pbkdf2: pbkdf2::Algorithm,
    ) -> Result<Scram> {
        let mut raw = [0u8; 24];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut raw)
            .map_err(|_| Error::Io { broker: String::new(), source: std::sync::Arc::new(std::io::Error::other("no randomness for the SCRAM nonce")) })?;
        let nonce = B64.encode(raw);
        let name = username.replace('=', "=3D").replace(',', "=2C");
        Ok(Scram {
            digest,
            hmac,
            pbkdf2,
            client_first_bare: format!("n={name},r={nonce}"),
            nonce,
            auth_message: String::new(),
            salted_password: Vec::new(),
        })
    }

    fn client_first(&self) -> String {
        format!("n,,{}", self.client_first_bare)
    }

    fn client_final(&mut self, password: &str, server_first: &[u8]) -> Result<String, &'static str> {
        let server_first = std::str::from_utf8(server_first).map_err(|_| "the server-first-message is not UTF-8")?;
        let mut nonce = None;
        let mut salt = None;
        let mut iterations = None;
        for attribute in server_first.split(',') {
            match attribute.split_once('=') {
                Some(("r", v)) => nonce = Some(v),
                Some(("s", v)) => salt = Some(v),
                Some(("i", v)) => iterations = Some(v),
                Some(("m", _)) => return Err("the server requires a SCRAM extension rill does not know"),
                Some(("e", _)) => return Err("the server refused the client-first-message"),
                _ => {}
            }
        }
        let nonce = nonce.ok_or("the server-first-message has no nonce")?;
        if !nonce.starts_with(&self.nonce) || nonce.len() == self.nonce.len() {
            return Err("the server nonce does not extend the client nonce");
        }
        let salt = B64.decode(salt.ok_or("the server-first-message has no salt")?).map_err(|_| "the salt is not base64")?;
        let iterations: u32 = iterations
            .ok_or("the server-first-message has no iteration count")?
            .parse()
            .map_err(|_| "the iteration count is not a number")?;
        let iterations = std::num::NonZeroU32::new(iterations).ok_or("the iteration count is 0")?;

        let mut salted = vec![0u8; self.digest.output_len()];
        pbkdf2::derive(self.pbkdf2, iterations, &salt, password.as_bytes(), &mut salted);
        let client_key = hmac::sign(&hmac::Key::new(self.hmac, &salted), b"Client Key");
        let stored_key = digest::digest(self.digest, client_key.as_ref());
        let without_proof = format!("c=biws,r={nonce}");
        self.auth_message = format!("{},{server_first},{without_proof}", self.client_first_bare);
        let signature = hmac::sign(&hmac::Key::new(self.hmac, stored_key.as_ref()), self.auth_message.as_bytes());
        let proof: Vec<u8> = client_key.as_ref().iter().zip(signature.as_ref()).map(|(a, b)| a ^ b).collect();
        self.salted_password = salted;
        Ok(format!("{without_proof},p={}", B64.encode(proof)))
    }

    fn verify_server_final(&self, server_final: &[u8]) -> Result<(), &'static str> {
        let server_final = std::str::from_utf8(server_final).map_err(|_| "the server-final-message is not UTF-8")?;
        if server_final.starts_with("e=") {
            return Err("the server refused the client proof");
        }
        let verifier = server_final
            .split(',')
            .find_map(|a| a.strip_prefix("v="))
            .ok_or("the server-final-message has no server signature")?;
        let verifier = B64.decode(verifier).map_err(|_| "the server signature is not base64")?;
        let server_key = hmac::sign(&hmac::Key::new(self.hmac, &self.salted_password), b"Server Key");
        hmac::verify(&hmac::Key::new(self.hmac, server_key.as_ref()), self.auth_message.as_bytes(), &verifier)
            .map_err(|_| "the server signature does not match: the broker does not know the password")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677 section 3 test vector (SCRAM-SHA-256).
    #[test]
    fn rfc7677_vector() {
        let mut scram = Scram::new("user", &digest::SHA256, hmac::HMAC_SHA256, pbkdf2::PBKDF2_HMAC_SHA256).unwrap();
        scram.nonce = "rOprNGfwEbeRWgbNEkqO".to_string();
        scram.client_first_bare = "n=user,r=rOprNGfwEbeRWgbNEkqO".to_string();
        assert_eq!(scram.client_first(), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let server_first = b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let client_final = scram.client_final("pencil", server_first).unwrap();
        assert_eq!(
            client_final,
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        scram.verify_server_final(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=").unwrap();
        assert!(scram.verify_server_final(b"v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=").is_err());
    }
}
