//! rill-client with SASL against real Apache Kafka (the shared single-node
//! cluster of this test binary): PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512
//! over SASL_PLAINTEXT and SASL_SSL, wrong passwords and unknown users,
//! and Azure Event Hubs' shared access signature (PLAIN as `$ConnectionString`
//! over SASL_SSL, through rill's Event Hubs preset) (that passwords never
//! show is client_secrets.rs; OAUTHBEARER and the Azure AD preset are
//! client_oauth.rs, GSSAPI client_gssapi.rs).

mod common;

use rill_client::{azure, Client, ClientConfig, Error, Secret};
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

/// What an Event Hubs user writes: rill's SAS preset with the namespace
/// and its connection string; only the address (the harness's SASL_SSL
/// listener stands in for `<namespace>:9093`) and the CA differ.
fn event_hubs(cluster: &KafkaCluster, connection_string: &str) -> ClientConfig {
    let ca = cluster.tls().ca_cert_pem.to_str().expect("UTF-8 path").to_string();
    let config = azure::event_hubs_sas(&cluster.credentials().event_hubs_namespace, Secret::new(connection_string))
        .bootstrap_servers([cluster.bootstrap(Listener::SaslSsl)])
        .property("ssl.ca.location", &ca)
        .client_id("rill-e2e-event-hubs")
        .build()
        .expect("valid config");
    assert_eq!(config.sasl.username.as_deref(), Some("$ConnectionString"));
    assert!(!format!("{config:?}").contains("SharedAccessKey="), "the connection string in the config's Debug: {config:?}");
    config
}

#[tokio::test]
async fn event_hubs_sas_connection_string_produces_and_consumes_over_sasl_ssl() {
    let cluster = KafkaCluster::single();
    let connection_string = cluster.credentials().event_hubs_user.password.expose().to_string();
    assert!(connection_string.starts_with("Endpoint=sb://") && connection_string.contains(";SharedAccessKey="), "{connection_string}");
    let client = Client::connect(event_hubs(cluster, &connection_string)).await.expect("connect as $ConnectionString");
    let topic = cluster.unique_topic("event-hubs-sas");
    cluster.create_topic(&topic, 1, 1).expect("create topic");
    common::produce_and_consume_one(&client, &topic, "sent with a shared access signature").await;
    assert!(!format!("{client:?}").contains(&connection_string), "the connection string in the client's Debug");
}

#[tokio::test]
async fn event_hubs_sas_with_a_wrong_shared_access_key_is_an_authentication_error() {
    let cluster = KafkaCluster::single();
    let good = cluster.credentials().event_hubs_user.password.expose().to_string();
    let (endpoint_and_name, _) = good.split_once(";SharedAccessKey=").expect("a SharedAccessKey");
    let wrong_key = "rillWrongSasKey9c2Xq7Lm4Tz8Pd1Vb6Hn3Jw5Ks0=";
    let wrong = format!("{endpoint_and_name};SharedAccessKey={wrong_key}");
    let err = Client::connect(event_hubs(cluster, &wrong)).await.expect_err("a wrong key is refused");
    let auth = match &err {
        Error::NoBrokerReachable { last: Some(last), .. } => last.as_ref(),
        other => other,
    };
    let Error::Authentication { mechanism, message, .. } = auth else { panic!("expected an authentication error, got {err:?}") };
    assert_eq!(*mechanism, "PLAIN");
    assert!(!message.is_empty(), "carries the broker's message");
    assert!(!err.is_retriable(), "{err:?}");
    let text = format!("{err} {err:?} {err:#?}");
    for secret in [wrong_key, wrong.as_str(), good.as_str(), "SharedAccessKey="] {
        assert!(!text.contains(secret), "the error shows {secret:?}: {text}");
    }
    eprintln!("wrong SharedAccessKey: {err}");
}
