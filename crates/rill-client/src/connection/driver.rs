//! The task that owns one broker connection's socket.
//!
//! Callers hand it encoded request frames over an mpsc channel; it writes
//! them in order (pipelining up to the in-flight cap the handle enforces),
//! reads size-prefixed response frames with [`FrameDecoder`] (the size is
//! checked against `max_response_bytes` before anything is buffered), and
//! answers each caller in order. Any protocol failure, timeout or I/O error
//! closes the connection and fails everything pending with an error that
//! names the broker.

use std::io::IoSlice;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use rill_protocol::frame::{FrameDecoder, FrameError};
use rill_protocol::frame_parts::FrameParts;
use rill_protocol::ApiKey;
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::{mpsc, OwnedSemaphorePermit};
use tokio::time::Instant;
use tracing::debug;

use super::in_flight::{InFlight, Pending, Responder};
use super::large_frame::{LargeFrame, MapPool};
use crate::error::Error;
use crate::stats::BrokerStats;
use crate::transport::BoxStream;

/// One request for the driver.
#[derive(Debug)]
pub(crate) struct Outgoing {
    /// The whole frame, size prefix included (a Produce request's batches
    /// as pieces of their own).
    pub frame: FrameParts,
    pub correlation_id: i32,
    pub api: ApiKey,
    /// `false` for requests the broker does not answer (produce with acks=0):
    /// the caller is answered with an empty frame once the bytes are written.
    pub expect_response: bool,
    /// A raw SASL token (after SaslHandshake v0): the frame has no request
    /// header and its answer, the next frame, none either.
    pub raw: bool,
    pub timeout: Duration,
    pub responder: Responder,
    pub permit: OwnedSemaphorePermit,
}

/// Settings of one driver.
#[derive(Debug, Clone)]
pub(crate) struct DriverConfig {
    pub broker: Arc<str>,
    pub connection_id: u64,
    pub max_response_bytes: usize,
    /// `Duration::ZERO`: never close for idleness.
    pub idle_timeout: Duration,
    pub response_maps: MapPool,
}

/// Why the driver stopped.
enum Stop {
    /// Every handle is gone and nothing is pending.
    Done,
    Idle,
    Failed(Box<(Error, Error)>),
}

pub(crate) async fn run(stream: BoxStream, mut requests: mpsc::Receiver<Outgoing>, config: DriverConfig, stats: Arc<BrokerStats>) {
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut in_flight = InFlight::default();
    let stop = drive(&mut reader, &mut writer, &mut requests, &mut in_flight, &config, &stats).await;
    let broker = config.broker.to_string();
    let (first, rest) = match stop {
        Stop::Done => {
            debug!(broker = %broker, "connection closed: no more users");
            (closed(&broker, "the client dropped the connection"), closed(&broker, "the client dropped the connection"))
        }
        Stop::Idle => {
            debug!(broker = %broker, idle = ?config.idle_timeout, "closing idle connection");
            (closed(&broker, "idle"), closed(&broker, "idle"))
        }
        Stop::Failed(errors) => {
            let (first, rest) = *errors;
            debug!(broker = %broker, error = %first, "connection failed");
            stats.error();
            (first, rest)
        }
    };
    stats.disconnected();
    in_flight.fail_all(first, &rest);
    // Requests queued but never written: fail them with the same reason.
    requests.close();
    let reason = rest.to_string();
    while let Ok(outgoing) = requests.try_recv() {
        let _ = outgoing.responder.send(Err(Error::NotSent { broker: broker.clone(), reason: reason.clone() }));
    }
    let _ = writer.shutdown().await;
}

fn closed(broker: &str, reason: &str) -> Error {
    Error::ConnectionClosed { broker: broker.to_string(), reason: reason.to_string() }
}

/// Frames larger than this are read into memory of their own ([`LargeFrame`]).
const OWN_ALLOCATION_BYTES: usize = 1024 * 1024;

