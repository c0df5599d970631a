//! The built-in provider: the OAuth 2.0 client-credentials grant (RFC 6749
//! section 4.4) against an OIDC token endpoint, as Kafka's
//! `OAuthBearerLoginCallbackHandler` and librdkafka's
//! `sasl.oauthbearer.method=oidc` do: `POST` `grant_type=client_credentials`
//! (and `scope`) with the client id and secret in HTTP Basic
//! authentication (each form-encoded first, RFC 6749 section 2.3.1).
//!
//! HTTP is reqwest on rustls with the ring provider and the Mozilla roots
//! (no C library). Errors never contain the client secret or the token.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use tracing::debug;

use super::provider::{BoxFuture, OAuthBearerToken, OAuthBearerTokenProvider, OAuthError, OAuthErrorKind};
use crate::config::Secret;

/// How long one token request may take.
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest token response read (a JWT is a few KiB).
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// Client-credentials settings (`sasl.oauthbearer.*`).
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCredentials {
    pub token_endpoint_url: String,
    pub client_id: String,
    pub client_secret: Secret,
    /// Space-separated scopes; `None`: the endpoint's default.
    pub scope: Option<String>,
    pub extensions: BTreeMap<String, String>,
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("token_endpoint_url", &self.token_endpoint_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("scope", &self.scope)
            .field("extensions", &self.extensions)
            .finish()
    }
}

/// The client-credentials provider.
pub struct OidcClientCredentialsProvider {
    settings: ClientCredentials,
    http: tokio::sync::OnceCell<reqwest::Client>,
}

impl fmt::Debug for OidcClientCredentialsProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcClientCredentialsProvider").field("settings", &self.settings).finish()
    }
}

impl OidcClientCredentialsProvider {
    pub fn new(settings: ClientCredentials) -> Self {
        OidcClientCredentialsProvider { settings, http: tokio::sync::OnceCell::new() }
    }

    fn error(&self, kind: OAuthErrorKind, what: impl fmt::Display) -> OAuthError {
        OAuthError::new(kind, format!("{}: {what}", self.settings.token_endpoint_url))
    }

    async fn http(&self) -> Result<&reqwest::Client, OAuthError> {
        self.http
            .get_or_try_init(|| async {
                let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
                let tls = rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .map_err(|e| self.error(OAuthErrorKind::Unreachable, e))?
                    .with_root_certificates(rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() })
                    .with_no_client_auth();
                reqwest::Client::builder()
                    .tls_backend_preconfigured(tls)
                    .timeout(HTTP_TIMEOUT)
                    .no_proxy()
                    .build()
                    .map_err(|e| self.error(OAuthErrorKind::Unreachable, e))
            })
            .await
    }

    async fn fetch(&self) -> Result<OAuthBearerToken, OAuthError> {
        let s = &self.settings;
        let http = self.http().await?;
        let basic = format!("{}:{}", form_encode(&s.client_id), form_encode(s.client_secret.expose()));
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(scope) = s.scope.as_deref().filter(|s| !s.is_empty()) {
            form.push(("scope", scope));
        }
        let mut response = http
            .post(&s.token_endpoint_url)
            .header(reqwest::header::AUTHORIZATION, format!("Basic {}", STANDARD.encode(basic)))
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&form)
            .send()
            .await
            // reqwest's errors name the URL, never the headers or body.
            .map_err(|e| self.error(OAuthErrorKind::Unreachable, error_chain(&e)))?;
        let status = response.status();
        if response.content_length().is_some_and(|n| n > MAX_RESPONSE_BYTES as u64) {
            return Err(self.error(OAuthErrorKind::InvalidResponse, "response larger than 1 MiB"));
        }
        // Read piece by piece against the cap: a body without a
        // Content-Length (chunked) would otherwise be buffered whole first,
        // as much as the endpoint sends within the HTTP timeout.
        let mut body = Vec::new();
        while let Some(piece) = response.chunk().await.map_err(|e| self.error(OAuthErrorKind::Unreachable, error_chain(&e)))? {
            if body.len() + piece.len() > MAX_RESPONSE_BYTES {
                return Err(self.error(OAuthErrorKind::InvalidResponse, "response larger than 1 MiB"));
            }
            body.extend_from_slice(&piece);
        }
        let json: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
        if !status.is_success() {
            // RFC 6749 section 5.2: `error` and `error_description`.
            let field = |name| json.as_ref().and_then(|j| j.get(name)).and_then(|v| v.as_str()).map(crate::error::peer_text);
            let detail = match (field("error"), field("error_description")) {
                (Some(e), Some(d)) => format!("{e}: {d}"),
                (Some(e), None) => e,
                _ => "no OAuth error in the body".to_string(),
            };
            let kind =
                if status.is_server_error() || status.as_u16() == 429 { OAuthErrorKind::Unreachable } else { OAuthErrorKind::Rejected };
            return Err(self.error(kind, format!("HTTP {status}: {detail}")));
        }
        let json = json.ok_or_else(|| self.error(OAuthErrorKind::InvalidResponse, "the body is not JSON"))?;
        let access_token = json
            .get("access_token")
            .and_then(|v| v.as_str())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| self.error(OAuthErrorKind::InvalidResponse, "no access_token in the response"))?;
        let claims = super::jwt::claims(access_token);
        let claim = |name: &str| claims.as_ref().and_then(|c| c.get(name)).and_then(|v| v.as_i64());
        // `expires_in` (RFC 6749 section 5.1), else the JWT's own exp - iat.
        let lifetime_secs = json
            .get("expires_in")
            .and_then(|v| v.as_i64().or_else(|| v.as_str().and_then(|s| s.parse().ok())))
            .or_else(|| claim("exp")?.checked_sub(claim("iat")?))
            .filter(|secs| *secs > 0)
            .ok_or_else(|| self.error(OAuthErrorKind::InvalidResponse, "no expires_in and no exp/iat claims"))?;
        let principal = claims
            .as_ref()
            .and_then(|c| c.get("sub"))
            .and_then(|v| v.as_str())
            .map(crate::error::peer_text)
            .unwrap_or_else(|| s.client_id.clone());
        debug!(endpoint = %s.token_endpoint_url, principal = %principal, lifetime_secs, "token endpoint issued a token");
        Ok(OAuthBearerToken {
            value: Secret::new(access_token),
            lifetime: Duration::from_secs(lifetime_secs.unsigned_abs()),
            principal,
            extensions: s.extensions.clone(),
        })
    }
}

