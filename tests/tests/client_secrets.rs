//! No secret rill is given ever shows: every password, key password,
//! keystore password, OAuth client secret, Kerberos password and keytab key
//! is searched for in everything rill logged at TRACE in this binary and in
//! the Debug and Display output of its configs, clients and errors, for a
//! successful and a failed connection each (the shared single-node cluster
//! of this test binary).
//!
//! The secrets searched for are the harness's real ones (`alice-secret`,
//! `rill-test-store`, `rill-client-secret`: a successful connection needs
//! them) and recognisable wrong ones.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use rill_client::{Client, ClientConfig, Error, KerberosErrorKind};
use rill_e2e::{KafkaCluster, Listener};

/// Everything rill logs in this binary, at TRACE.
fn captured_logs() -> &'static Mutex<Vec<u8>> {
    static LOGS: OnceLock<&'static Mutex<Vec<u8>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs: &'static Mutex<Vec<u8>> = Box::leak(Box::new(Mutex::new(Vec::new())));
        let subscriber =
            tracing_subscriber::fmt().with_max_level(tracing::Level::TRACE).with_ansi(false).with_writer(move || LogWriter(logs)).finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only global subscriber");
        logs
    })
}

struct LogWriter(&'static Mutex<Vec<u8>>);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        lock(self.0).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn lock(logs: &Mutex<Vec<u8>>) -> MutexGuard<'_, Vec<u8>> {
    logs.lock().unwrap_or_else(|p| p.into_inner())
}

/// Collects the text to search: Debug of configs and clients, Display and
/// Debug of errors; the logs are added at the end.
#[derive(Default)]
struct Evidence {
    texts: Vec<(String, String)>,
    /// Log lines that must be there, so the search covers real logging.
    expected_log_lines: BTreeSet<&'static str>,
}

impl Evidence {
    fn config(&mut self, what: &str, config: &ClientConfig) {
        self.texts.push((format!("{what}: config Debug"), format!("{config:?} {config:#?}")));
    }

    fn connected(&mut self, what: &str, client: &Client) {
        self.texts.push((format!("{what}: client Debug"), format!("{client:?} {:?}", client.config())));
    }

    fn failed(&mut self, what: &str, err: &Error) {
        self.texts.push((format!("{what}: error"), format!("{err} {err:?} {err:#?}")));
    }

    /// Asserts no secret is in any text or in the logs.
    fn assert_clean(mut self, secrets: &[&str]) {
        let logs = String::from_utf8_lossy(&lock(captured_logs())).to_string();
        for line in &self.expected_log_lines {
            assert!(logs.contains(line), "the TRACE logs lack {line:?}: the search would prove nothing");
        }
        self.texts.push(("the TRACE logs".to_string(), logs));
        for secret in secrets {
            assert!(secret.len() >= 8, "recognisable: {secret}");
            for (what, text) in &self.texts {
                assert!(!text.contains(secret), "{what} contains the secret {secret:?}:\n{text}");
            }
        }
    }
}

fn properties(cluster: &KafkaCluster, listener: Listener, extra: &[(&str, &str)]) -> ClientConfig {
    captured_logs();
    let bootstrap = cluster.bootstrap(listener);
    let mut properties =
        vec![("bootstrap.servers", bootstrap.as_str()), ("client.id", "rill-e2e-secrets"), ("socket.connection.setup.timeout.ms", "20000")];
    properties.extend_from_slice(extra);
    ClientConfig::from_properties(properties).expect("valid config")
}

fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

async fn connect_ok(evidence: &mut Evidence, what: &str, config: ClientConfig) {
    evidence.config(what, &config);
    let client = Client::connect(config).await.unwrap_or_else(|e| panic!("{what}: {e}"));
    client.metadata(&[]).await.unwrap_or_else(|e| panic!("{what}: metadata: {e}"));
    evidence.connected(what, &client);
}

async fn connect_failing(evidence: &mut Evidence, what: &str, config: ClientConfig) -> Error {
    evidence.config(what, &config);
    let result = tokio::time::timeout(Duration::from_secs(60), Client::connect(config)).await.expect("fails, not hangs");
    let err = result.err().unwrap_or_else(|| panic!("{what}: connected, expected a failure"));
    evidence.failed(what, &err);
    err
}

#[tokio::test]
async fn sasl_passwords_never_show() {
    let cluster = KafkaCluster::single();
    let ca = path(&cluster.tls().ca_cert_pem).to_string();
    let user = cluster.credentials().user.name.clone();
    let good = cluster.credentials().user.password.expose().to_string();
    let wrong = "rill-canary-sasl-pw-7f3a9c";
    let mut evidence = Evidence::default();
    for mechanism in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] {
        for (listener, protocol) in [(Listener::SaslPlaintext, "SASL_PLAINTEXT"), (Listener::SaslSsl, "SASL_SSL")] {
            let config = |password: &str| {
                properties(
                    cluster,
                    listener,
                    &[
                        ("security.protocol", protocol),
                        ("ssl.ca.location", ca.as_str()),
                        ("sasl.mechanism", mechanism),
                        ("sasl.username", user.as_str()),
                        ("sasl.password", password),
                    ],
                )
            };
            let what = format!("{mechanism} over {protocol}");
            connect_ok(&mut evidence, &what, config(&good)).await;
            let err = connect_failing(&mut evidence, &format!("{what}, wrong password"), config(wrong)).await;
            assert!(err.to_string().contains("authentication failed"), "{err}");
        }
    }
    // A config error about the sensitive key does not echo its value either.
    let err = ClientConfig::from_properties([
        ("bootstrap.servers", "a:1"),
        ("security.protocol", "SASL_SSL"),
        ("sasl.mechanism", "PLAIN"),
        ("sasl.username", "u"),
        ("sasl.password", wrong),
        ("sasl.mechanism", "KERBEROS-ish"),
    ])
    .unwrap_err();
    evidence.texts.push(("a config error".to_string(), format!("{err} {err:?}")));
    evidence.expected_log_lines.extend(["SASL authenticated", "SASL authentication failed"]);
    evidence.assert_clean(&[&good, wrong]);
}

