//! The member's protocol steps and states: JoinGroup -> SyncGroup -> stable
//! (Heartbeat) -> LeaveGroup, with generations, member ids (KIP-394
//! MEMBER_ID_REQUIRED) and static membership (KIP-345 `group.instance.id`).
//!
//! ```text
//!  Unjoined --JoinGroup--> CompletingRebalance --SyncGroup--> Stable
//!     ^                          |                              |
//!     +---- REBALANCE_IN_PROGRESS, ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID
//!  FENCED_INSTANCE_ID, fatal errors --> Failed;  close() --> Left
//! ```
//!
//! The driving loop is in [`super::member`]; this file holds one step each.

use std::collections::{BTreeMap, BTreeSet};

use rill_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use rill_protocol::messages::leave_group_request::MemberIdentity;
use rill_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use rill_protocol::messages::{HeartbeatRequest, JoinGroupRequest, LeaveGroupRequest, SyncGroupRequest};
use rill_protocol::{ApiKey, ErrorCode};
use tracing::{debug, info};

use super::assignor::{self, decode_assignment, decode_subscription, encode_assignment, encode_subscription};
use super::TopicPartition;
use crate::client::Client;
use crate::config::{AssignmentStrategy, GroupConfig};
use crate::error::{Error, Result};

/// Added to the rebalance timeout for a JoinGroup's request timeout.
const JOIN_MARGIN: std::time::Duration = std::time::Duration::from_secs(5);

/// The consumer protocol type of JoinGroup.
pub const PROTOCOL_TYPE: &str = "consumer";

/// The member's identity in the group: generation and member id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    /// -1: not in a generation.
    pub generation_id: i32,
    /// Empty: not yet given one by the coordinator.
    pub member_id: String,
    /// The assignor the group chose.
    pub protocol: Option<AssignmentStrategy>,
}

impl Generation {
    pub const NONE_ID: i32 = -1;

    /// The same member in the same generation (the protocol aside).
    pub fn is_same(&self, other: &Generation) -> bool {
        self.generation_id == other.generation_id && self.member_id == other.member_id
    }

    pub fn none() -> Self {
        Generation { generation_id: Self::NONE_ID, member_id: String::new(), protocol: None }
    }
}

/// Where the member is in the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberState {
    /// Not subscribed, or between generations.
    Unjoined,
    /// JoinGroup sent / answered, SyncGroup pending.
    Rebalancing,
    /// In a generation with an assignment; heartbeating.
    Stable,
    /// Left the group (closed).
    Left,
    /// Stopped by an error that retrying cannot fix (e.g. FENCED_INSTANCE_ID).
    Failed,
}

/// The partitions the member owns, in a generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub generation_id: i32,
    pub partitions: BTreeSet<TopicPartition>,
}

/// The answer to a JoinGroup.
#[derive(Debug, Clone)]
pub struct Joined {
    pub generation_id: i32,
    pub member_id: String,
    pub protocol: AssignmentStrategy,
    /// Set when this member leads: every member's subscription.
    pub members: Option<BTreeMap<String, assignor::MemberSubscription>>,
    /// Static leader re-joining with an unchanged group (KIP-345 `skip_assignment`).
    pub skip_assignment: bool,
}

/// What a step's error asks the member to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepError {
    /// Join again at once with this member id (KIP-394 MEMBER_ID_REQUIRED).
    RejoinWithMemberId(String),
    /// Join again; the generation is gone (REBALANCE_IN_PROGRESS and friends).
    Rejoin(ErrorCode),
    /// Join again with a fresh identity; the owned partitions are lost
    /// (UNKNOWN_MEMBER_ID: member id reset; ILLEGAL_GENERATION: generation reset).
    Reset(ErrorCode),
    /// The coordinator moved or failed: find it again, then retry.
    Coordinator(ErrorCode),
    /// Cannot go on (FENCED_INSTANCE_ID, authorization, bad configuration).
    Fatal(ErrorCode),
    /// A transport error (retriable) or a malformed answer.
    Transport(String),
}

pub(crate) fn classify(code: ErrorCode) -> StepError {
    match code {
        ErrorCode::REBALANCE_IN_PROGRESS => StepError::Rejoin(code),
        ErrorCode::UNKNOWN_MEMBER_ID | ErrorCode::ILLEGAL_GENERATION => StepError::Reset(code),
        ErrorCode::NOT_COORDINATOR | ErrorCode::COORDINATOR_NOT_AVAILABLE | ErrorCode::COORDINATOR_LOAD_IN_PROGRESS => {
            StepError::Coordinator(code)
        }
        c if c.is_retriable() => StepError::Coordinator(c),
        c => StepError::Fatal(c),
    }
}

