//! SASL/OAUTHBEARER settings, with the Java client's and librdkafka's
//! property names: `sasl.oauthbearer.token.endpoint.url`,
//! `sasl.oauthbearer.client.id`, `sasl.oauthbearer.client.secret`,
//! `sasl.oauthbearer.scope`, `sasl.oauthbearer.extensions`
//! (`key=value,key=value`), `sasl.oauthbearer.method` (`oidc`),
//! `sasl.login.retry.backoff.ms`, `sasl.login.retry.backoff.max.ms`; or a
//! token provider of the application's own ([`OAuthBearerConfig::token_provider`]).

use std::collections::BTreeMap;
use std::time::Duration;

use super::properties::{millis, Property};
use super::{ConfigError, Secret};
use crate::oauth::message::check_extension;
use crate::oauth::TokenProviderRef;

/// `sasl.mechanism=OAUTHBEARER` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthBearerConfig {
    /// `sasl.oauthbearer.token.endpoint.url`.
    pub token_endpoint_url: Option<String>,
    /// `sasl.oauthbearer.client.id`.
    pub client_id: Option<String>,
    /// `sasl.oauthbearer.client.secret`.
    pub client_secret: Option<Secret>,
    /// `sasl.oauthbearer.scope`: space-separated scopes.
    pub scope: Option<String>,
    /// `sasl.oauthbearer.extensions`: SASL extensions sent with the token.
    pub extensions: BTreeMap<String, String>,
    /// The application's own provider; used instead of the client-credentials settings.
    pub token_provider: Option<TokenProviderRef>,
    /// `sasl.login.retry.backoff.ms`.
    pub login_retry_backoff: Duration,
    /// `sasl.login.retry.backoff.max.ms`: also the total wait for a first token.
    pub login_retry_backoff_max: Duration,
}

impl Default for OAuthBearerConfig {
    fn default() -> Self {
        OAuthBearerConfig {
            token_endpoint_url: None,
            client_id: None,
            client_secret: None,
            scope: None,
            extensions: BTreeMap::new(),
            token_provider: None,
            login_retry_backoff: Duration::from_millis(100),
            login_retry_backoff_max: Duration::from_millis(10_000),
        }
    }
}

impl OAuthBearerConfig {
    /// Checks that tokens can be had: a provider, or the three client-credentials keys.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (key, value) in &self.extensions {
            check_extension(key, value).map_err(|expected| ConfigError::InvalidValue {
                key: "sasl.oauthbearer.extensions".to_string(),
                value: Some(format!("{key}={value}")),
                expected,
            })?;
        }
        if self.login_retry_backoff_max < self.login_retry_backoff {
            return Err(ConfigError::Conflict {
                message: "sasl.login.retry.backoff.max.ms is less than sasl.login.retry.backoff.ms".to_string(),
            });
        }
        if self.token_provider.is_some() {
            return Ok(());
        }
        if cfg!(not(feature = "oidc")) {
            return Err(ConfigError::Unsupported {
                key: "sasl.oauthbearer.token.endpoint.url".to_string(),
                value: self.token_endpoint_url.clone().unwrap_or_default(),
                reason: "rill-client was built without the `oidc` feature; enable it or give a token provider",
            });
        }
        if self.token_endpoint_url.is_none() {
            return Err(ConfigError::Missing { key: "sasl.oauthbearer.token.endpoint.url" });
        }
        if self.client_id.is_none() {
            return Err(ConfigError::Missing { key: "sasl.oauthbearer.client.id" });
        }
        if self.client_secret.is_none() {
            return Err(ConfigError::Missing { key: "sasl.oauthbearer.client.secret" });
        }
        Ok(())
    }
}

fn extensions(value: &str) -> Result<BTreeMap<String, String>, &'static str> {
    let mut map = BTreeMap::new();
    for pair in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').ok_or("comma-separated key=value pairs")?;
        check_extension(key.trim(), value)?;
        map.insert(key.trim().to_string(), value.to_string());
    }
    Ok(map)
}

fn url(value: &str) -> Result<String, &'static str> {
    let value = value.trim();
    if value.starts_with("https://") || value.starts_with("http://") {
        Ok(value.to_string())
    } else {
        Err("an http:// or https:// URL of the OAuth token endpoint")
    }
}

