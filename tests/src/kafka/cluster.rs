//! Single-node and 3-node KRaft clusters with every security listener, and
//! the fault controls tests use on them.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};

use super::client::{password_jaas, ClientAuth, ClientCert, ClientProperties, ClientSettings, StoreFormat, Trust};
use super::config::{self, jaas_quote, ClusterConfigInputs, NodePorts, ADVERTISED_HOST};
use super::credentials::Credentials;
use super::listeners::{Listener, SaslMechanism};
use super::node::{KafkaNode, NODE_START_TIMEOUT};
use super::provision::{in_ci, KafkaInstall};
use super::zookeeper::ZooKeeper;
use crate::error::{Context, HarnessError, Result};
use crate::interop::java::{JavaTools, TOOL_TIMEOUT};
use crate::kerberos::{Kdc, REALM};
use crate::oauth::{OAuthClient, OAuthServer};
use crate::paths;
use crate::ports::free_port;
use crate::proxy::ListenerProxy;

/// Which cluster shape to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topology {
    /// One combined broker+controller; replication factor 1. For most tests.
    Single,
    /// Three combined broker+controllers; replication factor 3,
    /// `min.insync.replicas=2`. For failure tests.
    ThreeNodes,
}

impl Topology {
    pub fn node_count(self) -> usize {
        match self {
            Topology::Single => 1,
            Topology::ThreeNodes => 3,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Topology::Single => "single-node",
            Topology::ThreeNodes => "3-node",
        }
    }
}

/// Leadership and replicas of one partition, as the cluster reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionState {
    pub partition: u32,
    pub leader: Option<u32>,
    pub replicas: Vec<u32>,
    pub isr: Vec<u32>,
}

/// A running cluster with its supporting services. Dropping it kills the
/// brokers and the KDC; the shared clusters from [`KafkaCluster::single`] and
/// [`KafkaCluster::three_nodes`] are killed when the test process exits.
#[derive(Debug)]
pub struct KafkaCluster {
    // Field order is drop order: brokers go before the services they use.
    nodes: Vec<KafkaNode>,
    proxies: ListenerProxies,
    /// Kafka 2.x only (ZooKeeper mode); dropped after the brokers.
    zookeeper: Option<ZooKeeper>,
    topology: Topology,
    cluster_id: String,
    run_dir: PathBuf,
    java: JavaTools,
    tls: crate::tls::TlsMaterial,
    oauth: OAuthServer,
    kdc: Kdc,
    credentials: Credentials,
    topic_counter: AtomicU64,
    token_counter: AtomicU64,
    startup_time: Duration,
}

static SINGLE: OnceLock<std::result::Result<KafkaCluster, String>> = OnceLock::new();
static THREE_NODES: OnceLock<std::result::Result<KafkaCluster, String>> = OnceLock::new();