/// A request error: Kafka codes as [`classify`]; anything else (connection
/// failures, a coordinator not yet in the metadata, ...) is retried.
fn transport(e: &Error) -> StepError {
    match e {
        Error::Kafka { code, .. } => classify(*code),
        other => StepError::Transport(other.to_string()),
    }
}

fn millis_i32(d: std::time::Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

/// Sends JoinGroup with this member's subscription for every configured strategy.
#[allow(clippy::too_many_arguments)]
pub async fn join_group(
    client: &Client,
    coordinator: i32,
    group_id: &str,
    config: &GroupConfig,
    member_id: &str,
    topics: &BTreeSet<String>,
    owned: &BTreeSet<TopicPartition>,
    generation_id: i32,
    reason: &str,
) -> std::result::Result<Joined, StepError> {
    let owned: Vec<TopicPartition> = owned.iter().cloned().collect();
    let mut protocols = Vec::new();
    for strategy in &config.assignment_strategies {
        let metadata = encode_subscription(topics, &owned, generation_id, *strategy)
            .map_err(|e| StepError::Transport(format!("encoding the subscription: {e}")))?;
        protocols.push(JoinGroupRequestProtocol { name: strategy.protocol_name().to_string(), metadata, ..Default::default() });
    }
    let request = JoinGroupRequest {
        group_id: group_id.to_string(),
        session_timeout_ms: millis_i32(config.session_timeout),
        rebalance_timeout_ms: millis_i32(config.max_poll_interval),
        member_id: member_id.to_string(),
        group_instance_id: config.group_instance_id.clone(),
        protocol_type: PROTOCOL_TYPE.to_string(),
        protocols,
        reason: Some(reason.to_string()),
        ..Default::default()
    };
    // The coordinator holds a JoinGroup until every member rejoined or the
    // rebalance timeout passed: wait that long (plus a margin, as Java does)
    // instead of request.timeout.ms, which would cut the connection.
    let timeout = client.config().request_timeout.max(config.max_poll_interval + JOIN_MARGIN);
    let connection = client.connection(coordinator).await.map_err(|e| transport(&e))?;
    let version = connection.version_for(ApiKey::JOIN_GROUP).map_err(|e| transport(&e))?;
    let response = connection.send_version_with_timeout(&request, version, timeout).await.map_err(|e| transport(&e))?;
    let code = ErrorCode(response.error_code);
    if code == ErrorCode::MEMBER_ID_REQUIRED {
        return Err(StepError::RejoinWithMemberId(response.member_id));
    }
    if code.is_error() {
        return Err(classify(code));
    }
    let protocol_name = response.protocol_name.clone().unwrap_or_default();
    let Some(protocol) = AssignmentStrategy::from_name(&protocol_name) else {
        return Err(StepError::Transport(format!("JoinGroup chose unknown protocol `{protocol_name}`")));
    };
    let leads = response.leader == response.member_id;
    let members = if leads {
        let mut members = BTreeMap::new();
        for m in &response.members {
            match decode_subscription(&m.member_id, m.group_instance_id.as_deref(), &m.metadata) {
                Ok(s) => {
                    members.insert(m.member_id.clone(), s);
                }
                Err(e) => {
                    // A member we cannot read gets nothing; the others still get their share.
                    debug!(member = %m.member_id, error = %e, "undecodable subscription");
                    members.insert(
                        m.member_id.clone(),
                        assignor::MemberSubscription { member_id: m.member_id.clone(), generation: -1, ..Default::default() },
                    );
                }
            }
        }
        Some(members)
    } else {
        None
    };
    info!(group = %group_id, generation = response.generation_id, member = %response.member_id, leader = leads, protocol = %protocol_name, "joined group");
    Ok(Joined {
        generation_id: response.generation_id,
        member_id: response.member_id,
        protocol,
        members,
        skip_assignment: response.skip_assignment,
    })
}

/// The leader's work between JoinGroup and SyncGroup: partition counts of
/// every subscribed topic, then the chosen assignor.
pub async fn compute_assignment(
    client: &Client,
    protocol: AssignmentStrategy,
    members: &BTreeMap<String, assignor::MemberSubscription>,
) -> Result<BTreeMap<String, Vec<TopicPartition>>> {
    let topics: BTreeSet<&str> = members.values().flat_map(|m| m.topics.iter().map(String::as_str)).collect();
    let names: Vec<&str> = topics.iter().copied().collect();
    let metadata = client.metadata(&names).await?;
    let mut partitions_per_topic = BTreeMap::new();
    for name in names {
        if let Some(t) = metadata.topic(name) {
            if t.error.is_none() && !t.partitions.is_empty() {
                partitions_per_topic.insert(name.to_string(), t.partitions.len() as i32);
            }
        }
    }
    Ok(assignor::assign(protocol, &partitions_per_topic, members))
}

/// Sends SyncGroup (with the assignments when leading); returns this member's partitions.
pub async fn sync_group(
    client: &Client,
    coordinator: i32,
    group_id: &str,
    config: &GroupConfig,
    joined: &Joined,
    assignments: &BTreeMap<String, Vec<TopicPartition>>,
) -> std::result::Result<BTreeSet<TopicPartition>, StepError> {
    let mut encoded = Vec::new();
    for (member, partitions) in assignments {
        let assignment = encode_assignment(partitions).map_err(|e| StepError::Transport(format!("encoding an assignment: {e}")))?;
        encoded.push(SyncGroupRequestAssignment { member_id: member.clone(), assignment, ..Default::default() });
    }
    let request = SyncGroupRequest {
        group_id: group_id.to_string(),
        generation_id: joined.generation_id,
        member_id: joined.member_id.clone(),
        group_instance_id: config.group_instance_id.clone(),
        protocol_type: Some(PROTOCOL_TYPE.to_string()),
        protocol_name: Some(joined.protocol.protocol_name().to_string()),
        assignments: encoded,
        ..Default::default()
    };
    let response = client.send(coordinator, &request).await.map_err(|e| transport(&e))?;
    let code = ErrorCode(response.error_code);
    if code.is_error() {
        return Err(classify(code));
    }
    decode_assignment(&response.assignment).map_err(|e| StepError::Transport(format!("decoding the assignment: {e}")))
}

/// One Heartbeat in the current generation.
pub async fn heartbeat(
    client: &Client,
    coordinator: i32,
    group_id: &str,
    config: &GroupConfig,
    generation: &Generation,
) -> std::result::Result<(), StepError> {
    let request = HeartbeatRequest {
        group_id: group_id.to_string(),
        generation_id: generation.generation_id,
        member_id: generation.member_id.clone(),
        group_instance_id: config.group_instance_id.clone(),
        ..Default::default()
    };
    let response = client.send(coordinator, &request).await.map_err(|e| transport(&e))?;
    let code = ErrorCode(response.error_code);
    if code.is_error() {
        return Err(classify(code));
    }
    Ok(())
}

/// LeaveGroup for a dynamic member. Static members (KIP-345) do not send
/// it: their partitions stay theirs until the session times out, so a quick
/// restart rejoins without a rebalance.
pub async fn leave_group(
    client: &Client,
    coordinator: i32,
    group_id: &str,
    config: &GroupConfig,
    member_id: &str,
    reason: &str,
) -> Result<()> {
    if config.group_instance_id.is_some() || member_id.is_empty() {
        return Ok(());
    }
    let connection = client.connection(coordinator).await?;
    let version = connection.version_for(ApiKey::LEAVE_GROUP)?;
    // v3+ (KIP-345) leaves by a list of member identities.
    let request = if version >= 3 {
        LeaveGroupRequest {
            group_id: group_id.to_string(),
            members: vec![MemberIdentity {
                member_id: member_id.to_string(),
                group_instance_id: None,
                reason: Some(reason.to_string()),
                ..Default::default()
            }],
            ..Default::default()
        }
    } else {
        LeaveGroupRequest { group_id: group_id.to_string(), member_id: member_id.to_string(), ..Default::default() }
    };
    let response = connection.send_version(&request, version).await?;
    let code = ErrorCode(response.error_code);
    let member_code = response.members.first().map_or(ErrorCode::NONE, |m| ErrorCode(m.error_code));
    for code in [code, member_code] {
        // UNKNOWN_MEMBER_ID: already gone, which is what leaving wants.
        if code.is_error() && code != ErrorCode::UNKNOWN_MEMBER_ID {
            return Err(Error::Kafka {
                broker: connection.broker().to_string(),
                context: format!("LeaveGroup {group_id}"),
                code,
                message: None,
            });
        }
    }
    info!(group = %group_id, member = %member_id, "left group");
    Ok(())
}
