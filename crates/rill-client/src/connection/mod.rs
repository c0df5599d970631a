//! One connection to one broker: a cheap, cloneable handle ([`Connection`])
//! in front of a driver task ([`driver`]) that owns the socket.
//!
//! Requests are pipelined: up to `max.in.flight.requests.per.connection`
//! requests are written before the first answer arrives. Responses are
//! matched to requests by order and checked by correlation id
//! ([`in_flight`]).

pub(crate) mod driver;
pub(crate) mod in_flight;
mod large_frame;
pub(crate) mod reauth;
#[cfg(test)]
mod reauth_tests;

use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rill_protocol::frame_parts::FrameParts;
use rill_protocol::message::{decode_response, encode_request, Request};
use rill_protocol::messages::RequestHeader;
use rill_protocol::produce_frame::ProduceFrame;
use rill_protocol::ApiKey;
use tokio::sync::{mpsc, oneshot, Semaphore};
use tracing::debug;

use crate::backoff::Rng;
use crate::config::{ClientConfig, SaslConfig, SaslMechanism};
use crate::error::{Error, Result};
use crate::negotiate::ApiVersions;
use crate::oauth::TokenCache;
use crate::stats::BrokerStats;
use crate::transport::{BoxStream, Transport};
use driver::{DriverConfig, Outgoing};
pub use large_frame::MapPool;

/// Per-connection settings, taken from [`ClientConfig`].
#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    pub client_id: String,
    pub request_timeout: Duration,
    pub connection_setup_timeout: Duration,
    pub max_in_flight: usize,
    pub max_response_bytes: usize,
    /// `Duration::ZERO`: never close for idleness.
    pub idle_timeout: Duration,
    /// SASL authentication after ApiVersions (SASL_PLAINTEXT, SASL_SSL).
    pub sasl: Option<SaslConfig>,
    /// The client's OAUTHBEARER tokens, shared by its connections.
    pub oauth_tokens: Option<Arc<TokenCache>>,
    /// Jitter of re-authentication times (KIP-368), seeded from `ClientConfig::rng_seed`.
    pub reauth_rng: Arc<std::sync::Mutex<Rng>>,
    /// Idle memory for large responses, shared by the connections made with
    /// this config and its clones (one pool per client; see `large_frame`).
    pub response_maps: MapPool,
}

impl From<&ClientConfig> for ConnectionConfig {
    fn from(c: &ClientConfig) -> Self {
        ConnectionConfig {
            client_id: c.client_id.clone(),
            request_timeout: c.request_timeout,
            connection_setup_timeout: c.connection_setup_timeout,
            max_in_flight: c.max_in_flight_per_connection,
            max_response_bytes: c.max_response_bytes,
            idle_timeout: c.connections_max_idle,
            sasl: c.security_protocol.uses_sasl().then(|| c.sasl.clone()),
            oauth_tokens: oauth_tokens(c),
            reauth_rng: Arc::new(std::sync::Mutex::new(Rng::new(seed(c) ^ 0x7265_6175_7468))),
            response_maps: MapPool::default(),
        }
    }
}

fn seed(c: &ClientConfig) -> u64 {
    c.rng_seed.unwrap_or_else(Rng::os_seed)
}

/// The token cache of an OAUTHBEARER client (the config was validated, so a provider exists).
fn oauth_tokens(c: &ClientConfig) -> Option<Arc<TokenCache>> {
    if !c.security_protocol.uses_sasl() || c.sasl.mechanism != SaslMechanism::OAuthBearer {
        return None;
    }
    let o = &c.sasl.oauthbearer;
    let provider = crate::oauth::provider_for(o).ok()?;
    Some(Arc::new(TokenCache::new(provider, o.login_retry_backoff, o.login_retry_backoff_max, seed(c) ^ 0x006f_6175_7468)))
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        ConnectionConfig::from(&ClientConfig::default())
    }
}

/// Ids for [`Connection::id`]; never reused.
static NEXT_CONNECTION_ID: AtomicU64 = AtomicU64::new(1);

#[derive(Debug)]
struct Shared {
    /// Unique per connection in this process (see [`Connection::id`]).
    id: u64,
    broker: Arc<str>,
    config: ConnectionConfig,
    requests: mpsc::Sender<Outgoing>,
    slots: Arc<Semaphore>,
    next_correlation_id: AtomicI32,
    versions: OnceLock<ApiVersions>,
    stats: Arc<BrokerStats>,
    /// Requests take it shared until they are handed to the driver; a
    /// re-authentication takes it exclusively (KIP-368: nothing interleaves
    /// with the SASL exchange).
    reauth_gate: tokio::sync::RwLock<()>,
}

