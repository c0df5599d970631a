//! rill-client with SASL/OAUTHBEARER against real Apache Kafka (the shared
//! single-node cluster of this test binary, its SASL_SSL listener validating
//! JWTs against the harness's OAuth server): tokens from the built-in OIDC
//! client-credentials provider and from an application's own provider; the
//! token endpoint down, a wrong client secret and tokens the broker refuses,
//! each as its own error kind; 30-second tokens across KIP-368
//! re-authentications on the same connections; and the client secret and
//! tokens never in Debug output, errors or logs.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use rill_client::oauth::{BoxFuture, OAuthBearerToken, OAuthBearerTokenProvider, OAuthError, OAuthErrorKind};
use rill_client::{Client, ClientConfig, Error, NewTopic, OffsetSpec, Secret};
use rill_e2e::oauth::TokenKind;
use rill_e2e::{KafkaCluster, Listener};

/// Everything rill logs in this binary (TRACE), for the secret search.
fn captured_logs() -> &'static Mutex<Vec<u8>> {
    static LOGS: OnceLock<&'static Mutex<Vec<u8>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs: &'static Mutex<Vec<u8>> = Box::leak(Box::new(Mutex::new(Vec::new())));
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || LogWriter(logs))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only global subscriber");
        logs
    })
}

struct LogWriter(&'static Mutex<Vec<u8>>);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// OAUTHBEARER over SASL_SSL with `extra` properties on top of the cluster's OAuth client.
fn config(cluster: &KafkaCluster, extra: &[(&str, &str)]) -> ClientConfig {
    captured_logs();
    let bootstrap = cluster.bootstrap(Listener::SaslSsl);
    let ca = cluster.tls().ca_cert_pem.to_str().expect("UTF-8 path").to_string();
    let credentials = cluster.credentials();
    let token_url = cluster.oauth().token_url();
    let mut properties: BTreeMap<&str, &str> = [
        ("bootstrap.servers", bootstrap.as_str()),
        ("client.id", "rill-e2e-oauth"),
        ("security.protocol", "SASL_SSL"),
        ("ssl.ca.location", ca.as_str()),
        ("sasl.mechanism", "OAUTHBEARER"),
        ("sasl.oauthbearer.method", "oidc"),
        ("sasl.oauthbearer.token.endpoint.url", token_url.as_str()),
        ("sasl.oauthbearer.client.id", credentials.oauth_client_id.as_str()),
        ("sasl.oauthbearer.client.secret", credentials.oauth_client_secret.expose()),
        ("sasl.oauthbearer.scope", credentials.oauth_scope.as_str()),
        ("sasl.oauthbearer.extensions", "traceId=rill-e2e"),
        ("request.timeout.ms", "30000"),
    ]
    .into();
    properties.extend(extra.iter().copied());
    ClientConfig::from_properties(properties).expect("valid config")
}

/// The secrets that must never show: the real and a wrong client secret.
const WRONG_SECRET: &str = "wrong-secret-7f3a9c";

fn assert_no_secret(cluster: &KafkaCluster, text: &str, what: &str) {
    let secret = cluster.credentials().oauth_client_secret.expose();
    for needle in [secret, WRONG_SECRET] {
        assert!(!text.contains(needle), "{what} contains a client secret: {text}");
    }
}

#[tokio::test]
async fn metadata_topic_and_offsets_round_trip_over_oauthbearer() {
    let cluster = KafkaCluster::single();
    let issued_before = cluster.oauth().tokens_issued();
    let client = Client::connect(config(cluster, &[])).await.expect("connect with an OIDC token");
    assert!(cluster.oauth().tokens_issued() > issued_before, "a token came from the endpoint");
    let topic = cluster.unique_topic("oauth-round-trip");
    let created = client.create_topics(&[NewTopic::new(&topic, 1, 1)], Duration::from_secs(30)).await.expect("create");
    assert!(created[0].result.is_ok(), "{created:?}");
    let metadata = client.metadata(&[&topic]).await.expect("metadata");
    assert_eq!(metadata.cluster_id.as_deref(), Some(cluster.cluster_id()));
    assert_eq!(metadata.topic(&topic).expect("topic").partitions.len(), 1);
    // Records written by Kafka's own producer are counted through the OAUTHBEARER connection.
    cluster.wait_for_partition(&topic, 0, Duration::from_secs(30), "a leader", |p| p.leader.is_some()).expect("leader");
    for value in ["a", "b"] {
        cluster.produce_acks_all(&topic, value).expect("probe").expect("produced");
    }
    let offsets = client.list_offsets(&[(&topic, 0, OffsetSpec::Latest)]).await.expect("list offsets");
    assert_eq!(offsets[&(topic.clone(), 0)].as_ref().expect("offset").offset, 2);
    assert_eq!(client.stats().total().errors, 0);
}

#[tokio::test]
async fn token_endpoint_down_is_an_unreachable_token_error() {
    let cluster = KafkaCluster::single();
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let url = format!("http://127.0.0.1:{port}/token");
    let config = config(
        cluster,
        &[
            ("sasl.oauthbearer.token.endpoint.url", url.as_str()),
            ("sasl.login.retry.backoff.ms", "50"),
            ("sasl.login.retry.backoff.max.ms", "1000"),
        ],
    );
    let started = Instant::now();
    let err = Client::connect(config).await.expect_err("no token, no connection");
    println!("endpoint down: {err}");
    assert_eq!(err.oauth_kind(), Some(OAuthErrorKind::Unreachable), "{err:?}");
    assert!(err.to_string().contains(&url), "{err}");
    assert!(started.elapsed() < Duration::from_secs(30), "retries are bounded: {:?}", started.elapsed());
    assert_no_secret(cluster, &format!("{err} {err:?}"), "the error");
}

#[tokio::test]
async fn wrong_client_secret_is_a_rejected_token_error() {
    let cluster = KafkaCluster::single();
    let config = config(cluster, &[("sasl.oauthbearer.client.secret", WRONG_SECRET)]);
    assert_no_secret(cluster, &format!("{config:?}"), "the config's Debug");
    let started = Instant::now();
    let err = Client::connect(config).await.expect_err("refused by the token endpoint");
    println!("wrong secret: {err}");
    assert_eq!(err.oauth_kind(), Some(OAuthErrorKind::Rejected), "{err:?}");
    assert!(err.to_string().contains("invalid_client"), "{err}");
    assert!(!err.is_retriable());
    assert!(started.elapsed() < Duration::from_secs(10), "a rejection is not retried: {:?}", started.elapsed());
    assert_no_secret(cluster, &format!("{err} {err:?}"), "the error");
}

/// An application's own provider: hands out one fixed token.
struct FixedToken(Secret);

impl OAuthBearerTokenProvider for FixedToken {
    fn token(&self) -> BoxFuture<'_, Result<OAuthBearerToken, OAuthError>> {
        let token = OAuthBearerToken {
            value: self.0.clone(),
            lifetime: Duration::from_secs(300),
            principal: "rill-client".to_string(),
            extensions: BTreeMap::new(),
        };
        Box::pin(async move { Ok(token) })
    }
}

