//! Describing and changing configs of topics, brokers, broker loggers,
//! client-metrics subscriptions and groups: DescribeConfigs and
//! IncrementalAlterConfigs (KIP-339, Kafka 2.3+), falling back to
//! AlterConfigs (which replaces a resource's whole dynamic config) on older
//! brokers. Broker and broker-logger resources are sent to that broker; the
//! others to any broker (KRaft brokers forward to the controller).

use std::collections::BTreeMap;

use rill_protocol::message::Request;
use rill_protocol::messages::describe_configs_request::DescribeConfigsResource;
use rill_protocol::messages::{
    alter_configs_request, incremental_alter_configs_request, AlterConfigsRequest, DescribeConfigsRequest, IncrementalAlterConfigsRequest,
};
use rill_protocol::ErrorCode;

use super::retry::{check, missing, Retry};
use super::ItemResult;
use crate::client::Client;
use crate::error::{Error, Result};

/// The kind of a [`ConfigResource`] (the protocol's resource type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConfigResourceType {
    Topic,
    /// Name: the broker id, or "" for the cluster-wide broker default.
    Broker,
    BrokerLogger,
    ClientMetrics,
    Group,
}

impl ConfigResourceType {
    pub fn wire(self) -> i8 {
        match self {
            ConfigResourceType::Topic => 2,
            ConfigResourceType::Broker => 4,
            ConfigResourceType::BrokerLogger => 8,
            ConfigResourceType::ClientMetrics => 16,
            ConfigResourceType::Group => 32,
        }
    }

    pub fn from_wire(value: i8) -> Option<Self> {
        Some(match value {
            2 => ConfigResourceType::Topic,
            4 => ConfigResourceType::Broker,
            8 => ConfigResourceType::BrokerLogger,
            16 => ConfigResourceType::ClientMetrics,
            32 => ConfigResourceType::Group,
            _ => return None,
        })
    }
}

/// Something that has configs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConfigResource {
    pub kind: ConfigResourceType,
    pub name: String,
}

impl ConfigResource {
    pub fn topic(name: impl Into<String>) -> Self {
        ConfigResource { kind: ConfigResourceType::Topic, name: name.into() }
    }

    pub fn broker(node_id: i32) -> Self {
        ConfigResource { kind: ConfigResourceType::Broker, name: node_id.to_string() }
    }

    /// The cluster-wide default of dynamic broker configs.
    pub fn broker_default() -> Self {
        ConfigResource { kind: ConfigResourceType::Broker, name: String::new() }
    }

    pub fn group(name: impl Into<String>) -> Self {
        ConfigResource { kind: ConfigResourceType::Group, name: name.into() }
    }

    /// The broker that must answer for this resource, if it is a single broker's.
    fn node(&self) -> Option<i32> {
        match self.kind {
            ConfigResourceType::Broker | ConfigResourceType::BrokerLogger => self.name.parse().ok(),
            _ => None,
        }
    }

    /// The config source of values set on this resource itself (what AlterConfigs replaces).
    fn own_source(&self) -> ConfigSource {
        match (self.kind, self.name.is_empty()) {
            (ConfigResourceType::Topic, _) => ConfigSource::DynamicTopic,
            (ConfigResourceType::Broker, true) => ConfigSource::DynamicDefaultBroker,
            (ConfigResourceType::Broker, false) => ConfigSource::DynamicBroker,
            (ConfigResourceType::BrokerLogger, _) => ConfigSource::DynamicBrokerLogger,
            (ConfigResourceType::ClientMetrics, _) => ConfigSource::ClientMetrics,
            (ConfigResourceType::Group, _) => ConfigSource::DynamicGroup,
        }
    }
}

/// Where a config value comes from (DescribeConfigs v1+).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    Unknown,
    DynamicTopic,
    DynamicBroker,
    DynamicDefaultBroker,
    StaticBroker,
    Default,
    DynamicBrokerLogger,
    ClientMetrics,
    DynamicGroup,
    /// A source this client does not know.
    Other(i8),
}

impl ConfigSource {
    pub fn from_wire(value: i8) -> Self {
        match value {
            0 => ConfigSource::Unknown,
            1 => ConfigSource::DynamicTopic,
            2 => ConfigSource::DynamicBroker,
            3 => ConfigSource::DynamicDefaultBroker,
            4 => ConfigSource::StaticBroker,
            5 => ConfigSource::Default,
            6 => ConfigSource::DynamicBrokerLogger,
            7 => ConfigSource::ClientMetrics,
            8 => ConfigSource::DynamicGroup,
            other => ConfigSource::Other(other),
        }
    }
}

/// One config of a described resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    pub name: String,
    /// `None` for sensitive values (the broker does not reveal them).
    pub value: Option<String>,
    pub source: ConfigSource,
    pub read_only: bool,
    pub sensitive: bool,
}

