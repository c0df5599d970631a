//! Kafka's Java producer driven by a script (`rill.probe.ScriptedProducer`):
//! records with or without keys and headers, any codec, and transactions
//! that commit or abort. The consumer interop tests compare what rill reads
//! with what this wrote.

use crate::error::{HarnessError, Result};
use crate::interop::java::{JavaTools, TOOL_TIMEOUT};
use crate::kafka::client::ClientProperties;

/// One step of a producer script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProduceStep {
    /// One record to a partition; `None` key or value is null; headers in order.
    Send {
        partition: i32,
        key: Option<String>,
        value: Option<String>,
        headers: Vec<(String, String)>,
    },
    BeginTransaction,
    CommitTransaction,
    AbortTransaction,
    Flush,
}

impl ProduceStep {
    pub fn send(partition: i32, key: Option<&str>, value: Option<&str>) -> ProduceStep {
        ProduceStep::Send { partition, key: key.map(str::to_string), value: value.map(str::to_string), headers: Vec::new() }
    }

    fn script_line(&self) -> Result<String> {
        let text = |s: &Option<String>| s.clone().unwrap_or_else(|| "\\N".to_string());
        let plain = |s: &str| !s.contains(['\t', '\n', ';', '=']) && s != "\\N";
        Ok(match self {
            ProduceStep::Send { partition, key, value, headers } => {
                let all_plain = key.iter().chain(value).all(|s| plain(s)) && headers.iter().all(|(k, v)| plain(k) && plain(v));
                if !all_plain {
                    return Err(HarnessError::new(format!("producer script cannot carry {self:?} (tabs, newlines, ; or =)")));
                }
                let headers: Vec<String> = headers.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!("send\t{partition}\t{}\t{}\t{}", text(key), text(value), headers.join(";"))
            }
            ProduceStep::BeginTransaction => "begin".into(),
            ProduceStep::CommitTransaction => "commit".into(),
            ProduceStep::AbortTransaction => "abort".into(),
            ProduceStep::Flush => "flush".into(),
        })
    }
}

impl JavaTools {
    /// Runs `steps` with Kafka's Java producer on `topic`. `client` holds the
    /// connection settings, `producer` extra producer settings
    /// (`compression.type`, `transactional.id`, ...). Returns
    /// (partition, offset) of every sent record, in script order.
    pub fn scripted_produce(
        &self,
        client: &ClientProperties,
        producer: &[(&str, &str)],
        topic: &str,
        steps: &[ProduceStep],
    ) -> Result<Vec<(i32, i64)>> {
        let mut properties = client.clone();
        properties.set("acks", "all");
        for (key, value) in producer {
            properties.set(*key, *value);
        }
        let config = self.write_properties("scripted-producer", &properties)?;
        let lines: Vec<String> = steps.iter().map(ProduceStep::script_line).collect::<Result<_>>()?;
        let script = self.write_file("producer-script.tsv", &(lines.join("\n") + "\n"))?;
        let finished = self.run_ok(
            "rill.probe.ScriptedProducer",
            &[config.display().to_string(), topic.to_string(), script.display().to_string()],
            None,
            TOOL_TIMEOUT,
        )?;
        let sent: Vec<(i32, i64)> = finished
            .stdout
            .lines()
            .filter_map(|line| {
                let mut fields = line.split('\t');
                (fields.next()? == "SENT").then_some(())?;
                Some((fields.next()?.parse().ok()?, fields.next()?.parse().ok()?))
            })
            .collect();
        let expected = steps.iter().filter(|s| matches!(s, ProduceStep::Send { .. })).count();
        if sent.len() != expected || !finished.stdout.lines().any(|l| l == "DONE") {
            return Err(HarnessError::new(format!(
                "ScriptedProducer reported {} of {expected} records:\nstdout: {}\nstderr: {}",
                sent.len(),
                finished.stdout,
                finished.stderr
            )));
        }
        Ok(sent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_lines() {
        let step = ProduceStep::Send {
            partition: 2,
            key: None,
            value: Some("v".into()),
            headers: vec![("a".into(), "1".into()), ("b".into(), "".into())],
        };
        assert_eq!(step.script_line().unwrap(), "send\t2\t\\N\tv\ta=1;b=");
        assert_eq!(ProduceStep::AbortTransaction.script_line().unwrap(), "abort");
        assert!(ProduceStep::send(0, Some("tab\there"), None).script_line().is_err());
    }
}
