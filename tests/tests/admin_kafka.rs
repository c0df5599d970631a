//! rill-client's admin calls against real Apache Kafka (the shared
//! single-node cluster of this test binary), each checked against what
//! Kafka's own tools report: kafka-topics (TopicCommand), kafka-configs
//! (ConfigCommand), kafka-consumer-groups (ConsumerGroupCommand),
//! kafka-get-offsets (GetOffsetShell) and kafka-delete-records
//! (DeleteRecordsCommand).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rill_client::protocol::ErrorCode;
use rill_client::{AlterConfigOp, Client, ClientConfig, ConfigResource, ConfigSource, Error, NewPartitions, NewTopic, OffsetSpec};
use rill_e2e::{KafkaCluster, Listener};

const TOOL_TIMEOUT: Duration = Duration::from_secs(90);

async fn client(cluster: &KafkaCluster) -> Client {
    let config = ClientConfig::from_properties([
        ("bootstrap.servers", cluster.bootstrap(Listener::Plaintext).as_str()),
        ("client.id", "rill-e2e-admin"),
        ("request.timeout.ms", "30000"),
    ])
    .expect("valid config");
    Client::connect(config).await.expect("connect to the PLAINTEXT listener")
}

/// Runs one of Kafka's tools against the internal listener; its stdout.
fn tool(cluster: &KafkaCluster, main_class: &str, args: &[&str]) -> String {
    // kafka-get-offsets took --broker-list until Kafka 3.0 (KIP-635).
    let legacy_offsets = main_class.ends_with(".GetOffsetShell") && !cluster.java().install().version_at_least(3, 0);
    let flag = if legacy_offsets { "--broker-list" } else { "--bootstrap-server" };
    let mut all = vec![flag.to_string(), cluster.internal_bootstrap()];
    all.extend(args.iter().map(|a| a.to_string()));
    cluster.java().run_ok(main_class, &all, None, TOOL_TIMEOUT).unwrap_or_else(|e| panic!("{main_class}: {e}")).stdout
}

fn topic_command(cluster: &KafkaCluster, args: &[&str]) -> String {
    tool(cluster, "org.apache.kafka.tools.TopicCommand", args)
}

fn config_command(cluster: &KafkaCluster, args: &[&str]) -> String {
    tool(cluster, "kafka.admin.ConfigCommand", args)
}

fn group_command(cluster: &KafkaCluster, args: &[&str]) -> String {
    tool(cluster, "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand", args)
}

/// The word after `label` on `line` (`Leader: 1` -> "1").
fn after<'a>(line: &'a str, label: &str) -> Option<&'a str> {
    line.split_whitespace().skip_while(|w| *w != label).nth(1)
}

fn ids(list: &str) -> Vec<i32> {
    list.split(',').filter(|s| !s.is_empty()).map(|s| s.parse().expect("broker id")).collect()
}

/// `name=value` lines of `kafka-configs --describe` (value "null" for hidden ones).
fn configs_from_tool(output: &str) -> BTreeMap<String, String> {
    output
        .lines()
        .filter(|line| line.starts_with("  "))
        .filter_map(|line| {
            let entry = &line.trim_start()[..line.trim_start().find(" sensitive=")?];
            let (name, value) = entry.split_once('=')?;
            Some((name.to_string(), value.to_string()))
        })
        .collect()
}

/// (topic, partition) -> CURRENT-OFFSET rows of `kafka-consumer-groups --describe`
/// (partitions without a committed offset, shown as "-", left out).
fn group_offsets_from_tool(output: &str, group: &str) -> BTreeMap<(String, i32), i64> {
    output
        .lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                [g, topic, partition, offset, ..] if *g == group => {
                    Some(((topic.to_string(), partition.parse().ok()?), offset.parse().ok()?))
                }
                _ => None,
            }
        })
        .collect()
}

