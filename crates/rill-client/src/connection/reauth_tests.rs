//! Re-authentication against a loopback fake broker that grants sessions
//! of one millisecond.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use rill_protocol::message::decode_request;
use rill_protocol::messages::api_versions_response::ApiVersion;
use rill_protocol::messages::{ApiVersionsResponse, RequestBody, SaslAuthenticateResponse, SaslHandshakeResponse};
use rill_protocol::ApiKey;
use tokio::net::TcpListener;

use super::reauth::MIN_REAUTH_INTERVAL;
use super::{Connection, ConnectionConfig};
use crate::config::{SaslConfig, SaslMechanism, Secret};
use crate::sasl::v0_tests::{read_frame, reply};
use crate::stats::BrokerStats;
use crate::transport::TcpTransport;

/// Answers ApiVersions, SaslHandshake (PLAIN) and SaslAuthenticate on one
/// connection, granting 1 ms sessions; counts the SaslAuthenticate rounds.
async fn one_millisecond_sessions(listener: TcpListener, rounds: Arc<AtomicUsize>) {
    let (mut s, _) = listener.accept().await.unwrap();
    let api = |key: ApiKey, max_version| ApiVersion { api_key: key.0, min_version: 0, max_version, ..Default::default() };
    let versions = ApiVersionsResponse {
        api_keys: vec![
            api(ApiKey::API_VERSIONS, 3),
            api(ApiKey::SASL_HANDSHAKE, 1),
            api(ApiKey::SASL_AUTHENTICATE, 2),
            api(ApiKey::METADATA, 12),
        ],
        ..Default::default()
    };
    while let Some(frame) = read_frame(&mut s).await {
        let (header, body) = decode_request(&Bytes::from(frame)).expect("a Kafka request");
        let version = header.request_api_version;
        match body {
            RequestBody::ApiVersions(_) => reply(&mut s, &header, version, &versions).await,
            RequestBody::SaslHandshake(_) => {
                let mechanisms = vec!["PLAIN".to_string()];
                reply(&mut s, &header, version, &SaslHandshakeResponse { mechanisms, ..Default::default() }).await
            }
            RequestBody::SaslAuthenticate(_) => {
                rounds.fetch_add(1, Ordering::SeqCst);
                reply(&mut s, &header, version, &SaslAuthenticateResponse { session_lifetime_ms: 1, ..Default::default() }).await
            }
            other => panic!("unexpected request {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_broker_granting_millisecond_sessions_gets_a_reauthentication_a_second_at_most() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let rounds = Arc::new(AtomicUsize::new(0));
    tokio::spawn(one_millisecond_sessions(listener, rounds.clone()));
    let config = ConnectionConfig {
        sasl: Some(SaslConfig {
            mechanism: SaslMechanism::Plain,
            username: Some("alice".to_string()),
            password: Some(Secret::new("pw")),
            oauthbearer: Default::default(),
            kerberos: Default::default(),
        }),
        ..ConnectionConfig::default()
    };
    let connection = Connection::connect(&TcpTransport, "127.0.0.1", port, config, Arc::new(BrokerStats::default())).await.unwrap();
    assert_eq!(rounds.load(Ordering::SeqCst), 1, "the first authentication");
    // Two and a half intervals: re-authenticated at about 1 s and 2 s (with
    // no floor, a round each millisecond or so: hundreds).
    tokio::time::sleep(MIN_REAUTH_INTERVAL.mul_f64(2.5)).await;
    let n = rounds.load(Ordering::SeqCst);
    assert!((2..=4).contains(&n), "{n} authentications in 2.5 s");
    drop(connection);
}
