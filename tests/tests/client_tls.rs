//! rill-client over TLS against real Apache Kafka (the shared single-node
//! cluster of this test binary): the SSL listener with the harness CA, an
//! untrusted CA, host name verification (`https` vs `none`) and mTLS (PEM
//! keys in every form, encrypted PKCS#8, PKCS#12).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rill_client::transport::{ConnectFuture, TcpTransport};
use rill_client::{Client, ClientConfig, Error, TlsErrorKind, TlsTransport, Transport};
use rill_e2e::{KafkaCluster, Listener};

fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

fn config(bootstrap: &str, extra: &[(&str, &str)]) -> ClientConfig {
    let mut properties = vec![
        ("bootstrap.servers", bootstrap),
        ("client.id", "rill-e2e-tls"),
        ("security.protocol", "SSL"),
        ("socket.connection.setup.timeout.ms", "20000"),
    ];
    properties.extend_from_slice(extra);
    ClientConfig::from_properties(properties).expect("valid config")
}

async fn connect_ok(config: ClientConfig) -> Client {
    let client = Client::connect(config).await.expect("connect over TLS");
    let metadata = client.metadata(&[]).await.expect("metadata over TLS");
    assert!(!metadata.brokers.is_empty(), "metadata lists the broker");
    let (&node, _) = metadata.brokers.iter().next().expect("a broker");
    let versions = client.api_versions(node).await.expect("api versions over TLS");
    assert!(versions.len() > 10, "the broker lists its APIs");
    client
}

fn expect_tls(result: Result<Client, Error>, kind: TlsErrorKind) -> Error {
    let err = match result {
        Ok(_) => panic!("connection accepted, expected TLS error {kind:?}"),
        Err(e) => e,
    };
    assert_eq!(err.tls_kind(), Some(kind), "error kind of: {err}");
    eprintln!("{kind:?}: {err}");
    err
}

#[tokio::test]
async fn ssl_with_the_harness_ca() {
    let cluster = KafkaCluster::single();
    let ca = path(&cluster.tls().ca_cert_pem);
    connect_ok(config(&cluster.bootstrap(Listener::Ssl), &[("ssl.ca.location", ca)])).await;
}

#[tokio::test]
async fn untrusted_ca_is_refused_as_unknown_ca() {
    let cluster = KafkaCluster::single();
    let rogue = path(&cluster.tls().rogue_ca_cert_pem);
    let err = expect_tls(
        Client::connect(config(&cluster.bootstrap(Listener::Ssl), &[("ssl.ca.location", rogue)])).await,
        TlsErrorKind::UnknownCa,
    );
    let text = err.to_string();
    assert!(text.contains("trusted CA") && text.contains("localhost:"), "{text}");
}

#[tokio::test]
async fn default_roots_do_not_trust_the_harness_ca() {
    let cluster = KafkaCluster::single();
    expect_tls(Client::connect(config(&cluster.bootstrap(Listener::Ssl), &[])).await, TlsErrorKind::UnknownCa);
}

/// Connects to 127.0.0.1 whatever host name it is asked for: the TLS layer
/// above it still checks the certificate against the name asked for.
struct Loopback;

impl Transport for Loopback {
    fn connect(&self, _host: &str, port: u16) -> ConnectFuture {
        TcpTransport.connect("127.0.0.1", port)
    }
}

fn port(bootstrap: &str) -> &str {
    bootstrap.rsplit(':').next().expect("port")
}

#[tokio::test]
async fn hostname_mismatch_is_refused_under_https_and_accepted_under_none() {
    let cluster = KafkaCluster::single();
    let ca = path(&cluster.tls().ca_cert_pem);
    let bootstrap = format!("not-in-the-san.invalid:{}", port(&cluster.bootstrap(Listener::Ssl)));

    let strict = config(&bootstrap, &[("ssl.ca.location", ca)]);
    let transport = Arc::new(TlsTransport::new(&strict.tls, Arc::new(Loopback)).expect("tls transport"));
    let err = expect_tls(Client::with_transport(strict, transport).await, TlsErrorKind::HostnameMismatch);
    assert!(err.to_string().contains("not-in-the-san.invalid"), "{err}");

    let relaxed = config(&bootstrap, &[("ssl.ca.location", ca), ("ssl.endpoint.identification.algorithm", "none")]);
    let transport = Arc::new(TlsTransport::new(&relaxed.tls, Arc::new(Loopback)).expect("tls transport"));
    let client = Client::with_transport(relaxed, transport).await.expect("chain-only verification accepts the broker");
    client.metadata(&[]).await.expect("metadata");
}

