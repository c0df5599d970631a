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
    /// An Azure Event Hubs shared-access-signature user as Event Hubs' Kafka
    /// endpoint knows it: PLAIN user `$ConnectionString`, the namespace's
    /// connection string as password (broker JAAS only; no SCRAM).
    pub event_hubs_user: User,
    /// The Event Hubs namespace host the connection string and the Azure AD
    /// scope name (`https://<namespace>/.default`).
    pub event_hubs_namespace: String,
    /// The Azure AD scope of that namespace, granted to the OAuth client.
    pub event_hubs_scope: String,
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
        let event_hubs_namespace = "rill-e2e.servicebus.windows.net".to_string();
        Credentials {
            user: User { name: "alice".into(), password: Secret::new("alice-secret") },
            event_hubs_user: User {
                name: "$ConnectionString".into(),
                password: Secret::new(format!(
                    "Endpoint=sb://{event_hubs_namespace}/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=rillE2eSasKey0b5fQ9xTz3Lw7Hc2Vn4Md8Kp1Yr6Gs=",
                )),
            },
            event_hubs_scope: format!("https://{event_hubs_namespace}/.default"),
            event_hubs_namespace,
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
