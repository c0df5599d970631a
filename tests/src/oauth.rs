//! A small OAuth 2.0 authorization server for the OAUTHBEARER listener.
//!
//! Serves, on a loopback port, for as long as the cluster lives (the brokers
//! fetch the JWKS from it):
//! - `POST /token`: client-credentials grant; client id and secret by HTTP
//!   Basic or form fields; optional `scope`; answers
//!   `{"access_token", "token_type": "Bearer", "expires_in", "scope"}` with an
//!   RS256-signed JWT;
//! - `POST /<tenant>/oauth2/v2.0/token`: the same, at the path Microsoft
//!   Entra ID (Azure AD) serves it under its authority host
//!   ([`OAuthServer::authority_host`]), so Azure AD presets can be pointed here;
//! - `GET /jwks`: the JSON Web Key Set with the signing key's public half.
//!
//! Every token request's path, client and scope are kept
//! ([`OAuthServer::token_requests`]) for tests to check what a client asked for.
//!
//! Tests can take the endpoint down and up ([`OAuthServer::set_available`]),
//! shorten token lifetimes ([`OAuthServer::set_token_lifetime_secs`]) and mint
//! tokens directly, including expired, wrongly signed and wrong-audience ones
//! ([`OAuthServer::mint`]).

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use serde_json::json;

use crate::error::{Context, HarnessError, Result};
use crate::secret::Secret;

/// A registered OAuth client (client-credentials grant).
#[derive(Debug, Clone)]
pub struct OAuthClient {
    pub client_id: String,
    pub client_secret: Secret,
    /// Scopes this client may request; granted all of them when it asks for none.
    pub allowed_scopes: Vec<String>,
}

/// A `POST` to a token path, as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    /// `/token` or `/<tenant>/oauth2/v2.0/token`.
    pub path: String,
    /// The client id presented (HTTP Basic or form), if any.
    pub client_id: Option<String>,
    /// The `scope` form field, if any.
    pub scope: Option<String>,
}

/// What kind of token [`OAuthServer::mint`] produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// Signed by the published key, valid now, right issuer and audience.
    Valid,
    /// Expired two minutes ago (beyond Kafka's default 30 s clock skew).
    Expired,
    /// Signed by a key that is not in the JWKS (same `kid`, other key).
    WrongSignature,
    /// Audience the brokers do not expect.
    WrongAudience,
}

struct SigningKey {
    key_pair: RsaKeyPair,
    kid: String,
}

struct State {
    signing: SigningKey,
    rogue: SigningKey,
    issuer: String,
    audience: String,
    clients: Vec<OAuthClient>,
    token_lifetime_secs: AtomicU64,
    available: AtomicBool,
    tokens_issued: AtomicU64,
    requests: Mutex<Vec<TokenRequest>>,
    stopping: AtomicBool,
    port: u16,
    /// The bound listener while the endpoint is available.
    listener: Mutex<Option<TcpListener>>,
}

/// The running token endpoint. Dropping it stops the server thread.
pub struct OAuthServer {
    state: Arc<State>,
    thread: Option<thread::JoinHandle<()>>,
}

impl std::fmt::Debug for OAuthServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthServer")
            .field("token_url", &self.token_url())
            .field("jwks_url", &self.jwks_url())
            .field("issuer", &self.state.issuer)
            .field("audience", &self.state.audience)
            .field("clients", &self.state.clients)
            .finish()
    }
}

