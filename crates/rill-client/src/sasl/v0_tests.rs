//! SaslHandshake v0 against a loopback fake of a pre-1.0 broker: it knows
//! ApiVersions v0 only (answers a newer one with UNSUPPORTED_VERSION in a v0
//! body, as brokers before KIP-511 do), offers SaslHandshake v0 and no
//! SaslAuthenticate, reads the SASL tokens as raw `[i32 size][token]`
//! frames, answers them raw, and closes the connection when authentication
//! fails. After authentication the connection speaks framed requests again.

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use bytes::Bytes;
use rill_protocol::message::{decode_request, encode_response, Response};
use rill_protocol::messages::api_versions_response::ApiVersion;
use rill_protocol::messages::{ApiVersionsResponse, MetadataRequest, MetadataResponse, RequestBody, RequestHeader, SaslHandshakeResponse};
use rill_protocol::{ApiKey, ErrorCode};
use ring::{digest, hmac, pbkdf2};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::config::{SaslConfig, SaslMechanism, Secret};
use crate::connection::{Connection, ConnectionConfig};
use crate::error::Error;
use crate::stats::BrokerStats;
use crate::transport::TcpTransport;

const USER: &str = "alice";
const PASSWORD: &str = "v0-pass-5e1f";
const SALT: &[u8] = b"rill-v0-salt";
const ITERATIONS: u32 = 4096;

pub(crate) async fn read_frame(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut size = [0u8; 4];
    s.read_exact(&mut size).await.ok()?;
    let mut body = vec![0u8; usize::try_from(i32::from_be_bytes(size)).ok()?];
    s.read_exact(&mut body).await.ok()?;
    Some(body)
}

async fn read_request(s: &mut TcpStream) -> (RequestHeader, RequestBody) {
    let frame = read_frame(s).await.expect("a request frame");
    decode_request(&Bytes::from(frame)).expect("a Kafka request")
}

pub(crate) async fn reply<R: Response>(s: &mut TcpStream, header: &RequestHeader, version: i16, body: &R) {
    s.write_all(&encode_response(header.correlation_id, body, version).unwrap()).await.unwrap();
}

async fn write_raw(s: &mut TcpStream, token: &[u8]) {
    s.write_all(&i32::try_from(token.len()).unwrap().to_be_bytes()).await.unwrap();
    s.write_all(token).await.unwrap();
}

/// What a 0.11 broker lists: no SaslAuthenticate, SaslHandshake v0 only.
fn pre_1_0_versions() -> ApiVersionsResponse {
    let api = |key: ApiKey, max_version| ApiVersion { api_key: key.0, min_version: 0, max_version, ..Default::default() };
    ApiVersionsResponse {
        api_keys: vec![api(ApiKey::API_VERSIONS, 1), api(ApiKey::SASL_HANDSHAKE, 0), api(ApiKey::METADATA, 4)],
        ..Default::default()
    }
}

/// How the fake checks the client's SASL tokens.
#[derive(Clone, Copy)]
enum Script {
    Plain,
    ScramSha256,
}

/// Serves one connection: ApiVersions, SaslHandshake v0, the raw SASL
/// exchange, then Metadata requests. Returns the raw tokens it received.
async fn pre_1_0_broker(listener: TcpListener, script: Script) -> Vec<Vec<u8>> {
    let (mut s, _) = listener.accept().await.unwrap();
    // ApiVersions: the client's first try is newer than v1.
    let (header, body) = read_request(&mut s).await;
    assert!(matches!(body, RequestBody::ApiVersions(_)), "{body:?}");
    assert!(header.request_api_version > 1);
    let refusal = ApiVersionsResponse { error_code: ErrorCode::UNSUPPORTED_VERSION.0, ..Default::default() };
    reply(&mut s, &header, 0, &refusal).await;
    let (header, body) = read_request(&mut s).await;
    assert!(matches!(body, RequestBody::ApiVersions(_)) && header.request_api_version == 0, "{header:?}");
    reply(&mut s, &header, 0, &pre_1_0_versions()).await;

    let (header, body) = read_request(&mut s).await;
    let RequestBody::SaslHandshake(handshake) = body else { panic!("expected SaslHandshake, got {body:?}") };
    assert_eq!(header.request_api_version, 0);
    let mechanisms = vec!["PLAIN".to_string(), "SCRAM-SHA-256".to_string()];
    reply(&mut s, &header, 0, &SaslHandshakeResponse { mechanisms, ..Default::default() }).await;

    let mut tokens = Vec::new();
    match script {
        Script::Plain => {
            assert_eq!(handshake.mechanism, "PLAIN");
            let token = read_frame(&mut s).await.expect("the PLAIN token");
            tokens.push(token.clone());
            if token != format!("\0{USER}\0{PASSWORD}").as_bytes() {
                return tokens; // a v0 broker fails authentication by closing
            }
            // Kafka's PlainSaslServer answers with an empty token.
            write_raw(&mut s, b"").await;
        }
        Script::ScramSha256 => {
            assert_eq!(handshake.mechanism, "SCRAM-SHA-256");
            let client_first = read_frame(&mut s).await.expect("client-first");
            tokens.push(client_first.clone());
            let client_first = String::from_utf8(client_first).unwrap();
            let bare = client_first.strip_prefix("n,,").expect("gs2 header").to_string();
            let client_nonce = bare.split(',').find_map(|a| a.strip_prefix("r=")).unwrap().to_string();
            let server_first = format!("r={client_nonce}srv-nonce,s={},i={ITERATIONS}", B64.encode(SALT));
            write_raw(&mut s, server_first.as_bytes()).await;
            let client_final = read_frame(&mut s).await.expect("client-final");
            tokens.push(client_final.clone());
            let client_final = String::from_utf8(client_final).unwrap();
            let (without_proof, proof) = client_final.rsplit_once(",p=").unwrap();
            let auth_message = format!("{bare},{server_first},{without_proof}");
            let mut salted = [0u8; 32];
            let iterations = std::num::NonZeroU32::new(ITERATIONS).unwrap();
            pbkdf2::derive(pbkdf2::PBKDF2_HMAC_SHA256, iterations, SALT, PASSWORD.as_bytes(), &mut salted);
            let client_key = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &salted), b"Client Key");
            let stored_key = digest::digest(&digest::SHA256, client_key.as_ref());
            let signature = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, stored_key.as_ref()), auth_message.as_bytes());
            let expected: Vec<u8> = client_key.as_ref().iter().zip(signature.as_ref()).map(|(a, b)| a ^ b).collect();
            assert_eq!(B64.decode(proof).unwrap(), expected, "the client proof");
            let server_key = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &salted), b"Server Key");
            let verifier = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, server_key.as_ref()), auth_message.as_bytes());
            write_raw(&mut s, format!("v={}", B64.encode(verifier.as_ref())).as_bytes()).await;
        }
    }
    // Authenticated: framed requests again.
    let (header, body) = read_request(&mut s).await;
    assert!(matches!(body, RequestBody::Metadata(_)), "{body:?}");
    let metadata = MetadataResponse { cluster_id: Some("pre-1.0".into()), ..Default::default() };
    reply(&mut s, &header, header.request_api_version, &metadata).await;
    tokens
}

