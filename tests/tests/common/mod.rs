//! Shared pieces of the integration tests: the listener matrix and probe assertions.
#![allow(dead_code)]

pub mod consumer_memory;

use std::time::{Duration, Instant};

use rill_client::consumer::{Consumer, Offset, TopicPartition};
use rill_client::{Client, Producer, ProducerRecord};
use rill_e2e::interop::java::ProbeOutcome;
use rill_e2e::{ClientAuth, ClientCert, ClientSettings, KafkaCluster, Listener, SaslMechanism, Secret, StoreFormat, Trust};

/// What a case must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    Accept,
    /// Refused with an authentication or TLS failure whose exception chain contains this text.
    Refuse(&'static str),
}

pub struct Checked {
    pub name: String,
    pub expect: Expect,
    pub outcome: ProbeOutcome,
}

/// Runs all cases in one probe JVM.
pub fn probe(cluster: &KafkaCluster, cases: &[(String, ClientSettings, Expect)]) -> Vec<Checked> {
    let properties: Vec<_> = cases
        .iter()
        .map(|(name, settings, _)| {
            (name.clone(), cluster.client_properties(settings).unwrap_or_else(|e| panic!("properties for {name}: {e}")))
        })
        .collect();
    let outcomes = cluster.java().probe_connections(&properties).expect("run the Java probe");
    cases.iter().zip(outcomes).map(|((name, _, expect), outcome)| Checked { name: name.clone(), expect: *expect, outcome }).collect()
}

/// Asserts every case, reporting all mismatches at once.
pub fn assert_outcomes(cluster: &KafkaCluster, checked: &[Checked]) {
    let node_count = cluster.node_ids().len();
    let mut failures = Vec::new();
    for case in checked {
        eprintln!("  {:<60} {:?}", case.name, case.outcome.result);
        match (&case.expect, &case.outcome.result) {
            (Expect::Accept, Ok(nodes)) if *nodes == node_count => {}
            (Expect::Accept, other) => failures.push(format!("{}: expected to connect, got {other:?}", case.name)),
            (Expect::Refuse(marker), Err(failure)) => {
                let text = format!("{} {} {}", failure.exception, failure.root_cause, failure.messages);
                if !failure.is_authentication_failure() || !text.contains(marker) {
                    failures.push(format!("{}: expected an authentication failure mentioning {marker:?}, got {failure:?}", case.name));
                }
            }
            (Expect::Refuse(_), Ok(_)) => failures.push(format!("{}: wrong credentials were accepted", case.name)),
        }
    }
    assert!(failures.is_empty(), "listener checks failed:\n{}\nlogs under {}", failures.join("\n"), cluster.run_dir().display());
}

fn password(mechanism: SaslMechanism, username: &str, password: &str) -> ClientAuth {
    ClientAuth::Password { mechanism, username: username.to_string(), password: Secret::new(password) }
}