impl OAuthServer {
    /// Generates RSA keys under `dir` and starts serving on a free loopback port.
    pub fn start(dir: &Path, clients: Vec<OAuthClient>) -> Result<OAuthServer> {
        std::fs::create_dir_all(dir).context(|| format!("creating {}", dir.display()))?;
        let signing = rsa_key(&dir.join("jwt-signing-key.pem"), "rill-oauth-1")?;
        // Same kid on purpose: the broker must check the signature, not just the key id.
        let rogue = rsa_key(&dir.join("jwt-rogue-key.pem"), "rill-oauth-1")?;
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context(|| "binding the OAuth token endpoint".to_string())?;
        listener.set_nonblocking(true).context(|| "making the OAuth listener non-blocking".to_string())?;
        let port = listener.local_addr().context(|| "OAuth listener address".to_string())?.port();
        let state = Arc::new(State {
            signing,
            rogue,
            issuer: format!("http://127.0.0.1:{port}"),
            audience: "rill-kafka".to_string(),
            clients,
            token_lifetime_secs: AtomicU64::new(3600),
            available: AtomicBool::new(true),
            tokens_issued: AtomicU64::new(0),
            requests: Mutex::new(Vec::new()),
            stopping: AtomicBool::new(false),
            port,
            listener: Mutex::new(Some(listener)),
        });
        let serving = Arc::clone(&state);
        let thread = thread::Builder::new()
            .name("rill-e2e-oauth".into())
            .spawn(move || serve(&serving))
            .context(|| "starting the OAuth server thread".to_string())?;
        Ok(OAuthServer { state, thread: Some(thread) })
    }

    pub fn token_url(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.state.port)
    }

    /// The base URL to give an Azure AD client as its authority host: tokens
    /// are served at `<authority host>/<tenant>/oauth2/v2.0/token` for any tenant.
    pub fn authority_host(&self) -> String {
        format!("http://127.0.0.1:{}", self.state.port)
    }

    /// Every token request so far, oldest first.
    pub fn token_requests(&self) -> Vec<TokenRequest> {
        self.state.requests.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn jwks_url(&self) -> String {
        format!("http://127.0.0.1:{}/jwks", self.state.port)
    }

    pub fn issuer(&self) -> &str {
        &self.state.issuer
    }

    pub fn audience(&self) -> &str {
        &self.state.audience
    }

    pub fn clients(&self) -> &[OAuthClient] {
        &self.state.clients
    }

    /// Lifetime (`exp - iat`) of tokens issued from now on.
    pub fn set_token_lifetime_secs(&self, lifetime_secs: u64) {
        self.state.token_lifetime_secs.store(lifetime_secs, Ordering::SeqCst);
    }

    /// Takes the endpoint down (connections refused) or brings it back on the same port.
    pub fn set_available(&self, available: bool) -> Result<()> {
        let mut listener = self.state.listener.lock().unwrap_or_else(|p| p.into_inner());
        if available && listener.is_none() {
            let bound = TcpListener::bind((Ipv4Addr::LOCALHOST, self.state.port))
                .context(|| format!("re-binding the OAuth endpoint on port {}", self.state.port))?;
            bound.set_nonblocking(true).context(|| "making the OAuth listener non-blocking".to_string())?;
            *listener = Some(bound);
        } else if !available {
            *listener = None;
        }
        self.state.available.store(available, Ordering::SeqCst);
        Ok(())
    }

    /// Number of tokens issued through `POST /token` so far.
    pub fn tokens_issued(&self) -> u64 {
        self.state.tokens_issued.load(Ordering::SeqCst)
    }

    /// Mints a token for `subject` directly, without the HTTP endpoint.
    pub fn mint(&self, subject: &str, scopes: &[&str], kind: TokenKind) -> Result<Secret> {
        let now = now_secs();
        let lifetime = self.state.token_lifetime_secs.load(Ordering::SeqCst);
        let (issued_at, expires_at) = match kind {
            TokenKind::Expired => (now - 600, now - 120),
            _ => (now, now + lifetime),
        };
        let audience = match kind {
            TokenKind::WrongAudience => "someone-else",
            _ => self.state.audience.as_str(),
        };
        let key = match kind {
            TokenKind::WrongSignature => &self.state.rogue,
            _ => &self.state.signing,
        };
        sign_jwt(key, &self.state.issuer, audience, subject, &scopes.join(" "), issued_at, expires_at)
    }

    /// The JWKS document served at `/jwks`.
    pub fn jwks(&self) -> serde_json::Value {
        jwks(&self.state.signing)
    }
}

