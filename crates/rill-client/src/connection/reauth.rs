//! Re-authentication of open connections (KIP-368).
//!
//! When SaslAuthenticate grants a session lifetime (the broker sets one when
//! `connections.max.reauth.ms` is positive; for OAUTHBEARER it also ends
//! with the token), the broker closes the connection at the first request
//! after it ends. So the client authenticates again on the same connection
//! at a random point between 85% and 95% of the lifetime (as the Java client
//! does, jitter from the seeded RNG), with a fresh token. KIP-368 requires
//! that no other request interleaves with the SASL exchange: the
//! re-authentication first stops new requests from being handed to the
//! driver (the exclusive gate), waits until every request in flight is
//! answered (all in-flight slots free), runs SaslHandshake +
//! SaslAuthenticate, and only then lets requests flow again.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tracing::debug;

use super::Connection;
use crate::error::{Error, Result};

/// The soonest a connection re-authenticates after it authenticated. A
/// broker granting sessions of a millisecond (hostile or misconfigured)
/// would otherwise keep the connection re-authenticating without pause,
/// each round a SASL exchange (for Kerberos, two KDC exchanges) with every
/// request held back. Sessions this short end before the re-authentication:
/// the broker closes the connection and the client connects again, at its
/// reconnect backoff.
pub(crate) const MIN_REAUTH_INTERVAL: Duration = Duration::from_secs(1);

/// Re-authenticates `connection` before `session_lifetime` (from now) ends,
/// and again before each later session ends, for as long as it is open.
pub(crate) fn schedule(connection: &Connection, session_lifetime: Duration) {
    let share = {
        let mut rng = connection.shared.config.reauth_rng.lock().unwrap_or_else(|p| p.into_inner());
        0.85 + 0.10 * rng.next_f64()
    };
    let at = Instant::now() + session_lifetime.mul_f64(share).max(MIN_REAUTH_INTERVAL);
    let shared = Arc::downgrade(&connection.shared);
    debug!(broker = %connection.broker(), ?session_lifetime, in_ = ?at.saturating_duration_since(Instant::now()), "re-authentication scheduled");
    tokio::spawn(async move {
        tokio::time::sleep_until(at).await;
        // Only while some handle still uses the connection.
        let Some(shared) = shared.upgrade() else { return };
        let connection = Connection { shared, bypass_gate: false };
        if connection.is_closed() {
            return;
        }
        match connection.reauthenticate().await {
            Ok(Some(next)) => schedule(&connection, next),
            Ok(None) => debug!(broker = %connection.broker(), "re-authenticated; the broker set no session lifetime"),
            Err(e) => debug!(
                broker = %connection.broker(),
                error = %e,
                "re-authentication failed; the broker will close the connection when the session ends"
            ),
        }
    });
}

impl Connection {
    /// Authenticates again on this connection, with nothing else in flight;
    /// returns the new session lifetime.
    pub(crate) async fn reauthenticate(&self) -> Result<Option<Duration>> {
        let Some(sasl) = self.shared.config.sasl.clone() else { return Ok(None) };
        let tokens = self.shared.config.oauth_tokens.clone();
        // A fresh token first, so requests are not held back while it is fetched.
        if let Some(tokens) = &tokens {
            tokens.token().await.map_err(Error::from)?;
        }
        let _exclusive = self.shared.reauth_gate.write().await;
        let slots = u32::try_from(self.shared.config.max_in_flight.max(1)).unwrap_or(u32::MAX);
        let drained = self.shared.slots.acquire_many(slots).await.map_err(|_| Error::ConnectionClosed {
            broker: self.broker().to_string(),
            reason: "closed before re-authentication".to_string(),
        })?;
        drop(drained);
        let sasl_handle = Connection { shared: self.shared.clone(), bypass_gate: true };
        let lifetime = crate::sasl::authenticate(&sasl_handle, &sasl, tokens.as_deref()).await?;
        self.shared.stats.reauthenticated();
        debug!(broker = %self.broker(), ?lifetime, "re-authenticated");
        Ok(lifetime)
    }
}
