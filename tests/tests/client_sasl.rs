//! rill-client with SASL against real Apache Kafka (the shared single-node
//! cluster of this test binary): PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512
//! over SASL_PLAINTEXT and SASL_SSL, wrong passwords and unknown users
//! (that passwords never show is client_secrets.rs; OAUTHBEARER is
//! client_oauth.rs, GSSAPI client_gssapi.rs).

use rill_client::{Client, ClientConfig, Error};
use rill_e2e::{KafkaCluster, Listener};

fn config(cluster: &KafkaCluster, listener: Listener, mechanism: &str, password: &str) -> ClientConfig {
    let bootstrap = cluster.bootstrap(listener);
    let ca = cluster.tls().ca_cert_pem.to_str().expect("UTF-8 path").to_string();
    let user = cluster.credentials().user.name.clone();
    let protocol = match listener {
        Listener::SaslPlaintext => "SASL_PLAINTEXT",
        Listener::SaslSsl => "SASL_SSL",
        other => panic!("not a SASL listener: {other:?}"),
    };
    ClientConfig::from_properties([
        ("bootstrap.servers", bootstrap.as_str()),
        ("client.id", "rill-e2e-sasl"),
        ("security.protocol", protocol),
        ("ssl.ca.location", ca.as_str()),
        ("sasl.mechanism", mechanism),
        ("sasl.username", user.as_str()),
        ("sasl.password", password),
    ])
    .expect("valid config")
}

fn password(cluster: &KafkaCluster) -> String {
    cluster.credentials().user.password.expose().to_string()
}

async fn connects(cluster: &KafkaCluster, listener: Listener, mechanism: &str) {
    let client = Client::connect(config(cluster, listener, mechanism, &password(cluster)))
        .await
        .unwrap_or_else(|e| panic!("{mechanism} over {listener:?}: {e}"));
    let metadata = client.metadata(&[]).await.expect("metadata after authenticating");
    let (&node, _) = metadata.brokers.iter().next().expect("a broker");
    client.api_versions(node).await.expect("api versions");
}

async fn refused(cluster: &KafkaCluster, listener: Listener, mechanism: &str, wrong: &str) -> Error {
    let err = Client::connect(config(cluster, listener, mechanism, wrong)).await.expect_err("wrong password refused");
    let auth = match &err {
        Error::Authentication { .. } => &err,
        Error::NoBrokerReachable { last: Some(last), .. } => last.as_ref(),
        other => panic!("expected an authentication error, got {other:?}"),
    };
    let Error::Authentication { mechanism: m, message, .. } = auth else { panic!("expected an authentication error, got {auth:?}") };
    assert_eq!(*m, mechanism);
    assert!(!message.is_empty(), "carries the broker's message");
    eprintln!("{err}");
    err
}

#[tokio::test]
async fn plain_over_sasl_plaintext_and_sasl_ssl() {
    let cluster = KafkaCluster::single();
    connects(cluster, Listener::SaslPlaintext, "PLAIN").await;
    connects(cluster, Listener::SaslSsl, "PLAIN").await;
}

#[tokio::test]
async fn scram_sha_256_and_512() {
    let cluster = KafkaCluster::single();
    for mechanism in ["SCRAM-SHA-256", "SCRAM-SHA-512"] {
        connects(cluster, Listener::SaslPlaintext, mechanism).await;
        connects(cluster, Listener::SaslSsl, mechanism).await;
    }
}

#[tokio::test]
async fn wrong_passwords_are_refused_with_the_brokers_message() {
    let cluster = KafkaCluster::single();
    for mechanism in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] {
        let err = refused(cluster, Listener::SaslPlaintext, mechanism, "definitely-wrong").await;
        assert!(err.to_string().contains("authentication failed"), "{err}");
        refused(cluster, Listener::SaslSsl, mechanism, "definitely-wrong").await;
    }
}

#[tokio::test]
async fn an_unknown_user_is_refused_like_a_wrong_password() {
    let cluster = KafkaCluster::single();
    for mechanism in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] {
        let mut config = config(cluster, Listener::SaslPlaintext, mechanism, &password(cluster));
        config.sasl.username = Some("nobody-here".to_string());
        let err = Client::connect(config).await.expect_err("an unknown user is refused");
        let Error::NoBrokerReachable { last: Some(last), .. } = &err else { panic!("{mechanism}: {err:?}") };
        let Error::Authentication { mechanism: m, message, .. } = last.as_ref() else { panic!("{mechanism}: {last:?}") };
        assert_eq!(*m, mechanism);
        assert!(!message.is_empty(), "carries the broker's message");
        assert!(!err.is_retriable(), "{err:?}");
        eprintln!("unknown user, {mechanism}: {err}");
    }
}