impl Drop for OAuthServer {
    fn drop(&mut self) {
        self.state.stopping.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// RSA-2048 key from the openssl CLI (ring can sign with RSA but not generate
/// RSA keys); generated once per cluster.
fn rsa_key(path: &Path, kid: &str) -> Result<SigningKey> {
    let output = Command::new("openssl")
        .args(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out"])
        .arg(path)
        .output()
        .context(|| "running openssl genpkey for the JWT signing key".to_string())?;
    if !output.status.success() {
        return Err(HarnessError::new(format!("openssl genpkey failed: {}", String::from_utf8_lossy(&output.stderr))));
    }
    let pem = std::fs::read_to_string(path).context(|| format!("reading {}", path.display()))?;
    let body: String = pem.lines().filter(|line| !line.starts_with("-----")).collect();
    let der = STANDARD.decode(body).context(|| format!("decoding PEM {}", path.display()))?;
    let key_pair = RsaKeyPair::from_pkcs8(&der).context(|| format!("loading RSA key {}", path.display()))?;
    Ok(SigningKey { key_pair, kid: kid.to_string() })
}

fn jwks(key: &SigningKey) -> serde_json::Value {
    let public: ring::rsa::PublicKeyComponents<Vec<u8>> = key.key_pair.public().into();
    json!({
        "keys": [{
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": key.kid,
            "n": URL_SAFE_NO_PAD.encode(&public.n),
            "e": URL_SAFE_NO_PAD.encode(&public.e),
        }]
    })
}

fn sign_jwt(key: &SigningKey, issuer: &str, audience: &str, subject: &str, scope: &str, issued_at: u64, expires_at: u64) -> Result<Secret> {
    static TOKEN_COUNTER: AtomicU64 = AtomicU64::new(0);
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": key.kid});
    let claims = json!({
        "iss": issuer,
        "sub": subject,
        "aud": audience,
        "iat": issued_at,
        "nbf": issued_at,
        "exp": expires_at,
        "scope": scope,
        "client_id": subject,
        "jti": format!("rill-{}-{}", std::process::id(), TOKEN_COUNTER.fetch_add(1, Ordering::SeqCst)),
    });
    let signing_input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
    let mut signature = vec![0u8; key.key_pair.public().modulus_len()];
    key.key_pair
        .sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), signing_input.as_bytes(), &mut signature)
        .context(|| "signing a JWT with RS256".to_string())?;
    Ok(Secret::new(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))))
}

fn serve(state: &State) {
    while !state.stopping.load(Ordering::SeqCst) {
        let accepted = {
            let listener = state.listener.lock().unwrap_or_else(|p| p.into_inner());
            match listener.as_ref() {
                Some(listener) => listener.accept().ok(),
                None => None,
            }
        };
        match accepted {
            Some((stream, peer)) => {
                // Requests are tiny; one at a time keeps the server simple.
                if let Err(error) = handle(state, stream, peer) {
                    eprintln!("rill-e2e oauth: request from {peer} failed: {error}");
                }
            }
            None => thread::sleep(Duration::from_millis(5)),
        }
    }
}

struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: String,
}

fn read_request(stream: &TcpStream) -> std::io::Result<Request> {
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            break;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    let length: usize = headers.iter().find(|(name, _)| name == "content-length").and_then(|(_, value)| value.parse().ok()).unwrap_or(0);
    let mut body = vec![0u8; length.min(64 * 1024)];
    reader.read_exact(&mut body)?;
    Ok(Request { method, path, headers, body: String::from_utf8_lossy(&body).into_owned() })
}

fn handle(state: &State, stream: TcpStream, _peer: SocketAddr) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let request = read_request(&stream)?;
    let path = request.path.split('?').next().unwrap_or_default();
    let (status, body) = match (request.method.as_str(), path) {
        ("GET", "/jwks") | ("GET", "/.well-known/jwks.json") => (200, jwks(&state.signing)),
        ("POST", "/token") => token(state, path, &request),
        ("POST", entra) if is_entra_token_path(entra) => token(state, path, &request),
        _ => (404, json!({"error": "not_found"})),
    };
    respond(stream, status, &body)
}

fn respond(mut stream: TcpStream, status: u16, body: &serde_json::Value) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        _ => "Not Found",
    };
    let body = body.to_string();
    write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