/// Real Kafka listeners serving a certificate from the trusted harness CA,
/// with the right names, that expired in 2021 or is valid only from 2099:
/// refused as `Expired`, naming the check, with host name verification on
/// and off (the dates are part of the chain, not of the name check).
#[tokio::test]
async fn expired_and_not_yet_valid_broker_certificates_are_refused_as_expired() {
    let cluster = KafkaCluster::single();
    let ca = path(&cluster.tls().ca_cert_pem);
    for (listener, detail) in [(Listener::SslExpired, "certificate expired"), (Listener::SslNotYetValid, "certificate not valid yet")] {
        for identification in ["https", "none"] {
            let bootstrap = cluster.bootstrap(listener);
            let config = config(&bootstrap, &[("ssl.ca.location", ca), ("ssl.endpoint.identification.algorithm", identification)]);
            let result = tokio::time::timeout(Duration::from_secs(60), Client::connect(config)).await.expect("fails, not hangs");
            let err = expect_tls(result, TlsErrorKind::Expired);
            let text = err.to_string();
            assert!(
                text.contains("expired or not yet valid") && text.contains(detail) && text.contains(&bootstrap),
                "{listener}, {identification}: {text}"
            );
        }
    }
}

#[tokio::test]
async fn mtls_with_the_client_certificate() {
    let cluster = KafkaCluster::single();
    let tls = cluster.tls();
    connect_ok(config(
        &cluster.bootstrap(Listener::Mtls),
        &[
            ("ssl.ca.location", path(&tls.ca_cert_pem)),
            ("ssl.certificate.location", path(&tls.client.cert_pem)),
            ("ssl.key.location", path(&tls.client.key_pem)),
        ],
    ))
    .await;
}

/// Every PEM private-key form users have: PKCS#8 (ECDSA and RSA), SEC1
/// (`EC PRIVATE KEY`) and PKCS#1 (`RSA PRIVATE KEY`), as openssl writes them.
#[tokio::test]
async fn mtls_with_pkcs8_sec1_and_pkcs1_keys() {
    let cluster = KafkaCluster::single();
    let tls = cluster.tls();
    for (what, client, key, header) in [
        ("ECDSA PKCS#8", &tls.client, &tls.client.key_pem, "-----BEGIN PRIVATE KEY-----"),
        ("SEC1", &tls.client, &tls.client.key_pem_traditional, "-----BEGIN EC PRIVATE KEY-----"),
        ("RSA PKCS#8", &tls.client_rsa, &tls.client_rsa.key_pem, "-----BEGIN PRIVATE KEY-----"),
        ("PKCS#1", &tls.client_rsa, &tls.client_rsa.key_pem_traditional, "-----BEGIN RSA PRIVATE KEY-----"),
    ] {
        let pem = std::fs::read_to_string(key).expect("key file");
        assert!(pem.starts_with(header), "{what}: {} is not {header}", key.display());
        let config = config(
            &cluster.bootstrap(Listener::Mtls),
            &[
                ("ssl.ca.location", path(&tls.ca_cert_pem)),
                ("ssl.certificate.location", path(&client.cert_pem)),
                ("ssl.key.location", path(key)),
            ],
        );
        eprintln!("mTLS with a {what} key");
        connect_ok(config).await;
    }
}

