//! One client connection: read frames, decode requests, answer in order.
//!
//! Requests on a connection are handled one at a time and answered in the
//! order they came (Kafka's per-connection ordering; a waiting acks=all
//! produce or long-polling fetch holds the connection's later requests).
//! Any frame that is not a valid request of a supported version closes the
//! connection with an error, except an ApiVersions request of a version
//! this broker does not know, which is answered at v0 with
//! UNSUPPORTED_VERSION and the supported ranges (KIP-511), so the client can
//! retry at a version both know.

use std::fmt;
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use rill_protocol::frame::{FrameDecoder, FrameError};
use rill_protocol::message::{decode_request, decode_request_header};
use rill_protocol::messages::{ResponseBody, ResponseHeader};
use rill_protocol::{ApiKey, DecodeError, EncodeError, Message, Reader};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::broker::Shared;
use crate::faults::Interception;
use crate::handlers;

/// Why a connection was closed by the broker.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConnectionError {
    Io(std::io::Error),
    /// The byte stream is not Kafka frames (size, TLS/HTTP peer, torn frame).
    Frame(FrameError),
    /// A frame is not a valid request.
    Decode(DecodeError),
    /// A request of an API or version this broker does not serve.
    Unsupported {
        api_key: i16,
        version: i16,
    },
    /// A response could not be encoded (a broker bug, reported rather than panicking).
    Encode(EncodeError),
}

impl fmt::Display for ConnectionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectionError::Io(e) => write!(f, "connection I/O error: {e}"),
            ConnectionError::Frame(e) => write!(f, "bad frame from client: {e}"),
            ConnectionError::Decode(e) => write!(f, "bad request from client: {e}"),
            ConnectionError::Unsupported { api_key, version } => {
                write!(f, "unsupported request: {} v{version}", ApiKey(*api_key).name())
            }
            ConnectionError::Encode(e) => write!(f, "could not encode response: {e}"),
        }
    }
}

impl std::error::Error for ConnectionError {}

/// The most buffer grown for a frame before its bytes arrive.
const RESERVE_MAX_BYTES: usize = 1 << 20;

pub(crate) async fn serve<S: AsyncRead + AsyncWrite + Send + Unpin>(shared: Arc<Shared>, stream: S) -> Result<(), ConnectionError> {
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut decoder = FrameDecoder::new(shared.config.max_request_bytes);
    let mut buf = BytesMut::with_capacity(8 * 1024);
    loop {
        while let Some(frame) = decoder.decode(&mut buf).map_err(ConnectionError::Frame)? {
            if let Some(response) = handle_frame(&shared, frame).await? {
                writer.write_all(&response).await.map_err(ConnectionError::Io)?;
            }
        }
        // Room for the rest of the frame, up to 1 MiB more at a time: a
        // size prefix alone (up to the frame cap, 100 MiB) reserved it all
        // at once, so a client could hold that much with 4 bytes and stall.
        buf.reserve(decoder.needed().clamp(4096, RESERVE_MAX_BYTES));
        let n = reader.read_buf(&mut buf).await.map_err(ConnectionError::Io)?;
        if n == 0 {
            return if buf.is_empty() {
                Ok(())
            } else {
                Err(ConnectionError::Frame(FrameError::Truncated { have: buf.len(), expected: buf.len() + decoder.needed() }))
            };
        }
    }
}

/// Decodes, handles and encodes one request; `None` when no response is due (acks=0).
async fn handle_frame(shared: &Shared, frame: Bytes) -> Result<Option<BytesMut>, ConnectionError> {
    let (header, body) = match decode_request(&frame) {
        Ok(decoded) => decoded,
        Err(e) => {
            let mut r = Reader::new(&frame);
            if let Ok(h) = decode_request_header(&mut r) {
                if h.request_api_key == ApiKey::API_VERSIONS.0 && h.request_api_version > handlers::api_versions::MAX_VERSION {
                    let body = handlers::api_versions::unsupported_version();
                    return encode(h.correlation_id, &ResponseBody::ApiVersions(body), 0).map(Some);
                }
            }
            return Err(ConnectionError::Decode(e));
        }
    };
    let (key, version) = (header.request_api_key, header.request_api_version);
    if !handlers::supported(ApiKey(key)).is_some_and(|r| r.contains(version)) {
        if key == ApiKey::API_VERSIONS.0 {
            let body = handlers::api_versions::unsupported_version();
            return encode(header.correlation_id, &ResponseBody::ApiVersions(body), 0).map(Some);
        }
        return Err(ConnectionError::Unsupported { api_key: key, version });
    }
    let injected = match shared.interceptor().map(|i| i.intercept(shared.me(), ApiKey(key), version)) {
        None | Some(Interception::Pass) => None,
        Some(Interception::Delay(d)) => {
            tokio::time::sleep(d).await;
            None
        }
        Some(Interception::Fail(code)) => Some(code),
        Some(Interception::DelayThenFail(d, code)) => {
            tokio::time::sleep(d).await;
            Some(code)
        }
    };
    // An injected error is answered without handling the request (APIs
    // without a per-request error shape are handled as usual).
    let response = match injected.and_then(|code| handlers::error_response(&body, version, code)) {
        Some(refused) => Some(refused),
        None => handlers::dispatch(shared, &header, body).await,
    };
    match response {
        Some(body) => encode(header.correlation_id, &body, version).map(Some),
        None => Ok(None),
    }
}

/// Writes a response frame: size, header (v0 or v1 by API and version), body.
fn encode(correlation_id: i32, body: &ResponseBody, version: i16) -> Result<BytesMut, ConnectionError> {
    let header_version = body.api_key().response_header_version(version);
    let header = ResponseHeader { correlation_id, ..Default::default() };
    let len = header.encoded_len(header_version).map_err(ConnectionError::Encode)?
        + body.encoded_len(version).map_err(ConnectionError::Encode)?;
    let size = i32::try_from(len).map_err(|_| ConnectionError::Encode(EncodeError::TooLong { field: "frame.size", length: len }))?;
    let mut buf = BytesMut::with_capacity(4 + len);
    buf.put_i32(size);
    header.encode(&mut buf, header_version).map_err(ConnectionError::Encode)?;
    body.encode(&mut buf, version).map_err(ConnectionError::Encode)?;
    Ok(buf)
}
