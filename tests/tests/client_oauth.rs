//! rill-client with SASL/OAUTHBEARER against real Apache Kafka (the shared
//! single-node cluster of this test binary, its SASL_SSL listener validating
//! JWTs against the harness's OAuth server): tokens from the built-in OIDC
//! client-credentials provider and from an application's own provider; the
//! token endpoint down, a wrong client secret and tokens the broker refuses,
//! each as its own error kind; a consumer reading for 2 minutes on
//! 30-second tokens across KIP-368 re-authentications on the same
//! connection; a token that expires while the endpoint is down, reported to
//! the consumer's application as a typed error and recovered from; and the
//! client secret and tokens never in Debug output or errors (the logs are
//! searched in client_secrets.rs); and rill's Azure AD preset for Event
//! Hubs, its authority host pointed at the harness's token endpoint.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rill_client::consumer::{Consumer, ConsumerRecord, Offset, TopicPartition};
use rill_client::oauth::{BoxFuture, OAuthBearerToken, OAuthBearerTokenProvider, OAuthError, OAuthErrorKind};
use rill_client::{azure, Client, ClientConfig, Error, NewTopic, OffsetSpec, Producer, ProducerRecord, Secret};
use rill_e2e::oauth::TokenKind;
use rill_e2e::proxy::ListenerProxy;
use rill_e2e::{KafkaCluster, Listener};

