//! [`GroupMember`]: a consumer's membership in a group, driven by one task.
//!
//! The task finds the coordinator, joins, syncs, runs the rebalance
//! listener (awaited) and publishes the assignment on a `watch` channel; a
//! heartbeat task keeps the session alive while the member is stable.
//! Commits and offset look-ups do not go through the task: they are sent
//! directly by the caller (also from inside a rebalance callback), in the
//! member's current generation.
//!
//! `max.poll.interval.ms`: a consumer calls [`GroupMember::poll_notice`] on
//! every poll; a member not polled for that long leaves the group (its
//! partitions are lost) and joins again on the next poll, as Java does.
//!
//! [`GroupMember::close`] always returns within its timeout: it asks the
//! task to commit (if `enable.auto.commit`), revoke and leave, and stops it
//! when the time is up (for instance with every broker down).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use regex::Regex;
use rill_protocol::messages::MetadataRequest;
use rill_protocol::ErrorCode;
use tokio::sync::{mpsc, oneshot, watch, Notify};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::callbacks::RebalanceListener;
use super::commit::Committer;
use super::coordinator::Coordinator;
use super::membership::{self, Assignment, Generation, Joined, MemberState, StepError};
use super::TopicPartition;
use crate::backoff::{Backoff, Rng};
use crate::client::Client;
use crate::config::{ConfigError, GroupConfig};
use crate::consumer::Position;
use crate::error::{Error, Result};

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What a member subscribes to.
#[derive(Debug, Clone)]
pub enum Subscription {
    /// These topics.
    Topics(BTreeSet<String>),
    /// Every non-internal topic whose whole name matches; re-evaluated every `metadata.max.age.ms`.
    Pattern(Regex),
}

impl Subscription {
    pub fn topics<I, S>(topics: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Subscription::Topics(topics.into_iter().map(Into::into).collect())
    }

    /// A pattern subscription; the pattern must match a whole topic name (as Java's `Pattern.matches`).
    pub fn pattern(pattern: &str) -> std::result::Result<Self, ConfigError> {
        let anchored = format!("^(?:{pattern})$");
        Regex::new(&anchored).map(Subscription::Pattern).map_err(|_| ConfigError::InvalidValue {
            key: "subscription pattern".to_string(),
            value: Some(pattern.to_string()),
            expected: "a regular expression (regex crate syntax)",
        })
    }
}

enum Command {
    Subscribe(Subscription),
    Close { deadline: Instant, reply: oneshot::Sender<Result<()>> },
}

/// What the heartbeat task tells the member.
#[derive(Debug)]
enum HeartbeatEvent {
    /// REBALANCE_IN_PROGRESS: join again (partitions still owned).
    Rejoin,
    /// UNKNOWN_MEMBER_ID / ILLEGAL_GENERATION: the generation is gone, partitions lost.
    Lost(ErrorCode),
    /// FENCED_INSTANCE_ID and other fatal answers.
    Fatal(ErrorCode),
}

#[derive(Debug)]
struct Inner {
    client: Client,
    group_id: String,
    config: GroupConfig,
    coordinator: Arc<Coordinator>,
    generation: Arc<Mutex<Generation>>,
    committer: Committer,
    rng: Arc<Mutex<Rng>>,
    state: Mutex<MemberState>,
    failure: Mutex<Option<Error>>,
    /// Next offset per partition already handed to the application, with
    /// the leader epoch of the record before it (what auto-commit may commit).
    delivered: Mutex<BTreeMap<TopicPartition, Position>>,
    last_poll: Mutex<Instant>,
    poll_resumed: Notify,
    /// A commit was left in doubt (see `commit`): leave and join again.
    commit_in_doubt: Arc<Notify>,
    /// Whether this member led the last JoinGroup (it computed the assignment).
    leader: AtomicBool,
}

impl Inner {
    /// LeaveGroup (dynamic members) in the current generation, bounded by `deadline`.
    async fn leave(&self, reason: &str, deadline: Instant) -> Result<()> {
        self.leave_as(&self.generation().member_id, reason, deadline).await
    }

    /// LeaveGroup for `member_id` (a dynamic member), bounded by `deadline`.
    async fn leave_as(&self, member_id: &str, reason: &str, deadline: Instant) -> Result<()> {
        let Some(node) = self.coordinator.known() else { return Ok(()) };
        let leave = membership::leave_group(&self.client, node, &self.group_id, &self.config, member_id, reason);
        match tokio::time::timeout_at(deadline, leave).await {
            Ok(result) => result,
            Err(_) => Err(Error::Kafka {
                broker: format!("node {node}"),
                context: format!("LeaveGroup (group {}) timed out", self.group_id),
                code: ErrorCode::REQUEST_TIMED_OUT,
                message: None,
            }),
        }
    }