/// The cases every topology must pass: each listener and mechanism with the
/// right credentials, and the typical wrong ones.
pub fn listener_cases(cluster: &KafkaCluster) -> Vec<(String, ClientSettings, Expect)> {
    let credentials = cluster.credentials();
    let user = &credentials.user.name;
    let mut cases = Vec::new();
    let mut case = |name: String, settings: ClientSettings, expect: Expect| cases.push((name, settings, expect));

    case("PLAINTEXT".into(), ClientSettings::new(Listener::Plaintext), Expect::Accept);
    case("SSL trusting the harness CA".into(), ClientSettings::new(Listener::Ssl), Expect::Accept);
    case(
        "SSL trusting another CA".into(),
        ClientSettings::new(Listener::Ssl).trust(Trust::RogueCa),
        Expect::Refuse("SslAuthenticationException"),
    );
    case("MTLS with the harness client certificate".into(), ClientSettings::new(Listener::Mtls), Expect::Accept);
    case(
        "MTLS with PKCS#12 keystore and trust store".into(),
        ClientSettings::new(Listener::Mtls).store_format(StoreFormat::Pkcs12),
        Expect::Accept,
    );
    case(
        "SASL_SSL SCRAM-SHA-256 with a PKCS#12 trust store".into(),
        ClientSettings::new(Listener::SaslSsl).auth(cluster.valid_auth(SaslMechanism::ScramSha256)).store_format(StoreFormat::Pkcs12),
        Expect::Accept,
    );
    case(
        "MTLS without a client certificate".into(),
        ClientSettings::new(Listener::Mtls).client_cert(None),
        Expect::Refuse("SslAuthenticationException"),
    );
    case(
        "MTLS with a certificate from another CA".into(),
        ClientSettings::new(Listener::Mtls).client_cert(Some(ClientCert::Rogue)),
        Expect::Refuse("SslAuthenticationException"),
    );

    for listener in [Listener::SaslPlaintext, Listener::SaslSsl] {
        for mechanism in listener.sasl_mechanisms() {
            case(
                format!("{listener} {mechanism} valid"),
                ClientSettings::new(listener).auth(cluster.valid_auth(*mechanism)),
                Expect::Accept,
            );
        }
        for mechanism in [SaslMechanism::Plain, SaslMechanism::ScramSha256, SaslMechanism::ScramSha512] {
            case(
                format!("{listener} {mechanism} wrong password"),
                ClientSettings::new(listener).auth(password(mechanism, user, "wrong-password")),
                Expect::Refuse("SaslAuthenticationException"),
            );
            case(
                format!("{listener} {mechanism} unknown user"),
                ClientSettings::new(listener).auth(password(mechanism, "nobody", "whatever")),
                Expect::Refuse("SaslAuthenticationException"),
            );
        }
        case(
            format!("{listener} GSSAPI stale keytab"),
            ClientSettings::new(listener).auth(ClientAuth::Kerberos {
                principal: credentials.kerberos_principal.clone(),
                keytab: credentials.kerberos_stale_keytab.clone(),
                service_name: credentials.kerberos_service_name.clone(),
            }),
            Expect::Refuse("LoginException"),
        );
        case(
            format!("{listener} GSSAPI principal unknown to the KDC"),
            ClientSettings::new(listener).auth(ClientAuth::Kerberos {
                principal: credentials.kerberos_deleted_principal.clone(),
                keytab: credentials.kerberos_deleted_keytab.clone(),
                service_name: credentials.kerberos_service_name.clone(),
            }),
            Expect::Refuse("LoginException"),
        );
    }
    case(
        "SASL_PLAINTEXT OAUTHBEARER (not enabled there)".into(),
        ClientSettings::new(Listener::SaslPlaintext).auth(cluster.valid_auth(SaslMechanism::OAuthBearer)),
        Expect::Refuse("UnsupportedSaslMechanism"),
    );
    case(
        "SASL_SSL PLAIN trusting another CA".into(),
        ClientSettings::new(Listener::SaslSsl).auth(cluster.valid_auth(SaslMechanism::Plain)).trust(Trust::RogueCa),
        Expect::Refuse("SslAuthenticationException"),
    );
    case(
        "SASL_SSL OAUTHBEARER wrong client secret".into(),
        ClientSettings::new(Listener::SaslSsl).auth(ClientAuth::OAuthClientCredentials {
            client_id: credentials.oauth_client_id.clone(),
            client_secret: Secret::new("wrong-secret"),
            scope: Some(credentials.oauth_scope.clone()),
        }),
        Expect::Refuse("401"),
    );
    case(
        "SASL_SSL OAUTHBEARER scope not granted".into(),
        ClientSettings::new(Listener::SaslSsl).auth(ClientAuth::OAuthClientCredentials {
            client_id: credentials.oauth_client_id.clone(),
            client_secret: credentials.oauth_client_secret.clone(),
            scope: Some("cluster-owner".into()),
        }),
        Expect::Refuse("400"),
    );
    cases
}

pub fn listener_matrix(cluster: &KafkaCluster) -> Vec<Checked> {
    probe(cluster, &listener_cases(cluster))
}

/// Takes the shared 3-node cluster for one test. Tests there kill nodes,
/// freeze them and stop listeners, so they run one at a time, and each
/// starts once every broker the previous one restarted is registered again.
/// An async lock: async tests hold it across their awaits.
pub async fn three_nodes_alone() -> tokio::sync::MutexGuard<'static, ()> {
    let alone = THREE_NODES.lock().await;
    wait_for_every_broker();
    alone
}

/// [`three_nodes_alone`] for tests that are not async.
pub fn three_nodes_alone_blocking() -> tokio::sync::MutexGuard<'static, ()> {
    let alone = THREE_NODES.blocking_lock();
    wait_for_every_broker();
    alone
}

static THREE_NODES: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn wait_for_every_broker() {
    KafkaCluster::three_nodes().wait_for_all_brokers().expect("every broker of the 3-node cluster registered");
}

/// Serializes tests that disturb a shared cluster (kills, listener stops)
/// with every other test of the same binary.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

static OAUTH_ENDPOINT: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// Held by tests whose clients fetch tokens from the shared OAuth endpoint.
pub fn oauth_endpoint_in_use() -> std::sync::RwLockReadGuard<'static, ()> {
    OAUTH_ENDPOINT.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Held by tests that take the shared OAuth endpoint down or change it.
pub fn oauth_endpoint_exclusive() -> std::sync::RwLockWriteGuard<'static, ()> {
    OAUTH_ENDPOINT.write().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Writes `value` to partition 0 of `topic` through `client` and reads it
/// back from the beginning of the partition through the same client: the
/// record round trip every secured mode must carry.
pub async fn produce_and_consume_one(client: &Client, topic: &str, value: &str) {
    let producer = Producer::new(client.clone()).await.expect("producer");
    let delivery = producer.send(ProducerRecord::new(topic).partition(0).value(value.to_string())).await.expect("send");
    let written = delivery.await.expect("acknowledged");
    producer.close(Duration::from_secs(10)).await.expect("close the producer");
    let consumer = Consumer::from_client(client.clone()).expect("consumer");
    let partition = TopicPartition::new(topic, 0);
    consumer.assign(std::slice::from_ref(&partition)).expect("assign");
    consumer.seek(&partition, Offset::Beginning).await.expect("seek");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let records = consumer.poll(Duration::from_millis(500)).await.expect("poll");
        if let Some(record) = records.first() {
            assert_eq!(record.offset, written.offset, "the record written is the one read");
            assert_eq!(record.value.as_deref(), Some(value.as_bytes()));
            break;
        }
        assert!(Instant::now() < deadline, "{topic}: the record written was not read back within 30 s");
    }
    consumer.close(Duration::from_secs(5)).await;
}
