//! SASL GSSAPI with Kerberos 5 (RFC 4752), as Kafka's brokers speak it
//! through SaslAuthenticate: the client gets a ticket for
//! `<sasl.kerberos.service.name>/<broker host>@REALM` from the KDC (with a
//! password or a keytab), sends the GSS-API initial context token, checks
//! the broker's AP-REP (mutual authentication), then answers the broker's
//! wrapped security-layer offer with "no security layer".
//!
//! Pure Rust: Kerberos messages and RFC 3961/3962 crypto from picky-krb,
//! the exchanges and the GSS-API token handling here.

mod context;
mod der;
mod failure;
mod kdc;
mod keytab;
mod krb5_conf;
mod random;
mod tickets;

use std::future::Future;
use std::path::PathBuf;

use tracing::debug;

use self::context::Context;
use self::failure::Failure;
use self::kdc::Kdc;
use self::tickets::{Credentials, Principal};
use crate::config::{ConfigError, SaslConfig};
use crate::connection::Connection;
use crate::error::{Error, KerberosErrorKind, Result};

/// RFC 4752 section 3.1: the security layers a server may offer; rill takes "none".
const LAYER_NONE: u8 = 0x01;

/// Runs the GSSAPI exchange on `connection` (after SaslHandshake), each
/// message a `round` trip to the broker (SaslAuthenticate, or raw after
/// SaslHandshake v0); returns the session lifetime the broker granted (0: none).
pub(super) async fn authenticate<Round, Reply>(connection: &Connection, config: &SaslConfig, round: Round) -> Result<i64>
where
    Round: Fn(Vec<u8>) -> Reply,
    Reply: Future<Output = Result<(Vec<u8>, i64)>>,
{
    let broker = connection.broker();
    let kerberos = &config.kerberos;
    let host = broker_host(broker);
    let (client, kdc) = locate(config).map_err(|f| f.into_error(broker))?;
    let credentials = match (&kerberos.keytab, &config.password) {
        (Some(path), _) => Credentials::Keytab(keytab::read(path)?),
        (None, Some(password)) => Credentials::Password(password.clone()),
        (None, None) => return Err(Error::Config(ConfigError::Missing { key: "sasl.kerberos.keytab" })),
    };
    let service = &kerberos.service_name;
    let on_broker = |f: Failure| f.into_error(broker);
    let tgt = tickets::ticket_granting_ticket(&kdc, &client, &credentials).await.map_err(on_broker)?;
    let ticket = tickets::service_ticket(&kdc, &tgt, &client, &credentials, service, &host).await.map_err(on_broker)?;
    debug!(broker, principal = %client, service = %format_args!("{service}/{host}"), "Kerberos service ticket granted");

    let (mut context, token) = Context::initiate(&ticket).map_err(on_broker)?;
    let (reply, _) = round(token).await?;
    context.accept_reply(&reply).map_err(on_broker)?;
    // The broker's GSS context is established; an empty message asks for
    // its security-layer offer (RFC 4752 section 3.1).
    let (offer, _) = round(Vec::new()).await?;
    let offer = context.unwrap(&offer).map_err(on_broker)?;
    let [layers, ..] = offer.as_slice() else {
        return Err(on_broker(Failure::malformed("the broker's security-layer offer is empty".into())));
    };
    if offer.len() != 4 {
        return Err(on_broker(Failure::malformed(format!("the security-layer offer is {} bytes, not 4", offer.len()))));
    }
    if layers & LAYER_NONE == 0 {
        return Err(on_broker(Failure::new(
            KerberosErrorKind::BrokerRejected,
            format!("the broker offers only SASL security layers {layers:#04x}; rill supports none (TLS protects the connection)"),
        )));
    }
    // "No security layer", a maximum message size of 0, no authorization id.
    let answer = context.wrap(&[LAYER_NONE, 0, 0, 0]).map_err(on_broker)?;
    let (_, session_lifetime_ms) = round(answer).await?;
    Ok(session_lifetime_ms)
}

/// The host part of `host:port` (without IPv6 brackets), lower-cased as
/// Kerberos host-based service names are.
fn broker_host(broker: &str) -> String {
    let host = broker.rsplit_once(':').map_or(broker, |(host, _)| host);
    host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase()
}

