//! SASL/GSSAPI (Kerberos 5) settings, with the Java client's and
//! librdkafka's property names where they have one:
//! `sasl.kerberos.service.name` (default `kafka`), `sasl.kerberos.principal`,
//! `sasl.kerberos.keytab`; the principal's password is `sasl.password`
//! (a [`Secret`](super::Secret)). Where the Java client reads the realm's
//! KDCs from `java.security.krb5.conf` and librdkafka from `KRB5_CONFIG`,
//! rill takes `sasl.kerberos.kdc` (`host[:port]` list, port 88 by default),
//! else the krb5.conf named by `sasl.kerberos.krb5.conf`, else `$KRB5_CONFIG`,
//! else `/etc/krb5.conf`. `sasl.kerberos.kdc.timeout.ms` bounds each KDC exchange.

use std::path::PathBuf;
use std::time::Duration;

use super::properties::{millis, Property};
use super::ConfigError;

/// `sasl.mechanism=GSSAPI` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KerberosConfig {
    /// `sasl.kerberos.service.name`: the first part of the broker's
    /// principal, `<service>/<broker host>@REALM`.
    pub service_name: String,
    /// `sasl.kerberos.principal`: the client, `name[/instance][@REALM]`.
    pub principal: Option<String>,
    /// `sasl.kerberos.keytab`: the client's long-term keys (MIT keytab file);
    /// instead of `sasl.password`.
    pub keytab: Option<PathBuf>,
    /// `sasl.kerberos.kdc`: the realm's KDCs, `host[:port]`; empty: from krb5.conf.
    pub kdc: Vec<String>,
    /// `sasl.kerberos.krb5.conf`: the krb5.conf to read the default realm and
    /// the realm's KDCs from; `None`: `$KRB5_CONFIG`, else `/etc/krb5.conf`.
    pub krb5_conf: Option<PathBuf>,
    /// `sasl.kerberos.kdc.timeout.ms`: how long one KDC exchange may take.
    pub kdc_timeout: Duration,
}

impl Default for KerberosConfig {
    fn default() -> Self {
        KerberosConfig {
            service_name: "kafka".to_string(),
            principal: None,
            keytab: None,
            kdc: Vec::new(),
            krb5_conf: None,
            kdc_timeout: Duration::from_millis(10_000),
        }
    }
}

impl KerberosConfig {
    /// Checks that the client can get tickets: a principal, and exactly one of
    /// a keytab and a password (`has_password`: `sasl.password` is set).
    pub fn validate(&self, has_password: bool) -> Result<(), ConfigError> {
        if cfg!(not(feature = "gssapi")) {
            return Err(ConfigError::Unsupported {
                key: "sasl.mechanism".to_string(),
                value: "GSSAPI".to_string(),
                reason: "rill-client was built without the `gssapi` feature; enable it (features = [\"gssapi\"])",
            });
        }
        if self.principal.is_none() {
            return Err(ConfigError::Missing { key: "sasl.kerberos.principal" });
        }
        match (&self.keytab, has_password) {
            (Some(_), true) => Err(ConfigError::Conflict {
                message: "sasl.mechanism=GSSAPI takes sasl.kerberos.keytab or sasl.password, not both; remove one".to_string(),
            }),
            (None, false) => Err(ConfigError::Conflict {
                message: "sasl.mechanism=GSSAPI needs the principal's keys: set sasl.kerberos.keytab (a keytab file) \
                          or sasl.password (the principal's Kerberos password)"
                    .to_string(),
            }),
            _ => Ok(()),
        }
    }
}

/// A principal's text form: `name[/instance...][@REALM]`, no empty parts.
fn principal(value: &str) -> Result<String, &'static str> {
    const EXPECTED: &str = "a Kerberos principal: name[/instance][@REALM], e.g. alice@EXAMPLE.COM";
    let value = value.trim();
    let (name, realm) = match value.rsplit_once('@') {
        Some((name, realm)) => (name, Some(realm)),
        None => (value, None),
    };
    if name.is_empty() || name.split('/').any(str::is_empty) || realm.is_some_and(str::is_empty) {
        return Err(EXPECTED);
    }
    if !value.is_ascii() || value.chars().any(|c| c.is_ascii_control() || c == ' ') {
        return Err(EXPECTED);
    }
    Ok(value.to_string())
}

/// `host[:port]` entries.
fn kdc_list(value: &str) -> Result<Vec<String>, &'static str> {
    const EXPECTED: &str = "comma-separated KDC addresses, host[:port] (port 88 by default)";
    let list: Vec<String> = value.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect();
    if list.is_empty() {
        return Err(EXPECTED);
    }
    for entry in &list {
        if let Some((host, port)) = entry.rsplit_once(':') {
            if host.is_empty() || port.parse::<u16>().map_or(true, |p| p == 0) {
                return Err(EXPECTED);
            }
        }
    }
    Ok(list)
}

pub(super) const KERBEROS_PROPERTIES: &[Property] = &[
    Property {
        names: &["sasl.kerberos.service.name"],
        sensitive: false,
        set: |c, v| {
            let v = v.trim();
            if v.is_empty() || v.contains(['/', '@', ' ']) {
                return Err("the broker principal's service part (no `/`, `@` or spaces), e.g. kafka");
            }
            c.sasl.kerberos.service_name = v.to_string();
            Ok(())
        },
    },
    Property {
        names: &["sasl.kerberos.principal"],
        sensitive: false,
        set: |c, v| {
            c.sasl.kerberos.principal = Some(principal(v)?);
            Ok(())
        },
    },
    Property {
        names: &["sasl.kerberos.keytab"],
        sensitive: false,
        set: |c, v| {
            if v.trim().is_empty() {
                return Err("the path of a keytab file");
            }
            c.sasl.kerberos.keytab = Some(PathBuf::from(v.trim()));
            Ok(())
        },
    },
    Property {
        names: &["sasl.kerberos.kdc"],
        sensitive: false,
        set: |c, v| {
            c.sasl.kerberos.kdc = kdc_list(v)?;
            Ok(())
        },
    },
    Property {
        names: &["sasl.kerberos.krb5.conf"],
        sensitive: false,
        set: |c, v| {
            if v.trim().is_empty() {
                return Err("the path of a krb5.conf file");
            }
            c.sasl.kerberos.krb5_conf = Some(PathBuf::from(v.trim()));
            Ok(())
        },
    },
    Property {
        names: &["sasl.kerberos.kdc.timeout.ms"],
        sensitive: false,
        set: |c, v| {
            c.sasl.kerberos.kdc_timeout = millis(v)?;
            if c.sasl.kerberos.kdc_timeout.is_zero() {
                return Err("a positive number of milliseconds");
            }
            Ok(())
        },
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principals_and_kdcs_parse_strictly() {
        assert_eq!(principal(" alice@RILL.TEST ").unwrap(), "alice@RILL.TEST");
        assert_eq!(principal("svc/host.example").unwrap(), "svc/host.example");
        for bad in ["", "@REALM", "alice@", "svc//x@R", "a b@R", "/x"] {
            assert!(principal(bad).is_err(), "{bad:?}");
        }
        assert_eq!(kdc_list("kdc1, kdc2:750").unwrap(), vec!["kdc1", "kdc2:750"]);
        for bad in ["", ",", "kdc:0", "kdc:x", ":88"] {
            assert!(kdc_list(bad).is_err(), "{bad:?}");
        }
    }
}
