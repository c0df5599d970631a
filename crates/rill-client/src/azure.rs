//! Azure Event Hubs' Kafka endpoint (`<namespace>.servicebus.windows.net:9093`,
//! SASL_SSL), with either kind of credential it takes:
//!
//! - Microsoft Entra ID (Azure AD) tokens: OAUTHBEARER with the OIDC
//!   client-credentials provider against
//!   `https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token`, scope
//!   `https://<namespace host>/.default` ([`event_hubs_azure_ad`]);
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

/// OAUTHBEARER settings for Entra ID (Azure AD) client credentials, scoped to the namespace.
pub fn azure_ad(tenant_id: &str, client_id: &str, client_secret: Secret, namespace: &str) -> OAuthBearerConfig {
    OAuthBearerConfig {
        token_endpoint_url: Some(format!("https://login.microsoftonline.com/{tenant_id}/oauth2/v2.0/token")),
        client_id: Some(client_id.to_string()),
        client_secret: Some(client_secret),
        scope: Some(format!("https://{}/.default", namespace_host(namespace))),
        ..OAuthBearerConfig::default()
    }
}

fn event_hubs(namespace: &str) -> ClientConfigBuilder {
    ClientConfig::builder().bootstrap_servers([format!("{}:9093", namespace_host(namespace))]).security_protocol(SecurityProtocol::SaslSsl)
}

/// Event Hubs with Entra ID (Azure AD) tokens for an app registration.
pub fn event_hubs_azure_ad(namespace: &str, tenant_id: &str, client_id: &str, client_secret: Secret) -> ClientConfigBuilder {
    event_hubs(namespace).oauthbearer(azure_ad(tenant_id, client_id, client_secret, namespace))
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
        let o = &c.sasl.oauthbearer;
        assert_eq!(o.token_endpoint_url.as_deref(), Some("https://login.microsoftonline.com/tenant-1/oauth2/v2.0/token"));
        assert_eq!(o.scope.as_deref(), Some("https://ns1.servicebus.windows.net/.default"));
        assert!(!format!("{c:?}").contains("very-secret"));

        let sas = "Endpoint=sb://ns1.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=abc123";
        let c = event_hubs_sas("ns1.servicebus.windows.net", Secret::new(sas)).build().unwrap();
        assert_eq!(c.sasl.mechanism, SaslMechanism::Plain);
        assert_eq!(c.sasl.username.as_deref(), Some("$ConnectionString"));
        assert_eq!(c.bootstrap_servers, ["ns1.servicebus.windows.net:9093"]);
        assert!(!format!("{c:?}").contains("abc123"));
    }
}
