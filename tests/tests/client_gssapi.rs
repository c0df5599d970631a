//! rill-client with SASL/GSSAPI (Kerberos 5) against real Apache Kafka and
//! the harness's MIT KDC (the shared single-node cluster of this test
//! binary; its brokers are `kafka/localhost@RILL.TEST`): a record produced
//! and consumed over SASL_PLAINTEXT and SASL_SSL with a keytab and with a
//! password; a wrong password, a stale keytab, an unknown principal and a
//! wrong service name, each refused fast with its own error kind; and the
//! password never in Debug output, errors or logs.

#[path = "common/captured_logs.rs"]
mod captured_logs;
#[path = "common/record_round_trip.rs"]
mod record_round_trip;

use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use captured_logs::{captured_logs, captured_text};
use record_round_trip::produce_and_consume;
use rill_client::{Client, ClientConfig, Error, KerberosErrorKind};
use rill_e2e::{KafkaCluster, Listener};

/// A password principal's password, recognisable in any output.
const PASSWORD: &str = "rill-krb-canary-8d1f3a";

/// A principal with a password (the harness's `alice` has only random
/// keys), made once per test binary.
fn password_principal(cluster: &KafkaCluster) -> &'static str {
    static PRINCIPAL: OnceLock<String> = OnceLock::new();
    PRINCIPAL.get_or_init(|| {
        let principal = format!("carol@{}", cluster.kdc().realm());
        cluster.kdc().kadmin(&format!("addprinc -pw {PASSWORD} {principal}")).expect("kadmin addprinc");
        principal
    })
}

fn path(p: &Path) -> String {
    p.to_str().expect("UTF-8 path").to_string()
}

/// GSSAPI through `listener` as `principal`, with `credentials`
/// (`sasl.kerberos.keytab` or `sasl.password`) and `extra` properties.
fn config(cluster: &KafkaCluster, listener: Listener, principal: &str, credentials: (&str, &str), extra: &[(&str, &str)]) -> ClientConfig {
    captured_logs();
    let protocol = match listener {
        Listener::SaslPlaintext => "SASL_PLAINTEXT",
        Listener::SaslSsl => "SASL_SSL",
        other => panic!("not a SASL listener: {other:?}"),
    };
    let bootstrap = cluster.bootstrap(listener);
    let ca = path(&cluster.tls().ca_cert_pem);
    let krb5_conf = path(cluster.kdc().krb5_conf());
    let mut properties = vec![
        ("bootstrap.servers", bootstrap.as_str()),
        ("client.id", "rill-e2e-gssapi"),
        ("security.protocol", protocol),
        ("ssl.ca.location", ca.as_str()),
        ("sasl.mechanism", "GSSAPI"),
        ("sasl.kerberos.service.name", "kafka"),
        ("sasl.kerberos.principal", principal),
        ("sasl.kerberos.krb5.conf", krb5_conf.as_str()),
        credentials,
    ];
    properties.extend_from_slice(extra);
    ClientConfig::from_properties(properties).expect("valid GSSAPI config")
}

fn keytab_config(cluster: &KafkaCluster, listener: Listener, keytab: &Path, extra: &[(&str, &str)]) -> ClientConfig {
    let credentials = cluster.credentials();
    let keytab = path(keytab);
    config(cluster, listener, &credentials.kerberos_principal, ("sasl.kerberos.keytab", keytab.as_str()), extra)
}

fn password_config(cluster: &KafkaCluster, listener: Listener, password: &str) -> ClientConfig {
    config(cluster, listener, password_principal(cluster), ("sasl.password", password), &[])
}

/// Connecting with `config` fails within a few seconds with a Kerberos error of `kind`.
async fn refused(config: ClientConfig, kind: KerberosErrorKind) -> Error {
    let started = Instant::now();
    let err = Client::connect(config).await.expect_err("refused");
    assert!(started.elapsed() < Duration::from_secs(10), "failed fast, not after {:?}: {err}", started.elapsed());
    assert_eq!(err.kerberos_kind(), Some(kind), "{err:?}");
    assert!(!err.is_retriable(), "{err}");
    eprintln!("{err}");
    err
}

fn assert_no_password(what: &str, text: &str) {
    assert!(!text.contains(PASSWORD), "{what} leaks the password: {text}");
}

#[tokio::test]
async fn keytab_over_sasl_plaintext_and_sasl_ssl() {
    let cluster = KafkaCluster::single();
    let keytab = &cluster.credentials().kerberos_keytab;
    produce_and_consume(cluster, keytab_config(cluster, Listener::SaslPlaintext, keytab, &[]), "keytab over SASL_PLAINTEXT").await;
    produce_and_consume(cluster, keytab_config(cluster, Listener::SaslSsl, keytab, &[]), "keytab over SASL_SSL").await;
}