    fn set_state(&self, state: MemberState) {
        *lock(&self.state) = state;
    }

    fn generation(&self) -> Generation {
        lock(&self.generation).clone()
    }

    /// `offsets` as positions, with the leader epoch of the last record
    /// handed out where the offset is right after it.
    fn with_known_epochs(&self, offsets: &BTreeMap<TopicPartition, i64>) -> BTreeMap<TopicPartition, Position> {
        let delivered = lock(&self.delivered);
        offsets
            .iter()
            .map(|(tp, offset)| {
                let epoch = delivered.get(tp).filter(|d| d.offset == *offset).and_then(|d| d.leader_epoch);
                (tp.clone(), Position::new(*offset, epoch))
            })
            .collect()
    }

    /// Offsets handed out and not yet acknowledged as committed, of owned partitions.
    fn pending_delivered(&self, owned: &BTreeSet<TopicPartition>) -> BTreeMap<TopicPartition, Position> {
        lock(&self.delivered)
            .iter()
            .filter(|(tp, position)| owned.contains(*tp) && self.committer.acknowledged(tp).is_none_or(|acked| position.offset > acked))
            .map(|(tp, position)| (tp.clone(), *position))
            .collect()
    }
}

/// A consumer's membership in a consumer group.
#[derive(Debug)]
pub struct GroupMember {
    inner: Arc<Inner>,
    commands: mpsc::UnboundedSender<Command>,
    assignment: watch::Receiver<Assignment>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl GroupMember {
    /// A member of the group `group.id` of the client's configuration; it
    /// joins once [`subscribe`](Self::subscribe) is called.
    pub fn new(client: Client, listener: Arc<dyn RebalanceListener>) -> Result<GroupMember> {
        let group_id = client.config().consumer.group_id.clone().ok_or(ConfigError::Missing { key: "group.id" })?;
        let config = client.config().group.clone();
        // The member's own RNG, seeded from the client's seed (deterministic under simulation).
        let seed = client.config().rng_seed.map_or_else(Rng::os_seed, |s| s ^ 0x0067_726f_7570);
        let rng = Arc::new(Mutex::new(Rng::new(seed)));
        let coordinator = Arc::new(Coordinator::new(group_id.clone()));
        let generation = Arc::new(Mutex::new(Generation::none()));
        let commit_in_doubt = Arc::new(Notify::new());
        let committer = Committer::new(
            client.clone(),
            coordinator.clone(),
            generation.clone(),
            config.group_instance_id.clone(),
            rng.clone(),
            commit_in_doubt.clone(),
        );
        let inner = Arc::new(Inner {
            client,
            group_id,
            config,
            coordinator,
            generation,
            committer,
            rng,
            state: Mutex::new(MemberState::Unjoined),
            failure: Mutex::new(None),
            delivered: Mutex::new(BTreeMap::new()),
            last_poll: Mutex::new(Instant::now()),
            poll_resumed: Notify::new(),
            commit_in_doubt,
            leader: AtomicBool::new(false),
        });
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (assignment_tx, assignment) = watch::channel(Assignment { generation_id: Generation::NONE_ID, partitions: BTreeSet::new() });
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let task = Task {
            inner: inner.clone(),
            listener,
            commands: command_rx,
            assignment_tx,
            events_tx,
            events_rx,
            subscription: None,
            topics: BTreeSet::new(),
            owned: BTreeSet::new(),
            rejoin: None,
            heartbeat: None,
            poll_expired: false,
            pending_close: None,
        };
        let handle = tokio::spawn(task.run());
        Ok(GroupMember { inner, commands, assignment, task: Mutex::new(Some(handle)) })
    }

    pub fn group_id(&self) -> &str {
        &self.inner.group_id
    }

    /// Subscribes (or changes the subscription); the member joins or rejoins.
    pub fn subscribe(&self, subscription: Subscription) -> Result<()> {
        self.commands.send(Command::Subscribe(subscription)).map_err(|_| Error::Closed)
    }

    /// The current assignment.
    pub fn assignment(&self) -> Assignment {
        self.assignment.borrow().clone()
    }

    /// A receiver that sees every assignment change.
    pub fn assignment_changes(&self) -> watch::Receiver<Assignment> {
        self.assignment.clone()
    }

    /// Waits until the member is stable with an assignment of generation
    /// `> after_generation`, or the timeout passes.
    pub async fn wait_for_assignment(&self, after_generation: i32, timeout: Duration) -> Result<Assignment> {
        let mut changes = self.assignment.clone();
        let wait = async {
            loop {
                {
                    let current = changes.borrow_and_update();
                    if current.generation_id > after_generation && self.state() == MemberState::Stable {
                        return Ok(current.clone());
                    }
                }
                if let Some(e) = self.failure() {
                    return Err(e);
                }
                // Wake on a change, and now and then to look at the state.
                let _ = tokio::time::timeout(Duration::from_millis(100), changes.changed()).await;
            }
        };
        tokio::time::timeout(timeout, wait).await.unwrap_or_else(|_| {
            Err(Error::Kafka {
                broker: "coordinator".into(),
                context: format!("group {}: no assignment within {timeout:?}", self.inner.group_id),
                code: ErrorCode::REQUEST_TIMED_OUT,
                message: None,
            })
        })
    }

    /// Whether this member leads the group: the coordinator chose it in
    /// the last JoinGroup to compute everyone's assignment (the first member
    /// to join leads for as long as it stays).
    pub fn is_leader(&self) -> bool {
        self.inner.leader.load(Ordering::SeqCst)
    }

    /// The assignor the group chose in the last JoinGroup (`None` before the first).
    pub fn protocol(&self) -> Option<crate::config::AssignmentStrategy> {
        self.inner.generation().protocol
    }

    pub fn state(&self) -> MemberState {
        *lock(&self.inner.state)
    }

    /// The error that stopped the member, if it failed.
    pub fn failure(&self) -> Option<Error> {
        lock(&self.inner.failure).clone()
    }

    /// The generation id and member id.
    pub fn generation(&self) -> (i32, String) {
        let g = self.inner.generation();
        (g.generation_id, g.member_id)
    }

    /// Whether a commit of the current generation was left in doubt: the
    /// member is about to lose its partitions and join again, and nothing
    /// handed out until then could be committed.
    pub(crate) fn generation_in_doubt(&self) -> bool {
        self.inner.committer.current_generation_in_doubt()
    }

    /// Tells the member the application polled (resets the `max.poll.interval.ms` timer).
    pub fn poll_notice(&self) {
        *lock(&self.inner.last_poll) = Instant::now();
        self.inner.poll_resumed.notify_one();
    }

    /// Records that records of `tp` before `next.offset` were handed to the
    /// application (`next.leader_epoch`: the epoch of the last one's batch):
    /// auto-commit commits only such offsets, with that epoch.
    pub fn mark_delivered(&self, tp: &TopicPartition, next: Position) {
        lock(&self.inner.delivered).insert(tp.clone(), next);
    }

    /// Commits `offsets` (next offset to consume) and waits for the answer
    /// (at most `request.timeout.ms`). An offset right after the last record
    /// handed out of its partition is committed with that record's leader
    /// epoch, so a member resuming from it can detect a truncation (KIP-320);
    /// others go without one.
    pub async fn commit_sync(&self, offsets: &BTreeMap<TopicPartition, i64>) -> Result<()> {
        self.commit_positions(&self.inner.with_known_epochs(offsets)).await
    }

    /// Commits positions (next offset to consume with the leader epoch of
    /// the record before it, KIP-320) and waits for the answer.
    pub async fn commit_positions(&self, positions: &BTreeMap<TopicPartition, Position>) -> Result<()> {
        let deadline = Instant::now() + self.inner.client.config().request_timeout;
        self.inner.committer.commit(positions, deadline).await
    }

    /// Commits `offsets` in the background; the handle yields the outcome.
    pub fn commit_async(&self, offsets: BTreeMap<TopicPartition, i64>) -> JoinHandle<Result<()>> {
        let inner = self.inner.clone();
        let positions = inner.with_known_epochs(&offsets);
        tokio::spawn(async move {
            let deadline = Instant::now() + inner.client.config().request_timeout;
            inner.committer.commit(&positions, deadline).await
        })
    }

    /// Commits every offset handed to the application ([`mark_delivered`](Self::mark_delivered))
    /// of the partitions the member owns.
    pub async fn commit_delivered(&self) -> Result<()> {
        let owned = self.assignment().partitions;
        let positions = self.inner.pending_delivered(&owned);
        self.commit_positions(&positions).await
    }

    /// The highest offset of `tp` this member had acknowledged as committed.
    pub fn acknowledged_commit(&self, tp: &TopicPartition) -> Option<i64> {
        self.inner.committer.acknowledged(tp)
    }

    /// The group's committed positions of `partitions` (`None`: none
    /// committed), with the committed leader epoch when the broker has one.
    pub async fn committed(&self, partitions: &BTreeSet<TopicPartition>) -> Result<BTreeMap<TopicPartition, Option<Position>>> {
        let deadline = Instant::now() + self.inner.client.config().request_timeout;
        self.inner.committer.committed(partitions, deadline).await
    }

    /// Commits delivered offsets (with `enable.auto.commit`), revokes, leaves
    /// the group (dynamic members) and stops; returns within `timeout`
    /// whatever the brokers do.
    pub async fn close(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let task = lock(&self.task).take();
        let Some(mut task) = task else { return Ok(()) };
        // The task gets most of the time; the rest is for a leave of our own if it does not answer.
        let task_deadline = deadline - timeout / 4;
        let (reply, answer) = oneshot::channel();
        let _ = self.commands.send(Command::Close { deadline: task_deadline, reply });
        let outcome = tokio::time::timeout_at(task_deadline, answer).await;
        match outcome {
            Ok(Ok(result)) => {
                let _ = tokio::time::timeout_at(deadline, &mut task).await;
                result
            }
            _ => {
                task.abort();
                warn!(group = %self.inner.group_id, "group member did not stop in time; leaving directly");
                let _ = self.inner.leave("the consumer is closing", deadline).await;
                self.inner.set_state(MemberState::Left);
                Err(Error::Kafka {
                    broker: "coordinator".into(),
                    context: format!("closing the member of group {} took longer than {timeout:?}", self.inner.group_id),
                    code: ErrorCode::REQUEST_TIMED_OUT,
                    message: None,
                })
            }
        }
    }
}

impl Drop for GroupMember {
    fn drop(&mut self) {
        if let Some(task) = lock(&self.task).take() {
            task.abort();
        }
    }
}

/// The member's driving task.
struct Task {
    inner: Arc<Inner>,
    listener: Arc<dyn RebalanceListener>,
    commands: mpsc::UnboundedReceiver<Command>,
    assignment_tx: watch::Sender<Assignment>,
    events_tx: mpsc::UnboundedSender<HeartbeatEvent>,
    events_rx: mpsc::UnboundedReceiver<HeartbeatEvent>,
    subscription: Option<Subscription>,
    topics: BTreeSet<String>,
    owned: BTreeSet<TopicPartition>,
    /// Why the member must join (again), if it must.
    rejoin: Option<String>,
    heartbeat: Option<JoinHandle<()>>,
    /// Left for `max.poll.interval.ms`; joins again on the next poll.
    poll_expired: bool,
    pending_close: Option<(Instant, oneshot::Sender<Result<()>>)>,
}

/// A member dropped without close() (or whose close timed out) aborts this
/// task: the heartbeat, a task of its own, must stop with it, else the
/// abandoned member would keep its partitions until the next rebalance.
impl Drop for Task {
    fn drop(&mut self) {
        self.stop_heartbeat();
    }
}

impl Task {
    async fn run(mut self) {
        let config = self.inner.config.clone();
        let metadata_max_age = self.inner.client.config().metadata_max_age.max(Duration::from_millis(100));
        let mut auto_commit_at = Instant::now() + config.auto_commit_interval;
        let mut pattern_check_at = Instant::now() + metadata_max_age;
        loop {
            if let Some((deadline, reply)) = self.pending_close.take() {
                let result = self.shutdown(deadline).await;
                let _ = reply.send(result);
                return;
            }
            let failed = *lock(&self.inner.state) == MemberState::Failed;
            if self.rejoin.is_some() && self.subscription.is_some() && !failed {
                self.rebalance().await;
                continue;
            }
            let stable = *lock(&self.inner.state) == MemberState::Stable;
            let poll_deadline = *lock(&self.inner.last_poll) + config.max_poll_interval;
            let is_pattern = matches!(self.subscription, Some(Subscription::Pattern(_)));
            tokio::select! {
                command = self.commands.recv() => match command {
                    None => {
                        // Every handle is gone: stop without waiting on the brokers.
                        self.stop_heartbeat();
                        return;
                    }
                    Some(Command::Subscribe(s)) => self.subscribe(s).await,
                    Some(Command::Close { deadline, reply }) => self.pending_close = Some((deadline, reply)),
                },
                Some(event) = self.events_rx.recv() => self.on_heartbeat_event(event).await,
                _ = tokio::time::sleep_until(auto_commit_at), if config.enable_auto_commit => {
                    auto_commit_at = Instant::now() + config.auto_commit_interval;
                    if stable {
                        self.auto_commit_in_background();
                    }
                }
                _ = tokio::time::sleep_until(poll_deadline), if stable => {
                    if *lock(&self.inner.last_poll) + config.max_poll_interval <= Instant::now() {
                        self.poll_timeout().await;
                    }
                }
                _ = self.inner.poll_resumed.notified() => {
                    if self.poll_expired {
                        self.poll_expired = false;
                        self.rejoin = Some("the application polled again after max.poll.interval.ms".into());
                    }
                }
                _ = self.inner.commit_in_doubt.notified() => self.on_commit_in_doubt().await,
                _ = tokio::time::sleep_until(pattern_check_at), if is_pattern => {
                    pattern_check_at = Instant::now() + metadata_max_age;
                    self.refresh_pattern().await;
                }
            }
        }
    }