/// Azure Event Hubs' connection string, the password of `$ConnectionString`
/// through rill's SAS preset: neither it nor a wrong one shows.
#[tokio::test]
async fn event_hubs_connection_strings_never_show() {
    let cluster = KafkaCluster::single();
    captured_logs();
    let ca = path(&cluster.tls().ca_cert_pem).to_string();
    let good = cluster.credentials().event_hubs_user.password.expose().to_string();
    let good_key = good.split_once(";SharedAccessKey=").expect("a SharedAccessKey").1.to_string();
    let wrong_key = "rillCanarySasKey3Vb8Nq1Lx6Tz4Md9Kp2Hw7Ys5=";
    let wrong = good.replace(&good_key, wrong_key);
    let config = |connection_string: &str| {
        rill_client::azure::event_hubs_sas(&cluster.credentials().event_hubs_namespace, rill_client::Secret::new(connection_string))
            .bootstrap_servers([cluster.bootstrap(Listener::SaslSsl)])
            .property("ssl.ca.location", &ca)
            .client_id("rill-e2e-secrets")
            .build()
            .expect("valid config")
    };
    let mut evidence = Evidence::default();
    connect_ok(&mut evidence, "Event Hubs SAS", config(&good)).await;
    let err = connect_failing(&mut evidence, "Event Hubs SAS, wrong key", config(&wrong)).await;
    assert!(err.to_string().contains("authentication failed"), "{err}");
    evidence.expected_log_lines.extend(["SASL authenticated", "SASL authentication failed"]);
    evidence.assert_clean(&[&good, &good_key, &wrong, wrong_key]);
}