async fn drive(
    reader: &mut ReadHalf<BoxStream>,
    writer: &mut WriteHalf<BoxStream>,
    requests: &mut mpsc::Receiver<Outgoing>,
    in_flight: &mut InFlight,
    config: &DriverConfig,
    stats: &BrokerStats,
) -> Stop {
    let broker: &str = &config.broker;
    let mut decoder = FrameDecoder::new(config.max_response_bytes);
    let mut buf = BytesMut::with_capacity(8 * 1024);
    // The frame being read into memory of its own, if it is a large one.
    let mut large: Option<LargeFrame> = None;
    let mut last_activity = Instant::now();
    let mut handles_gone = false;
    loop {
        if handles_gone && in_flight.is_empty() {
            return Stop::Done;
        }
        let deadline = in_flight.next_deadline();
        let idle_at =
            (!config.idle_timeout.is_zero() && in_flight.is_empty() && !handles_gone).then(|| last_activity + config.idle_timeout);
        // Reserve what the current frame needs (bounded by the cap the
        // decoder enforces). `buf` holds nothing past the start of that frame:
        // the decoder stops asking for bytes only at an incomplete frame.
        let needed = decoder.needed();
        if large.is_none() && needed > OWN_ALLOCATION_BYTES {
            large = LargeFrame::new(buf.len() + needed, &buf, &config.response_maps, config.connection_id);
            if large.is_some() {
                buf.clear();
            } else if buf.capacity() != buf.len() + needed {
                // No map to be had: an allocation of exactly the frame's
                // size, freed with its last slice. Growing the one buffer
                // instead (BytesMut reuses the tail of an allocation or
                // doubles it) read each frame next to the pages of earlier
                // ones, which stayed resident.
                let mut own = BytesMut::with_capacity(buf.len() + needed);
                own.extend_from_slice(&buf);
                buf = own;
            }
        } else if large.is_none() {
            buf.reserve(needed.max(4096));
        }
        tokio::select! {
            biased;
            read = read_some(reader, &mut buf, large.as_mut()) => {
                match read {
                    Ok(0) => {
                        let reason = match (&large, decoder.finish(&buf)) {
                            (Some(frame), _) => {
                                let (have, expected) = frame.progress();
                                Error::Frame { broker: broker.to_string(), source: FrameError::Truncated { have, expected } }
                            }
                            (None, Err(source)) => Error::Frame { broker: broker.to_string(), source },
                            (None, Ok(())) => closed(broker, "the broker closed the connection"),
                        };
                        return Stop::Failed(Box::new((reason.clone(), reason)));
                    }
                    Ok(_) => {}
                    Err(e) => {
                        let e = Error::io(broker, e);
                        return Stop::Failed(Box::new((e.clone(), e)));
                    }
                }
                last_activity = Instant::now();
                if large.is_some() {
                    if let Some(frame) = large.take_if(|f| f.is_complete()) {
                        decoder.frame_completed_elsewhere();
                        if let Err(stop) = deliver(frame.into_body(), in_flight, broker, stats) {
                            return stop;
                        }
                    }
                    continue;
                }
                loop {
                    match decoder.decode(&mut buf) {
                        Ok(Some(frame)) => {
                            if let Err(stop) = deliver(frame, in_flight, broker, stats) {
                                return stop;
                            }
                        }
                        Ok(None) => break,
                        Err(source) => {
                            let e = Error::Frame { broker: broker.to_string(), source };
                            return Stop::Failed(Box::new((e.clone(), e)));
                        }
                    }
                }
            }
            _ = sleep_until_opt(deadline.map(|(d, _)| d)) => {
                if let Some(pending) = in_flight.take_earliest() {
                    let timeout = pending.deadline.saturating_duration_since(pending.sent_at);
                    stats.timeout();
                    let e = Error::RequestTimeout { broker: broker.to_string(), api: pending.api, timeout };
                    debug!(broker, api = %pending.api, correlation_id = pending.correlation_id, "request timed out");
                    let _ = pending.responder.send(Err(e.clone()));
                    let rest = closed(broker, &format!("an earlier {} request timed out", pending.api));
                    return Stop::Failed(Box::new((rest.clone(), rest)));
                }
            }
            _ = sleep_until_opt(idle_at) => {
                return Stop::Idle;
            }
            outgoing = requests.recv(), if !handles_gone => {
                let Some(mut outgoing) = outgoing else {
                    handles_gone = true;
                    continue;
                };
                let now = Instant::now();
                let deadline = now + outgoing.timeout;
                let len = outgoing.frame.len();
                match tokio::time::timeout_at(deadline, write_frame(writer, &mut outgoing.frame)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        let e = Error::io(broker, e);
                        let _ = outgoing.responder.send(Err(e.clone()));
                        return Stop::Failed(Box::new((e.clone(), e)));
                    }
                    Err(_) => {
                        stats.timeout();
                        let e = Error::RequestTimeout { broker: broker.to_string(), api: outgoing.api, timeout: outgoing.timeout };
                        let _ = outgoing.responder.send(Err(e));
                        let rest = closed(broker, "a request could not be written in time");
                        return Stop::Failed(Box::new((rest.clone(), rest)));
                    }
                }
                if let Err(e) = writer.flush().await {
                    let e = Error::io(broker, e);
                    let _ = outgoing.responder.send(Err(e.clone()));
                    return Stop::Failed(Box::new((e.clone(), e)));
                }
                stats.request_sent();
                stats.bytes_sent(len);
                last_activity = now;
                if outgoing.expect_response {
                    in_flight.push(Pending {
                        correlation_id: outgoing.correlation_id,
                        api: outgoing.api,
                        raw: outgoing.raw,
                        sent_at: now,
                        deadline,
                        responder: outgoing.responder,
                        permit: outgoing.permit,
                    });
                } else {
                    let _ = outgoing.responder.send(Ok(Bytes::new()));
                }
            }
        }
    }
}