pub(super) const OAUTHBEARER_PROPERTIES: &[Property] = &[
    Property {
        names: &["sasl.oauthbearer.token.endpoint.url"],
        sensitive: false,
        set: |c, v| {
            c.sasl.oauthbearer.token_endpoint_url = Some(url(v)?);
            Ok(())
        },
    },
    Property {
        names: &["sasl.oauthbearer.client.id"],
        sensitive: false,
        set: |c, v| {
            c.sasl.oauthbearer.client_id = Some(v.to_string());
            Ok(())
        },
    },
    Property {
        names: &["sasl.oauthbearer.client.secret"],
        sensitive: true,
        set: |c, v| {
            c.sasl.oauthbearer.client_secret = Some(Secret::new(v));
            Ok(())
        },
    },
    Property {
        names: &["sasl.oauthbearer.scope"],
        sensitive: false,
        set: |c, v| {
            c.sasl.oauthbearer.scope = Some(v.trim().to_string()).filter(|s| !s.is_empty());
            Ok(())
        },
    },
    Property {
        names: &["sasl.oauthbearer.extensions"],
        sensitive: false,
        set: |c, v| {
            c.sasl.oauthbearer.extensions = extensions(v)?;
            Ok(())
        },
    },
    Property {
        names: &["sasl.oauthbearer.method"],
        sensitive: false,
        set: |_, v| match v.trim().to_ascii_lowercase().as_str() {
            "oidc" => Ok(()),
            _ => Err("`oidc` (unsecured test tokens are not supported; give a token provider instead)"),
        },
    },
    Property {
        names: &["sasl.login.retry.backoff.ms"],
        sensitive: false,
        set: |c, v| {
            c.sasl.oauthbearer.login_retry_backoff = millis(v)?;
            Ok(())
        },
    },
    Property {
        names: &["sasl.login.retry.backoff.max.ms"],
        sensitive: false,
        set: |c, v| {
            c.sasl.oauthbearer.login_retry_backoff_max = millis(v)?;
            Ok(())
        },
    },
];

#[cfg(test)]
mod tests {
    use crate::config::{ClientConfig, ConfigError, SaslMechanism};

    fn parse(pairs: &[(&str, &str)]) -> Result<ClientConfig, ConfigError> {
        ClientConfig::from_properties(pairs.iter().copied())
    }

    const BASE: [(&str, &str); 3] = [("bootstrap.servers", "a:1"), ("security.protocol", "SASL_SSL"), ("sasl.mechanism", "OAUTHBEARER")];

    #[test]
    fn oauthbearer_keys_parse_and_the_secret_stays_out_of_debug_and_errors() {
        let mut pairs = BASE.to_vec();
        pairs.extend([
            ("sasl.oauthbearer.token.endpoint.url", "https://idp.example/token"),
            ("sasl.oauthbearer.client.id", "app"),
            ("sasl.oauthbearer.client.secret", "hunter2-secret"),
            ("sasl.oauthbearer.scope", "kafka"),
            ("sasl.oauthbearer.extensions", "logicalCluster=lkc-1, identityPoolId=pool-2"),
            ("sasl.oauthbearer.method", "oidc"),
        ]);
        let c = parse(&pairs).unwrap();
        assert_eq!(c.sasl.mechanism, SaslMechanism::OAuthBearer);
        let o = &c.sasl.oauthbearer;
        assert_eq!(o.extensions.len(), 2);
        assert_eq!(o.extensions["identityPoolId"], "pool-2");
        assert!(!format!("{c:?}").contains("hunter2-secret"));

        let mut bad = pairs.clone();
        bad.push(("sasl.login.retry.backoff.ms", "x"));
        let err = parse(&bad).unwrap_err();
        assert!(err.to_string().contains("sasl.login.retry.backoff.ms"), "{err}");
    }

    #[test]
    fn missing_or_bad_oauthbearer_keys_are_named() {
        let err = parse(&BASE).unwrap_err();
        assert_eq!(err, ConfigError::Missing { key: "sasl.oauthbearer.token.endpoint.url" });
        let mut pairs = BASE.to_vec();
        pairs.push(("sasl.oauthbearer.token.endpoint.url", "https://idp/token"));
        pairs.push(("sasl.oauthbearer.client.id", "app"));
        assert_eq!(parse(&pairs).unwrap_err(), ConfigError::Missing { key: "sasl.oauthbearer.client.secret" });
        for (key, value) in [
            ("sasl.oauthbearer.token.endpoint.url", "idp/token"),
            ("sasl.oauthbearer.extensions", "auth=x"),
            ("sasl.oauthbearer.extensions", "novalue"),
            ("sasl.oauthbearer.method", "default"),
        ] {
            let err = parse(&[("bootstrap.servers", "a:1"), (key, value)]).unwrap_err();
            assert!(err.to_string().contains(key), "{err}");
        }
    }
}