    fn publish(&self) {
        let generation_id = self.inner.generation().generation_id;
        let _ = self.assignment_tx.send(Assignment { generation_id, partitions: self.owned.clone() });
    }

    fn stop_heartbeat(&mut self) {
        if let Some(h) = self.heartbeat.take() {
            h.abort();
        }
    }

    fn fail(&mut self, error: Error) {
        warn!(group = %self.inner.group_id, error = %error, "group member stopped");
        self.stop_heartbeat();
        *lock(&self.inner.failure) = Some(error);
        self.inner.set_state(MemberState::Failed);
    }

    async fn subscribe(&mut self, subscription: Subscription) {
        self.subscription = Some(subscription);
        let topics = self.resolve_topics().await;
        if topics != self.topics || *lock(&self.inner.state) != MemberState::Stable {
            self.topics = topics;
            self.rejoin = Some("subscription changed".into());
        }
    }

    async fn refresh_pattern(&mut self) {
        let topics = self.resolve_topics().await;
        if topics != self.topics {
            info!(group = %self.inner.group_id, ?topics, "topics matching the subscription pattern changed");
            self.topics = topics;
            self.rejoin = Some("topics matching the pattern changed".into());
        }
    }

    async fn resolve_topics(&self) -> BTreeSet<String> {
        match &self.subscription {
            None => BTreeSet::new(),
            Some(Subscription::Topics(t)) => t.clone(),
            Some(Subscription::Pattern(re)) => match all_topics(&self.inner.client).await {
                Ok(names) => names.into_iter().filter(|n| re.is_match(n)).collect(),
                Err(e) => {
                    debug!(error = %e, "listing topics for the pattern failed; keeping the current ones");
                    self.topics.clone()
                }
            },
        }
    }