impl OAuthBearerTokenProvider for OidcClientCredentialsProvider {
    fn token(&self) -> BoxFuture<'_, Result<OAuthBearerToken, OAuthError>> {
        Box::pin(self.fetch())
    }
}

/// `application/x-www-form-urlencoded` of one value.
fn form_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => out.push(char::from(b)),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A reqwest error with its causes (reqwest never prints headers or bodies).
fn error_chain(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding() {
        assert_eq!(form_encode("a b+c/é"), "a+b%2Bc%2F%C3%A9");
    }

    /// A token endpoint on loopback answering one request with `head`
    /// (status line and headers) and then `body` (sent as it is, so a test
    /// can frame it), over and over while `endless`; returns the endpoint's URL.
    async fn endpoint(head: &'static str, body: Vec<u8>) -> String {
        endpoint_sending(head, body, false).await
    }

    async fn endpoint_sending(head: &'static str, body: Vec<u8>, endless: bool) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/token", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            // The request's head, then its form body (Content-Length).
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            let body_len = loop {
                let n = socket.read(&mut buf).await.unwrap();
                assert!(n > 0, "request cut short");
                request.extend_from_slice(&buf[..n]);
                if let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&request[..end]).to_ascii_lowercase();
                    let len: usize = head.lines().find_map(|l| l.strip_prefix("content-length:")).map_or(0, |v| v.trim().parse().unwrap());
                    break end + 4 + len;
                }
            };
            while request.len() < body_len {
                let n = socket.read(&mut buf).await.unwrap();
                assert!(n > 0, "request body cut short");
                request.extend_from_slice(&buf[..n]);
            }
            socket.write_all(head.as_bytes()).await.unwrap();
            // The client may stop reading and close: later writes may fail.
            while socket.write_all(&body).await.is_ok() && endless {}
            let _ = socket.shutdown().await;
        });
        url
    }

    fn provider(url: String) -> OidcClientCredentialsProvider {
        OidcClientCredentialsProvider::new(ClientCredentials {
            token_endpoint_url: url,
            client_id: "id".into(),
            client_secret: Secret::new("s3cr3t-value"),
            scope: None,
            extensions: BTreeMap::new(),
        })
    }

    fn jwt(payload: &str) -> String {
        format!("h.{}.s", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload))
    }

    #[tokio::test]
    async fn a_chunked_body_past_the_cap_is_refused_without_reading_it_all() {
        // Chunks without end and no Content-Length: the cap is met while
        // reading (reading the body whole first would last until the HTTP
        // timeout and fail as unreachable).
        let chunk = vec![b' '; 64 * 1024];
        let mut body = format!("{:x}\r\n", chunk.len()).into_bytes();
        body.extend_from_slice(&chunk);
        body.extend_from_slice(b"\r\n");
        let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
        let url = endpoint_sending(head, body, true).await;
        let e = provider(url).fetch().await.unwrap_err();
        assert_eq!(e.kind, OAuthErrorKind::InvalidResponse, "{e}");
        assert!(e.to_string().contains("larger than 1 MiB"), "{e}");
    }

    #[tokio::test]
    async fn lifetimes_from_the_endpoint_are_taken_as_they_are_and_never_overflow() {
        let ok = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n";
        // The largest `expires_in` there is: the token has it (the cache
        // caps what it waits on, see MAX_TOKEN_LIFETIME).
        let url = endpoint(ok, br#"{"access_token":"t","expires_in":9223372036854775807}"#.to_vec()).await;
        let token = provider(url).fetch().await.unwrap();
        assert_eq!(token.lifetime, Duration::from_secs(i64::MAX as u64));
        // exp - iat from the JWT when there is no expires_in ...
        let body = format!(r#"{{"access_token":"{}"}}"#, jwt(r#"{"exp":1300,"iat":1000,"sub":"svc"}"#));
        let token = provider(endpoint(ok, body.into_bytes()).await).fetch().await.unwrap();
        assert_eq!((token.lifetime, token.principal.as_str()), (Duration::from_secs(300), "svc"));
        // ... and claims whose difference overflows an i64 give no lifetime.
        let body = format!(r#"{{"access_token":"{}"}}"#, jwt(r#"{"exp":9223372036854775807,"iat":-1}"#));
        let e = provider(endpoint(ok, body.into_bytes()).await).fetch().await.unwrap_err();
        assert!(e.to_string().contains("no expires_in and no exp/iat claims"), "{e}");
    }

    #[test]
    fn debug_redacts_the_secret() {
        let settings = ClientCredentials {
            token_endpoint_url: "https://idp/token".into(),
            client_id: "id".into(),
            client_secret: Secret::new("s3cr3t-value"),
            scope: None,
            extensions: BTreeMap::new(),
        };
        let text = format!("{:?}", OidcClientCredentialsProvider::new(settings));
        assert!(!text.contains("s3cr3t-value") && text.contains("redacted"), "{text}");
    }
}