#[tokio::test]
async fn topics_partitions_and_descriptions_match_kafka_topics() {
    let cluster = KafkaCluster::single();
    let client = client(cluster).await;
    let topic = cluster.unique_topic("admin-topics");
    let missing = cluster.unique_topic("admin-no-such-topic");
    let created = client.create_topics(&[NewTopic::new(&topic, 1, 1)], Duration::from_secs(30)).await.expect("create");
    assert!(created[0].result.is_ok(), "{created:?}");

    let grown = client
        .create_partitions(&[NewPartitions::increase_to(&topic, 3), NewPartitions::increase_to(&missing, 2)], Duration::from_secs(30))
        .await
        .expect("create partitions");
    assert!(grown[&topic].is_ok(), "{grown:?}");
    let err = grown[&missing].as_ref().unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION), "{err}");
    assert!(err.to_string().contains(&missing), "{err}");
    cluster.wait_for_partition(&topic, 2, Duration::from_secs(30), "a leader", |p| p.leader.is_some()).expect("partition 2");

    // Fewer partitions than it has: INVALID_PARTITIONS for that topic.
    let shrink = client.create_partitions(&[NewPartitions::increase_to(&topic, 2)], Duration::from_secs(30)).await.expect("call");
    assert_eq!(shrink[&topic].as_ref().unwrap_err().code(), Some(ErrorCode::INVALID_PARTITIONS));

    // describe_topics against `kafka-topics --describe`.
    let described = client.describe_topics(&[&topic, &missing]).await.expect("describe topics");
    let ours = described[&topic].as_ref().expect("described");
    assert_eq!(described[&missing].as_ref().unwrap_err().code(), Some(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION));
    let output = topic_command(cluster, &["--describe", "--topic", &topic]);
    println!("kafka-topics --describe:\n{output}");
    let header = output.lines().find(|l| l.contains("PartitionCount:")).expect("topic header");
    assert_eq!(after(header, "PartitionCount:"), Some("3"));
    let id = after(header, "TopicId:").expect("topic id");
    use base64::Engine;
    let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(id).expect("base64 id");
    assert_eq!(ours.id.0.to_vec(), id);
    let mut partitions_seen = 0;
    for line in output.lines().filter(|l| l.contains("Partition:") && !l.contains("PartitionCount:")) {
        let partition: i32 = after(line, "Partition:").expect("partition").parse().expect("number");
        let p = &ours.partitions[&partition];
        assert_eq!(p.leader, after(line, "Leader:").map(|l| l.parse().expect("leader")), "leader of {partition}");
        assert_eq!(p.replicas, ids(after(line, "Replicas:").expect("replicas")));
        assert_eq!(p.isr, ids(after(line, "Isr:").expect("isr")));
        partitions_seen += 1;
    }
    assert_eq!((partitions_seen, ours.partitions.len()), (3, 3));

    // list_topics against `kafka-topics --list` (this binary only adds topics,
    // so everything the tool listed first must be in rill's later listing).
    let listed_by_tool: BTreeSet<String> =
        topic_command(cluster, &["--list"]).lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect();
    let all = client.list_topics(true).await.expect("list topics");
    let external = client.list_topics(false).await.expect("list topics");
    assert!(listed_by_tool.contains(&topic));
    for name in &listed_by_tool {
        assert!(all.contains_key(name), "{name} listed by kafka-topics, not by rill: {all:?}");
    }
    assert_eq!(all[&topic].id, ours.id);
    assert!(external.values().all(|t| !t.is_internal) && external.contains_key(&topic));
    assert!(all.values().filter(|t| t.is_internal).all(|t| t.name.starts_with("__")), "{all:?}");
}