    async fn on_heartbeat_event(&mut self, event: HeartbeatEvent) {
        match event {
            HeartbeatEvent::Rejoin => self.rejoin = Some("the group is rebalancing".into()),
            HeartbeatEvent::Lost(code) => {
                self.reset_generation(code);
                self.lose_partitions().await;
                self.rejoin = Some(format!("heartbeat answered {}", code.name()));
            }
            HeartbeatEvent::Fatal(code) => {
                self.lose_partitions().await;
                self.fail(self.group_error("Heartbeat", code));
            }
        }
    }

    fn group_error(&self, context: &str, code: ErrorCode) -> Error {
        Error::Kafka { broker: "coordinator".into(), context: format!("{context} (group {})", self.inner.group_id), code, message: None }
    }

    /// UNKNOWN_MEMBER_ID forgets the member id; both it and ILLEGAL_GENERATION forget the generation.
    fn reset_generation(&self, code: ErrorCode) {
        let mut g = lock(&self.inner.generation);
        g.generation_id = Generation::NONE_ID;
        if code == ErrorCode::UNKNOWN_MEMBER_ID || code == ErrorCode::FENCED_INSTANCE_ID {
            g.member_id.clear();
        }
    }

    async fn lose_partitions(&mut self) {
        self.stop_heartbeat();
        if !self.owned.is_empty() {
            let lost = std::mem::take(&mut self.owned);
            warn!(group = %self.inner.group_id, partitions = lost.len(), "partitions lost");
            self.listener.on_partitions_lost(&lost).await;
            self.inner.committer.forget(&lost);
            lock(&self.inner.delivered).retain(|tp, _| !lost.contains(tp));
        }
        self.inner.set_state(MemberState::Unjoined);
        self.publish();
    }