impl ConfigEntry {
    /// Whether the value is the built-in default.
    pub fn is_default(&self) -> bool {
        self.source == ConfigSource::Default
    }
}

/// One change of [`Client::incremental_alter_configs`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlterConfigOp {
    Set {
        name: String,
        value: String,
    },
    /// Back to the value inherited from the next level (broker default, static config, built-in default).
    Delete {
        name: String,
    },
    /// Adds items to a list config (comma-separated), unless present.
    Append {
        name: String,
        value: String,
    },
    /// Removes items from a list config.
    Subtract {
        name: String,
        value: String,
    },
}

impl AlterConfigOp {
    pub fn set(name: impl Into<String>, value: impl Into<String>) -> Self {
        AlterConfigOp::Set { name: name.into(), value: value.into() }
    }

    pub fn delete(name: impl Into<String>) -> Self {
        AlterConfigOp::Delete { name: name.into() }
    }

    pub fn name(&self) -> &str {
        match self {
            AlterConfigOp::Set { name, .. }
            | AlterConfigOp::Delete { name }
            | AlterConfigOp::Append { name, .. }
            | AlterConfigOp::Subtract { name, .. } => name,
        }
    }

    /// The protocol's operation code and value (KIP-339).
    fn wire(&self) -> (i8, Option<String>) {
        match self {
            AlterConfigOp::Set { value, .. } => (0, Some(value.clone())),
            AlterConfigOp::Delete { .. } => (1, None),
            AlterConfigOp::Append { value, .. } => (2, Some(value.clone())),
            AlterConfigOp::Subtract { value, .. } => (3, Some(value.clone())),
        }
    }
}

/// The full set AlterConfigs must send so that it equals `current` changed by `ops`.
pub(crate) fn apply_ops(mut current: BTreeMap<String, String>, ops: &[AlterConfigOp]) -> BTreeMap<String, String> {
    let items = |v: &str| -> Vec<String> { v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect() };
    for op in ops {
        match op {
            AlterConfigOp::Set { name, value } => {
                current.insert(name.clone(), value.clone());
            }
            AlterConfigOp::Delete { name } => {
                current.remove(name);
            }
            AlterConfigOp::Append { name, value } => {
                let mut list = current.get(name).map(|v| items(v)).unwrap_or_default();
                for item in items(value) {
                    if !list.contains(&item) {
                        list.push(item);
                    }
                }
                current.insert(name.clone(), list.join(","));
            }
            AlterConfigOp::Subtract { name, value } => {
                let remove = items(value);
                if let Some(v) = current.get_mut(name) {
                    *v = items(v).into_iter().filter(|i| !remove.contains(i)).collect::<Vec<_>>().join(",");
                }
            }
        }
    }
    current
}

/// Described configs of one resource, by name.
pub type DescribedConfigs = BTreeMap<String, ConfigEntry>;

impl Client {
    /// The node that answers for `resource`.
    async fn config_node(&self, resource: &ConfigResource) -> Result<i32> {
        match resource.node() {
            Some(node) => Ok(node),
            None => self.any_node().await,
        }
    }