/// An encrypted PKCS#8 key (as `openssl pkcs8 -topk8 -v2 aes-256-cbc` writes it) with `ssl.key.password`.
#[tokio::test]
async fn mtls_with_an_encrypted_pkcs8_key() {
    let cluster = KafkaCluster::single();
    let tls = cluster.tls();
    let with_password = |password: &str| {
        config(
            &cluster.bootstrap(Listener::Mtls),
            &[
                ("ssl.ca.location", path(&tls.ca_cert_pem)),
                ("ssl.certificate.location", path(&tls.client.cert_pem)),
                ("ssl.key.location", path(&tls.client.key_pem_encrypted)),
                ("ssl.key.password", password),
            ],
        )
    };
    connect_ok(with_password(tls.pkcs12_password.expose())).await;
    let err = Client::connect(with_password("not-the-key-password")).await.expect_err("a wrong key password fails");
    assert!(matches!(err, Error::Config(_)), "{err:?}");
    assert!(err.to_string().contains("ssl.key.password is wrong"), "{err}");
    assert!(!format!("{err} {err:?}").contains("not-the-key-password"), "the password leaked: {err:?}");
}

/// What Java users have: a PKCS#12 keystore (written by `openssl pkcs12
/// -export`) and a PKCS#12 truststore (written by Java's keytool).
#[tokio::test]
async fn mtls_with_pkcs12_keystore_and_truststore() {
    let cluster = KafkaCluster::single();
    let tls = cluster.tls();
    let password = tls.pkcs12_password.expose();
    connect_ok(config(
        &cluster.bootstrap(Listener::Mtls),
        &[
            ("ssl.truststore.location", path(&tls.ca_truststore_p12)),
            ("ssl.truststore.password", password),
            ("ssl.keystore.type", "PKCS12"),
            ("ssl.keystore.location", path(&tls.client.keystore_p12)),
            ("ssl.keystore.password", password),
        ],
    ))
    .await;
    // The rogue client's keystore is well-formed but its CA is unknown to the broker.
    let rogue = config(
        &cluster.bootstrap(Listener::Mtls),
        &[
            ("ssl.truststore.location", path(&tls.ca_truststore_p12)),
            ("ssl.truststore.password", password),
            ("ssl.keystore.location", path(&tls.rogue_client.keystore_p12)),
            ("ssl.keystore.password", password),
        ],
    );
    let result = tokio::time::timeout(Duration::from_secs(60), Client::connect(rogue)).await.expect("fails, not hangs");
    expect_tls(result, TlsErrorKind::ClientCertificateRefused);
}

#[tokio::test]
async fn mtls_without_a_client_certificate_is_refused() {
    let cluster = KafkaCluster::single();
    let tls = cluster.tls();
    let config = config(&cluster.bootstrap(Listener::Mtls), &[("ssl.ca.location", path(&tls.ca_cert_pem))]);
    let result = tokio::time::timeout(Duration::from_secs(60), Client::connect(config)).await.expect("fails, not hangs");
    let err = expect_tls(result, TlsErrorKind::ClientCertificateRefused);
    assert!(err.to_string().contains("client certificate"), "{err}");
}

#[tokio::test]
async fn mtls_with_a_certificate_from_another_ca_is_refused() {
    let cluster = KafkaCluster::single();
    let tls = cluster.tls();
    let config = config(
        &cluster.bootstrap(Listener::Mtls),
        &[
            ("ssl.ca.location", path(&tls.ca_cert_pem)),
            ("ssl.certificate.location", path(&tls.rogue_client.cert_pem)),
            ("ssl.key.location", path(&tls.rogue_client.key_pem)),
        ],
    );
    let result = tokio::time::timeout(Duration::from_secs(60), Client::connect(config)).await.expect("fails, not hangs");
    expect_tls(result, TlsErrorKind::ClientCertificateRefused);
}

#[tokio::test]
async fn missing_ca_file_is_a_config_error_naming_the_key() {
    let err = Client::connect(config("localhost:1", &[("ssl.ca.location", "/nonexistent/ca.pem")])).await.expect_err("error");
    assert!(matches!(err, Error::Config(_)), "{err:?}");
    assert!(err.to_string().contains("ssl.ca.location"), "{err}");
}