    async fn revoke(&mut self, partitions: BTreeSet<TopicPartition>) {
        if partitions.is_empty() {
            return;
        }
        self.listener.on_partitions_revoked(&partitions).await;
        self.owned.retain(|tp| !partitions.contains(tp));
        self.inner.committer.forget(&partitions);
        lock(&self.inner.delivered).retain(|tp, _| !partitions.contains(tp));
        self.publish();
    }

    fn auto_commit_in_background(&self) {
        let offsets = self.inner.pending_delivered(&self.owned);
        if offsets.is_empty() {
            return;
        }
        let inner = self.inner.clone();
        tokio::spawn(async move {
            let deadline = Instant::now() + inner.client.config().request_timeout;
            if let Err(e) = inner.committer.commit(&offsets, deadline).await {
                debug!(group = %inner.group_id, error = %e, "auto-commit failed");
            }
        });
    }

    /// Commits what was delivered, before partitions are given up.
    async fn auto_commit_now(&self, deadline: Instant) {
        if !self.inner.config.enable_auto_commit {
            return;
        }
        let offsets = self.inner.pending_delivered(&self.owned);
        if let Err(e) = self.inner.committer.commit(&offsets, deadline).await {
            warn!(group = %self.inner.group_id, error = %e, "commit before giving partitions up failed");
        }
    }