#[tokio::test]
async fn tls_key_and_keystore_passwords_never_show() {
    let cluster = KafkaCluster::single();
    let tls = cluster.tls();
    let good = tls.pkcs12_password.expose().to_string();
    let wrong = "rill-canary-store-pw-5d2e";
    let mut evidence = Evidence::default();
    let encrypted_key = |ca: &Path, password: &str| {
        properties(
            cluster,
            Listener::Mtls,
            &[
                ("security.protocol", "SSL"),
                ("ssl.ca.location", path(ca)),
                ("ssl.certificate.location", path(&tls.client.cert_pem)),
                ("ssl.key.location", path(&tls.client.key_pem_encrypted)),
                ("ssl.key.password", password),
            ],
        )
    };
    connect_ok(&mut evidence, "encrypted PKCS#8 key", encrypted_key(&tls.ca_cert_pem, &good)).await;
    // The key decrypts, then the broker's certificate is refused (rogue CA trusted).
    let err = connect_failing(&mut evidence, "encrypted key, untrusted broker", encrypted_key(&tls.rogue_ca_cert_pem, &good)).await;
    assert!(err.tls_kind().is_some(), "{err:?}");
    let err = connect_failing(&mut evidence, "encrypted key, wrong password", encrypted_key(&tls.ca_cert_pem, wrong)).await;
    assert!(err.to_string().contains("ssl.key.password is wrong"), "{err}");

    let keystore = |store: &Path, password: &str| {
        properties(
            cluster,
            Listener::Mtls,
            &[
                ("security.protocol", "SSL"),
                ("ssl.truststore.location", path(&tls.ca_truststore_p12)),
                ("ssl.truststore.password", good.as_str()),
                ("ssl.keystore.location", path(store)),
                ("ssl.keystore.password", password),
            ],
        )
    };
    connect_ok(&mut evidence, "PKCS#12 keystore", keystore(&tls.client.keystore_p12, &good)).await;
    // The store opens, then the broker refuses its certificate (rogue CA).
    let err = connect_failing(&mut evidence, "keystore, refused certificate", keystore(&tls.rogue_client.keystore_p12, &good)).await;
    assert!(err.tls_kind().is_some(), "{err:?}");
    let err = connect_failing(&mut evidence, "keystore, wrong password", keystore(&tls.client.keystore_p12, wrong)).await;
    assert!(err.to_string().contains("ssl.keystore.password is wrong"), "{err}");
    evidence.expected_log_lines.extend(["connected", "connect failed"]);
    evidence.assert_clean(&[&good, wrong]);
}

#[tokio::test]
async fn oauth_client_secrets_never_show() {
    let cluster = KafkaCluster::single();
    let ca = path(&cluster.tls().ca_cert_pem).to_string();
    let credentials = cluster.credentials();
    let token_url = cluster.oauth().token_url();
    let good = credentials.oauth_client_secret.expose().to_string();
    let wrong = "rill-canary-oauth-secret-9b1c";
    let config = |secret: &str| {
        properties(
            cluster,
            Listener::SaslSsl,
            &[
                ("security.protocol", "SASL_SSL"),
                ("ssl.ca.location", ca.as_str()),
                ("sasl.mechanism", "OAUTHBEARER"),
                ("sasl.oauthbearer.token.endpoint.url", token_url.as_str()),
                ("sasl.oauthbearer.client.id", credentials.oauth_client_id.as_str()),
                ("sasl.oauthbearer.client.secret", secret),
                ("sasl.oauthbearer.scope", credentials.oauth_scope.as_str()),
            ],
        )
    };
    let mut evidence = Evidence::default();
    connect_ok(&mut evidence, "OAUTHBEARER", config(&good)).await;
    let err = connect_failing(&mut evidence, "OAUTHBEARER, wrong client secret", config(wrong)).await;
    assert!(err.oauth_kind().is_some(), "{err:?}");
    evidence.expected_log_lines.extend(["token endpoint issued a token", "OAUTHBEARER"]);
    evidence.assert_clean(&[&good, wrong]);
}