/// A handle to one broker connection. Clones share the connection.
#[derive(Debug, Clone)]
pub struct Connection {
    shared: Arc<Shared>,
    /// Set on the handle a re-authentication sends its SASL requests through
    /// while it holds the gate.
    bypass_gate: bool,
}

impl Connection {
    /// Connects over `transport` (bounded by the setup timeout) and
    /// negotiates API versions.
    #[tracing::instrument(level = "debug", name = "connect", skip(transport, config, stats))]
    pub async fn connect(
        transport: &dyn Transport,
        host: &str,
        port: u16,
        config: ConnectionConfig,
        stats: Arc<BrokerStats>,
    ) -> Result<Connection> {
        let broker = format!("{host}:{port}");
        debug!(broker = %broker, "connecting");
        let stream = match tokio::time::timeout(config.connection_setup_timeout, transport.connect(host, port)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                stats.connect_failed();
                debug!(broker = %broker, error = %e, "connect failed");
                return Err(Error::connect(&broker, e));
            }
            Err(_) => {
                stats.connect_failed();
                debug!(broker = %broker, "connect timed out");
                return Err(Error::ConnectTimeout { broker, timeout: config.connection_setup_timeout });
            }
        };
        let connection = Connection::from_stream(stream, &broker, config, stats.clone());
        match crate::negotiate::negotiate(&connection).await {
            Ok(versions) => {
                let _ = connection.shared.versions.set(versions);
                if let Some(sasl) = &connection.shared.config.sasl {
                    let tokens = connection.shared.config.oauth_tokens.as_deref();
                    match crate::sasl::authenticate(&connection, sasl, tokens).await {
                        Ok(Some(session_lifetime)) => reauth::schedule(&connection, session_lifetime),
                        Ok(None) => {}
                        Err(e) => {
                            stats.connect_failed();
                            debug!(broker = %broker, error = %e, "SASL authentication failed");
                            return Err(e);
                        }
                    }
                }
                stats.connected();
                debug!(broker = %broker, apis = connection.api_versions().map_or(0, |v| v.len()), "connected");
                Ok(connection)
            }
            Err(e) => {
                stats.connect_failed();
                debug!(broker = %broker, error = %e, "API version negotiation failed");
                Err(e)
            }
        }
    }

    /// Starts a driver on an already connected stream, without negotiating
    /// (see [`Connection::negotiate`]).
    pub fn from_stream(stream: BoxStream, broker: &str, config: ConnectionConfig, stats: Arc<BrokerStats>) -> Connection {
        let broker: Arc<str> = Arc::from(broker);
        let max_in_flight = config.max_in_flight.max(1);
        let (tx, rx) = mpsc::channel(max_in_flight);
        let id = NEXT_CONNECTION_ID.fetch_add(1, Ordering::Relaxed);
        let driver_config = DriverConfig {
            broker: broker.clone(),
            connection_id: id,
            max_response_bytes: config.max_response_bytes,
            idle_timeout: config.idle_timeout,
            response_maps: config.response_maps.clone(),
        };
        let span = tracing::debug_span!("connection", broker = %broker);
        tokio::spawn(tracing::Instrument::instrument(driver::run(stream, rx, driver_config, stats.clone()), span));
        Connection {
            shared: Arc::new(Shared {
                id,
                broker,
                config,
                requests: tx,
                slots: Arc::new(Semaphore::new(max_in_flight)),
                next_correlation_id: AtomicI32::new(0),
                versions: OnceLock::new(),
                stats,
                reauth_gate: tokio::sync::RwLock::new(()),
            }),
            bypass_gate: false,
        }
    }

    /// Negotiates API versions on a connection made with [`Connection::from_stream`].
    pub async fn negotiate(&self) -> Result<&ApiVersions> {
        if self.shared.versions.get().is_none() {
            let versions = crate::negotiate::negotiate(self).await?;
            let _ = self.shared.versions.set(versions);
        }
        self.shared.versions.get().ok_or(Error::Closed)
    }

    /// `host:port` of the broker.
    pub fn broker(&self) -> &str {
        &self.shared.broker
    }

    /// The negotiated versions (`None` before negotiation).
    pub fn api_versions(&self) -> Option<&ApiVersions> {
        self.shared.versions.get()
    }

    /// Tells this connection from every other one opened in this process
    /// (clones share it): the producer keeps a partition's batches on the
    /// connection its earlier batches still wait on.
    pub(crate) fn id(&self) -> u64 {
        self.shared.id
    }

    /// Whether the driver has stopped (closed, failed or idle); a closed
    /// connection is replaced, never reused.
    pub fn is_closed(&self) -> bool {
        self.shared.requests.is_closed()
    }

    /// Requests written and not yet answered, plus those waiting for a slot's turn.
    pub fn in_flight(&self) -> usize {
        self.shared.config.max_in_flight.max(1).saturating_sub(self.shared.slots.available_permits())
    }

    /// Sends `request` at the negotiated version and waits for the response.
    pub async fn send<R: Request>(&self, request: &R) -> Result<R::Response> {
        let version = self.version_for(R::API_KEY)?;
        self.send_version(request, version).await
    }

    /// The version [`send`](Self::send) uses for `api`.
    pub fn version_for(&self, api: ApiKey) -> Result<i16> {
        match self.shared.versions.get() {
            Some(versions) => versions.version_for(api),
            None => Err(Error::ConnectionClosed {
                broker: self.broker().to_string(),
                reason: "API versions were not negotiated on this connection".to_string(),
            }),
        }
    }

    /// Sends `request` at `version` and waits for the response.
    pub async fn send_version<R: Request>(&self, request: &R, version: i16) -> Result<R::Response> {
        self.enqueue(request, version, true).await?.response::<R::Response>().await
    }

    /// Like [`send_version`](Self::send_version) with its own timeout instead of
    /// `request.timeout.ms`: a coordinator may hold a JoinGroup for up to the
    /// group's rebalance timeout before answering.
    pub async fn send_version_with_timeout<R: Request>(&self, request: &R, version: i16, timeout: Duration) -> Result<R::Response> {
        self.enqueue_with_timeout(request, version, true, timeout).await?.response::<R::Response>().await
    }

    /// Sends a request the broker does not answer (produce with acks=0);
    /// returns once it is written.
    pub async fn send_no_response<R: Request>(&self, request: &R, version: i16) -> Result<()> {
        self.round_trip(request, version, false).await.map(|_| ())
    }

    /// Encodes and sends; returns the correlation id and the response frame
    /// (header included; empty when no response is expected).
    pub(crate) async fn round_trip<R: Request>(&self, request: &R, version: i16, expect_response: bool) -> Result<(i32, Bytes)> {
        let pending = self.enqueue(request, version, expect_response).await?;
        let correlation_id = pending.correlation_id;
        Ok((correlation_id, pending.frame().await?))
    }

    /// Hands `request` to the connection's writer and returns without waiting
    /// for the answer: requests enqueued one after the other are written in
    /// that order (the producer relies on it to keep a partition's batches in
    /// sequence order while several are in flight).
    pub(crate) async fn enqueue<R: Request>(&self, request: &R, version: i16, expect_response: bool) -> Result<PendingResponse> {
        self.enqueue_with_timeout(request, version, expect_response, self.shared.config.request_timeout).await
    }

    /// Like [`enqueue`](Self::enqueue) with its own timeout instead of
    /// `request.timeout.ms` (the producer bounds a request by its batches'
    /// `delivery.timeout.ms`).
    pub(crate) async fn enqueue_with_timeout<R: Request>(
        &self,
        request: &R,
        version: i16,
        expect_response: bool,
        timeout: Duration,
    ) -> Result<PendingResponse> {
        let correlation_id = self.next_correlation_id();
        let header = RequestHeader {
            request_api_key: R::API_KEY.0,
            request_api_version: version,
            correlation_id,
            client_id: Some(self.shared.config.client_id.clone()),
            ..Default::default()
        };
        let frame = encode_request(&header, request, version).map_err(|source| Error::Encode { api: R::API_KEY, version, source })?;
        let handed = Handover { correlation_id, api: R::API_KEY, version, expect_response, raw: false, timeout };
        self.hand_over(frame.into(), handed).await
    }

    /// Like [`enqueue_with_timeout`](Self::enqueue_with_timeout) for a
    /// Produce request whose record sets go out as they are, not copied into
    /// the frame (see [`ProduceFrame`]).
    pub(crate) async fn enqueue_produce(
        &self,
        request: &ProduceFrame,
        version: i16,
        expect_response: bool,
        timeout: Duration,
    ) -> Result<PendingResponse> {
        let api = ApiKey::PRODUCE;
        let correlation_id = self.next_correlation_id();
        let header = RequestHeader {
            request_api_key: api.0,
            request_api_version: version,
            correlation_id,
            client_id: Some(self.shared.config.client_id.clone()),
            ..Default::default()
        };
        let frame = request.encode(&header, version).map_err(|source| Error::Encode { api, version, source })?;
        let handed = Handover { correlation_id, api, version, expect_response, raw: false, timeout };
        self.hand_over(frame, handed).await
    }

    /// Sends one raw SASL token and returns the broker's raw answer: after
    /// SaslHandshake v0 (brokers before 1.0, without KIP-152's
    /// SaslAuthenticate) the tokens travel as `[i32 size][token]` frames
    /// without request or response headers.
    pub(crate) async fn send_raw_sasl_token(&self, token: &[u8]) -> Result<Bytes> {
        let size = i32::try_from(token.len()).map_err(|_| Error::Io {
            broker: self.broker().to_string(),
            source: Arc::new(std::io::Error::other("SASL token larger than a Kafka frame")),
        })?;
        let mut frame = BytesMut::with_capacity(4 + token.len());
        frame.extend_from_slice(&size.to_be_bytes());
        frame.extend_from_slice(token);
        let handed = Handover {
            correlation_id: -1,
            api: ApiKey::SASL_HANDSHAKE,
            version: 0,
            expect_response: true,
            raw: true,
            timeout: self.shared.config.request_timeout,
        };
        self.hand_over(frame.into(), handed).await?.frame().await
    }

    async fn hand_over(&self, frame: FrameParts, h: Handover) -> Result<PendingResponse> {
        let not_sent = || Error::NotSent { broker: self.broker().to_string(), reason: "the connection is closed".to_string() };
        // Held until the request is handed over: a re-authentication waits for it.
        let gate = if self.bypass_gate { None } else { Some(self.shared.reauth_gate.read().await) };
        // One in-flight slot per request, held until it is answered (or failed).
        let permit = self.shared.slots.clone().acquire_owned().await.map_err(|_| not_sent())?;
        let (tx, rx) = oneshot::channel();
        let outgoing = Outgoing {
            frame,
            correlation_id: h.correlation_id,
            api: h.api,
            expect_response: h.expect_response,
            raw: h.raw,
            timeout: h.timeout,
            responder: tx,
            permit,
        };
        self.shared.requests.send(outgoing).await.map_err(|_| not_sent())?;
        drop(gate);
        Ok(PendingResponse { connection: self.clone(), correlation_id: h.correlation_id, version: h.version, rx })
    }

    fn next_correlation_id(&self) -> i32 {
        // Wraps to 0 after i32::MAX (never negative, as Java does).
        let id = self.shared.next_correlation_id.fetch_add(1, Ordering::Relaxed);
        id & i32::MAX
    }
}