    /// `max.poll.interval.ms` passed without a poll: leave, lose the partitions, wait for a poll.
    async fn poll_timeout(&mut self) {
        warn!(group = %self.inner.group_id, "max.poll.interval.ms passed without a poll; leaving the group");
        self.stop_heartbeat();
        let deadline = Instant::now() + self.inner.client.config().request_timeout;
        let _ = self.inner.leave("consumer poll timeout has expired", deadline).await;
        self.reset_generation(ErrorCode::UNKNOWN_MEMBER_ID);
        self.lose_partitions().await;
        self.poll_expired = true;
    }

    /// A commit of the current generation was left in doubt: it may still
    /// land, after any newer commit. Forget the member id and lose the
    /// partitions at once (nothing may be committed in this generation any
    /// more), leave under the old id, then join again: the coordinator
    /// refuses the old member's commits from then on (UNKNOWN_MEMBER_ID, or
    /// ILLEGAL_GENERATION once the generation moves on), so the one in
    /// doubt cannot move offsets back.
    async fn on_commit_in_doubt(&mut self) {
        if !self.inner.committer.current_generation_in_doubt() {
            // The generation has moved on since: the commit can no longer land.
            return;
        }
        // Only this task changes the generation: it is still the doubted one.
        let current = self.inner.generation();
        self.stop_heartbeat();
        // The partitions are lost at once: nothing processed from now on
        // could be committed in this generation.
        self.reset_generation(ErrorCode::UNKNOWN_MEMBER_ID);
        self.lose_partitions().await;
        // The commit's failure may have made the member forget its
        // coordinator: find it again, so that the old member leaves now
        // rather than hold up the next rebalance until its session expires.
        let reason = "an offset commit's outcome is unknown";
        let deadline = Instant::now() + self.inner.client.config().request_timeout;
        if self.inner.coordinator.find(&self.inner.client, &self.inner.rng, deadline).await.is_ok() {
            let _ = self.inner.leave_as(&current.member_id, reason, deadline).await;
        }
        self.rejoin = Some(reason.into());
    }

    async fn backoff_sleep(&self, backoff: &mut Backoff) {
        let delay = backoff.next_delay(&mut lock(&self.inner.rng));
        tokio::time::sleep(delay).await;
    }

