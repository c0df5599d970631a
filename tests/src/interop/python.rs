//! Python clients from the project virtualenv (`target/venv`): kafka-python
//! and confluent-kafka, driven by `tests/scripts/python_client.py`.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::json;

use super::librdkafka;
use crate::error::{Context, HarnessError, Result};
use crate::kafka::client::{ClientAuth, ClientCert, ClientSettings, Trust};
use crate::{paths, process, KafkaCluster};

pub const PYTHON_TIMEOUT: Duration = Duration::from_secs(90);

/// Which Python client library to drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PythonClient {
    /// kafka-python (pure Python).
    KafkaPython,
    /// confluent-kafka (bundled librdkafka).
    ConfluentKafka,
}

impl PythonClient {
    fn name(self) -> &'static str {
        match self {
            PythonClient::KafkaPython => "kafka-python",
            PythonClient::ConfluentKafka => "confluent-kafka",
        }
    }
}

/// `target/venv/bin/python`, or an error saying how to create it.
pub fn venv_python() -> Result<PathBuf> {
    let python = paths::python_venv().join("bin").join("python");
    if !python.is_file() {
        return Err(HarnessError::new(format!(
            "{} is missing: run tests/scripts/provision.sh (it creates the venv with kafka-python and confluent-kafka)",
            python.display()
        )));
    }
    Ok(python)
}

/// kafka-python keyword arguments equivalent to `settings`.
fn kafka_python_config(cluster: &KafkaCluster, settings: &ClientSettings) -> Result<serde_json::Value> {
    let mut config = json!({
        "bootstrap_servers": cluster.bootstrap(settings.listener).split(',').collect::<Vec<_>>(),
        "security_protocol": settings.listener.security_protocol(),
    });
    if settings.listener.uses_tls() {
        let ca = match settings.trust {
            Trust::HarnessCa => &cluster.tls().ca_cert_pem,
            Trust::RogueCa => &cluster.tls().rogue_ca_cert_pem,
        };
        config["ssl_cafile"] = json!(ca.display().to_string());
        if let Some(cert) = settings.client_cert {
            let key = match cert {
                ClientCert::Harness => &cluster.tls().client,
                ClientCert::Rogue => &cluster.tls().rogue_client,
            };
            config["ssl_certfile"] = json!(key.cert_pem.display().to_string());
            config["ssl_keyfile"] = json!(key.key_pem.display().to_string());
        }
    }
    match &settings.auth {
        ClientAuth::None => {}
        ClientAuth::Password { mechanism, username, password } => {
            config["sasl_mechanism"] = json!(mechanism.name());
            config["sasl_plain_username"] = json!(username);
            config["sasl_plain_password"] = json!(password.expose());
        }
        ClientAuth::OAuthClientCredentials { client_id, client_secret, scope } => {
            // The script turns this into a kafka-python token provider.
            config["sasl_mechanism"] = json!("OAUTHBEARER");
            config["oauth_client_credentials"] = json!({
                "token_url": cluster.oauth().token_url(),
                "client_id": client_id,
                "client_secret": client_secret.expose(),
                "scope": scope,
            });
        }
        other => return Err(HarnessError::new(format!("the kafka-python runner does not support {:?}", other.mechanism()))),
    }
    Ok(config)
}

/// Produces `records` and consumes them back from the beginning with one
/// Python library; returns the consumed values.
pub fn round_trip(
    cluster: &KafkaCluster,
    client: PythonClient,
    settings: &ClientSettings,
    topic: &str,
    records: &[&str],
) -> Result<Vec<String>> {
    let config = match client {
        PythonClient::KafkaPython => kafka_python_config(cluster, settings)?,
        PythonClient::ConfluentKafka => {
            serde_json::Value::Object(librdkafka::config(cluster, settings)?.into_iter().map(|(k, v)| (k, json!(v))).collect())
        }
    };
    let request = json!({
        "library": client.name(),
        "config": config,
        "topic": topic,
        "records": records,
        "timeout_s": 45,
    });
    let request_file = cluster.java().write_file(&format!("{}-request.json", client.name()), &request.to_string())?;
    let script = paths::workspace_root().join("tests").join("scripts").join("python_client.py");
    let mut command = Command::new(venv_python()?);
    command.arg(&script).arg(&request_file).envs(librdkafka::environment(cluster, client.name()));
    let finished =
        process::run_with_timeout(command, None, PYTHON_TIMEOUT).context(|| format!("running {} ({})", script.display(), client.name()))?;
    if !finished.status.success() {
        return Err(HarnessError::new(format!(
            "{} round trip failed ({}):\nstdout: {}\nstderr: {}",
            client.name(),
            finished.status,
            finished.stdout,
            finished.stderr
        )));
    }
    let last_line = finished.stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last_line).context(|| format!("parsing {} output {:?}", client.name(), finished.stdout))
}
