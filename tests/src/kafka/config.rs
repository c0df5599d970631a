//! Broker configuration files: `server.properties` and the logging configuration.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use super::credentials::Credentials;
use super::listeners::{Listener, SaslMechanism};
use crate::tls::TlsMaterial;

/// The ports of one node. Client listeners bind `listener_ports` and are
/// advertised on `advertised_ports` (the harness proxies in front of them).
#[derive(Debug, Clone)]
pub struct NodePorts {
    pub controller: u16,
    /// Inter-broker PLAINTEXT listener `INTERNAL`; the harness's own admin calls use it too.
    pub internal: u16,
    pub listener_ports: BTreeMap<Listener, u16>,
    pub advertised_ports: BTreeMap<Listener, u16>,
}

/// Everything shared by the nodes of one cluster that their configuration needs.
#[derive(Debug)]
pub struct ClusterConfigInputs<'a> {
    pub node_count: usize,
    /// `id@host:port` of every controller.
    pub quorum_voters: String,
    pub tls: &'a TlsMaterial,
    pub credentials: &'a Credentials,
    pub oauth_jwks_url: String,
    pub oauth_issuer: String,
    pub oauth_audience: String,
    /// `zookeeper.connect` for brokers in ZooKeeper mode (Kafka 2.x); `None` for KRaft.
    pub zookeeper_connect: Option<String>,
    /// Whether the broker can validate OAUTHBEARER JWTs (Kafka 3.1+, KIP-768);
    /// without it OAUTHBEARER is not enabled.
    pub oauth_validation: bool,
    /// Whether the broker reads a PEM key store whose key has no password
    /// (Kafka 3.x+); Kafka 2.x refuses one, so it gets the PKCS#12 key store.
    pub pem_key_without_password: bool,
}

impl ClusterConfigInputs<'_> {
    /// The SASL mechanisms `listener` enables on these brokers.
    pub fn sasl_mechanisms(&self, listener: Listener) -> Vec<SaslMechanism> {
        enabled_sasl_mechanisms(listener, self.oauth_validation)
    }
}

/// The SASL mechanisms of `listener` a broker enables: all but OAUTHBEARER
/// when it cannot validate JWTs.
pub fn enabled_sasl_mechanisms(listener: Listener, oauth_validation: bool) -> Vec<SaslMechanism> {
    listener.sasl_mechanisms().iter().copied().filter(|mechanism| oauth_validation || *mechanism != SaslMechanism::OAuthBearer).collect()
}

/// Host that client listeners are advertised on. `localhost` rather than
/// `127.0.0.1` because Kerberos clients build the service principal
/// `kafka/<host>` from it, and the broker certificate names both.
pub const ADVERTISED_HOST: &str = "localhost";

/// Escapes a value for a Java `.properties` file.
pub fn escape_property_value(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for (index, character) in value.chars().enumerate() {
        match character {
            '\\' => escaped.push_str("\\\\"),
            '\n' => escaped.push_str("\\n"),
            '\r' => escaped.push_str("\\r"),
            ' ' if index == 0 => escaped.push_str("\\ "),
            other => escaped.push(other),
        }
    }
    escaped
}