/// `/<tenant>/oauth2/v2.0/token` with a non-empty tenant segment.
fn is_entra_token_path(path: &str) -> bool {
    path.strip_prefix('/')
        .and_then(|rest| rest.strip_suffix("/oauth2/v2.0/token"))
        .is_some_and(|tenant| !tenant.is_empty() && !tenant.contains('/'))
}

fn token(state: &State, path: &str, request: &Request) -> (u16, serde_json::Value) {
    let form = parse_form(&request.body);
    let field = |name: &str| form.iter().find(|(key, _)| key == name).map(|(_, value)| value.clone());
    let basic = request
        .headers
        .iter()
        .find(|(name, _)| name == "authorization")
        .and_then(|(_, value)| value.strip_prefix("Basic ").or_else(|| value.strip_prefix("basic ")))
        .and_then(|encoded| STANDARD.decode(encoded.trim()).ok())
        .and_then(|decoded| String::from_utf8(decoded).ok())
        .and_then(|pair| pair.split_once(':').map(|(id, secret)| (url_decode(id), url_decode(secret))));
    state.requests.lock().unwrap_or_else(|p| p.into_inner()).push(TokenRequest {
        path: path.to_string(),
        client_id: basic.as_ref().map(|(id, _)| id.clone()).or_else(|| field("client_id")),
        scope: field("scope"),
    });
    if field("grant_type").as_deref() != Some("client_credentials") {
        return (400, json!({"error": "unsupported_grant_type"}));
    }
    let (client_id, client_secret) = match basic {
        Some(pair) => pair,
        None => match (field("client_id"), field("client_secret")) {
            (Some(id), Some(secret)) => (id, secret),
            _ => return (401, json!({"error": "invalid_client", "error_description": "no client credentials"})),
        },
    };
    let Some(client) = state.clients.iter().find(|client| client.client_id == client_id && client.client_secret.expose() == client_secret)
    else {
        return (401, json!({"error": "invalid_client"}));
    };
    let requested: BTreeSet<String> = field("scope").unwrap_or_default().split_whitespace().map(str::to_string).collect();
    let allowed: BTreeSet<String> = client.allowed_scopes.iter().cloned().collect();
    if !requested.is_subset(&allowed) {
        return (400, json!({"error": "invalid_scope"}));
    }
    let granted = if requested.is_empty() { allowed } else { requested };
    let scope = granted.into_iter().collect::<Vec<_>>().join(" ");
    let lifetime = state.token_lifetime_secs.load(Ordering::SeqCst);
    let now = now_secs();
    match sign_jwt(&state.signing, &state.issuer, &state.audience, &client.client_id, &scope, now, now + lifetime) {
        Ok(token) => {
            state.tokens_issued.fetch_add(1, Ordering::SeqCst);
            (200, json!({"access_token": token.expose(), "token_type": "Bearer", "expires_in": lifetime, "scope": scope}))
        }
        Err(error) => (400, json!({"error": "server_error", "error_description": error.to_string()})),
    }
}

fn parse_form(body: &str) -> Vec<(String, String)> {
    body.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (url_decode(key), url_decode(value))
        })
        .collect()
}

