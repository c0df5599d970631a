//! SASL/OAUTHBEARER (KIP-255, RFC 7628): where tokens come from and how they
//! are sent.
//!
//! - [`provider`]: the [`OAuthBearerTokenProvider`] trait applications can
//!   implement, the token and its error kinds;
//! - [`oidc`]: the built-in OIDC client-credentials provider (KIP-768's
//!   `sasl.oauthbearer.token.endpoint.url`, client id and secret, scope,
//!   extensions), over reqwest + rustls (feature `oidc`, on by default);
//! - [`cache`]: one client's current token, refreshed before expiry with
//!   jitter, with backoff while the endpoint is down;
//! - [`message`]: the RFC 7628 client messages;
//! - `jwt`: the claims the client reads from a JWT (lifetime, subject, expiry).
//!
//! Connections re-authenticate before the session lifetime the broker
//! grants ends (KIP-368): see `connection/reauth.rs`.

pub mod cache;
pub(crate) mod jwt;
pub mod message;
#[cfg(feature = "oidc")]
pub mod oidc;
pub mod provider;

pub use cache::TokenCache;
pub use provider::{BoxFuture, OAuthBearerToken, OAuthBearerTokenProvider, OAuthError, OAuthErrorKind, TokenProviderRef};

use crate::config::{ConfigError, OAuthBearerConfig};

/// The provider `config` asks for: the application's own, or the OIDC
/// client-credentials provider.
pub(crate) fn provider_for(config: &OAuthBearerConfig) -> Result<TokenProviderRef, ConfigError> {
    if let Some(provider) = &config.token_provider {
        return Ok(provider.clone());
    }
    #[cfg(feature = "oidc")]
    {
        let missing = |key| ConfigError::Missing { key };
        let settings = oidc::ClientCredentials {
            token_endpoint_url: config.token_endpoint_url.clone().ok_or_else(|| missing("sasl.oauthbearer.token.endpoint.url"))?,
            client_id: config.client_id.clone().ok_or_else(|| missing("sasl.oauthbearer.client.id"))?,
            client_secret: config.client_secret.clone().ok_or_else(|| missing("sasl.oauthbearer.client.secret"))?,
            scope: config.scope.clone(),
            extensions: config.extensions.clone(),
        };
        Ok(TokenProviderRef::new(oidc::OidcClientCredentialsProvider::new(settings)))
    }
    #[cfg(not(feature = "oidc"))]
    Err(ConfigError::Unsupported {
        key: "sasl.oauthbearer.token.endpoint.url".to_string(),
        value: config.token_endpoint_url.clone().unwrap_or_default(),
        reason: "rill-client was built without the `oidc` feature; enable it or give a token provider",
    })
}