/// A JAAS string value in double quotes.
pub fn jaas_quote(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

pub fn server_properties(inputs: &ClusterConfigInputs, node_id: u32, ports: &NodePorts, data_dir: &Path) -> String {
    let replication = inputs.node_count.min(3);
    let min_insync = if replication >= 3 { 2 } else { 1 };
    // ZooKeeper-mode brokers have no controller listener: the controller is
    // whichever broker ZooKeeper elects, reached on the inter-broker listener.
    let kraft = inputs.zookeeper_connect.is_none();
    let mut listeners = vec![format!("INTERNAL://127.0.0.1:{}", ports.internal)];
    let mut protocol_map = vec!["INTERNAL:PLAINTEXT".to_string()];
    if kraft {
        listeners.insert(0, format!("CONTROLLER://127.0.0.1:{}", ports.controller));
        protocol_map.insert(0, "CONTROLLER:PLAINTEXT".to_string());
    }
    let mut advertised = vec![format!("INTERNAL://127.0.0.1:{}", ports.internal)];
    for listener in Listener::ALL {
        listeners.push(format!("{}://127.0.0.1:{}", listener.name(), ports.listener_ports[&listener]));
        advertised.push(format!("{}://{ADVERTISED_HOST}:{}", listener.name(), ports.advertised_ports[&listener]));
        protocol_map.push(format!("{}:{}", listener.name(), listener.security_protocol()));
    }

    let mut p = String::new();
    let mut set = |key: &str, value: &str| {
        let _ = writeln!(p, "{key}={}", escape_property_value(value));
    };
    match &inputs.zookeeper_connect {
        None => {
            set("process.roles", "broker,controller");
            set("node.id", &node_id.to_string());
            set("controller.quorum.voters", &inputs.quorum_voters);
            set("controller.listener.names", "CONTROLLER");
        }
        Some(zookeeper) => {
            set("broker.id", &node_id.to_string());
            set("zookeeper.connect", zookeeper);
            set("zookeeper.connection.timeout.ms", "30000");
            // Quick detection of killed brokers, like the KRaft settings below.
            set("zookeeper.session.timeout.ms", "6000");
        }
    }
    set("inter.broker.listener.name", "INTERNAL");
    set("listeners", &listeners.join(","));
    set("advertised.listeners", &advertised.join(","));
    set("listener.security.protocol.map", &protocol_map.join(","));
    set("log.dirs", &data_dir.display().to_string());

    // Replication: factors 1 on one node; 3 with min.insync.replicas=2 on three.
    set("num.partitions", "1");
    set("default.replication.factor", &replication.to_string());
    set("min.insync.replicas", &min_insync.to_string());
    set("offsets.topic.replication.factor", &replication.to_string());
    set("transaction.state.log.replication.factor", &replication.to_string());
    set("transaction.state.log.min.isr", &min_insync.to_string());
    set("share.coordinator.state.topic.replication.factor", &replication.to_string());
    set("share.coordinator.state.topic.min.isr", &min_insync.to_string());
    set("unclean.leader.election.enable", "false");
    set("auto.create.topics.enable", "true");

    // Fast tests on a 2-core machine: few internal partitions, no rebalance
    // delay, quick detection of killed brokers.
    set("offsets.topic.num.partitions", "3");
    set("transaction.state.log.num.partitions", "3");
    set("group.initial.rebalance.delay.ms", "0");
    set("broker.heartbeat.interval.ms", "500");
    set("broker.session.timeout.ms", "6000");
    set("replica.lag.time.max.ms", "5000");
    set("controller.quorum.election.timeout.ms", "1000");
    set("controller.quorum.fetch.timeout.ms", "2000");
    set("leader.imbalance.check.interval.seconds", "3600");
    set("num.network.threads", "2");
    set("num.io.threads", "4");
    set("num.replica.fetchers", "1");
    set("log.segment.bytes", "16777216");
    set("log.retention.check.interval.ms", "600000");
    set("delete.topic.enable", "true");
    // A deleted topic's files go 1 s after the deletion, not Kafka's 60 s:
    // tests that write gigabytes (consumer_memory) delete their topic and
    // wait until its data is off the disk, as run directories are kept.
    set("log.segment.delete.delay.ms", "1000");

    // TLS for SSL, MTLS and SASL_SSL: PEM files written by crate::tls.
    if inputs.pem_key_without_password {
        set("ssl.keystore.type", "PEM");
        set("ssl.keystore.location", &inputs.tls.broker.keystore_pem.display().to_string());
    } else {
        set("ssl.keystore.type", "PKCS12");
        set("ssl.keystore.location", &inputs.tls.broker.keystore_p12.display().to_string());
        set("ssl.keystore.password", inputs.tls.pkcs12_password.expose());
    }
    // The listeners serving an expired and a not yet valid certificate get
    // their own key stores (listener-prefixed SSL settings, KIP-103).
    for (listener, certified) in
        [(Listener::SslExpired, &inputs.tls.broker_expired), (Listener::SslNotYetValid, &inputs.tls.broker_not_yet_valid)]
    {
        let prefix = format!("listener.name.{}", listener.name().to_ascii_lowercase());
        if inputs.pem_key_without_password {
            set(&format!("{prefix}.ssl.keystore.type"), "PEM");
            set(&format!("{prefix}.ssl.keystore.location"), &certified.keystore_pem.display().to_string());
        } else {
            set(&format!("{prefix}.ssl.keystore.type"), "PKCS12");
            set(&format!("{prefix}.ssl.keystore.location"), &certified.keystore_p12.display().to_string());
            set(&format!("{prefix}.ssl.keystore.password"), inputs.tls.pkcs12_password.expose());
        }
    }
    set("ssl.truststore.type", "PEM");
    set("ssl.truststore.location", &inputs.tls.ca_cert_pem.display().to_string());
    set("ssl.client.auth", "none");
    set("listener.name.mtls.ssl.client.auth", "required");

    // SASL: users for PLAIN in JAAS; SCRAM users are created at format time.
    let credentials = inputs.credentials;
    // `$` is a word character of Kafka's JAAS parser (Event Hubs' `$ConnectionString`).
    let plain_jaas = format!(
        "org.apache.kafka.common.security.plain.PlainLoginModule required user_{}={} user_{}={};",
        credentials.user.name,
        jaas_quote(credentials.user.password.expose()),
        credentials.event_hubs_user.name,
        jaas_quote(credentials.event_hubs_user.password.expose())
    );
    let scram_jaas = "org.apache.kafka.common.security.scram.ScramLoginModule required;".to_string();
    let gssapi_jaas = format!(
        "com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true storeKey=true keyTab={} principal={};",
        jaas_quote(&credentials.broker_keytab.display().to_string()),
        jaas_quote(&credentials.broker_principal)
    );
    set("sasl.kerberos.service.name", &credentials.kerberos_service_name);
    for listener in [Listener::SaslPlaintext, Listener::SaslSsl] {
        let prefix = format!("listener.name.{}", listener.name().to_ascii_lowercase());
        let enabled = inputs.sasl_mechanisms(listener);
        let mechanisms: Vec<&str> = enabled.iter().map(|m| m.name()).collect();
        set(&format!("{prefix}.sasl.enabled.mechanisms"), &mechanisms.join(","));
        for mechanism in &enabled {
            let mechanism_prefix = format!("{prefix}.{}", mechanism.name().to_ascii_lowercase());
            match mechanism {
                SaslMechanism::Plain => set(&format!("{mechanism_prefix}.sasl.jaas.config"), &plain_jaas),
                SaslMechanism::ScramSha256 | SaslMechanism::ScramSha512 => {
                    set(&format!("{mechanism_prefix}.sasl.jaas.config"), &scram_jaas)
                }
                SaslMechanism::Gssapi => set(&format!("{mechanism_prefix}.sasl.jaas.config"), &gssapi_jaas),
                SaslMechanism::OAuthBearer => {
                    set(
                        &format!("{mechanism_prefix}.sasl.jaas.config"),
                        "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;",
                    );
                    set(
                        &format!("{mechanism_prefix}.sasl.server.callback.handler.class"),
                        "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler",
                    );
                    set(&format!("{mechanism_prefix}.sasl.oauthbearer.jwks.endpoint.url"), &inputs.oauth_jwks_url);
                    set(&format!("{mechanism_prefix}.sasl.oauthbearer.expected.audience"), &inputs.oauth_audience);
                    set(&format!("{mechanism_prefix}.sasl.oauthbearer.expected.issuer"), &inputs.oauth_issuer);
                    // Sessions end with the token (KIP-368): clients must
                    // re-authenticate before then or be disconnected.
                    set(&format!("{mechanism_prefix}.connections.max.reauth.ms"), "3600000");
                }
            }
        }
    }
    // The same OAuth settings unprefixed: some Kafka versions read them from the top level.
    set("sasl.oauthbearer.jwks.endpoint.url", &inputs.oauth_jwks_url);
    set("sasl.oauthbearer.expected.audience", &inputs.oauth_audience);
    set("sasl.oauthbearer.expected.issuer", &inputs.oauth_issuer);
    p
}

/// log4j2 configuration (Kafka 4) sending broker logs to files in `dir`.
pub fn log4j2_xml(dir: &Path) -> String {
    let d = dir.display();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="warn">
  <Appenders>
    <File name="server" fileName="{d}/server.log" append="true">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </File>
    <File name="state" fileName="{d}/state-change.log" append="true">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </File>
  </Appenders>
  <Loggers>
    <Root level="info"><AppenderRef ref="server"/></Root>
    <Logger name="state.change.logger" level="info" additivity="false"><AppenderRef ref="state"/></Logger>
    <Logger name="kafka.request.logger" level="warn"/>
    <Logger name="org.apache.kafka.common.security" level="info"/>
  </Loggers>
</Configuration>
"#
    )
}