    /// Every config of each resource (with its source), one result per resource.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn describe_configs(&self, resources: &[ConfigResource]) -> Result<BTreeMap<ConfigResource, ItemResult<DescribedConfigs>>> {
        let mut by_node: BTreeMap<i32, Vec<&ConfigResource>> = BTreeMap::new();
        for resource in resources {
            by_node.entry(self.config_node(resource).await?).or_default().push(resource);
        }
        let mut results = BTreeMap::new();
        for (node, resources) in by_node {
            let request = DescribeConfigsRequest {
                resources: resources
                    .iter()
                    .map(|r| DescribeConfigsResource {
                        resource_type: r.kind.wire(),
                        resource_name: r.name.clone(),
                        configuration_keys: None,
                        ..Default::default()
                    })
                    .collect(),
                include_synonyms: false,
                include_documentation: false,
                ..Default::default()
            };
            let response = self.send_retrying(node, &request, "DescribeConfigs").await?;
            let broker = self.broker_name(node);
            let mut answers: BTreeMap<ConfigResource, ItemResult<DescribedConfigs>> = BTreeMap::new();
            for result in response.results {
                let Some(kind) = ConfigResourceType::from_wire(result.resource_type) else {
                    continue;
                };
                let resource = ConfigResource { kind, name: result.resource_name };
                let context = || format!("DescribeConfigs {:?} {:?}", resource.kind, resource.name);
                let described = check(&broker, context, result.error_code, result.error_message).map(|()| {
                    result
                        .configs
                        .into_iter()
                        .map(|c| {
                            // v0 has only IsDefault; v1+ the source (-1 when absent).
                            let source = match c.config_source {
                                -1 if c.is_default => ConfigSource::Default,
                                -1 => ConfigSource::Unknown,
                                s => ConfigSource::from_wire(s),
                            };
                            let entry = ConfigEntry {
                                name: c.name.clone(),
                                value: c.value,
                                source,
                                read_only: c.read_only,
                                sensitive: c.is_sensitive,
                            };
                            (c.name, entry)
                        })
                        .collect()
                });
                answers.insert(resource, described);
            }
            for resource in resources {
                let answer = answers
                    .remove(resource)
                    .unwrap_or_else(|| Err(missing(&broker, format!("DescribeConfigs {:?} {:?}", resource.kind, resource.name))));
                results.insert(resource.clone(), answer);
            }
        }
        Ok(results)
    }

    /// Changes configs of each resource, one result per resource. Brokers
    /// before Kafka 2.3 get AlterConfigs with the resource's current dynamic
    /// configs changed by the operations (a resource with a dynamic sensitive
    /// value the broker does not reveal fails there rather than lose it).
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn incremental_alter_configs(
        &self,
        changes: &[(ConfigResource, Vec<AlterConfigOp>)],
    ) -> Result<BTreeMap<ConfigResource, ItemResult<()>>> {
        let mut by_node: BTreeMap<i32, Vec<&(ConfigResource, Vec<AlterConfigOp>)>> = BTreeMap::new();
        for change in changes {
            by_node.entry(self.config_node(&change.0).await?).or_default().push(change);
        }
        let mut results = BTreeMap::new();
        for (node, changes) in by_node {
            let incremental = self.connection(node).await?.version_for(IncrementalAlterConfigsRequest::API_KEY);
            let broker = self.broker_name(node);
            let answers = match incremental {
                Ok(_) => self.alter_incrementally(node, &broker, &changes).await?,
                Err(Error::UnsupportedVersion { .. }) => self.alter_by_replacing(node, &broker, &changes).await?,
                Err(e) => return Err(e),
            };
            results.extend(answers);
        }
        Ok(results)
    }

    async fn alter_incrementally(
        &self,
        node: i32,
        broker: &str,
        changes: &[&(ConfigResource, Vec<AlterConfigOp>)],
    ) -> Result<BTreeMap<ConfigResource, ItemResult<()>>> {
        use incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
        let request = IncrementalAlterConfigsRequest {
            resources: changes
                .iter()
                .map(|(resource, ops)| AlterConfigsResource {
                    resource_type: resource.kind.wire(),
                    resource_name: resource.name.clone(),
                    configs: ops
                        .iter()
                        .map(|op| {
                            let (config_operation, value) = op.wire();
                            AlterableConfig { name: op.name().to_string(), config_operation, value, ..Default::default() }
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect(),
            validate_only: false,
            ..Default::default()
        };
        let response = self.send_retrying(node, &request, "IncrementalAlterConfigs").await?;
        let answers = response.responses.into_iter().map(|r| (r.resource_type, r.resource_name, r.error_code, r.error_message));
        Ok(alter_results(broker, "IncrementalAlterConfigs", changes, answers))
    }

    async fn alter_by_replacing(
        &self,
        node: i32,
        broker: &str,
        changes: &[&(ConfigResource, Vec<AlterConfigOp>)],
    ) -> Result<BTreeMap<ConfigResource, ItemResult<()>>> {
        use alter_configs_request::{AlterConfigsResource, AlterableConfig};
        let resources: Vec<ConfigResource> = changes.iter().map(|(r, _)| r.clone()).collect();
        let mut described = self.describe_configs(&resources).await?;
        let mut results = BTreeMap::new();
        let mut to_send = Vec::new();
        for (resource, ops) in changes.iter().map(|c| (&c.0, &c.1)) {
            let current = match described.remove(resource) {
                Some(Ok(configs)) => configs,
                Some(Err(e)) => {
                    results.insert(resource.clone(), Err(e));
                    continue;
                }
                None => {
                    results.insert(resource.clone(), Err(missing(broker, format!("DescribeConfigs {resource:?}"))));
                    continue;
                }
            };
            let own: Vec<&ConfigEntry> = current.values().filter(|e| e.source == resource.own_source()).collect();
            let hidden = own.iter().find(|e| e.value.is_none() && !ops.iter().any(|op| op.name() == e.name)).map(|e| e.name.clone());
            if let Some(name) = hidden {
                let message = format!(
                    "the broker has no IncrementalAlterConfigs and hides the sensitive config {name}, \
                     which AlterConfigs would drop; set it in the same call"
                );
                results.insert(
                    resource.clone(),
                    Err(Error::Kafka {
                        broker: broker.to_string(),
                        context: format!("AlterConfigs {:?} {:?}", resource.kind, resource.name),
                        code: ErrorCode::UNSUPPORTED_VERSION,
                        message: Some(message),
                    }),
                );
                continue;
            }
            let current: BTreeMap<String, String> = own.into_iter().filter_map(|e| Some((e.name.clone(), e.value.clone()?))).collect();
            to_send.push((resource, apply_ops(current, ops)));
        }
        if to_send.is_empty() {
            return Ok(results);
        }
        let request = AlterConfigsRequest {
            resources: to_send
                .iter()
                .map(|(resource, configs)| AlterConfigsResource {
                    resource_type: resource.kind.wire(),
                    resource_name: resource.name.clone(),
                    configs: configs
                        .iter()
                        .map(|(name, value)| AlterableConfig { name: name.clone(), value: Some(value.clone()), ..Default::default() })
                        .collect(),
                    ..Default::default()
                })
                .collect(),
            validate_only: false,
            ..Default::default()
        };
        let response = self.send_retrying(node, &request, "AlterConfigs").await?;
        let sent: Vec<&(ConfigResource, Vec<AlterConfigOp>)> =
            changes.iter().copied().filter(|(r, _)| to_send.iter().any(|(s, _)| *s == r)).collect();
        let answers = response.responses.into_iter().map(|r| (r.resource_type, r.resource_name, r.error_code, r.error_message));
        results.extend(alter_results(broker, "AlterConfigs", &sent, answers));
        Ok(results)
    }

    /// Sends `request` to `node`, again after retriable connection errors, within `request.timeout.ms`.
    pub(crate) async fn send_retrying<R: rill_protocol::message::Request>(
        &self,
        node: i32,
        request: &R,
        api: &'static str,
    ) -> Result<R::Response> {
        let mut retry = Retry::new(self, api);
        loop {
            match self.send(node, request).await {
                Err(e) if e.is_retriable() => retry.wait(e).await?,
                other => return other,
            }
        }
    }
}

/// One result per changed resource from a response's (type, name, error code, message) entries.
fn alter_results(
    broker: &str,
    api: &str,
    changes: &[&(ConfigResource, Vec<AlterConfigOp>)],
    answers: impl Iterator<Item = (i8, String, i16, Option<String>)>,
) -> BTreeMap<ConfigResource, ItemResult<()>> {
    let mut answered: BTreeMap<ConfigResource, ItemResult<()>> = BTreeMap::new();
    for (kind, name, code, message) in answers {
        let Some(kind) = ConfigResourceType::from_wire(kind) else {
            continue;
        };
        let resource = ConfigResource { kind, name };
        let result = check(broker, || format!("{api} {:?} {:?}", resource.kind, resource.name), code, message);
        answered.insert(resource, result);
    }
    changes
        .iter()
        .map(|(resource, _)| {
            let result =
                answered.remove(resource).unwrap_or_else(|| Err(missing(broker, format!("{api} {:?} {:?}", resource.kind, resource.name))));
            (resource.clone(), result)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn alter_configs_fallback_applies_every_operation_to_the_current_set() {
        let current = map(&[("retention.ms", "1000"), ("cleanup.policy", "delete"), ("segment.ms", "5")]);
        let ops = [
            AlterConfigOp::set("retention.ms", "2000"),
            AlterConfigOp::delete("segment.ms"),
            AlterConfigOp::Append { name: "cleanup.policy".into(), value: "compact,delete".into() },
            AlterConfigOp::Append { name: "follower.replication.throttled.replicas".into(), value: "0:1".into() },
            AlterConfigOp::Subtract { name: "absent".into(), value: "x".into() },
        ];
        let after = apply_ops(current, &ops);
        assert_eq!(
            after,
            map(&[("cleanup.policy", "delete,compact"), ("follower.replication.throttled.replicas", "0:1"), ("retention.ms", "2000"),])
        );
        let after = apply_ops(after, &[AlterConfigOp::Subtract { name: "cleanup.policy".into(), value: "delete".into() }]);
        assert_eq!(after.get("cleanup.policy").map(String::as_str), Some("compact"));
    }

    #[test]
    fn resource_types_round_trip_and_route() {
        for kind in [
            ConfigResourceType::Topic,
            ConfigResourceType::Broker,
            ConfigResourceType::BrokerLogger,
            ConfigResourceType::ClientMetrics,
            ConfigResourceType::Group,
        ] {
            assert_eq!(ConfigResourceType::from_wire(kind.wire()), Some(kind));
        }
        assert_eq!(ConfigResourceType::from_wire(3), None);
        assert_eq!(ConfigResource::broker(7).node(), Some(7));
        assert_eq!(ConfigResource::broker_default().node(), None);
        assert_eq!(ConfigResource::topic("7").node(), None);
        assert_eq!(ConfigSource::from_wire(42), ConfigSource::Other(42));
    }
}
