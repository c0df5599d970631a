//! Azure Event Hubs' Kafka endpoint (`<namespace>.servicebus.windows.net:9093`,
//! SASL_SSL), with either kind of credential it takes:
//!
//! - Microsoft Entra ID (Azure AD) tokens: OAUTHBEARER with the OIDC
//!   client-credentials provider against
//!   `<authority host>/<tenant>/oauth2/v2.0/token`, scope
//!   `https://<namespace host>/.default` ([`event_hubs_azure_ad`]). The
//!   authority host is Azure's public cloud, `https://login.microsoftonline.com`,
//!   unless given ([`event_hubs_azure_ad_at`]): a sovereign cloud's (for
//!   example `https://login.microsoftonline.us`), a private endpoint, or a
//!   test token server. [`authority_host_from_env`] reads it from
//!   `AZURE_AUTHORITY_HOST`, the variable Azure's own SDKs read;
//! - a shared access signature: PLAIN with the user name `$ConnectionString`
//!   and the namespace's connection string as password ([`event_hubs_sas`]).
//!
//! ```no_run
//! use rill_client::{azure, Client, Secret};
//! # async fn demo() -> Result<(), rill_client::Error> {
//! let config = azure::event_hubs_azure_ad("my-namespace", "tenant-id", "app-id", Secret::new("app-secret")).build()?;
//! let client = Client::connect(config).await?;
//! # Ok(()) }
//! ```

use std::time::Duration;

use crate::config::{ClientConfigBuilder, OAuthBearerConfig, SaslMechanism, Secret, SecurityProtocol};
use crate::ClientConfig;

/// `my-namespace` -> `my-namespace.servicebus.windows.net`; a name with a dot is kept.
pub fn namespace_host(namespace: &str) -> String {
    if namespace.contains('.') {
        namespace.to_string()
    } else {
        format!("{namespace}.servicebus.windows.net")
    }
}

/// Entra ID's authority host in Azure's public cloud.
pub const PUBLIC_CLOUD_AUTHORITY_HOST: &str = "https://login.microsoftonline.com";

/// The environment variable Azure's SDKs take the authority host from.
pub const AUTHORITY_HOST_ENV: &str = "AZURE_AUTHORITY_HOST";

/// `AZURE_AUTHORITY_HOST` when set and not empty, else [`PUBLIC_CLOUD_AUTHORITY_HOST`].
pub fn authority_host_from_env() -> String {
    std::env::var(AUTHORITY_HOST_ENV)
        .ok()
        .map(|host| host.trim().to_string())
        .filter(|host| !host.is_empty())
        .unwrap_or_else(|| PUBLIC_CLOUD_AUTHORITY_HOST.to_string())
}

/// The OAuth 2.0 v2 token endpoint of `tenant_id` at `authority_host`
/// (`https://login.microsoftonline.com` -> `https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token`).
pub fn token_endpoint_url(authority_host: &str, tenant_id: &str) -> String {
    format!("{}/{tenant_id}/oauth2/v2.0/token", authority_host.trim().trim_end_matches('/'))
}

/// OAUTHBEARER settings for Entra ID (Azure AD) client credentials in Azure's
/// public cloud, scoped to the namespace.
pub fn azure_ad(tenant_id: &str, client_id: &str, client_secret: Secret, namespace: &str) -> OAuthBearerConfig {
    azure_ad_at(PUBLIC_CLOUD_AUTHORITY_HOST, tenant_id, client_id, client_secret, namespace)
}

/// [`azure_ad`] with the tokens from `authority_host` instead of the public cloud's.
pub fn azure_ad_at(authority_host: &str, tenant_id: &str, client_id: &str, client_secret: Secret, namespace: &str) -> OAuthBearerConfig {
    OAuthBearerConfig {
        token_endpoint_url: Some(token_endpoint_url(authority_host, tenant_id)),
        client_id: Some(client_id.to_string()),
        client_secret: Some(client_secret),
        scope: Some(format!("https://{}/.default", namespace_host(namespace))),
        ..OAuthBearerConfig::default()
    }
}

