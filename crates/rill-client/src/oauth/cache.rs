//! One client's current OAUTHBEARER token: fetched from the provider on
//! first use, refreshed once 80% of its lifetime plus a jitter of up to 5%
//! (seeded RNG) has passed, as the Java client's
//! `sasl.login.refresh.window.factor` / `.jitter` defaults do, so that every
//! connection authenticating or re-authenticating (KIP-368) after that point
//! presents a fresh token. While the endpoint is down, the old token is used
//! as long as it is valid and the refresh is retried after a growing
//! backoff (`sasl.login.retry.backoff.ms` up to `sasl.login.retry.backoff.max.ms`);
//! without a valid token, a fetch retries unreachable-endpoint errors until
//! the backoffs add up to `sasl.login.retry.backoff.max.ms`.
//!
//! Time comes from `tokio::time` only.

use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;
use tracing::debug;

use super::provider::{OAuthBearerToken, OAuthError, TokenProviderRef};
use crate::backoff::{Backoff, Rng};

/// Refresh after this share of the lifetime ...
const REFRESH_WINDOW_FACTOR: f64 = 0.8;
/// ... plus up to this share at random.
const REFRESH_WINDOW_JITTER: f64 = 0.05;
/// The longest lifetime a token is taken to have. The lifetime comes from
/// the token endpoint (`expires_in`, or the JWT's `exp - iat`) or from an
/// application's provider; `expires_in: 9223372036854775807` overflowed
/// `Instant` and panicked the task connecting. A token that lives longer is
/// only refreshed sooner than it must be.
pub(crate) const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

struct Cached {
    token: OAuthBearerToken,
    expires_at: Instant,
    refresh_at: Instant,
}

struct State {
    current: Option<Cached>,
    /// Backoff of refreshes that failed while the old token was still valid.
    refresh_backoff: Backoff,
}

/// The token cache of one client, shared by its connections.
pub struct TokenCache {
    provider: TokenProviderRef,
    retry_backoff: Duration,
    retry_backoff_max: Duration,
    rng: Mutex<Rng>,
    /// Held across a fetch: one fetch at a time.
    state: tokio::sync::Mutex<State>,
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache").field("retry_backoff", &self.retry_backoff).finish_non_exhaustive()
    }
}

impl TokenCache {
    pub fn new(provider: TokenProviderRef, retry_backoff: Duration, retry_backoff_max: Duration, seed: u64) -> Self {
        TokenCache {
            provider,
            retry_backoff,
            retry_backoff_max,
            rng: Mutex::new(Rng::new(seed)),
            state: tokio::sync::Mutex::new(State { current: None, refresh_backoff: Backoff::new(retry_backoff, retry_backoff_max) }),
        }
    }

    fn rng(&self) -> std::sync::MutexGuard<'_, Rng> {
        self.rng.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A valid token: the cached one, or a new one when the cached one is
    /// due for refresh (or absent).
    pub async fn token(&self) -> Result<OAuthBearerToken, OAuthError> {
        let mut state = self.state.lock().await;
        let now = Instant::now();
        if let Some(cached) = state.current.as_ref().filter(|c| now < c.refresh_at) {
            return Ok(cached.token.clone());
        }
        let still_valid = state.current.as_ref().is_some_and(|c| now < c.expires_at);
        if still_valid {
            // Refresh due: one attempt; keep the old token when it fails.
            match self.provider.0.token().await {
                Ok(token) => {
                    state.refresh_backoff.reset();
                    state.current = Some(self.cache(token));
                }
                Err(e) => {
                    let delay = state.refresh_backoff.next_delay(&mut self.rng());
                    debug!(error = %e, ?delay, "OAUTHBEARER token refresh failed; using the current token meanwhile");
                    if let Some(cached) = state.current.as_mut() {
                        cached.refresh_at = Instant::now() + delay;
                    }
                }
            }
        } else {
            let token = self.fetch_with_retries().await?;
            state.refresh_backoff.reset();
            state.current = Some(self.cache(token));
        }
        state
            .current
            .as_ref()
            .map(|c| c.token.clone())
            .ok_or_else(|| OAuthError::new(super::OAuthErrorKind::InvalidResponse, "no token after a successful fetch"))
    }