/// Writes a whole frame, its pieces in vectored writes (one system call for
/// a request and the batches it refers to, where the stream takes them).
async fn write_frame(writer: &mut WriteHalf<BoxStream>, frame: &mut FrameParts) -> std::io::Result<()> {
    // Slices per call: 256 pieces are 128 batches' worth, or a megabyte of
    // 4 KiB ones; the kernel takes up to 1024 (IOV_MAX).
    const SLICES: usize = 256;
    while frame.has_remaining() {
        let written = {
            let mut slices = [IoSlice::new(&[]); SLICES];
            let n = frame.chunks_vectored(&mut slices);
            writer.write_vectored(slices.get(..n).unwrap_or_default()).await?
        };
        if written == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        frame.advance(written);
    }
    Ok(())
}

/// Reads what the socket has into the large frame being read, or else into `buf`.
/// Cancel-safe, as the reads it wraps: nothing is consumed unless it returns.
async fn read_some(reader: &mut ReadHalf<BoxStream>, buf: &mut BytesMut, large: Option<&mut LargeFrame>) -> std::io::Result<usize> {
    match large {
        Some(frame) => {
            let n = reader.read(frame.unfilled()).await?;
            frame.advance(n);
            Ok(n)
        }
        None => reader.read_buf(buf).await,
    }
}

/// Hands a response frame to the oldest pending request.
fn deliver(frame: Bytes, in_flight: &mut InFlight, broker: &str, stats: &BrokerStats) -> Result<(), Stop> {
    match in_flight.complete(&frame) {
        Ok(pending) => {
            stats.response(frame.len() + 4, pending.sent_at.elapsed());
            drop(pending.permit);
            let _ = pending.responder.send(Ok(frame));
            Ok(())
        }
        Err(mismatch) => {
            let e = match mismatch.expected {
                Some(expected) => Error::CorrelationMismatch { broker: broker.to_string(), expected, received: mismatch.received },
                None => closed(broker, &format!("protocol error: unsolicited response with correlation id {}", mismatch.received)),
            };
            let rest = closed(broker, "protocol error (correlation id mismatch)");
            Err(Stop::Failed(Box::new((e, rest))))
        }
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