/// The long-term keys of a keytab as a leak would show them: the hex
/// `klist -kK` prints, and the start of a byte vector's Debug.
fn keytab_keys(keytab: &Path) -> Vec<String> {
    let output = std::process::Command::new("klist").args(["-kK", path(keytab)]).output().expect("klist -kK runs");
    assert!(output.status.success(), "klist -kK {}: {}", keytab.display(), String::from_utf8_lossy(&output.stderr));
    let listing = String::from_utf8_lossy(&output.stdout).to_string();
    let hex_keys: Vec<String> = listing
        .lines()
        .filter_map(|line| line.rsplit_once("(0x").and_then(|(_, key)| key.strip_suffix(')')))
        .map(str::to_ascii_lowercase)
        .collect();
    assert!(!hex_keys.is_empty(), "no keys in klist's listing:\n{listing}");
    let mut forms = Vec::new();
    for hex in hex_keys {
        let bytes: Vec<u8> = (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex key")).collect();
        forms.push(format!("{:?}", &bytes[..8]).trim_end_matches(']').to_string());
        forms.push(hex);
    }
    forms
}

#[tokio::test]
async fn kerberos_passwords_and_keytab_keys_never_show() {
    let cluster = KafkaCluster::single();
    let ca = path(&cluster.tls().ca_cert_pem).to_string();
    let kdc = cluster.kdc();
    let krb5_conf = path(kdc.krb5_conf()).to_string();
    let good = "rill-canary-krb-good-pw-3e8a";
    let wrong = "rill-canary-krb-wrong-pw-61d0";
    let password_principal = format!("dave@{}", kdc.realm());
    kdc.kadmin(&format!("addprinc -pw {good} {password_principal}")).expect("kadmin addprinc");
    let credentials = cluster.credentials();
    let keytab = path(&credentials.kerberos_keytab).to_string();
    let stale_keytab = path(&credentials.kerberos_stale_keytab).to_string();
    let mut evidence = Evidence::default();
    for (listener, protocol) in [(Listener::SaslPlaintext, "SASL_PLAINTEXT"), (Listener::SaslSsl, "SASL_SSL")] {
        let config = |principal: &str, key: (&str, &str)| {
            properties(
                cluster,
                listener,
                &[
                    ("security.protocol", protocol),
                    ("ssl.ca.location", ca.as_str()),
                    ("sasl.mechanism", "GSSAPI"),
                    ("sasl.kerberos.service.name", credentials.kerberos_service_name.as_str()),
                    ("sasl.kerberos.principal", principal),
                    ("sasl.kerberos.krb5.conf", krb5_conf.as_str()),
                    key,
                ],
            )
        };
        let what = format!("GSSAPI over {protocol}");
        let principal = password_principal.as_str();
        connect_ok(&mut evidence, &format!("{what}, password"), config(principal, ("sasl.password", good))).await;
        let failed = config(principal, ("sasl.password", wrong));
        let err = connect_failing(&mut evidence, &format!("{what}, wrong password"), failed).await;
        assert_eq!(err.kerberos_kind(), Some(KerberosErrorKind::WrongPassword), "{err:?}");
        let principal = credentials.kerberos_principal.as_str();
        connect_ok(&mut evidence, &format!("{what}, keytab"), config(principal, ("sasl.kerberos.keytab", &keytab))).await;
        let failed = config(principal, ("sasl.kerberos.keytab", &stale_keytab));
        let err = connect_failing(&mut evidence, &format!("{what}, stale keytab"), failed).await;
        assert_eq!(err.kerberos_kind(), Some(KerberosErrorKind::StaleKeytab), "{err:?}");
    }
    evidence.expected_log_lines.extend(["Kerberos service ticket granted", "SASL authenticated"]);
    let mut secrets = vec![good.to_string(), wrong.to_string()];
    secrets.extend(keytab_keys(&credentials.kerberos_keytab));
    secrets.extend(keytab_keys(&credentials.kerberos_stale_keytab));
    evidence.assert_clean(&secrets.iter().map(String::as_str).collect::<Vec<_>>());
}

/// The search itself: a secret that reaches the TRACE logs is found.
#[test]
fn a_secret_in_the_logs_is_found() {
    captured_logs();
    let planted = "rill-planted-secret-0042";
    tracing::trace!(value = planted, "planted for the search's own test");
    let search = std::panic::catch_unwind(|| Evidence::default().assert_clean(&[planted]));
    assert!(search.is_err(), "the planted secret was not found in the captured logs");
}