    /// Fetches, retrying unreachable-endpoint errors until the backoffs add up
    /// to `sasl.login.retry.backoff.max.ms`.
    async fn fetch_with_retries(&self) -> Result<OAuthBearerToken, OAuthError> {
        let mut backoff = Backoff::new(self.retry_backoff, self.retry_backoff_max);
        let mut waited = Duration::ZERO;
        loop {
            match self.provider.0.token().await {
                Ok(token) => return Ok(token),
                Err(e) if e.kind.is_retriable() => {
                    let delay = backoff.next_delay(&mut self.rng());
                    if waited + delay > self.retry_backoff_max {
                        return Err(e);
                    }
                    debug!(error = %e, ?delay, "OAUTHBEARER token fetch failed; retrying");
                    tokio::time::sleep(delay).await;
                    waited += delay;
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn cache(&self, token: OAuthBearerToken) -> Cached {
        let now = Instant::now();
        let share = REFRESH_WINDOW_FACTOR + REFRESH_WINDOW_JITTER * self.rng().next_f64();
        debug!(principal = %token.principal, lifetime = ?token.lifetime, "OAUTHBEARER token fetched");
        let lifetime = token.lifetime.min(MAX_TOKEN_LIFETIME);
        Cached { expires_at: now + lifetime, refresh_at: now + lifetime.mul_f64(share), token }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, VecDeque};
    use std::sync::Arc;

    use super::*;
    use crate::config::Secret;
    use crate::oauth::{BoxFuture, OAuthBearerTokenProvider, OAuthErrorKind};

    /// Answers from a script; counts calls.
    struct Scripted(Mutex<VecDeque<Result<OAuthBearerToken, OAuthError>>>, Arc<Mutex<u32>>);

    impl OAuthBearerTokenProvider for Scripted {
        fn token(&self) -> BoxFuture<'_, Result<OAuthBearerToken, OAuthError>> {
            *self.1.lock().unwrap() += 1;
            let next = self.0.lock().unwrap().pop_front();
            Box::pin(async move { next.unwrap_or_else(|| Err(OAuthError::new(OAuthErrorKind::Rejected, "script over"))) })
        }
    }

    fn token(value: &str, lifetime_secs: u64) -> Result<OAuthBearerToken, OAuthError> {
        Ok(OAuthBearerToken {
            value: Secret::new(value),
            lifetime: Duration::from_secs(lifetime_secs),
            principal: "p".into(),
            extensions: BTreeMap::new(),
        })
    }

    fn down() -> Result<OAuthBearerToken, OAuthError> {
        Err(OAuthError::new(OAuthErrorKind::Unreachable, "connection refused"))
    }

    fn scripted(script: Vec<Result<OAuthBearerToken, OAuthError>>) -> (TokenCache, Arc<Mutex<u32>>) {
        let calls = Arc::new(Mutex::new(0));
        let provider = TokenProviderRef::new(Scripted(Mutex::new(script.into()), calls.clone()));
        (TokenCache::new(provider, Duration::from_millis(100), Duration::from_secs(10), 7), calls)
    }

    #[tokio::test(start_paused = true)]
    async fn refreshes_between_80_and_85_percent_of_the_lifetime() {
        let (cache, calls) = scripted(vec![token("a", 100), token("b", 100)]);
        assert_eq!(cache.token().await.unwrap().value.expose(), "a");
        tokio::time::sleep(Duration::from_secs(79)).await;
        assert_eq!(cache.token().await.unwrap().value.expose(), "a");
        assert_eq!(*calls.lock().unwrap(), 1);
        tokio::time::sleep(Duration::from_secs(6)).await;
        assert_eq!(cache.token().await.unwrap().value.expose(), "b");
        assert_eq!(*calls.lock().unwrap(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_token_living_longer_than_a_week_is_refreshed_within_one() {
        // u64::MAX seconds: `Instant + lifetime` would overflow and panic.
        let (cache, calls) = scripted(vec![token("a", u64::MAX), token("b", 100)]);
        assert_eq!(cache.token().await.unwrap().value.expose(), "a");
        tokio::time::sleep(MAX_TOKEN_LIFETIME.mul_f64(0.79)).await;
        assert_eq!(cache.token().await.unwrap().value.expose(), "a");
        tokio::time::sleep(MAX_TOKEN_LIFETIME.mul_f64(0.07)).await;
        assert_eq!(cache.token().await.unwrap().value.expose(), "b");
        assert_eq!(*calls.lock().unwrap(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn keeps_the_valid_token_while_the_endpoint_is_down_and_backs_off() {
        let (cache, calls) = scripted(vec![token("a", 100), down(), down(), token("b", 100)]);
        cache.token().await.unwrap();
        tokio::time::sleep(Duration::from_secs(90)).await;
        // Refresh fails: the old token, and no new attempt before the backoff.
        assert_eq!(cache.token().await.unwrap().value.expose(), "a");
        assert_eq!(cache.token().await.unwrap().value.expose(), "a");
        assert_eq!(*calls.lock().unwrap(), 2);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(cache.token().await.unwrap().value.expose(), "a");
        assert_eq!(*calls.lock().unwrap(), 3);
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(cache.token().await.unwrap().value.expose(), "b");
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_token_retries_an_unreachable_endpoint_then_fails_and_never_retries_a_rejection() {
        let (cache, calls) = scripted(vec![down(), down(), token("a", 100)]);
        assert_eq!(cache.token().await.unwrap().value.expose(), "a");
        assert_eq!(*calls.lock().unwrap(), 3);

        let (cache, calls) = scripted(vec![down(); 1000]);
        let start = Instant::now();
        let err = cache.token().await.unwrap_err();
        assert_eq!(err.kind, OAuthErrorKind::Unreachable);
        assert!(start.elapsed() <= Duration::from_secs(10), "{:?}", start.elapsed());
        assert!(*calls.lock().unwrap() >= 5);

        let (cache, calls) = scripted(vec![Err(OAuthError::new(OAuthErrorKind::Rejected, "invalid_client")), token("a", 100)]);
        assert_eq!(cache.token().await.unwrap_err().kind, OAuthErrorKind::Rejected);
        assert_eq!(*calls.lock().unwrap(), 1);
    }
}