    /// Joins (again) until stable, failed, or a close arrives.
    async fn rebalance(&mut self) {
        let reason = self.rejoin.take().unwrap_or_else(|| "joining".into());
        debug!(group = %self.inner.group_id, %reason, "rebalancing");
        let client = self.inner.client.clone();
        let request_timeout = client.config().request_timeout;
        // Before joining: eager assignors give up everything (commit first), a lost generation loses it.
        let generation = self.inner.generation();
        let cooperative = generation.protocol.is_some_and(|p| p.is_cooperative());
        if generation.generation_id < 0 {
            self.lose_partitions().await;
        } else if !cooperative && !self.owned.is_empty() {
            self.auto_commit_now(Instant::now() + request_timeout).await;
            let all = self.owned.clone();
            self.revoke(all).await;
        }
        self.stop_heartbeat();
        self.inner.set_state(MemberState::Rebalancing);
        let mut backoff = Backoff::new(client.config().retry_backoff, client.config().retry_backoff_max);
        loop {
            // A close or a new subscription may arrive while rebalancing.
            while let Ok(command) = self.commands.try_recv() {
                match command {
                    Command::Subscribe(s) => {
                        self.subscription = Some(s);
                        self.topics = self.resolve_topics().await;
                    }
                    Command::Close { deadline, reply } => {
                        self.pending_close = Some((deadline, reply));
                        return;
                    }
                }
            }
            if self.topics.is_empty() {
                self.topics = self.resolve_topics().await;
            }
            let node = match self.inner.coordinator.find(&client, &self.inner.rng, Instant::now() + request_timeout).await {
                Ok(node) => node,
                Err(e) => {
                    debug!(group = %self.inner.group_id, error = %e, "no coordinator yet");
                    self.backoff_sleep(&mut backoff).await;
                    continue;
                }
            };
            let current = self.inner.generation();
            let joined = membership::join_group(
                &client,
                node,
                &self.inner.group_id,
                &self.inner.config,
                &current.member_id,
                &self.topics,
                &self.owned,
                current.generation_id,
                &reason,
            )
            .await;
            let joined = match joined {
                Ok(j) => j,
                Err(step) => {
                    if self.on_step_error(node, "JoinGroup", step).await {
                        return;
                    }
                    self.backoff_sleep(&mut backoff).await;
                    continue;
                }
            };
            {
                let mut g = lock(&self.inner.generation);
                g.generation_id = joined.generation_id;
                g.member_id = joined.member_id.clone();
                g.protocol = Some(joined.protocol);
            }
            self.inner.leader.store(joined.members.is_some(), Ordering::SeqCst);
            let assignments = match (&joined.members, joined.skip_assignment) {
                (Some(members), false) => match membership::compute_assignment(&client, joined.protocol, members).await {
                    Ok(a) => a,
                    Err(e) => {
                        debug!(error = %e, "leader could not read topic metadata; joining again");
                        self.backoff_sleep(&mut backoff).await;
                        continue;
                    }
                },
                _ => BTreeMap::new(),
            };
            let synced = membership::sync_group(&client, node, &self.inner.group_id, &self.inner.config, &joined, &assignments).await;
            match synced {
                Ok(partitions) => {
                    self.on_synced(&joined, partitions).await;
                    return;
                }
                Err(step) => {
                    if self.on_step_error(node, "SyncGroup", step).await {
                        return;
                    }
                    self.backoff_sleep(&mut backoff).await;
                }
            }
        }
    }

    /// Handles a failed JoinGroup / SyncGroup; `true` when the member must stop trying.
    async fn on_step_error(&mut self, node: i32, step_name: &str, step: StepError) -> bool {
        debug!(group = %self.inner.group_id, step = step_name, error = ?step, "group step failed");
        match step {
            StepError::RejoinWithMemberId(id) => {
                // KIP-394: the coordinator gave us our id; join again with it.
                lock(&self.inner.generation).member_id = id;
            }
            StepError::Rejoin(_) => {}
            StepError::Reset(code) => {
                self.reset_generation(code);
                self.lose_partitions().await;
                self.inner.set_state(MemberState::Rebalancing);
            }
            StepError::Coordinator(code) => {
                if code != ErrorCode::COORDINATOR_LOAD_IN_PROGRESS {
                    self.inner.coordinator.forget(node);
                }
            }
            StepError::Transport(_) => self.inner.coordinator.forget(node),
            StepError::Fatal(code) => {
                if code == ErrorCode::FENCED_INSTANCE_ID {
                    self.reset_generation(code);
                }
                self.lose_partitions().await;
                self.fail(self.group_error(step_name, code));
                return true;
            }
        }
        false
    }