fn url_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                Ok(byte) => {
                    out.push(byte);
                    i += 2;
                }
                Err(_) => out.push(b'%'),
            },
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server() -> OAuthServer {
        // One directory per server: tests run in parallel and each writes its own keys.
        static SERVERS: AtomicU64 = AtomicU64::new(0);
        let dir = crate::paths::target_dir().join("rill-e2e-unit").join(format!(
            "oauth-{}-{}",
            std::process::id(),
            SERVERS.fetch_add(1, Ordering::SeqCst)
        ));
        OAuthServer::start(
            &dir,
            vec![OAuthClient {
                client_id: "app".into(),
                client_secret: Secret::new("app-secret"),
                allowed_scopes: vec!["kafka".into(), "extra".into()],
            }],
        )
        .expect("start OAuth server")
    }

    fn http(port: u16, request: &str) -> String {
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).expect("connect");
        stream.write_all(request.as_bytes()).expect("write");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read");
        response
    }

    fn post_token(port: u16, authorization: &str, body: &str) -> String {
        http(
            port,
            &format!(
                "POST /token HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
                STANDARD.encode(authorization),
                body.len()
            ),
        )
    }

    #[test]
    fn client_credentials_grant_issues_scoped_tokens_and_refuses_bad_secrets() {
        let server = server();
        let port = server.state.port;
        let ok = post_token(port, "app:app-secret", "grant_type=client_credentials&scope=kafka");
        assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
        assert!(ok.contains("\"token_type\":\"Bearer\""), "{ok}");
        assert!(ok.contains("\"scope\":\"kafka\""), "{ok}");
        let wrong = post_token(port, "app:nope", "grant_type=client_credentials");
        assert!(wrong.starts_with("HTTP/1.1 401"), "{wrong}");
        let scope = post_token(port, "app:app-secret", "grant_type=client_credentials&scope=admin");
        assert!(scope.starts_with("HTTP/1.1 400") && scope.contains("invalid_scope"), "{scope}");
        let grant = post_token(port, "app:app-secret", "grant_type=password");
        assert!(grant.contains("unsupported_grant_type"), "{grant}");
        assert_eq!(server.tokens_issued(), 1);
    }

    #[test]
    fn entra_token_paths_are_served_and_requests_are_recorded() {
        let server = server();
        let port = server.state.port;
        let body = "grant_type=client_credentials&scope=kafka";
        let request = |path: &str| {
            http(
                port,
                &format!(
                    "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {}\r\nContent-Length: {}\r\n\r\n{body}",
                    STANDARD.encode("app:app-secret"),
                    body.len()
                ),
            )
        };
        let ok = request("/tenant-1/oauth2/v2.0/token");
        assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
        for wrong in ["//oauth2/v2.0/token", "/a/b/oauth2/v2.0/token", "/tenant-1/oauth2/token"] {
            let answer = request(wrong);
            assert!(answer.starts_with("HTTP/1.1 404"), "{wrong}: {answer}");
        }
        assert_eq!(
            server.token_requests(),
            [TokenRequest { path: "/tenant-1/oauth2/v2.0/token".into(), client_id: Some("app".into()), scope: Some("kafka".into()) }]
        );
        assert!(server.authority_host().starts_with("http://127.0.0.1:"));
    }

    #[test]
    fn tokens_verify_against_the_jwks_only_when_signed_by_the_published_key() {
        let server = server();
        let jwks = server.jwks();
        let n = URL_SAFE_NO_PAD.decode(jwks["keys"][0]["n"].as_str().expect("n")).expect("n base64");
        let e = URL_SAFE_NO_PAD.decode(jwks["keys"][0]["e"].as_str().expect("e")).expect("e base64");
        let public = ring::signature::RsaPublicKeyComponents { n: &n, e: &e };
        let verify = |token: &Secret| {
            let (input, signature) = token.expose().rsplit_once('.').expect("three parts");
            let signature = URL_SAFE_NO_PAD.decode(signature).expect("signature base64");
            public.verify(&ring::signature::RSA_PKCS1_2048_8192_SHA256, input.as_bytes(), &signature).is_ok()
        };
        assert!(verify(&server.mint("app", &["kafka"], TokenKind::Valid).expect("mint")));
        assert!(verify(&server.mint("app", &["kafka"], TokenKind::Expired).expect("mint")));
        assert!(!verify(&server.mint("app", &["kafka"], TokenKind::WrongSignature).expect("mint")));
        let expired = server.mint("app", &[], TokenKind::Expired).expect("mint");
        let claims = expired.expose().split('.').nth(1).expect("claims");
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).expect("claims base64")).expect("claims json");
        assert!(claims["exp"].as_u64().expect("exp") < now_secs());
    }

    #[test]
    fn endpoint_goes_down_and_comes_back_on_the_same_port() {
        let server = server();
        let port = server.state.port;
        server.set_available(false).expect("down");
        thread::sleep(Duration::from_millis(50));
        assert!(TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err(), "endpoint still accepting while down");
        server.set_available(true).expect("up");
        let jwks = http(port, "GET /jwks HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(jwks.starts_with("HTTP/1.1 200") && jwks.contains("RS256"), "{jwks}");
    }
}