async fn connect(script: Script, mechanism: SaslMechanism, password: &str) -> (Result<Connection, Error>, Vec<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let broker = tokio::spawn(pre_1_0_broker(listener, script));
    let config = ConnectionConfig {
        sasl: Some(SaslConfig {
            mechanism,
            username: Some(USER.to_string()),
            password: Some(Secret::new(password)),
            oauthbearer: Default::default(),
            kerberos: Default::default(),
        }),
        ..ConnectionConfig::default()
    };
    let result = Connection::connect(&TcpTransport, "127.0.0.1", port, config, Arc::new(BrokerStats::default())).await;
    let result = match result {
        Ok(connection) => {
            let metadata = connection.send(&MetadataRequest::default()).await.expect("a framed request after SASL v0");
            assert_eq!(metadata.cluster_id.as_deref(), Some("pre-1.0"));
            Ok(connection)
        }
        Err(e) => Err(e),
    };
    (result, broker.await.expect("the fake broker"))
}

#[tokio::test]
async fn plain_after_handshake_v0_sends_one_raw_token() {
    let (connection, tokens) = connect(Script::Plain, SaslMechanism::Plain, PASSWORD).await;
    let connection = connection.expect("authenticated over SaslHandshake v0");
    assert_eq!(connection.version_for(ApiKey::SASL_HANDSHAKE).unwrap(), 0);
    assert_eq!(tokens, vec![format!("\0{USER}\0{PASSWORD}").into_bytes()], "the raw PLAIN token, no header");
}

#[tokio::test]
async fn scram_after_handshake_v0_runs_both_rounds_raw_and_checks_the_server() {
    let (connection, tokens) = connect(Script::ScramSha256, SaslMechanism::ScramSha256, PASSWORD).await;
    connection.expect("authenticated over SaslHandshake v0");
    assert_eq!(tokens.len(), 2, "client-first and client-final");
    assert!(tokens[0].starts_with(format!("n,,n={USER},r=").as_bytes()), "{:?}", String::from_utf8_lossy(&tokens[0]));
}

#[tokio::test]
async fn a_v0_broker_closing_the_connection_is_an_authentication_failure() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    // The fake hangs up after the wrong PLAIN token (its task then ends
    // without reaching the Metadata step).
    tokio::spawn(pre_1_0_broker(listener, Script::Plain));
    let config = ConnectionConfig {
        sasl: Some(SaslConfig {
            mechanism: SaslMechanism::Plain,
            username: Some(USER.to_string()),
            password: Some(Secret::new("wrong-v0-pw")),
            oauthbearer: Default::default(),
            kerberos: Default::default(),
        }),
        ..ConnectionConfig::default()
    };
    let err = Connection::connect(&TcpTransport, "127.0.0.1", port, config, Arc::new(BrokerStats::default())).await.expect_err("refused");
    let Error::Authentication { mechanism, message, .. } = &err else { panic!("{err:?}") };
    assert_eq!(*mechanism, "PLAIN");
    assert!(message.contains("closed the connection") && message.contains("SaslHandshake v0"), "{message}");
    assert!(!format!("{err} {err:?}").contains("wrong-v0-pw"), "the password leaked: {err:?}");
}