    /// SyncGroup answered: run the callbacks, publish, start heartbeating.
    async fn on_synced(&mut self, joined: &Joined, partitions: BTreeSet<TopicPartition>) {
        info!(group = %self.inner.group_id, generation = joined.generation_id, partitions = partitions.len(), "assignment received");
        if joined.protocol.is_cooperative() {
            // KIP-429: give up only what moves, then join again so it can be handed over.
            let revoked: BTreeSet<TopicPartition> = self.owned.difference(&partitions).cloned().collect();
            let added: BTreeSet<TopicPartition> = partitions.difference(&self.owned).cloned().collect();
            if !revoked.is_empty() {
                self.revoke(revoked).await;
                self.rejoin = Some("partitions revoked for a cooperative rebalance".into());
            }
            self.listener.on_partitions_assigned(&added).await;
            self.owned.extend(added);
        } else {
            self.listener.on_partitions_assigned(&partitions).await;
            self.owned = partitions;
        }
        *lock(&self.inner.last_poll) = Instant::now();
        self.inner.set_state(MemberState::Stable);
        self.publish();
        self.start_heartbeat();
    }

    fn start_heartbeat(&mut self) {
        self.stop_heartbeat();
        let inner = self.inner.clone();
        let events = self.events_tx.clone();
        self.heartbeat = Some(tokio::spawn(async move {
            let mut current_node: i32;
            let config = inner.client.config().clone();
            let mut backoff = Backoff::new(config.retry_backoff, config.retry_backoff_max);
            let mut wait = inner.config.heartbeat_interval;
            loop {
                tokio::time::sleep(wait).await;
                wait = inner.config.heartbeat_interval;
                if let Some(known) = inner.coordinator.known() {
                    current_node = known;
                } else {
                    let deadline = Instant::now() + inner.config.heartbeat_interval;
                    match inner.coordinator.find(&inner.client, &inner.rng, deadline).await {
                        Ok(n) => current_node = n,
                        Err(_) => {
                            wait = backoff.next_delay(&mut lock(&inner.rng));
                            continue;
                        }
                    }
                }
                let generation = inner.generation();
                let beat = membership::heartbeat(&inner.client, current_node, &inner.group_id, &inner.config, &generation);
                match beat.await {
                    Ok(()) => backoff.reset(),
                    Err(StepError::Rejoin(_)) => {
                        let _ = events.send(HeartbeatEvent::Rejoin);
                        return;
                    }
                    Err(StepError::Reset(code)) => {
                        let _ = events.send(HeartbeatEvent::Lost(code));
                        return;
                    }
                    Err(StepError::Fatal(code)) => {
                        let _ = events.send(HeartbeatEvent::Fatal(code));
                        return;
                    }
                    Err(StepError::Coordinator(code)) => {
                        if code != ErrorCode::COORDINATOR_LOAD_IN_PROGRESS {
                            inner.coordinator.forget(current_node);
                        }
                        wait = backoff.next_delay(&mut lock(&inner.rng));
                    }
                    Err(StepError::Transport(_)) | Err(StepError::RejoinWithMemberId(_)) => {
                        inner.coordinator.forget(current_node);
                        wait = backoff.next_delay(&mut lock(&inner.rng));
                    }
                }
            }
        }));
    }

    /// close(): commit, revoke, leave; bounded by `deadline`.
    async fn shutdown(&mut self, deadline: Instant) -> Result<()> {
        self.stop_heartbeat();
        let in_generation = self.inner.generation().generation_id >= 0;
        if in_generation && *lock(&self.inner.state) == MemberState::Stable {
            let _ = tokio::time::timeout_at(deadline, self.auto_commit_now(deadline)).await;
        }
        let owned = std::mem::take(&mut self.owned);
        if !owned.is_empty() {
            let callback = async {
                if in_generation {
                    self.listener.on_partitions_revoked(&owned).await
                } else {
                    self.listener.on_partitions_lost(&owned).await
                }
            };
            let _ = tokio::time::timeout_at(deadline, callback).await;
        }
        self.publish();
        let result = self.inner.leave("the consumer is closing", deadline).await;
        *lock(&self.inner.generation) = Generation::none();
        self.inner.set_state(MemberState::Left);
        result
    }
}

/// Every non-internal topic of the cluster (for pattern subscriptions).
async fn all_topics(client: &Client) -> Result<Vec<String>> {
    let node = match client.cached_metadata().brokers.keys().next() {
        Some(n) => *n,
        None => client.metadata(&[]).await?.brokers.keys().next().copied().ok_or(Error::Closed)?,
    };
    let request = MetadataRequest { topics: None, allow_auto_topic_creation: false, ..Default::default() };
    let response = client.send(node, &request).await?;
    Ok(response.topics.into_iter().filter(|t| !t.is_internal && ErrorCode(t.error_code).is_none()).filter_map(|t| t.name).collect())
}
