//! Client settings rendered as librdkafka properties (kcat, confluent-kafka).

use crate::error::{HarnessError, Result};
use crate::kafka::client::{ClientAuth, ClientCert, ClientSettings, Trust};
use crate::KafkaCluster;

/// librdkafka configuration (`-X key=value` for kcat, a dict for
/// confluent-kafka) equivalent to `settings`. Statically supplied tokens
/// ([`ClientAuth::OAuthToken`]) have no librdkafka equivalent.
pub fn config(cluster: &KafkaCluster, settings: &ClientSettings) -> Result<Vec<(String, String)>> {
    let mut config = vec![
        ("bootstrap.servers".to_string(), cluster.bootstrap(settings.listener)),
        ("security.protocol".to_string(), settings.listener.security_protocol().to_ascii_lowercase()),
    ];
    let mut set = |key: &str, value: String| config.push((key.to_string(), value));
    if settings.listener.uses_tls() {
        let ca = match settings.trust {
            Trust::HarnessCa => &cluster.tls().ca_cert_pem,
            Trust::RogueCa => &cluster.tls().rogue_ca_cert_pem,
        };
        set("ssl.ca.location", ca.display().to_string());
        set("ssl.endpoint.identification.algorithm", "https".into());
        if let Some(cert) = settings.client_cert {
            let key = match cert {
                ClientCert::Harness => &cluster.tls().client,
                ClientCert::Rogue => &cluster.tls().rogue_client,
            };
            set("ssl.certificate.location", key.cert_pem.display().to_string());
            set("ssl.key.location", key.key_pem.display().to_string());
        }
    }
    match &settings.auth {
        ClientAuth::None => {}
        ClientAuth::Password { mechanism, username, password } => {
            set("sasl.mechanisms", mechanism.name().into());
            set("sasl.username", username.clone());
            set("sasl.password", password.expose().into());
        }
        ClientAuth::OAuthClientCredentials { client_id, client_secret, scope } => {
            set("sasl.mechanisms", "OAUTHBEARER".into());
            set("sasl.oauthbearer.method", "oidc".into());
            set("sasl.oauthbearer.client.id", client_id.clone());
            set("sasl.oauthbearer.client.secret", client_secret.expose().into());
            set("sasl.oauthbearer.token.endpoint.url", cluster.oauth().token_url());
            if let Some(scope) = scope {
                set("sasl.oauthbearer.scope", scope.clone());
            }
        }
        ClientAuth::OAuthToken { .. } => {
            return Err(HarnessError::new("librdkafka cannot present a fixed OAuth token; use OAuthClientCredentials"))
        }
        ClientAuth::Kerberos { principal, keytab, service_name } => {
            set("sasl.mechanisms", "GSSAPI".into());
            set("sasl.kerberos.service.name", service_name.clone());
            set("sasl.kerberos.principal", principal.clone());
            set("sasl.kerberos.keytab", keytab.display().to_string());
        }
    }
    Ok(config)
}

/// Environment for librdkafka processes: the cluster's Kerberos
/// configuration and a private credential cache (librdkafka runs `kinit`).
pub fn environment(cluster: &KafkaCluster, label: &str) -> Vec<(String, String)> {
    vec![
        ("KRB5_CONFIG".to_string(), cluster.kdc().krb5_conf().display().to_string()),
        ("KRB5CCNAME".to_string(), format!("FILE:{}", cluster.run_dir().join("clients").join(format!("{label}.ccache")).display())),
    ]
}