#[tokio::test]
async fn configs_match_kafka_configs() {
    let cluster = KafkaCluster::single();
    let client = client(cluster).await;
    let topic = cluster.unique_topic("admin-configs");
    let missing = cluster.unique_topic("admin-configs-missing");
    cluster.create_topic(&topic, 1, 1).expect("create topic with Kafka's tools");

    let changes = vec![
        (
            ConfigResource::topic(&topic),
            vec![
                AlterConfigOp::set("retention.ms", "123456"),
                AlterConfigOp::set("max.message.bytes", "65536"),
                AlterConfigOp::set("cleanup.policy", "delete"),
            ],
        ),
        (ConfigResource::topic(&missing), vec![AlterConfigOp::set("retention.ms", "1")]),
    ];
    let altered = client.incremental_alter_configs(&changes).await.expect("alter configs");
    assert!(altered[&ConfigResource::topic(&topic)].is_ok(), "{altered:?}");
    let err = altered[&ConfigResource::topic(&missing)].as_ref().unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION), "{err}");

    let second = vec![(
        ConfigResource::topic(&topic),
        vec![AlterConfigOp::delete("max.message.bytes"), AlterConfigOp::Append { name: "cleanup.policy".into(), value: "compact".into() }],
    )];
    let altered = client.incremental_alter_configs(&second).await.expect("alter configs");
    assert!(altered[&ConfigResource::topic(&topic)].is_ok(), "{altered:?}");

    let tool_view = configs_from_tool(&config_command(cluster, &["--describe", "--entity-type", "topics", "--entity-name", &topic]));
    let expected: BTreeMap<String, String> =
        [("cleanup.policy", "delete,compact"), ("retention.ms", "123456")].map(|(k, v)| (k.to_string(), v.to_string())).into();
    assert_eq!(tool_view, expected, "kafka-configs sees the topic's dynamic configs");
    let described = client.describe_configs(&[ConfigResource::topic(&topic)]).await.expect("describe configs");
    let entries = described[&ConfigResource::topic(&topic)].as_ref().expect("topic configs");
    let dynamic: BTreeMap<String, String> = entries
        .values()
        .filter(|e| e.source == ConfigSource::DynamicTopic)
        .map(|e| (e.name.clone(), e.value.clone().expect("value")))
        .collect();
    assert_eq!(dynamic, tool_view);
    let max_message = &entries["max.message.bytes"];
    assert_ne!(max_message.source, ConfigSource::DynamicTopic, "deleted back to the inherited value");

    // A broker's configs: every config `kafka-configs --all` shows, with the same value.
    let node = *client.cached_metadata().brokers.keys().next().expect("a broker");
    let broker = ConfigResource::broker(node);
    let set = vec![(broker.clone(), vec![AlterConfigOp::set("log.cleaner.backoff.ms", "15001")])];
    let altered = client.incremental_alter_configs(&set).await.expect("alter broker config");
    assert!(altered[&broker].is_ok(), "{altered:?}");
    let node_name = node.to_string();
    let tool_all =
        configs_from_tool(&config_command(cluster, &["--describe", "--all", "--entity-type", "brokers", "--entity-name", &node_name]));
    let ours = client.describe_configs(std::slice::from_ref(&broker)).await.expect("describe broker");
    let ours = ours[&broker].as_ref().expect("broker configs");
    assert!(tool_all.len() > 100, "{tool_all:?}");
    assert_eq!(tool_all["log.cleaner.backoff.ms"], "15001");
    assert_eq!(ours["log.cleaner.backoff.ms"].source, ConfigSource::DynamicBroker);
    for (name, value) in &tool_all {
        let entry = ours.get(name).unwrap_or_else(|| panic!("{name} shown by kafka-configs, not by rill"));
        assert_eq!(entry.value.as_deref().unwrap_or("null"), value, "{name}");
    }
    let reset = vec![(broker.clone(), vec![AlterConfigOp::delete("log.cleaner.backoff.ms")])];
    assert!(client.incremental_alter_configs(&reset).await.expect("reset")[&broker].is_ok());
    let tool_dynamic =
        configs_from_tool(&config_command(cluster, &["--describe", "--entity-type", "brokers", "--entity-name", &node_name]));
    assert!(!tool_dynamic.contains_key("log.cleaner.backoff.ms"), "{tool_dynamic:?}");
}

