//! Kafka's own consumer assignors (range, roundrobin, cooperative-sticky)
//! run on group states the test describes, so rill's assignors can be
//! compared with Java's input for input. The runner is a single Java source
//! file, `tests/kafka/assignor/RunAssignors.java`, launched by the JVM's
//! source-file mode (no build step, no change to the provisioned jars).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Context, HarnessError, Result};
use crate::kafka::node::tool_jvm_options;
use crate::kafka::provision::KafkaInstall;
use crate::process;

/// One member of a group as the leader's assignor sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    /// The generation its owned partitions are from (-1: none).
    pub generation: i32,
    pub topics: Vec<String>,
    pub owned: Vec<(String, i32)>,
}

/// One assignment to compute: strategy (`range`, `roundrobin`,
/// `cooperative-sticky`), partition counts per topic, members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignorCase {
    pub name: String,
    pub strategy: String,
    pub topics: BTreeMap<String, i32>,
    pub members: Vec<CaseMember>,
}

/// Member id -> assigned partitions (sorted by topic, then partition).
pub type MemberAssignments = BTreeMap<String, Vec<(String, i32)>>;

/// Case name -> the case's assignments.
pub type Assignments = BTreeMap<String, MemberAssignments>;

/// Runs Java's assignor of each case; every case's answer, by case name.
pub fn run_java_assignors(install: &KafkaInstall, cases: &[AssignorCase]) -> Result<Assignments> {
    let mut input = String::new();
    for case in cases {
        for word in [&case.name, &case.strategy].into_iter().chain(case.topics.keys()) {
            if word.is_empty() || word.contains(char::is_whitespace) || word.contains([',', ':']) {
                return Err(HarnessError::new(format!("case {}: `{word}` cannot be written to the runner", case.name)));
            }
        }
        let _ = writeln!(input, "case {} {}", case.name, case.strategy);
        for (topic, partitions) in &case.topics {
            let _ = writeln!(input, "topic {topic} {partitions}");
        }
        for m in &case.members {
            let owned = m.owned.iter().map(|(t, p)| format!("{t}:{p}")).collect::<Vec<_>>().join(",");
            let _ = writeln!(
                input,
                "member {} {} {} {} {}",
                m.member_id,
                m.group_instance_id.as_deref().unwrap_or("-"),
                m.generation,
                m.topics.join(","),
                if owned.is_empty() { "-" } else { &owned }
            );
        }
        let _ = writeln!(input, "end");
    }
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("kafka/assignor/RunAssignors.java");
    let command = install.java_command(&tool_jvm_options(&[]), &source.display().to_string());
    let finished =
        process::run_with_timeout(command, Some(&input), Duration::from_secs(120)).context(|| format!("running {}", source.display()))?;
    if !finished.status.success() {
        return Err(HarnessError::new(format!("RunAssignors exited with {}: {}", finished.status, finished.stderr)));
    }
    parse_output(&finished.stdout)
}

/// `case NAME`, `member ID t:0,t:1` (or `-`), `end`, per case; other lines are Kafka's logging.
fn parse_output(text: &str) -> Result<Assignments> {
    let mut all = Assignments::new();
    let mut current: Option<(String, MemberAssignments)> = None;
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["case", name] => current = Some((name.to_string(), BTreeMap::new())),
            ["member", id, partitions] => {
                let (_, members) = current.as_mut().ok_or_else(|| HarnessError::new(format!("member outside a case: {line}")))?;
                let mut assigned = Vec::new();
                for tp in partitions.split(',').filter(|tp| *tp != "-") {
                    let (topic, partition) =
                        tp.rsplit_once(':').ok_or_else(|| HarnessError::new(format!("partition without `:`: {line}")))?;
                    let partition = partition.parse().map_err(|_| HarnessError::new(format!("partition number: {line}")))?;
                    assigned.push((topic.to_string(), partition));
                }
                members.insert(id.to_string(), assigned);
            }
            ["end"] => {
                let (name, members) = current.take().ok_or_else(|| HarnessError::new("`end` outside a case"))?;
                all.insert(name, members);
            }
            // Kafka's log lines (log4j writes to stdout), e.g. the sticky assignor's
            // error about two members claiming one partition in the same generation.
            _ if !line.starts_with("case ") && !line.starts_with("member ") && line != "end" => continue,
            _ => return Err(HarnessError::new(format!("unexpected runner output: {line}"))),
        }
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_runners_answer() {
        let parsed = parse_output("case c1\nmember m-1 a:0,b:2\nmember m-2 -\nend\n").unwrap();
        let expected: BTreeMap<String, Vec<(String, i32)>> =
            [("m-1".to_string(), vec![("a".to_string(), 0), ("b".to_string(), 2)]), ("m-2".to_string(), vec![])].into();
        assert_eq!(parsed, [("c1".to_string(), expected)].into());
        assert!(parse_output("member m-1 a:0\n").is_err());
        assert_eq!(parse_output("2026-12-05T02:07:34Z main ERROR Found multiple consumers\n").unwrap(), Assignments::new());
        assert!(parse_output("case c\nmember m a0\nend\n").is_err());
    }
}
