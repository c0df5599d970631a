//! Every listener and mechanism rill supports, end to end against real
//! Apache Kafka: connect, produce a record (key, value, header) with rill's
//! producer, and read it back with rill's consumer through the same
//! listener. PLAINTEXT; SSL; mTLS; SASL_PLAINTEXT with PLAIN, SCRAM-SHA-256
//! and SCRAM-SHA-512; SASL_SSL with those and OAUTHBEARER (OIDC client
//! credentials against the harness's token server); GSSAPI (a keytab,
//! against the harness's KDC) on both SASL listeners.

#[path = "common/record_round_trip.rs"]
mod record_round_trip;

use rill_client::ClientConfig;
use rill_e2e::{KafkaCluster, Listener};

fn path(p: &std::path::Path) -> String {
    p.to_str().expect("UTF-8 path").to_string()
}

/// Properties for `listener` (and `mechanism` on SASL listeners).
fn properties(cluster: &KafkaCluster, listener: Listener, mechanism: Option<&str>) -> Vec<(String, String)> {
    let tls = cluster.tls();
    let credentials = cluster.credentials();
    let mut p: Vec<(&str, String)> = vec![
        ("bootstrap.servers", cluster.bootstrap(listener)),
        ("client.id", "rill-e2e-listeners".into()),
        ("request.timeout.ms", "30000".into()),
    ];
    p.push(("security.protocol", listener.security_protocol().into()));
    if listener.uses_tls() {
        p.push(("ssl.ca.location", path(&tls.ca_cert_pem)));
    }
    if listener == Listener::Mtls {
        p.push(("ssl.certificate.location", path(&tls.client.cert_pem)));
        p.push(("ssl.key.location", path(&tls.client.key_pem)));
    }
    match mechanism {
        Some("OAUTHBEARER") => {
            p.push(("sasl.mechanism", "OAUTHBEARER".into()));
            p.push(("sasl.oauthbearer.method", "oidc".into()));
            p.push(("sasl.oauthbearer.token.endpoint.url", cluster.oauth().token_url()));
            p.push(("sasl.oauthbearer.client.id", credentials.oauth_client_id.clone()));
            p.push(("sasl.oauthbearer.client.secret", credentials.oauth_client_secret.expose().to_string()));
            p.push(("sasl.oauthbearer.scope", credentials.oauth_scope.clone()));
        }
        Some("GSSAPI") => {
            p.push(("sasl.mechanism", "GSSAPI".into()));
            p.push(("sasl.kerberos.service.name", credentials.kerberos_service_name.clone()));
            p.push(("sasl.kerberos.principal", credentials.kerberos_principal.clone()));
            p.push(("sasl.kerberos.keytab", path(&credentials.kerberos_keytab)));
            p.push(("sasl.kerberos.krb5.conf", path(cluster.kdc().krb5_conf())));
        }
        Some(mechanism) => {
            p.push(("sasl.mechanism", mechanism.into()));
            p.push(("sasl.username", credentials.user.name.clone()));
            p.push(("sasl.password", credentials.user.password.expose().to_string()));
        }
        None => {}
    }
    p.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// Produces one record through `listener` and consumes it back through it.
async fn round_trip(listener: Listener, mechanism: Option<&str>) {
    let cluster = KafkaCluster::single();
    let what = format!("{listener:?}{}", mechanism.map(|m| format!(" with {m}")).unwrap_or_default());
    let props = properties(cluster, listener, mechanism);
    let config = ClientConfig::from_properties(props.iter().map(|(k, v)| (k.as_str(), v.as_str()))).expect("valid config");
    record_round_trip::produce_and_consume(cluster, config, &what).await;
}

#[tokio::test]
async fn plaintext() {
    round_trip(Listener::Plaintext, None).await;
}

#[tokio::test]
async fn ssl() {
    round_trip(Listener::Ssl, None).await;
}

#[tokio::test]
async fn mtls() {
    round_trip(Listener::Mtls, None).await;
}

#[tokio::test]
async fn sasl_plaintext_with_plain_scram_and_gssapi() {
    for mechanism in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "GSSAPI"] {
        round_trip(Listener::SaslPlaintext, Some(mechanism)).await;
    }
}

#[tokio::test]
async fn sasl_ssl_with_plain_scram_oauthbearer_and_gssapi() {
    for mechanism in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER", "GSSAPI"] {
        round_trip(Listener::SaslSsl, Some(mechanism)).await;
    }
}
