//! What went wrong inside the Kerberos exchanges, before the broker's name
//! is attached ([`Failure::into_error`]).

use crate::config::ConfigError;
use crate::error::{Error, KerberosErrorKind};

#[derive(Debug)]
pub(super) enum Failure {
    Kerberos {
        kind: KerberosErrorKind,
        message: String,
    },
    /// A file a key names (keytab, krb5.conf) cannot be used, or a needed setting is missing.
    Config(ConfigError),
}

impl Failure {
    pub(super) fn new(kind: KerberosErrorKind, message: String) -> Failure {
        Failure::Kerberos { kind, message }
    }

    pub(super) fn malformed(message: String) -> Failure {
        Failure::new(KerberosErrorKind::Malformed, message)
    }

    pub(super) fn into_error(self, broker: &str) -> Error {
        match self {
            Failure::Kerberos { kind, message } => Error::Kerberos { broker: broker.to_string(), kind, message },
            Failure::Config(e) => Error::Config(e),
        }
    }
}

impl From<ConfigError> for Failure {
    fn from(e: ConfigError) -> Self {
        Failure::Config(e)
    }
}