#[tokio::test]
async fn delete_records_matches_kafka_get_offsets_and_delete_records() {
    let cluster = KafkaCluster::single();
    let client = client(cluster).await;
    let topic = cluster.unique_topic("admin-records");
    let missing = cluster.unique_topic("admin-records-missing");
    cluster.create_topic(&topic, 1, 1).expect("create topic with Kafka's tools");
    for value in ["a", "b", "c", "d", "e", "f"] {
        cluster.produce_acks_all(&topic, value).expect("probe").expect("produced");
    }
    let deleted =
        client.delete_records(&[(&topic, 0, 3), (&topic, 7, 1), (&missing, 0, 1)], Duration::from_secs(30)).await.expect("delete records");
    assert_eq!(*deleted[&(topic.clone(), 0)].as_ref().expect("partition 0"), 3);
    for key in [(topic.clone(), 7), (missing.clone(), 0)] {
        let err = deleted[&key].as_ref().unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION), "{key:?}: {err}");
    }
    let earliest = tool(cluster, "org.apache.kafka.tools.GetOffsetShell", &["--topic", &topic, "--time", "-2"]);
    assert_eq!(earliest.trim(), format!("{topic}:0:3"), "kafka-get-offsets --time -2");

    // Kafka's tool deletes further; rill's ListOffsets sees it.
    let json = format!(r#"{{"version":1,"partitions":[{{"topic":"{topic}","partition":0,"offset":4}}]}}"#);
    let file = cluster.java().write_file("delete-records.json", &json).expect("json file");
    let file = file.display().to_string();
    tool(cluster, "org.apache.kafka.tools.DeleteRecordsCommand", &["--offset-json-file", &file]);
    let offsets = client.list_offsets(&[(&topic, 0, OffsetSpec::Earliest)]).await.expect("list offsets");
    assert_eq!(offsets[&(topic.clone(), 0)].as_ref().expect("earliest").offset, 4);

    // Everything up to the high watermark.
    let all = client
        .delete_records(&[(&topic, 0, rill_client::admin::records::DELETE_TO_HIGH_WATERMARK)], Duration::from_secs(30))
        .await
        .expect("delete records");
    assert_eq!(*all[&(topic.clone(), 0)].as_ref().expect("partition 0"), 6);
}