/// The client principal (with its realm) and the realm's KDCs.
fn locate(config: &SaslConfig) -> Result<(Principal, Kdc), Failure> {
    let kerberos = &config.kerberos;
    let principal = kerberos.principal.as_deref().ok_or(ConfigError::Missing { key: "sasl.kerberos.principal" })?;
    let (name, realm) = match principal.rsplit_once('@') {
        Some((name, realm)) => (name, Some(realm.to_string())),
        None => (principal, None),
    };
    let components: Vec<String> = name.split('/').map(str::to_string).collect();
    let conf = if kerberos.kdc.is_empty() || realm.is_none() { Some(read_krb5_conf(kerberos.krb5_conf.clone())?) } else { None };
    let realm = match realm.or_else(|| conf.as_ref().and_then(|(_, c)| c.default_realm.clone())) {
        Some(realm) => realm,
        None => {
            return Err(Failure::Config(ConfigError::Conflict {
                message: "sasl.kerberos.principal has no @REALM and krb5.conf has no default_realm; \
                          write the principal as name@REALM"
                    .to_string(),
            }))
        }
    };
    let addresses = if kerberos.kdc.is_empty() {
        let (path, conf) = conf.unwrap_or_default();
        conf.kdcs.get(&realm).cloned().filter(|k| !k.is_empty()).ok_or_else(|| {
            Failure::Config(ConfigError::File {
                key: "sasl.kerberos.krb5.conf",
                path,
                reason: format!("no kdc for realm {realm} in [realms]; add one there or set sasl.kerberos.kdc"),
            })
        })?
    } else {
        kerberos.kdc.clone()
    };
    Ok((Principal { components, realm }, Kdc { addresses, timeout: kerberos.kdc_timeout }))
}

/// `sasl.kerberos.krb5.conf`, else `$KRB5_CONFIG`, else `/etc/krb5.conf`.
fn read_krb5_conf(configured: Option<PathBuf>) -> Result<(PathBuf, krb5_conf::Krb5Conf), Failure> {
    let path = configured.or_else(|| std::env::var_os("KRB5_CONFIG").map(PathBuf::from)).unwrap_or_else(|| PathBuf::from("/etc/krb5.conf"));
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Failure::Config(ConfigError::File {
            key: "sasl.kerberos.krb5.conf",
            path: path.clone(),
            reason: format!("cannot read it ({e}); set sasl.kerberos.krb5.conf, KRB5_CONFIG or sasl.kerberos.kdc"),
        })
    })?;
    Ok((path.clone(), krb5_conf::parse(&text)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_hosts() {
        assert_eq!(broker_host("LocalHost:9092"), "localhost");
        assert_eq!(broker_host("[::1]:9092"), "::1");
        assert_eq!(broker_host("kafka-0.example"), "kafka-0.example");
    }

    #[test]
    fn realm_and_kdcs_from_config_or_krb5_conf() {
        let dir = std::env::temp_dir().join(format!("rill-gssapi-locate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let conf = dir.join("krb5.conf");
        std::fs::write(&conf, "[libdefaults]\n default_realm = R.TEST\n[realms]\n R.TEST = {\n kdc = 127.0.0.1:1088\n }\n").unwrap();
        let mut config = SaslConfig::default();
        config.kerberos.principal = Some("svc/host".to_string());
        config.kerberos.krb5_conf = Some(conf.clone());
        let (principal, kdc) = locate(&config).unwrap();
        assert_eq!(principal.to_string(), "svc/host@R.TEST");
        assert_eq!(kdc.addresses, vec!["127.0.0.1:1088"]);

        config.kerberos.principal = Some("alice@OTHER".to_string());
        let err = locate(&config).unwrap_err();
        assert!(matches!(&err, Failure::Config(ConfigError::File { key: "sasl.kerberos.krb5.conf", .. })), "{err:?}");
        config.kerberos.kdc = vec!["kdc.other".to_string()];
        config.kerberos.krb5_conf = Some(dir.join("missing.conf"));
        assert_eq!(locate(&config).unwrap().1.addresses, vec!["kdc.other"]);
        config.kerberos.principal = Some("alice".to_string());
        assert!(matches!(locate(&config).unwrap_err(), Failure::Config(ConfigError::File { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
