//! How SASL tokens travel: in SaslAuthenticate requests (KIP-152, after
//! SaslHandshake v1+, Kafka 1.0 and later), or, after SaslHandshake v0
//! (brokers before 1.0), as raw `[i32 size][token]` frames without request
//! or response headers, as Kafka's `SaslClientAuthenticator` does when the
//! broker offers no SaslHandshake v1. A v0 broker cannot answer a failed
//! authentication with an error: it closes the connection.

use bytes::Bytes;
use rill_protocol::messages::SaslAuthenticateRequest;
use rill_protocol::ErrorCode;

use crate::connection::Connection;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    /// SaslAuthenticate round trips (SaslHandshake v1+).
    Authenticate,
    /// Raw size-prefixed tokens (SaslHandshake v0).
    Raw,
}

impl Framing {
    /// The framing that goes with the SaslHandshake version the connection uses.
    pub(super) fn for_handshake_version(version: i16) -> Framing {
        if version == 0 {
            Framing::Raw
        } else {
            Framing::Authenticate
        }
    }

    /// One round trip: sends `message`, returns the server's bytes and the
    /// session lifetime in ms (0: none; always 0 before SaslAuthenticate v1).
    pub(super) async fn round(
        self,
        connection: &Connection,
        message: Vec<u8>,
        fail: &(dyn Fn(String) -> Error + Sync),
    ) -> Result<(Vec<u8>, i64)> {
        match self {
            Framing::Authenticate => {
                let request = SaslAuthenticateRequest { auth_bytes: Bytes::from(message), ..Default::default() };
                let response = connection.send(&request).await?;
                let code = ErrorCode(response.error_code);
                if code != ErrorCode::NONE {
                    let message = match response.error_message.filter(|m| !m.is_empty()) {
                        Some(m) => format!("{} ({code})", crate::error::peer_text(&m)),
                        None => code.to_string(),
                    };
                    return Err(fail(message));
                }
                Ok((response.auth_bytes.to_vec(), response.session_lifetime_ms))
            }
            Framing::Raw => match connection.send_raw_sasl_token(&message).await {
                Ok(answer) => Ok((answer.to_vec(), 0)),
                Err(Error::ConnectionClosed { reason, .. }) => Err(fail(format!(
                    "the broker closed the connection during the SASL exchange ({reason}); brokers before \
                     Kafka 1.0 (SaslHandshake v0) report a failed authentication this way"
                ))),
                Err(e) => Err(e),
            },
        }
    }
}