/// log4j 1 (reload4j) configuration for Kafka 3.x, same files as [`log4j2_xml`].
pub fn log4j1_properties(dir: &Path) -> String {
    let d = dir.display();
    format!(
        "log4j.rootLogger=INFO, server\n\
         log4j.appender.server=org.apache.log4j.FileAppender\n\
         log4j.appender.server.File={d}/server.log\n\
         log4j.appender.server.layout=org.apache.log4j.PatternLayout\n\
         log4j.appender.server.layout.ConversionPattern=[%d] %p %m (%c)%n\n\
         log4j.appender.state=org.apache.log4j.FileAppender\n\
         log4j.appender.state.File={d}/state-change.log\n\
         log4j.appender.state.layout=org.apache.log4j.PatternLayout\n\
         log4j.appender.state.layout.ConversionPattern=[%d] %p %m (%c)%n\n\
         log4j.logger.state.change.logger=INFO, state\n\
         log4j.additivity.state.change.logger=false\n\
         log4j.logger.kafka.request.logger=WARN\n"
    )
}

/// Logging for short-lived tool JVMs: warnings and errors to stderr only, so
/// tool output on stdout stays parseable.
pub fn tools_log4j2_xml() -> &'static str {
    r#"<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="warn">
  <Appenders>
    <Console name="stderr" target="SYSTEM_ERR"><PatternLayout pattern="[%d] %p %m (%c)%n"/></Console>
  </Appenders>
  <Loggers>
    <Root level="warn"><AppenderRef ref="stderr"/></Root>
  </Loggers>
</Configuration>
"#
}

pub fn tools_log4j1_properties() -> &'static str {
    "log4j.rootLogger=WARN, stderr\n\
     log4j.appender.stderr=org.apache.log4j.ConsoleAppender\n\
     log4j.appender.stderr.Target=System.err\n\
     log4j.appender.stderr.layout=org.apache.log4j.PatternLayout\n\
     log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn property_values_escape_backslashes_and_leading_spaces() {
        assert_eq!(escape_property_value(r"C:\x"), r"C:\\x");
        assert_eq!(escape_property_value(" a b"), r"\ a b");
        assert_eq!(jaas_quote(r#"pa"ss"#), r#""pa\"ss""#);
    }
}
