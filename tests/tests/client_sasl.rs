//! rill-client with SASL against real Apache Kafka (the shared single-node
//! cluster of this test binary): PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512
//! over SASL_PLAINTEXT and SASL_SSL, wrong passwords, and that passwords
//! never show up in errors or in the config's Debug output.

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
    let err = Client::connect(config(cluster, listener, mechanism, wrong)).await.err().expect("wrong password refused");
    let auth = match &err {
        Error::Authentication { .. } => &err,
        Error::NoBrokerReachable { last: Some(last), .. } => last.as_ref(),
        other => panic!("expected an authentication error, got {other:?}"),
    };
    let Error::Authentication { mechanism: m, message, .. } = auth else {
        panic!("expected an authentication error, got {auth:?}")
    };
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
async fn passwords_never_appear_in_errors_or_config_debug() {
    let cluster = KafkaCluster::single();
    let canary = "rill-canary-pw-7f3a9c";
    let good = password(cluster);
    for mechanism in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] {
        let bad_config = config(cluster, Listener::SaslSsl, mechanism, canary);
        let debug = format!("{bad_config:?}");
        assert!(!debug.contains(canary), "config Debug leaks the password: {debug}");
        let err = Client::connect(bad_config).await.err().expect("refused");
        for text in [err.to_string(), format!("{err:?}"), format!("{err:#?}")] {
            assert!(!text.contains(canary), "error leaks the password: {text}");
        }

        let good_config = config(cluster, Listener::SaslSsl, mechanism, &good);
        let debug = format!("{good_config:?}");
        assert!(!debug.contains(&good), "config Debug leaks the password: {debug}");
        let client = Client::connect(good_config).await.expect("right password accepted");
        let config_debug = format!("{:?}", client.config());
        assert!(!config_debug.contains(&good), "client config Debug leaks the password");
    }
    // A config error for the sensitive key does not echo the value either.
    let err = ClientConfig::from_properties([("bootstrap.servers", "a:1"), ("security.protocol", "SASL_SSL"), ("sasl.mechanism", "PLAIN"), ("sasl.username", "u"), ("sasl.password", canary), ("sasl.mechanism", "KERBEROS-ish")])
        .unwrap_err();
    assert!(!err.to_string().contains(canary) && !format!("{err:?}").contains(canary));
}

#[test]
fn gssapi_is_not_supported_yet() {
    // (OAUTHBEARER is: see client_oauth.rs.)
    let err = ClientConfig::from_properties([("bootstrap.servers", "a:1"), ("sasl.mechanism", "GSSAPI")]).unwrap_err();
    assert!(err.to_string().contains("not supported yet"), "{err}");
}