/// Event Hubs closes a connection that sends a request larger than
/// 1,046,528 bytes, and one idle for 240 s; Microsoft's recommended client
/// settings (learn.microsoft.com/azure/event-hubs/apache-kafka-configurations):
/// `max.request.size` 1000000, `connections.max.idle.ms` and
/// `metadata.max.age.ms` 180000. Later builder calls or properties override them.
pub const EVENT_HUBS_MAX_REQUEST_BYTES: usize = 1_000_000;
const EVENT_HUBS_IDLE: Duration = Duration::from_secs(180);

fn event_hubs(namespace: &str) -> ClientConfigBuilder {
    ClientConfig::builder()
        .bootstrap_servers([format!("{}:9093", namespace_host(namespace))])
        .security_protocol(SecurityProtocol::SaslSsl)
        .max_request_size(EVENT_HUBS_MAX_REQUEST_BYTES)
        .connections_max_idle(EVENT_HUBS_IDLE)
        .metadata_max_age(EVENT_HUBS_IDLE)
}

/// Event Hubs with Entra ID (Azure AD) tokens for an app registration.
pub fn event_hubs_azure_ad(namespace: &str, tenant_id: &str, client_id: &str, client_secret: Secret) -> ClientConfigBuilder {
    event_hubs(namespace).oauthbearer(azure_ad(tenant_id, client_id, client_secret, namespace))
}

/// [`event_hubs_azure_ad`] with the tokens from `authority_host` (for
/// example [`authority_host_from_env`]) instead of the public cloud's.
pub fn event_hubs_azure_ad_at(
    authority_host: &str,
    namespace: &str,
    tenant_id: &str,
    client_id: &str,
    client_secret: Secret,
) -> ClientConfigBuilder {
    event_hubs(namespace).oauthbearer(azure_ad_at(authority_host, tenant_id, client_id, client_secret, namespace))
}

/// Event Hubs with a shared access signature connection string
/// (`Endpoint=sb://...;SharedAccessKeyName=...;SharedAccessKey=...`).
pub fn event_hubs_sas(namespace: &str, connection_string: Secret) -> ClientConfigBuilder {
    event_hubs(namespace).sasl(SaslMechanism::Plain, "$ConnectionString", connection_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_point_at_the_namespace_and_hide_secrets() {
        let c = event_hubs_azure_ad("ns1", "tenant-1", "app-1", Secret::new("very-secret")).build().unwrap();
        assert_eq!(c.bootstrap_servers, ["ns1.servicebus.windows.net:9093"]);
        assert_eq!(c.security_protocol, SecurityProtocol::SaslSsl);
        // Requests stay under what Event Hubs reads; connections close before it drops them.
        assert_eq!(c.producer.request_max_bytes(), 1_000_000);
        assert_eq!(c.producer.record_max_bytes(), 1_000_000);
        assert!(c.connections_max_idle < Duration::from_secs(240) && c.metadata_max_age < Duration::from_secs(240));
        let o = &c.sasl.oauthbearer;
        assert_eq!(o.token_endpoint_url.as_deref(), Some("https://login.microsoftonline.com/tenant-1/oauth2/v2.0/token"));
        assert_eq!(o.scope.as_deref(), Some("https://ns1.servicebus.windows.net/.default"));
        assert!(!format!("{c:?}").contains("very-secret"));

        let c = event_hubs_azure_ad_at("http://127.0.0.1:8400/", "ns1", "tenant-1", "app-1", Secret::new("very-secret")).build().unwrap();
        let o = &c.sasl.oauthbearer;
        assert_eq!(o.token_endpoint_url.as_deref(), Some("http://127.0.0.1:8400/tenant-1/oauth2/v2.0/token"));
        assert_eq!(o.scope.as_deref(), Some("https://ns1.servicebus.windows.net/.default"));
        assert_eq!(o.client_id.as_deref(), Some("app-1"));

        let sas = "Endpoint=sb://ns1.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=abc123";
        let c = event_hubs_sas("ns1.servicebus.windows.net", Secret::new(sas)).build().unwrap();
        assert_eq!(c.sasl.mechanism, SaslMechanism::Plain);
        assert_eq!(c.sasl.username.as_deref(), Some("$ConnectionString"));
        assert_eq!(c.bootstrap_servers, ["ns1.servicebus.windows.net:9093"]);
        assert!(!format!("{c:?}").contains("abc123"));
    }
}