#[tokio::test]
async fn password_over_sasl_plaintext_and_sasl_ssl() {
    let cluster = KafkaCluster::single();
    let good = password_config(cluster, Listener::SaslPlaintext, PASSWORD);
    assert_no_password("config Debug", &format!("{good:?}"));
    produce_and_consume(cluster, good, "password over SASL_PLAINTEXT").await;
    produce_and_consume(cluster, password_config(cluster, Listener::SaslSsl, PASSWORD), "password over SASL_SSL").await;
    assert_no_password("the logs", &captured_text());
}

#[tokio::test]
async fn wrong_password_is_refused_and_never_shown() {
    let cluster = KafkaCluster::single();
    let wrong = format!("{PASSWORD}-wrong");
    let err = refused(password_config(cluster, Listener::SaslPlaintext, &wrong), KerberosErrorKind::WrongPassword).await;
    assert!(err.to_string().contains("sasl.password"), "names the key: {err}");
    assert_no_password("the error", &format!("{err} {err:?}"));
    assert_no_password("the logs", &captured_text());
}

#[tokio::test]
async fn stale_keytab_is_refused() {
    let cluster = KafkaCluster::single();
    let stale = &cluster.credentials().kerberos_stale_keytab;
    let err = refused(keytab_config(cluster, Listener::SaslSsl, stale, &[]), KerberosErrorKind::StaleKeytab).await;
    assert!(err.to_string().contains("export it again"), "says the fix: {err}");
}

#[tokio::test]
async fn unknown_principal_is_refused() {
    let cluster = KafkaCluster::single();
    let credentials = cluster.credentials();
    let keytab = path(&credentials.kerberos_deleted_keytab);
    let config =
        config(cluster, Listener::SaslPlaintext, &credentials.kerberos_deleted_principal, ("sasl.kerberos.keytab", keytab.as_str()), &[]);
    let err = refused(config, KerberosErrorKind::UnknownPrincipal).await;
    assert!(err.to_string().contains(&credentials.kerberos_deleted_principal), "names the principal: {err}");
}

#[tokio::test]
async fn wrong_service_name_fails_fast() {
    let cluster = KafkaCluster::single();
    let keytab = &cluster.credentials().kerberos_keytab;
    let config = keytab_config(cluster, Listener::SaslPlaintext, keytab, &[("sasl.kerberos.service.name", "kafka-wrong")]);
    let err = refused(config, KerberosErrorKind::UnknownService).await;
    assert!(err.to_string().contains("kafka-wrong/localhost"), "names the broker principal: {err}");
}

#[tokio::test]
async fn kdc_from_sasl_kerberos_kdc_and_unreachable_kdc() {
    let cluster = KafkaCluster::single();
    let keytab = &cluster.credentials().kerberos_keytab;
    let kdc = format!("127.0.0.1:{}", cluster.kdc().port());
    let direct = keytab_config(cluster, Listener::SaslPlaintext, keytab, &[("sasl.kerberos.kdc", kdc.as_str())]);
    Client::connect(direct).await.expect("the KDC named by sasl.kerberos.kdc");

    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let closed_port = closed.local_addr().expect("address").port();
    drop(closed);
    let nowhere = format!("127.0.0.1:{closed_port}");
    let config = keytab_config(cluster, Listener::SaslPlaintext, keytab, &[("sasl.kerberos.kdc", nowhere.as_str())]);
    let err = Client::connect(config).await.expect_err("no KDC");
    assert_eq!(err.kerberos_kind(), Some(KerberosErrorKind::KdcUnreachable), "{err:?}");
}

#[test]
fn config_errors_name_the_key_and_the_fix() {
    let base = [("bootstrap.servers", "localhost:9092"), ("security.protocol", "SASL_PLAINTEXT"), ("sasl.mechanism", "GSSAPI")];
    let err = ClientConfig::from_properties(base).unwrap_err();
    assert!(err.to_string().contains("sasl.kerberos.principal"), "{err}");
    let with_principal = [base.as_slice(), &[("sasl.kerberos.principal", "alice@RILL.TEST")]].concat();
    let err = ClientConfig::from_properties(with_principal.iter().copied()).unwrap_err();
    assert!(err.to_string().contains("sasl.kerberos.keytab") && err.to_string().contains("sasl.password"), "{err}");
    let both = [with_principal.as_slice(), &[("sasl.kerberos.keytab", "/k"), ("sasl.password", PASSWORD)]].concat();
    let err = ClientConfig::from_properties(both.iter().copied()).unwrap_err();
    assert!(err.to_string().contains("not both"), "{err}");
    assert_no_password("a config error", &format!("{err} {err:?}"));
    let bad_principal = [base.as_slice(), &[("sasl.kerberos.principal", "alice@")]].concat();
    let err = ClientConfig::from_properties(bad_principal.iter().copied()).unwrap_err();
    assert!(err.to_string().contains("sasl.kerberos.principal") && err.to_string().contains("name[/instance][@REALM]"));
}