fn with_provider(cluster: &KafkaCluster, token: rill_e2e::Secret) -> ClientConfig {
    let base = config(cluster, &[]);
    ClientConfig::builder()
        .bootstrap_servers(base.bootstrap_servers.clone())
        .security_protocol(base.security_protocol)
        .tls(base.tls.clone())
        .oauthbearer_token_provider(FixedToken(Secret::new(token.expose())))
        .build()
        .expect("config")
}

#[tokio::test]
async fn tokens_the_broker_refuses_are_authentication_errors_and_an_own_provider_works() {
    let cluster = KafkaCluster::single();
    let oauth = cluster.oauth();
    let valid = oauth.mint("rill-client", &["kafka"], TokenKind::Valid).expect("mint");
    let client = Client::connect(with_provider(cluster, valid)).await.expect("an application's valid token");
    client.metadata(&[]).await.expect("metadata");

    for kind in [TokenKind::Expired, TokenKind::WrongSignature, TokenKind::WrongAudience] {
        let token = oauth.mint("rill-client", &["kafka"], kind).expect("mint");
        let err = Client::connect(with_provider(cluster, token.clone())).await.expect_err("refused by the broker");
        println!("{kind:?}: {err}");
        let Error::NoBrokerReachable { last: Some(last), .. } = &err else { panic!("{kind:?}: {err:?}") };
        let Error::Authentication { mechanism, message, .. } = last.as_ref() else { panic!("{kind:?}: {last:?}") };
        assert_eq!(*mechanism, "OAUTHBEARER");
        assert!(message.contains("rejected the token"), "{message}");
        assert!(!err.is_retriable(), "{err:?}");
        assert!(!format!("{err} {err:?}").contains(token.expose()), "the token leaked into the error");
    }
}

#[tokio::test]
async fn thirty_second_tokens_reauthenticate_without_reconnecting() {
    let cluster = KafkaCluster::single();
    let oauth = cluster.oauth();
    oauth.set_token_lifetime_secs(30);
    let topic = cluster.unique_topic("oauth-reauth");
    cluster.create_topic(&topic, 1, 1).expect("create topic");
    let issued_before = oauth.tokens_issued();
    let client = Client::connect(config(cluster, &[])).await.expect("connect");
    client.list_offsets(&[(&topic, 0, OffsetSpec::Latest)]).await.expect("list offsets");
    let connects = client.stats().total().connects;

    let deadline = Instant::now() + Duration::from_secs(75);
    let mut rounds = 0;
    while Instant::now() < deadline {
        client.metadata(&[&topic]).await.expect("metadata across re-authentications");
        let offsets = client.list_offsets(&[(&topic, 0, OffsetSpec::Latest)]).await.expect("list offsets");
        offsets[&(topic.clone(), 0)].as_ref().expect("offset");
        rounds += 1;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let total = client.stats().total();
    println!("{rounds} rounds; {total:?}; tokens issued {}", oauth.tokens_issued() - issued_before);
    assert_eq!(total.connects, connects, "no reconnects: {total:?}");
    assert_eq!((total.disconnects, total.errors, total.connect_failures), (0, 0, 0), "{total:?}");
    assert!(total.reauthentications >= 2, "re-authenticated before each 30 s session ended: {total:?}");
    assert!(oauth.tokens_issued() - issued_before >= 3, "fresh tokens for the re-authentications");
}

#[tokio::test]
async fn secrets_stay_out_of_logs() {
    let cluster = KafkaCluster::single();
    let logs = captured_logs();
    let ok = Client::connect(config(cluster, &[])).await.expect("connect");
    ok.metadata(&[]).await.expect("metadata");
    let failed = Client::connect(config(cluster, &[("sasl.oauthbearer.client.secret", WRONG_SECRET)])).await;
    assert!(failed.is_err());
    let text = String::from_utf8_lossy(&logs.lock().unwrap_or_else(|p| p.into_inner())).to_string();
    assert!(text.contains("SASL authenticated") && text.contains("token endpoint issued a token"), "logs captured");
    assert!(text.contains("OAUTHBEARER"), "the OAUTHBEARER exchange is logged");
    assert_no_secret(cluster, &text, "the logs");
}
