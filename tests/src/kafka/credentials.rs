//! The users, OAuth client and Kerberos principals every harness cluster knows.

use std::path::PathBuf;

use crate::secret::Secret;

/// A SASL PLAIN or SCRAM user.
#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub password: Secret,
}

/// Credentials accepted by the cluster, created at start-up.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// Known to the PLAIN mechanism (broker JAAS) and to SCRAM-SHA-256 and
    /// SCRAM-SHA-512 (created with `kafka-storage format --add-scram`).
    pub user: User,
    /// OAuth client registered at the harness token endpoint.
    pub oauth_client_id: String,
    pub oauth_client_secret: Secret,
    /// Scope requested by well-behaved OAuth clients.
    pub oauth_scope: String,
    /// Kerberos principal of the test client and its keytab.
    pub kerberos_principal: String,
    pub kerberos_keytab: PathBuf,
    /// A keytab of the same principal with an outdated key (the principal was re-keyed after it was written).
    pub kerberos_stale_keytab: PathBuf,
    /// A principal deleted from the KDC after its keytab was written.
    pub kerberos_deleted_principal: String,
    pub kerberos_deleted_keytab: PathBuf,
    /// The brokers' service principal (`kafka/localhost@REALM`) and keytab.
    pub broker_principal: String,
    pub broker_keytab: PathBuf,
    /// `sasl.kerberos.service.name` clients must use.
    pub kerberos_service_name: String,
}

impl Credentials {
    pub(crate) fn new(kerberos_dir: PathBuf, realm: &str) -> Credentials {
        Credentials {
            user: User { name: "alice".into(), password: Secret::new("alice-secret") },
            oauth_client_id: "rill-client".into(),
            oauth_client_secret: Secret::new("rill-client-secret"),
            oauth_scope: "kafka".into(),
            kerberos_principal: format!("alice@{realm}"),
            kerberos_keytab: kerberos_dir.join("alice.keytab"),
            kerberos_stale_keytab: kerberos_dir.join("alice-stale.keytab"),
            kerberos_deleted_principal: format!("mallory@{realm}"),
            kerberos_deleted_keytab: kerberos_dir.join("mallory.keytab"),
            broker_principal: format!("kafka/localhost@{realm}"),
            broker_keytab: kerberos_dir.join("kafka.keytab"),
            kerberos_service_name: "kafka".into(),
        }
    }
}