/// What the driver needs to know of a frame besides its bytes.
struct Handover {
    correlation_id: i32,
    api: ApiKey,
    version: i16,
    expect_response: bool,
    raw: bool,
    timeout: Duration,
}

/// A request handed to the connection ([`Connection::enqueue`]) whose answer is still to come.
#[derive(Debug)]
pub(crate) struct PendingResponse {
    connection: Connection,
    correlation_id: i32,
    version: i16,
    rx: oneshot::Receiver<Result<Bytes>>,
}

impl PendingResponse {
    /// The response frame (header included; empty when none is expected).
    async fn frame(self) -> Result<Bytes> {
        let broker = self.connection.broker().to_string();
        self.rx.await.map_err(|_| Error::ConnectionClosed { broker, reason: "the connection task ended".to_string() })?
    }

    /// Waits for the answer and decodes it (checking the correlation id).
    pub(crate) async fn response<Resp: rill_protocol::message::Response>(self) -> Result<Resp> {
        let (connection, correlation_id, version) = (self.connection.clone(), self.correlation_id, self.version);
        let frame = self.frame().await?;
        // The driver matched the frame's first four bytes already; this is the decoded view of them.
        let (header, body) =
            decode_response::<Resp>(&frame, version).map_err(|source| Error::Decode { broker: connection.broker().to_string(), source })?;
        if header.correlation_id != correlation_id {
            return Err(Error::CorrelationMismatch {
                broker: connection.broker().to_string(),
                expected: correlation_id,
                received: header.correlation_id,
            });
        }
        Ok(body)
    }

    /// Waits until a request that expects no answer was written.
    pub(crate) async fn written(self) -> Result<()> {
        self.frame().await.map(|_| ())
    }
}
