//! The token provider interface of SASL/OAUTHBEARER: anything that can hand
//! out a bearer token (an OIDC client-credentials flow, a token file, a
//! cloud SDK) implements [`OAuthBearerTokenProvider`].

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::config::Secret;

/// A boxed future, so that the provider trait stays object safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One bearer token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthBearerToken {
    /// The token (usually a JWT); redacted in `Debug`.
    pub value: Secret,
    /// How long it stays valid from when the provider returned it.
    pub lifetime: Duration,
    /// Who the token is for (the JWT `sub`), for logs.
    pub principal: String,
    /// SASL extensions sent with it (RFC 7628 section 3.1; e.g. Confluent
    /// Cloud's `logicalCluster`, `identityPoolId`).
    pub extensions: BTreeMap<String, String>,
}

/// Why a provider could not produce a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OAuthErrorKind {
    /// The token endpoint could not be reached or answered with a server
    /// error (5xx, timeout): retried with backoff.
    Unreachable,
    /// The token endpoint refused the client (wrong client id or secret,
    /// unknown scope: `invalid_client`, `invalid_scope`, ...): not retried.
    Rejected,
    /// The answer was not a usable token response.
    InvalidResponse,
    /// The broker refused a token that had expired (its JWT `exp` claim had
    /// passed): the token source handed out a stale token. Not retried.
    Expired,
}

impl OAuthErrorKind {
    pub fn is_retriable(self) -> bool {
        self == OAuthErrorKind::Unreachable
    }
}

impl fmt::Display for OAuthErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OAuthErrorKind::Unreachable => "token endpoint unreachable",
            OAuthErrorKind::Rejected => "token request rejected",
            OAuthErrorKind::InvalidResponse => "invalid token response",
            OAuthErrorKind::Expired => "token expired",
        })
    }
}

/// A provider's error: what kind, and a message that never contains a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub kind: OAuthErrorKind,
    pub message: String,
}

impl OAuthError {
    pub fn new(kind: OAuthErrorKind, message: impl Into<String>) -> Self {
        OAuthError { kind, message: message.into() }
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl std::error::Error for OAuthError {}

/// Hands out OAUTHBEARER tokens. Called when a connection authenticates and
/// when the cached token is due for refresh (see [`crate::oauth::TokenCache`]);
/// never concurrently for one client.
pub trait OAuthBearerTokenProvider: Send + Sync + 'static {
    fn token(&self) -> BoxFuture<'_, Result<OAuthBearerToken, OAuthError>>;
}

/// A shared provider in a config: compares by identity, prints no internals.
#[derive(Clone)]
pub struct TokenProviderRef(pub Arc<dyn OAuthBearerTokenProvider>);

impl TokenProviderRef {
    pub fn new(provider: impl OAuthBearerTokenProvider) -> Self {
        TokenProviderRef(Arc::new(provider))
    }
}

impl fmt::Debug for TokenProviderRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenProvider")
    }
}

impl PartialEq for TokenProviderRef {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for TokenProviderRef {}