fn shared(cell: &'static OnceLock<std::result::Result<KafkaCluster, String>>, topology: Topology) -> &'static KafkaCluster {
    match cell.get_or_init(|| KafkaCluster::start(topology).map_err(|error| error.to_string())) {
        Ok(cluster) => cluster,
        Err(message) => panic!(
            "the {} Kafka cluster could not start{}:\n{message}",
            topology.label(),
            if in_ci() { " (CI=true: nothing is skipped)" } else { "" }
        ),
    }
}

impl KafkaCluster {
    /// The single-node cluster shared by all tests of this test binary,
    /// started on first use. Panics with the broker log when it cannot start.
    pub fn single() -> &'static KafkaCluster {
        shared(&SINGLE, Topology::Single)
    }

    /// The 3-node cluster shared by all tests of this test binary.
    pub fn three_nodes() -> &'static KafkaCluster {
        shared(&THREE_NODES, Topology::ThreeNodes)
    }

    /// Starts a cluster owned by the caller (the `kafka-cluster` binary uses this).
    ///
    /// Ports are picked free but bound only when the brokers start, seconds
    /// later; if another process took one meanwhile, start-up is retried
    /// once on fresh ports.
    pub fn start(topology: Topology) -> Result<KafkaCluster> {
        match KafkaCluster::start_once(topology) {
            Err(error) if error.message().contains("Address already in use") => {
                crate::announce(&format!("a port was taken during start-up, retrying on fresh ports: {}", first_line(error.message())));
                KafkaCluster::start_once(topology)
            }
            result => result,
        }
    }

    fn start_once(topology: Topology) -> Result<KafkaCluster> {
        let started = Instant::now();
        let install = KafkaInstall::from_env()?;
        let run_dir = paths::new_run_dir(topology.label()).context(|| "creating the run directory".to_string())?;

        // Where start-up time goes, for the announcement below.
        let mut phases: Vec<(&str, Duration)> = Vec::new();
        let mut phase_started = Instant::now();
        let mut phase_done = |name: &'static str| {
            phases.push((name, phase_started.elapsed()));
            phase_started = Instant::now();
        };
        let tls = crate::tls::TlsMaterial::generate(&run_dir.join("tls"))?;
        phase_done("certificates");
        let (kdc, credentials) = start_kdc(&run_dir.join("kerberos"))?;
        phase_done("kdc");
        let oauth = OAuthServer::start(
            &run_dir.join("oauth"),
            vec![OAuthClient {
                client_id: credentials.oauth_client_id.clone(),
                client_secret: credentials.oauth_client_secret.clone(),
                allowed_scopes: vec![credentials.oauth_scope.clone(), "kafka:admin".to_string(), credentials.event_hubs_scope.clone()],
            }],
        )?;
        // Every JVM of this cluster (brokers, tools, probe) gets these.
        let common_jvm_options = vec![
            format!("-Djava.security.krb5.conf={}", kdc.krb5_conf().display()),
            format!("-Dorg.apache.kafka.sasl.oauthbearer.allowed.urls={},{}", oauth.token_url(), oauth.jwks_url()),
            "-Djava.net.preferIPv4Stack=true".to_string(),
        ];
        let java = JavaTools::new(install.clone(), common_jvm_options.clone(), run_dir.join("clients"))?;

        let zookeeper = if install.uses_zookeeper() {
            Some(ZooKeeper::start(&install, &common_jvm_options, &run_dir.join("zookeeper"))?)
        } else {
            None
        };
        let (node_ports, proxies) = allocate_ports(topology.node_count())?;
        let inputs = ClusterConfigInputs {
            node_count: topology.node_count(),
            quorum_voters: node_ports
                .iter()
                .enumerate()
                .map(|(index, ports)| format!("{}@127.0.0.1:{}", index + 1, ports.controller))
                .collect::<Vec<_>>()
                .join(","),
            tls: &tls,
            credentials: &credentials,
            oauth_jwks_url: oauth.jwks_url(),
            oauth_issuer: oauth.issuer().to_string(),
            oauth_audience: oauth.audience().to_string(),
            zookeeper_connect: zookeeper.as_ref().map(ZooKeeper::connect),
            oauth_validation: install.supports_oauth_validation(),
            pem_key_without_password: install.version_at_least(3, 0),
        };
        let mut nodes = Vec::new();
        for (index, ports) in node_ports.into_iter().enumerate() {
            let node_id = index as u32 + 1;
            let node = KafkaNode::new(node_id, run_dir.join(format!("node-{node_id}")), ports, install.clone(), common_jvm_options.clone());
            write_node_config(&node, &inputs)?;
            nodes.push(node);
        }

        phase_done("oauth, zookeeper, config");
        let cluster_id = match &zookeeper {
            None => {
                let cluster_id = random_cluster_id()?;
                format_storage(&nodes, &cluster_id, &credentials)?;
                cluster_id
            }
            Some(zookeeper) => {
                // ZooKeeper-mode brokers pick their cluster id themselves (read back below).
                add_scram_users_in_zookeeper(&java, zookeeper, &credentials)?;
                String::new()
            }
        };
        phase_done("format");
        let offsets = nodes.iter().map(KafkaNode::spawn).collect::<Result<Vec<u64>>>()?;
        for (node, offset) in nodes.iter().zip(offsets) {
            node.wait_started(offset, NODE_START_TIMEOUT)?;
        }
        phase_done("brokers");
        let cluster_id = match nodes.first() {
            Some(node) if zookeeper.is_some() => zookeeper_cluster_id(node)?,
            _ => cluster_id,
        };

        let cluster = KafkaCluster {
            nodes,
            proxies,
            zookeeper,
            topology,
            cluster_id,
            run_dir,
            java,
            tls,
            oauth,
            kdc,
            credentials,
            topic_counter: AtomicU64::new(0),
            token_counter: AtomicU64::new(0),
            startup_time: Duration::ZERO,
        };
        cluster.wait_for_all_brokers()?;
        phase_done("registered");
        let startup_time = started.elapsed();
        let phases: Vec<String> = phases.iter().map(|(name, took)| format!("{name} {:.1}s", took.as_secs_f64())).collect();
        crate::announce(&format!(
            "kafka {} cluster (Kafka {}) started in {:.1}s ({}); logs in {}",
            topology.label(),
            install.version,
            startup_time.as_secs_f64(),
            phases.join(", "),
            cluster.run_dir.display()
        ));
        Ok(KafkaCluster { startup_time, ..cluster })
    }

    pub fn topology(&self) -> Topology {
        self.topology
    }

    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    /// True for Kafka 2.x clusters, whose brokers run in ZooKeeper mode.
    pub fn uses_zookeeper(&self) -> bool {
        self.zookeeper.is_some()
    }

    /// The SASL mechanisms `listener` accepts on this cluster's brokers
    /// (no OAUTHBEARER before Kafka 3.1).
    pub fn sasl_mechanisms(&self, listener: Listener) -> Vec<SaslMechanism> {
        config::enabled_sasl_mechanisms(listener, self.java.install().supports_oauth_validation())
    }

    pub fn kafka_version(&self) -> &str {
        &self.java.install().version
    }

    /// Wall time from `start` until every node served requests.
    pub fn startup_time(&self) -> Duration {
        self.startup_time
    }

    /// `target/kafka-runs/<run>`: configs, data, logs (`node-<id>/server.log`), TLS and Kerberos files.
    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    pub fn node_ids(&self) -> Vec<u32> {
        self.nodes.iter().map(|node| node.id).collect()
    }

    pub fn node(&self, node_id: u32) -> &KafkaNode {
        self.nodes
            .iter()
            .find(|node| node.id == node_id)
            .unwrap_or_else(|| panic!("no node {node_id} in the {} cluster", self.topology.label()))
    }

    /// `localhost:<port>,...` of every node for `listener`.
    pub fn bootstrap(&self, listener: Listener) -> String {
        self.nodes.iter().map(|node| format!("{ADVERTISED_HOST}:{}", node.ports.advertised_ports[&listener])).collect::<Vec<_>>().join(",")
    }

    /// Bootstrap of the internal PLAINTEXT listener, which is never stopped by
    /// tests; the harness's own admin operations use it.
    pub fn internal_bootstrap(&self) -> String {
        self.nodes.iter().map(|node| format!("127.0.0.1:{}", node.ports.internal)).collect::<Vec<_>>().join(",")
    }

    pub fn tls(&self) -> &crate::tls::TlsMaterial {
        &self.tls
    }

    pub fn oauth(&self) -> &OAuthServer {
        &self.oauth
    }

    pub fn kdc(&self) -> &Kdc {
        &self.kdc
    }

    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    pub fn java(&self) -> &JavaTools {
        &self.java
    }

    /// A topic name no other test of this process uses.
    pub fn unique_topic(&self, base: &str) -> String {
        let safe: String = base.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect();
        format!("{safe}-{}-{}", std::process::id(), self.topic_counter.fetch_add(1, Ordering::SeqCst))
    }

    /// Credentials the cluster accepts for `mechanism`.
    pub fn valid_auth(&self, mechanism: SaslMechanism) -> ClientAuth {
        let credentials = &self.credentials;
        match mechanism {
            SaslMechanism::Plain | SaslMechanism::ScramSha256 | SaslMechanism::ScramSha512 => {
                ClientAuth::Password { mechanism, username: credentials.user.name.clone(), password: credentials.user.password.clone() }
            }
            SaslMechanism::Gssapi => ClientAuth::Kerberos {
                principal: credentials.kerberos_principal.clone(),
                keytab: credentials.kerberos_keytab.clone(),
                service_name: credentials.kerberos_service_name.clone(),
            },
            SaslMechanism::OAuthBearer => ClientAuth::OAuthClientCredentials {
                client_id: credentials.oauth_client_id.clone(),
                client_secret: credentials.oauth_client_secret.clone(),
                scope: Some(credentials.oauth_scope.clone()),
            },
        }
    }

    /// Settings that connect successfully to `listener` (first SASL mechanism for SASL listeners).
    pub fn valid_settings(&self, listener: Listener) -> ClientSettings {
        let settings = ClientSettings::new(listener);
        match listener.sasl_mechanisms().first() {
            Some(mechanism) => settings.auth(self.valid_auth(*mechanism)),
            None => settings,
        }
    }

    /// Java client properties for `settings`.
    pub fn client_properties(&self, settings: &ClientSettings) -> Result<ClientProperties> {
        let mut properties = ClientProperties::new();
        properties.set("bootstrap.servers", self.bootstrap(settings.listener));
        properties.set("security.protocol", settings.listener.security_protocol());
        properties.set("client.dns.lookup", "use_all_dns_ips");
        if settings.listener.uses_tls() {
            let ca = match (settings.trust, settings.store_format) {
                (Trust::HarnessCa, StoreFormat::Pem) => &self.tls.ca_cert_pem,
                (Trust::HarnessCa, StoreFormat::Pkcs12) => &self.tls.ca_truststore_p12,
                (Trust::RogueCa, _) => &self.tls.rogue_ca_cert_pem,
            };
            let ca_is_pem = ca.extension().is_some_and(|extension| extension == "pem");
            properties.set("ssl.truststore.type", if ca_is_pem { "PEM" } else { "PKCS12" });
            properties.set("ssl.truststore.location", ca.display().to_string());
            if !ca_is_pem {
                properties.set("ssl.truststore.password", self.tls.pkcs12_password.expose());
            }
            properties.set("ssl.endpoint.identification.algorithm", "https");
            if let Some(cert) = settings.client_cert {
                let key = match cert {
                    ClientCert::Harness => &self.tls.client,
                    ClientCert::Rogue => &self.tls.rogue_client,
                };
                match settings.store_format {
                    StoreFormat::Pem => {
                        properties.set("ssl.keystore.type", "PEM");
                        properties.set("ssl.keystore.location", key.keystore_pem.display().to_string());
                    }
                    StoreFormat::Pkcs12 => {
                        properties.set("ssl.keystore.type", "PKCS12");
                        properties.set("ssl.keystore.location", key.keystore_p12.display().to_string());
                        properties.set("ssl.keystore.password", self.tls.pkcs12_password.expose());
                    }
                }
            }
        }
        match &settings.auth {
            ClientAuth::None => {}
            ClientAuth::Password { mechanism, username, password } => {
                properties.set("sasl.mechanism", mechanism.name());
                properties.set("sasl.jaas.config", password_jaas(*mechanism, username, password));
            }
            ClientAuth::OAuthClientCredentials { client_id, client_secret, scope } => {
                properties.set("sasl.mechanism", "OAUTHBEARER");
                properties.set(
                    "sasl.login.callback.handler.class",
                    "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler",
                );
                properties.set("sasl.oauthbearer.token.endpoint.url", self.oauth.token_url());
                let scope = scope.as_ref().map(|scope| format!(" scope={}", jaas_quote(scope))).unwrap_or_default();
                properties.set(
                    "sasl.jaas.config",
                    format!(
                        "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required clientId={} clientSecret={}{scope};",
                        jaas_quote(client_id),
                        jaas_quote(client_secret.expose())
                    ),
                );
            }
            ClientAuth::OAuthToken { token } => {
                let index = self.token_counter.fetch_add(1, Ordering::SeqCst);
                let token_file = self.run_dir.join("clients").join(format!("token-{index}.jwt"));
                std::fs::write(&token_file, token.expose()).context(|| format!("writing {}", token_file.display()))?;
                properties.set("sasl.mechanism", "OAUTHBEARER");
                properties.set("sasl.login.callback.handler.class", "rill.probe.StaticTokenLoginCallbackHandler");
                properties.set(
                    "sasl.jaas.config",
                    format!(
                        "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required tokenFile={};",
                        jaas_quote(&token_file.display().to_string())
                    ),
                );
            }
            ClientAuth::Kerberos { principal, keytab, service_name } => {
                properties.set("sasl.mechanism", "GSSAPI");
                properties.set("sasl.kerberos.service.name", service_name.clone());
                properties.set(
                    "sasl.jaas.config",
                    format!(
                        "com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true storeKey=true useTicketCache=false keyTab={} principal={};",
                        jaas_quote(&keytab.display().to_string()),
                        jaas_quote(principal)
                    ),
                );
            }
        }
        Ok(properties)
    }

    /// Properties for the harness's own admin calls (internal listener).
    pub fn admin_properties(&self) -> ClientProperties {
        let mut properties = ClientProperties::new();
        properties.set("bootstrap.servers", self.internal_bootstrap());
        properties
    }

    /// One request to the long-lived admin JVM on the internal listener.
    fn admin_request(&self, request: &[&str], timeout: Duration) -> Result<String> {
        let request: Vec<String> = request.iter().map(|part| part.to_string()).collect();
        self.java.admin_request(&self.admin_properties(), &request, timeout)
    }

    /// Waits until every node is registered as a broker (60 s at most).
    pub fn wait_for_all_brokers(&self) -> Result<()> {
        let expected_brokers = self.topology.node_count().to_string();
        let seen = self.admin_request(&["wait-brokers", &expected_brokers, "60000"], Duration::from_secs(70))?;
        if !seen.contains(&format!("BROKERS\t{expected_brokers}")) {
            return Err(HarnessError::new(format!(
                "{} cluster: not all brokers registered: {seen}\n{}",
                self.topology.label(),
                self.log_tails()
            )));
        }
        Ok(())
    }

    /// Creates a topic and waits until every partition has a leader.
    pub fn create_topic(&self, topic: &str, partitions: u32, replication_factor: u16) -> Result<()> {
        let output = self
            .admin_request(&["create-topic", topic, &partitions.to_string(), &replication_factor.to_string()], Duration::from_secs(70))?;
        if !output.contains("CREATED") {
            return Err(HarnessError::new(format!("creating topic {topic}: {output}")));
        }
        Ok(())
    }

    /// Creates a topic with an explicit replica assignment (one entry per
    /// partition, broker ids, first = preferred leader) with Kafka's `kafka-topics` tool.
    pub fn create_topic_with_assignment(&self, topic: &str, assignment: &[Vec<u32>]) -> Result<()> {
        let assignment = assignment
            .iter()
            .map(|replicas| replicas.iter().map(u32::to_string).collect::<Vec<_>>().join(":"))
            .collect::<Vec<_>>()
            .join(",");
        self.java.run_ok(
            "org.apache.kafka.tools.TopicCommand",
            &[
                "--bootstrap-server".to_string(),
                self.internal_bootstrap(),
                "--create".to_string(),
                "--topic".to_string(),
                topic.to_string(),
                "--replica-assignment".to_string(),
                assignment,
            ],
            None,
            TOOL_TIMEOUT,
        )?;
        Ok(())
    }

    /// Produces one record with `acks=all` and no retries through the
    /// internal listener; `Err` carries the producer's exception (e.g.
    /// `NotEnoughReplicasException`), so tests can check broker-side guarantees.
    pub fn produce_acks_all(&self, topic: &str, value: &str) -> Result<std::result::Result<u64, String>> {
        self.produce_with(&["produce", topic, value])
    }

    /// Like [`produce_acks_all`](Self::produce_acks_all), to `partition`.
    pub fn produce_acks_all_to(&self, topic: &str, partition: i32, value: &str) -> Result<std::result::Result<u64, String>> {
        self.produce_with(&["produce", topic, value, &partition.to_string()])
    }

    fn produce_with(&self, command: &[&str]) -> Result<std::result::Result<u64, String>> {
        let output = self.admin_request(command, Duration::from_secs(40))?;
        let line = output.lines().find(|line| line.starts_with("PRODUCED") || line.starts_with("FAIL")).unwrap_or_default();
        let fields: Vec<&str> = line.split('\t').collect();
        match fields.as_slice() {
            ["PRODUCED", _partition, offset] => Ok(Ok(offset.parse().unwrap_or(0))),
            ["FAIL", rest @ ..] => Ok(Err(rest.join(" "))),
            _ => Err(HarnessError::new(format!("unexpected probe output for produce: {output}"))),
        }
    }

    /// Leader, replicas and ISR of every partition of `topic`.
    pub fn describe_topic(&self, topic: &str) -> Result<Vec<PartitionState>> {
        let output = self.admin_request(&["describe-topic", topic], Duration::from_secs(30))?;
        let ids = |text: &str| text.split(',').filter(|id| !id.is_empty()).filter_map(|id| id.parse().ok()).collect();
        Ok(output
            .lines()
            .filter_map(|line| {
                let fields: Vec<&str> = line.split('\t').collect();
                match fields.as_slice() {
                    ["PARTITION", partition, leader, replicas, isr] => Some(PartitionState {
                        partition: partition.parse().ok()?,
                        leader: leader.parse::<i64>().ok().filter(|id| *id >= 0).map(|id| id as u32),
                        replicas: ids(replicas),
                        isr: ids(isr),
                    }),
                    _ => None,
                }
            })
            .collect())
    }

    /// Polls [`KafkaCluster::describe_topic`] until `condition` holds for `partition`.
    pub fn wait_for_partition(
        &self,
        topic: &str,
        partition: u32,
        timeout: Duration,
        what: &str,
        condition: impl Fn(&PartitionState) -> bool,
    ) -> Result<PartitionState> {
        let deadline = Instant::now() + timeout;
        let mut last = None;
        loop {
            match self.describe_topic(topic) {
                Ok(states) => {
                    if let Some(state) = states.into_iter().find(|state| state.partition == partition) {
                        if condition(&state) {
                            return Ok(state);
                        }
                        last = Some(format!("{state:?}"));
                    }
                }
                Err(error) => last = Some(error.to_string()),
            }
            if Instant::now() >= deadline {
                return Err(HarnessError::new(format!(
                    "{topic}-{partition}: {what} did not happen within {timeout:?}; last seen: {}",
                    last.unwrap_or_else(|| "nothing".to_string())
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `kill -9` of one node.
    pub fn kill(&self, node_id: u32) {
        crate::announce(&format!("kill -9 node {node_id} (pid {:?})", self.node(node_id).pid()));
        self.node(node_id).kill();
    }

    /// Starts a stopped or killed node again on the same ports and data; returns how long it took.
    pub fn restart(&self, node_id: u32) -> Result<Duration> {
        let started = Instant::now();
        self.node(node_id).start()?;
        let elapsed = started.elapsed();
        crate::announce(&format!("node {node_id} restarted in {:.1}s", elapsed.as_secs_f64()));
        Ok(elapsed)
    }

    /// Freezes one node with SIGSTOP: it stops replicating and heartbeating
    /// (so it leaves the ISR and falls behind) but keeps its log as it was.
    pub fn pause(&self, node_id: u32) {
        crate::announce(&format!("SIGSTOP node {node_id}"));
        self.node(node_id).freeze(true);
    }

    /// SIGCONT of a node frozen by [`KafkaCluster::pause`].
    pub fn resume(&self, node_id: u32) {
        crate::announce(&format!("SIGCONT node {node_id}"));
        self.node(node_id).freeze(false);
    }

    /// Moves `topic`-`partition` to `replicas` (first = preferred leader) with
    /// Kafka's `kafka-reassign-partitions` tool and waits until it completes.
    pub fn reassign(&self, topic: &str, partition: u32, replicas: &[u32]) -> Result<()> {
        let plan = serde_json::json!({
            "version": 1,
            "partitions": [{"topic": topic, "partition": partition, "replicas": replicas}],
        });
        let plan_file = self.java.write_file("reassignment.json", &plan.to_string())?;
        let common = vec![
            "--bootstrap-server".to_string(),
            self.internal_bootstrap(),
            "--reassignment-json-file".to_string(),
            plan_file.display().to_string(),
        ];
        let main_class = "org.apache.kafka.tools.reassign.ReassignPartitionsCommand";
        let mut execute = common.clone();
        execute.push("--execute".to_string());
        self.java.run_ok(main_class, &execute, None, TOOL_TIMEOUT)?;
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut verify = common;
        verify.push("--verify".to_string());
        loop {
            let finished = self.java.run(main_class, &verify, None, TOOL_TIMEOUT)?;
            if finished.status.success() && finished.stdout.contains("is completed") && !finished.stdout.contains("still in progress") {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(HarnessError::new(format!(
                    "reassignment of {topic}-{partition} to {replicas:?} did not complete: {}{}",
                    finished.stdout, finished.stderr
                )));
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Elects the preferred (first) replica as leader with Kafka's `kafka-leader-election` tool.
    pub fn elect_preferred_leader(&self, topic: &str, partition: u32) -> Result<String> {
        self.elect_leader("PREFERRED", topic, partition)
    }

    /// Elects any live replica as leader, in sync or not (`kafka-leader-election
    /// --election-type UNCLEAN`): records only the old leader had are lost.
    pub fn elect_unclean_leader(&self, topic: &str, partition: u32) -> Result<String> {
        self.elect_leader("UNCLEAN", topic, partition)
    }

    fn elect_leader(&self, election_type: &str, topic: &str, partition: u32) -> Result<String> {
        let finished = self.java.run_ok(
            "org.apache.kafka.tools.LeaderElectionCommand",
            &[
                "--bootstrap-server".to_string(),
                self.internal_bootstrap(),
                "--election-type".to_string(),
                election_type.to_string(),
                "--topic".to_string(),
                topic.to_string(),
                "--partition".to_string(),
                partition.to_string(),
            ],
            None,
            TOOL_TIMEOUT,
        )?;
        Ok(finished.stdout)
    }

    /// Stops `listener` on every node: new connections are refused and open ones cut.
    pub fn stop_listener(&self, listener: Listener) {
        for ((_, proxied), proxy) in &self.proxies {
            if *proxied == listener {
                proxy.stop();
            }
        }
    }

    /// Starts `listener` again on every node, on the same ports.
    pub fn start_listener(&self, listener: Listener) -> Result<()> {
        for ((_, proxied), proxy) in &self.proxies {
            if *proxied == listener {
                proxy.start_again()?;
            }
        }
        Ok(())
    }

    /// Stops `listener` on one node only.
    pub fn stop_listener_on(&self, node_id: u32, listener: Listener) {
        if let Some(proxy) = self.proxies.get(&(node_id, listener)) {
            proxy.stop();
        }
    }

    /// Starts `listener` on one node again.
    pub fn start_listener_on(&self, node_id: u32, listener: Listener) -> Result<()> {
        match self.proxies.get(&(node_id, listener)) {
            Some(proxy) => proxy.start_again(),
            None => Err(HarnessError::new(format!("no node {node_id} with listener {listener}"))),
        }
    }

    pub fn is_listener_running(&self, node_id: u32, listener: Listener) -> bool {
        self.proxies.get(&(node_id, listener)).map(ListenerProxy::is_running).unwrap_or(false)
    }

    /// Server log tails of every node, for failure messages.
    pub fn log_tails(&self) -> String {
        self.nodes.iter().map(KafkaNode::log_tails).collect::<Vec<_>>().join("\n")
    }

    /// A human-readable summary: bootstrap per listener, credentials, file paths.
    /// Shows secrets on purpose (it is what `kafka-cluster` prints for local work).
    pub fn summary(&self) -> String {
        let c = &self.credentials;
        let mut text = format!(
            "Kafka {} {} cluster (id {}), started in {:.1}s\nrun directory: {}\n\nbootstrap servers:\n",
            self.kafka_version(),
            self.topology.label(),
            self.cluster_id,
            self.startup_time.as_secs_f64(),
            self.run_dir.display()
        );
        for listener in Listener::ALL {
            let mechanisms: Vec<&str> = self.sasl_mechanisms(listener).iter().map(|m| m.name()).collect();
            text.push_str(&format!(
                "  {:<17} {:<40} {}\n",
                listener.name(),
                self.bootstrap(listener),
                if mechanisms.is_empty() { String::new() } else { mechanisms.join(",") }
            ));
        }
        text.push_str(&format!("  {:<17} {}\n", "INTERNAL", self.internal_bootstrap()));
        text.push_str(&format!(
            "\nTLS:\n  CA certificate:      {} (PKCS#12 trust store: {})\n  client keystore:     {} (PEM), {} (PKCS#12, password {})\n  client cert / key:   {} / {}\n",
            self.tls.ca_cert_pem.display(),
            self.tls.ca_truststore_p12.display(),
            self.tls.client.keystore_pem.display(),
            self.tls.client.keystore_p12.display(),
            self.tls.pkcs12_password.expose(),
            self.tls.client.cert_pem.display(),
            self.tls.client.key_pem.display(),
        ));
        text.push_str(&format!(
            "\nSASL PLAIN / SCRAM-SHA-256 / SCRAM-SHA-512:\n  user {} password {}\n  Event Hubs SAS (PLAIN only): user {} password {}\n",
            c.user.name,
            c.user.password.expose(),
            c.event_hubs_user.name,
            c.event_hubs_user.password.expose()
        ));
        text.push_str(&format!(
            "\nOAUTHBEARER:\n  token endpoint {} (client {} secret {} scope {})\n  JWKS {}\n  issuer {} audience {}\n",
            self.oauth.token_url(),
            c.oauth_client_id,
            c.oauth_client_secret.expose(),
            c.oauth_scope,
            self.oauth.jwks_url(),
            self.oauth.issuer(),
            self.oauth.audience()
        ));
        text.push_str(&format!(
            "\nGSSAPI (Kerberos realm {} on 127.0.0.1:{}):\n  KRB5_CONFIG={}\n  client {} keytab {}\n  service name {}\n",
            self.kdc.realm(),
            self.kdc.port(),
            self.kdc.krb5_conf().display(),
            c.kerberos_principal,
            c.kerberos_keytab.display(),
            c.kerberos_service_name
        ));
        text.push_str(&format!("\nJava clients need: {}\n", self.java.jvm_options().join(" ")));
        text
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

/// Starts the KDC and creates the principals every cluster uses.
fn start_kdc(dir: &Path) -> Result<(Kdc, Credentials)> {
    let kdc = Kdc::start(dir)?;
    let credentials = Credentials::new(dir.to_path_buf(), REALM);
    kdc.add_principal(&credentials.broker_principal, &credentials.broker_keytab)?;
    // Export alice twice: the second export re-keys her, leaving the first keytab stale.
    kdc.add_principal(&credentials.kerberos_principal, &credentials.kerberos_stale_keytab)?;
    kdc.export_keytab(&credentials.kerberos_principal, &credentials.kerberos_keytab)?;
    kdc.add_principal(&credentials.kerberos_deleted_principal, &credentials.kerberos_deleted_keytab)?;
    kdc.delete_principal(&credentials.kerberos_deleted_principal)?;
    Ok((kdc, credentials))
}

/// The proxy in front of each client listener, by node id and listener.
type ListenerProxies = BTreeMap<(u32, Listener), ListenerProxy>;

/// Ports of every node, and a proxy in front of each client listener
/// (brokers advertise the proxy port).
fn allocate_ports(node_count: usize) -> Result<(Vec<NodePorts>, ListenerProxies)> {
    let mut proxies = BTreeMap::new();
    let mut node_ports = Vec::new();
    for node_id in 1..=node_count as u32 {
        let mut listener_ports = BTreeMap::new();
        let mut advertised_ports = BTreeMap::new();
        for listener in Listener::ALL {
            let port = free_port()?;
            let proxy = ListenerProxy::start(
                &format!("node{node_id}-{}", listener.name().to_ascii_lowercase()),
                SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            )?;
            listener_ports.insert(listener, port);
            advertised_ports.insert(listener, proxy.port());
            proxies.insert((node_id, listener), proxy);
        }
        node_ports.push(NodePorts { controller: free_port()?, internal: free_port()?, listener_ports, advertised_ports });
    }
    Ok((node_ports, proxies))
}

/// `server.properties` and both logging configurations (log4j2 for Kafka 4, log4j 1 for 3.x).
fn write_node_config(node: &KafkaNode, inputs: &ClusterConfigInputs) -> Result<()> {
    let dir = &node.dir;
    std::fs::create_dir_all(dir).context(|| format!("creating {}", dir.display()))?;
    let properties = config::server_properties(inputs, node.id, &node.ports, &node.data_dir());
    std::fs::write(node.server_properties(), properties).context(|| "writing server.properties".to_string())?;
    std::fs::write(dir.join("log4j2.xml"), config::log4j2_xml(dir)).context(|| "writing log4j2.xml".to_string())?;
    std::fs::write(dir.join("log4j.properties"), config::log4j1_properties(dir)).context(|| "writing log4j.properties".to_string())
}

/// Formats every node's KRaft storage, creating the SCRAM users, in parallel:
/// each format is a JVM start, the slowest part of start-up.
fn format_storage(nodes: &[KafkaNode], cluster_id: &str, credentials: &Credentials) -> Result<()> {
    let user = &credentials.user;
    let scram_args: Vec<String> = ["SCRAM-SHA-256", "SCRAM-SHA-512"]
        .iter()
        .flat_map(|mechanism| ["--add-scram".to_string(), format!("{mechanism}=[name={},password={}]", user.name, user.password.expose())])
        .collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = nodes.iter().map(|node| scope.spawn(|| node.format(cluster_id, &scram_args))).collect();
        handles.into_iter().try_for_each(|handle| handle.join().unwrap_or_else(|_| Err(HarnessError::new("format thread panicked"))))
    })
}

/// Creates the SCRAM-SHA-256/512 users in ZooKeeper before the brokers
/// start (Kafka 2.x; KRaft clusters get them at format time).
fn add_scram_users_in_zookeeper(java: &JavaTools, zookeeper: &ZooKeeper, credentials: &Credentials) -> Result<()> {
    let user = &credentials.user;
    let password = user.password.expose();
    let scram = format!("SCRAM-SHA-256=[password={password}],SCRAM-SHA-512=[password={password}]");
    let args: Vec<String> =
        ["--zookeeper", &zookeeper.connect(), "--alter", "--add-config", &scram, "--entity-type", "users", "--entity-name", &user.name]
            .iter()
            .map(|arg| arg.to_string())
            .collect();
    let finished = java.run("kafka.admin.ConfigCommand", &args, None, TOOL_TIMEOUT)?;
    if !finished.status.success() {
        // The arguments hold the password: report the tool's output only.
        return Err(HarnessError::new(format!(
            "creating the SCRAM users in ZooKeeper failed ({}):\n{}{}\n{}",
            finished.status,
            finished.stdout,
            finished.stderr,
            zookeeper.log_tails()
        )));
    }
    Ok(())
}

/// The cluster id a ZooKeeper-mode broker created on first start, from its `meta.properties`.
fn zookeeper_cluster_id(node: &KafkaNode) -> Result<String> {
    let path = node.data_dir().join("meta.properties");
    let text = std::fs::read_to_string(&path).context(|| format!("reading {}", path.display()))?;
    text.lines()
        .find_map(|line| line.strip_prefix("cluster.id="))
        .map(|id| id.trim().to_string())
        .ok_or_else(|| HarnessError::new(format!("{} has no cluster.id:\n{text}", path.display())))
}

/// A KRaft cluster id: 16 random bytes, base64url without padding. Like
/// Kafka's own `Uuid.randomUuid`, never one starting with `-`: the storage
/// tool's argument parser would take it for an option.
fn random_cluster_id() -> Result<String> {
    let random = SystemRandom::new();
    loop {
        let mut bytes = [0u8; 16];
        random.fill(&mut bytes).map_err(|_| HarnessError::new("no randomness for the cluster id"))?;
        let id = URL_SAFE_NO_PAD.encode(bytes);
        if !id.starts_with('-') {
            return Ok(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_ids_are_22_characters_and_never_look_like_options() {
        for _ in 0..2000 {
            let id = random_cluster_id().expect("cluster id");
            assert_eq!(id.len(), 22);
            assert!(!id.starts_with('-'), "{id}");
        }
    }
}