#[tokio::test]
async fn groups_and_group_offsets_match_kafka_consumer_groups() {
    let cluster = KafkaCluster::single();
    let client = client(cluster).await;
    let topic = cluster.unique_topic("admin-groups");
    cluster.create_topic(&topic, 3, 1).expect("create topic with Kafka's tools");
    let group = cluster.unique_topic("admin-group");
    let missing_group = cluster.unique_topic("admin-group-missing");

    // A group that only has committed offsets, set by rill.
    let committed =
        client.alter_group_offsets(&group, &[(&topic, 0, 7), (&topic, 1, 8), (&topic, 2, 9)]).await.expect("alter group offsets");
    assert!(committed.values().all(|r| r.is_ok()) && committed.len() == 3, "{committed:?}");
    let described_by_tool = group_command(cluster, &["--describe", "--group", &group]);
    println!("kafka-consumer-groups --describe:\n{described_by_tool}");
    let from_tool = group_offsets_from_tool(&described_by_tool, &group);
    let ours: BTreeMap<(String, i32), i64> = client
        .list_group_offsets(&group, None)
        .await
        .expect("list group offsets")
        .into_iter()
        .map(|(k, v)| (k, v.expect("offset").offset))
        .collect();
    assert_eq!(ours, from_tool);
    assert_eq!(ours[&(topic.clone(), 2)], 9);
    let some = client.list_group_offsets(&group, Some(&[(&topic, 1)])).await.expect("list group offsets");
    assert_eq!(some.len(), 1);
    assert_eq!(some[&(topic.clone(), 1)].as_ref().expect("offset").offset, 8);

    // A group made by Kafka's console consumer (group id, auto commit).
    let consumer_group = cluster.unique_topic("admin-console-group");
    for value in ["x", "y", "z"] {
        cluster.produce_acks_all(&topic, value).expect("probe").expect("produced");
    }
    let mut properties = cluster.admin_properties();
    properties.set("group.id", consumer_group.clone());
    let consumed = cluster.java().console_consume(&properties, &topic, 3, 30_000).expect("console consumer");
    assert_eq!(consumed.len(), 3, "{consumed:?}");

    let listed_by_tool: BTreeSet<String> =
        group_command(cluster, &["--list"]).lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect();
    let listed = client.list_groups().await.expect("list groups");
    assert!(listed_by_tool.contains(&group) && listed_by_tool.contains(&consumer_group), "{listed_by_tool:?}");
    for name in &listed_by_tool {
        assert!(listed.contains_key(name), "{name} listed by kafka-consumer-groups, not by rill: {listed:?}");
    }
    assert_eq!(listed[&consumer_group].protocol_type, "consumer");

    let state_by_tool = group_command(cluster, &["--describe", "--group", &consumer_group, "--state"]);
    println!("kafka-consumer-groups --describe --state:\n{state_by_tool}");
    let row: Vec<&str> = state_by_tool
        .lines()
        .find(|l| l.split_whitespace().next() == Some(consumer_group.as_str()))
        .expect("state row")
        .split_whitespace()
        .collect();
    let described = client.describe_groups(&[&consumer_group, &group]).await.expect("describe groups");
    let console = described[&consumer_group].as_ref().expect("console group");
    assert_eq!(console.state, row[row.len() - 2], "state");
    assert_eq!(console.members.len().to_string(), row[row.len() - 1], "#members");
    let coordinator = row.iter().find(|w| w.starts_with('(')).expect("(ID)").trim_matches(|c| c == '(' || c == ')');
    assert_eq!(console.coordinator.to_string(), coordinator);
    assert_eq!(console.protocol_type, "consumer");
    assert!(described[&group].is_ok(), "{described:?}");

    let console_offsets: BTreeMap<(String, i32), i64> = client
        .list_group_offsets(&consumer_group, None)
        .await
        .expect("offsets")
        .into_iter()
        .map(|(k, v)| (k, v.expect("offset").offset))
        .collect();
    let tool_offsets = group_offsets_from_tool(&group_command(cluster, &["--describe", "--group", &consumer_group]), &consumer_group);
    assert_eq!(console_offsets, tool_offsets);
    assert_eq!(console_offsets.values().sum::<i64>(), 3, "the three records consumed");

    // Deleting one partition's offset, then the group.
    let deleted = client.delete_group_offsets(&group, &[(&topic, 0)]).await.expect("delete group offsets");
    assert!(deleted[&(topic.clone(), 0)].is_ok(), "{deleted:?}");
    let from_tool = group_offsets_from_tool(&group_command(cluster, &["--describe", "--group", &group]), &group);
    let expected: BTreeMap<(String, i32), i64> = [((topic.clone(), 1), 8), ((topic.clone(), 2), 9)].into();
    assert_eq!(from_tool, expected);
    let err = client.delete_group_offsets(&missing_group, &[(&topic, 0)]).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::GROUP_ID_NOT_FOUND), "{err}");

    let deleted = client.delete_groups(&[&group, &missing_group]).await.expect("delete groups");
    assert!(deleted[&group].is_ok(), "{deleted:?}");
    let err = deleted[&missing_group].as_ref().unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::GROUP_ID_NOT_FOUND), "{err}");
    assert!(matches!(err, Error::Kafka { context, .. } if context.contains(&missing_group)));
    let listed_by_tool = group_command(cluster, &["--list"]);
    assert!(!listed_by_tool.lines().any(|l| l.trim() == group), "{listed_by_tool}");
    assert!(!client.list_groups().await.expect("list groups").contains_key(&group));
}
