//! Interop runners against the single-node cluster: Kafka's console tools, kcat, Python.

use rill_e2e::{ClientSettings, KafkaCluster, Listener, SaslMechanism};

#[test]
fn java_console_tools_round_trip_across_secured_listeners() {
    let cluster = KafkaCluster::single();
    let topic = cluster.unique_topic("console");
    cluster.create_topic(&topic, 1, 1).expect("create topic");
    let producer = cluster
        .client_properties(&ClientSettings::new(Listener::SaslSsl).auth(cluster.valid_auth(SaslMechanism::ScramSha512)))
        .expect("producer properties");
    let consumer = cluster.client_properties(&ClientSettings::new(Listener::Mtls)).expect("consumer properties");
    cluster.java().console_produce(&producer, &topic, &["one", "two", "three"]).expect("console producer");
    let records = cluster.java().console_consume(&consumer, &topic, 3, 30_000).expect("console consumer");
    assert_eq!(records, vec!["one", "two", "three"]);
}

#[test]
fn kcat_round_trip_over_sasl_ssl_and_metadata_on_every_listener() {
    use rill_e2e::interop::kcat;
    let cluster = KafkaCluster::single();
    let topic = cluster.unique_topic("kcat");
    cluster.create_topic(&topic, 1, 1).expect("create topic");
    let plain = ClientSettings::new(Listener::SaslSsl).auth(cluster.valid_auth(SaslMechanism::Plain));
    kcat::produce(cluster, &plain, &topic, &["k1", "k2"]).expect("kcat produce over SASL_SSL PLAIN");
    let mtls = ClientSettings::new(Listener::Mtls);
    assert_eq!(kcat::consume(cluster, &mtls, &topic, 2).expect("kcat consume over MTLS"), vec!["k1", "k2"]);

    let mut settings = vec![ClientSettings::new(Listener::Plaintext), ClientSettings::new(Listener::Ssl)];
    for listener in [Listener::SaslPlaintext, Listener::SaslSsl] {
        for mechanism in listener.sasl_mechanisms() {
            // librdkafka before 2.6.1 (Debian 12 ships 2.0.2) computes SCRAM
            // proofs that Kafka 4 rejects (librdkafka#4895); confluent-kafka's
            // newer librdkafka covers SCRAM in python_clients_round_trip.
            let scram = matches!(mechanism, SaslMechanism::ScramSha256 | SaslMechanism::ScramSha512);
            if scram && kcat::librdkafka_version().is_none_or(|version| version < (2, 6, 1)) {
                continue;
            }
            // Debian's librdkafka is built without libcurl, so without OIDC
            // token retrieval; confluent-kafka covers OAUTHBEARER instead.
            if *mechanism == SaslMechanism::OAuthBearer {
                continue;
            }
            settings.push(ClientSettings::new(listener).auth(cluster.valid_auth(*mechanism)));
        }
    }
    for settings in settings {
        let metadata = kcat::metadata(cluster, &settings)
            .unwrap_or_else(|error| panic!("kcat metadata via {} {:?}: {error}", settings.listener, settings.auth.mechanism()));
        assert!(metadata.contains("1 brokers"), "{metadata}");
    }
    let wrong = ClientSettings::new(Listener::SaslPlaintext).auth(rill_e2e::ClientAuth::Password {
        mechanism: SaslMechanism::Plain,
        username: "alice".into(),
        password: rill_e2e::Secret::new("wrong"),
    });
    let refused = kcat::metadata(cluster, &wrong).expect_err("kcat with a wrong password must fail");
    assert!(refused.to_string().contains("Authentication failed"), "{refused}");
}

#[test]
fn python_clients_round_trip() {
    // GSSAPI is left to kcat: confluent-kafka's wheels are built without
    // Cyrus SASL, and kafka-python would need the `gssapi` package.
    use rill_e2e::interop::python::{round_trip, PythonClient};
    let _endpoint = crate::common::oauth_endpoint_in_use();
    let cluster = KafkaCluster::single();
    let cases = [
        (PythonClient::KafkaPython, ClientSettings::new(Listener::Plaintext)),
        (PythonClient::KafkaPython, ClientSettings::new(Listener::Mtls)),
        (PythonClient::KafkaPython, ClientSettings::new(Listener::SaslSsl).auth(cluster.valid_auth(SaslMechanism::ScramSha512))),
        (PythonClient::KafkaPython, ClientSettings::new(Listener::SaslSsl).auth(cluster.valid_auth(SaslMechanism::OAuthBearer))),
        (PythonClient::ConfluentKafka, ClientSettings::new(Listener::SaslSsl).auth(cluster.valid_auth(SaslMechanism::Plain))),
        (PythonClient::ConfluentKafka, ClientSettings::new(Listener::SaslPlaintext).auth(cluster.valid_auth(SaslMechanism::ScramSha256))),
        (PythonClient::ConfluentKafka, ClientSettings::new(Listener::Mtls)),
        (PythonClient::ConfluentKafka, ClientSettings::new(Listener::SaslSsl).auth(cluster.valid_auth(SaslMechanism::OAuthBearer))),
    ];
    for (client, settings) in cases {
        let topic = cluster.unique_topic("python");
        let records = ["p1", "p2"];
        let consumed = round_trip(cluster, client, &settings, &topic, &records)
            .unwrap_or_else(|error| panic!("{client:?} via {} {:?}: {error}", settings.listener, settings.auth.mechanism()));
        assert_eq!(consumed, records, "{client:?} via {}", settings.listener);
    }
}