/// OAUTHBEARER over SASL_SSL with `extra` properties on top of the cluster's OAuth client.
fn config(cluster: &KafkaCluster, extra: &[(&str, &str)]) -> ClientConfig {
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
    // CreateTopics is answered once the controller has the topic; the
    // broker learns of it a moment later (a CI run asked for its metadata
    // in between and got no topic), as the harness's create_topic waits too.
    cluster.wait_for_partition(&topic, 0, Duration::from_secs(30), "a leader", |p| p.leader.is_some()).expect("leader");
    let metadata = client.metadata(&[&topic]).await.expect("metadata");
    assert_eq!(metadata.cluster_id.as_deref(), Some(cluster.cluster_id()));
    assert_eq!(metadata.topic(&topic).expect("topic").partitions.len(), 1);
    // Records written by Kafka's own producer are counted through the OAUTHBEARER connection.
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

    for kind in [TokenKind::WrongSignature, TokenKind::WrongAudience] {
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

/// A provider that hands out a token which expired two minutes ago: the
/// broker refuses it (as `invalid_token`, like any bad token) and the client
/// says the token expired, with its own error kind.
#[tokio::test]
async fn an_expired_token_is_a_token_expired_error() {
    let cluster = KafkaCluster::single();
    let token = cluster.oauth().mint("rill-client", &["kafka"], TokenKind::Expired).expect("mint");
    let err = Client::connect(with_provider(cluster, token.clone())).await.expect_err("refused by the broker");
    println!("expired: {err}");
    assert_eq!(err.oauth_kind(), Some(OAuthErrorKind::Expired), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("token expired") && text.contains("rejected the token"), "{text}");
    assert!(!err.is_retriable(), "{err:?}");
    assert!(!format!("{err} {err:?}").contains(token.expose()), "the token leaked into the error");
}

/// Writes `value-<i>` to partition 0 of `topic` every `every` until `stop`
/// is set, through its own client (its own token and connections); returns
/// how many records were acknowledged (offsets 0..n, in order).
fn spawn_writer(client: Client, topic: String, every: Duration, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<usize> {
    tokio::spawn(async move {
        let producer = Producer::new(client).await.expect("producer");
        let mut written = 0usize;
        while !stop.load(Ordering::SeqCst) {
            let record = ProducerRecord::new(topic.as_str()).partition(0).value(format!("value-{written}"));
            let delivery = producer.send(record).await.expect("send");
            let metadata = delivery.await.expect("acknowledged");
            assert_eq!(metadata.offset, written as i64, "the writer's records are offsets 0..n");
            written += 1;
            tokio::time::sleep(every).await;
        }
        producer.close(Duration::from_secs(10)).await.expect("close the producer");
        written
    })
}

/// A consumer of partition 0 of `topic` from the beginning.
async fn reader(client: Client, topic: &str) -> Consumer {
    let consumer = Consumer::from_client(client).expect("consumer");
    let tp = TopicPartition::new(topic, 0);
    consumer.assign(std::slice::from_ref(&tp)).expect("assign");
    consumer.seek(&tp, Offset::Beginning).await.expect("seek");
    consumer
}

/// Checks that `records` continue `read` without a gap or a duplicate.
fn append_in_order(read: &mut usize, records: &[ConsumerRecord]) {
    for record in records {
        assert_eq!(record.offset, *read as i64, "no gap, no duplicate");
        assert_eq!(record.value.as_deref(), Some(format!("value-{read}").as_bytes()));
        *read += 1;
    }
}

/// The token refresh proof: with tokens that live 30 seconds, a
/// consumer reads for 2 minutes while a producer writes, without an error,
/// without reconnecting, re-authenticating its connection before each
/// session ends (KIP-368) with fresh tokens.
#[tokio::test]
async fn a_consumer_reads_for_two_minutes_on_thirty_second_tokens() {
    const READING: Duration = Duration::from_secs(120);
    let cluster = KafkaCluster::single();
    let oauth = cluster.oauth();
    oauth.set_token_lifetime_secs(30);
    let topic = cluster.unique_topic("oauth-soak");
    cluster.create_topic(&topic, 1, 1).expect("create topic");
    let issued_before = oauth.tokens_issued();
    let client = Client::connect(config(cluster, &[("client.id", "rill-e2e-oauth-soak")])).await.expect("connect");
    let consumer = reader(client.clone(), &topic).await;
    let writer_client = Client::connect(config(cluster, &[("client.id", "rill-e2e-oauth-soak-writer")])).await.expect("connect");
    let stop = Arc::new(AtomicBool::new(false));
    let writer = spawn_writer(writer_client.clone(), topic.clone(), Duration::from_millis(250), stop.clone());

    let started = Instant::now();
    let mut read = 0usize;
    let mut connects_after_first_record = None;
    while started.elapsed() < READING {
        let records = consumer.poll(Duration::from_millis(500)).await.expect("no error while tokens come and go");
        append_in_order(&mut read, &records);
        if read > 0 && connects_after_first_record.is_none() {
            connects_after_first_record = Some(client.stats().total().connects);
        }
    }
    stop.store(true, Ordering::SeqCst);
    let written = writer.await.expect("writer");
    let catch_up = Instant::now();
    while read < written {
        assert!(catch_up.elapsed() < Duration::from_secs(30), "read {read} of {written}");
        append_in_order(&mut read, &consumer.poll(Duration::from_millis(500)).await.expect("poll"));
    }
    consumer.close(Duration::from_secs(5)).await;

    let total = client.stats().total();
    let writer_total = writer_client.stats().total();
    let issued = oauth.tokens_issued() - issued_before;
    println!(
        "read {read} of {written} records in {:?}; consumer {total:?}; writer {writer_total:?}; tokens issued {issued}",
        started.elapsed()
    );
    assert_eq!(read, written, "every record read");
    assert!(written >= 300, "the writer kept writing: {written}");
    let connects = connects_after_first_record.expect("records were read");
    assert!(connects <= 2, "one connection per address (bootstrap, broker): {total:?}");
    assert_eq!(total.connects, connects, "no reconnects while reading: {total:?}");
    assert_eq!((total.disconnects, total.errors, total.connect_failures), (0, 0, 0), "{total:?}");
    // Sessions end with the 30 s tokens: each connection re-authenticates
    // about every 27 s, so 2 minutes hold at least 4 per connection.
    assert!(total.reauthentications >= 4 * connects, "re-authenticated before each session ended: {total:?}");
    assert_eq!((writer_total.disconnects, writer_total.errors), (0, 0), "{writer_total:?}");
    assert!(issued >= 8, "fresh tokens for the re-authentications of both clients: {issued}");
}

/// A token that expires mid-session: the token endpoint goes down (a proxy
/// in front of it, for this client only), the client keeps its valid token
/// until it expires and the broker ends the session, then the consumer
/// reports a typed token error (not a hang, not a silent stall), and reads
/// on once the endpoint is back.
#[tokio::test]
async fn a_token_that_expires_while_the_endpoint_is_down_is_reported_and_recovered_from() {
    const LIFETIME: Duration = Duration::from_secs(30);
    let cluster = KafkaCluster::single();
    let oauth = cluster.oauth();
    oauth.set_token_lifetime_secs(LIFETIME.as_secs());
    let upstream: std::net::SocketAddr =
        oauth.token_url().trim_start_matches("http://").trim_end_matches("/token").parse().expect("endpoint address");
    let proxy = ListenerProxy::start("oauth-mid-session", upstream).expect("proxy");
    let url = format!("http://127.0.0.1:{}/token", proxy.port());
    let topic = cluster.unique_topic("oauth-mid-session");
    cluster.create_topic(&topic, 1, 1).expect("create topic");
    let reading = config(
        cluster,
        &[
            ("client.id", "rill-e2e-oauth-mid-session"),
            ("sasl.oauthbearer.token.endpoint.url", url.as_str()),
            ("sasl.login.retry.backoff.ms", "100"),
            ("sasl.login.retry.backoff.max.ms", "2000"),
        ],
    );
    let token_fetched = Instant::now();
    let client = Client::connect(reading).await.expect("connect");
    let consumer = reader(client.clone(), &topic).await;
    let writer_client = Client::connect(config(cluster, &[("client.id", "rill-e2e-oauth-mid-session-writer")])).await.expect("connect");
    let stop = Arc::new(AtomicBool::new(false));
    let writer = spawn_writer(writer_client, topic.clone(), Duration::from_millis(500), stop.clone());

    let mut read = 0usize;
    while read == 0 {
        assert!(token_fetched.elapsed() < Duration::from_secs(20), "the first record did not come");
        append_in_order(&mut read, &consumer.poll(Duration::from_millis(500)).await.expect("poll"));
    }
    proxy.stop();
    let down = Instant::now();

    // Reading goes on with the valid token, until it expires.
    let err = loop {
        assert!(token_fetched.elapsed() < LIFETIME + Duration::from_secs(40), "no error within 40 s of the token's expiry");
        let polled = tokio::time::timeout(Duration::from_secs(10), consumer.poll(Duration::from_millis(500)))
            .await
            .expect("poll returns within its timeout, it does not hang");
        match polled {
            Ok(records) => append_in_order(&mut read, &records),
            Err(e) => break e,
        }
    };
    let reported_after = token_fetched.elapsed();
    println!("after {reported_after:?} (endpoint down {:?}), {read} records read: {err}", down.elapsed());
    assert_eq!(err.oauth_kind(), Some(OAuthErrorKind::Unreachable), "{err:?}");
    assert!(err.is_auth_failure(), "{err:?}");
    assert!(err.to_string().contains(&url), "the error names the endpoint: {err}");
    assert!(reported_after >= LIFETIME - Duration::from_secs(6), "the valid token was used until it expired: {reported_after:?}");
    assert!(read > 10, "records written while the endpoint was down were read with the valid token: {read}");
    assert_no_secret(cluster, &format!("{err} {err:?}"), "the error");

    proxy.start_again().expect("endpoint back");
    let back = Instant::now();
    let before = read;
    let mut errors_after_restart = 0;
    while read < before + 5 {
        assert!(back.elapsed() < Duration::from_secs(30), "no recovery: {read} read, {errors_after_restart} errors");
        match consumer.poll(Duration::from_millis(500)).await {
            Ok(records) => append_in_order(&mut read, &records),
            Err(e) => {
                assert!(e.is_auth_failure(), "{e:?}");
                errors_after_restart += 1;
            }
        }
    }
    stop.store(true, Ordering::SeqCst);
    let written = writer.await.expect("writer");
    while read < written {
        assert!(back.elapsed() < Duration::from_secs(40), "read {read} of {written}");
        append_in_order(&mut read, &consumer.poll(Duration::from_millis(500)).await.expect("recovered"));
    }
    println!("recovered after {:?}; {errors_after_restart} errors reported meanwhile; {read} of {written} read", back.elapsed());
    assert!(errors_after_restart <= 2, "errors stop once a token can be had: {errors_after_restart}");
    consumer.close(Duration::from_secs(5)).await;
}

/// Event Hubs with Entra ID (Azure AD) tokens, configured through rill's
/// preset from a tenant id, client id and secret, with the authority host
/// (`AZURE_AUTHORITY_HOST` in Azure's SDKs) set to the harness's token
/// endpoint: the token comes from `<authority>/<tenant>/oauth2/v2.0/token`
/// for the namespace's `/.default` scope, and carries a record both ways.
#[tokio::test]
async fn the_azure_ad_preset_with_an_authority_host_produces_and_consumes() {
    const TENANT: &str = "rill-e2e-tenant-7c1f";
    let cluster = KafkaCluster::single();
    let oauth = cluster.oauth();
    let credentials = cluster.credentials();
    let ca = cluster.tls().ca_cert_pem.to_str().expect("UTF-8 path").to_string();
    let namespace = credentials.event_hubs_namespace.as_str();
    let config = azure::event_hubs_azure_ad_at(
        &oauth.authority_host(),
        namespace,
        TENANT,
        &credentials.oauth_client_id,
        Secret::new(credentials.oauth_client_secret.expose()),
    )
    // The harness's SASL_SSL listener stands in for `<namespace>:9093`.
    .bootstrap_servers([cluster.bootstrap(Listener::SaslSsl)])
    .property("ssl.ca.location", &ca)
    .client_id("rill-e2e-azure-ad")
    .build()
    .expect("valid config");
    assert_no_secret(cluster, &format!("{config:?}"), "the config's Debug");
    let token_path = format!("/{TENANT}/oauth2/v2.0/token");
    assert_eq!(config.sasl.oauthbearer.token_endpoint_url, Some(format!("{}{token_path}", oauth.authority_host())));

    let client = Client::connect(config).await.expect("connect with an Azure AD token");
    let requests: Vec<_> = oauth.token_requests().into_iter().filter(|request| request.path == token_path).collect();
    assert!(!requests.is_empty(), "no token request reached {token_path}: {:?}", oauth.token_requests());
    for request in &requests {
        assert_eq!(request.scope.as_deref(), Some(format!("https://{namespace}/.default").as_str()), "{request:?}");
        assert_eq!(request.client_id.as_deref(), Some(credentials.oauth_client_id.as_str()), "{request:?}");
    }
    let topic = cluster.unique_topic("azure-ad");
    cluster.create_topic(&topic, 1, 1).expect("create topic");
    common::produce_and_consume_one(&client, &topic, "sent with an Azure AD token").await;
    assert_no_secret(cluster, &format!("{client:?}"), "the client's Debug");
}
