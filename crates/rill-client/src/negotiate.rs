//! ApiVersions negotiation (KIP-35, KIP-511).
//!
//! Right after connecting, the client sends ApiVersionsRequest v3 (with its
//! software name and version). A broker that does not know that version
//! answers UNSUPPORTED_VERSION with a v0-format body listing its own
//! ApiVersions range; the client then retries with the highest version both
//! know. The result is, per API, the highest version both sides support.

use std::collections::BTreeMap;

use bytes::Bytes;
use rill_protocol::message::{decode_response, Message};
use rill_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};
use rill_protocol::{ApiKey, ErrorCode, VersionRange};
use tracing::debug;

use crate::connection::Connection;
use crate::error::{Error, Result};

/// The ApiVersions version tried first.
pub const INITIAL_API_VERSIONS_VERSION: i16 = 3;

/// What a broker supports, and what this client will use with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiVersions {
    broker: String,
    /// The broker's ranges, by API key (unknown keys included).
    theirs: BTreeMap<i16, VersionRange>,
    /// The ApiVersions version the answer was obtained with.
    pub negotiated_with: i16,
}

impl ApiVersions {
    /// From a broker's (successful) ApiVersions response.
    pub fn from_response(broker: &str, response: &ApiVersionsResponse, negotiated_with: i16) -> Self {
        let theirs = response.api_keys.iter().map(|k| (k.api_key, VersionRange::new(k.min_version, k.max_version))).collect();
        ApiVersions { broker: broker.to_string(), theirs, negotiated_with }
    }

    /// APIs the broker listed.
    pub fn len(&self) -> usize {
        self.theirs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.theirs.is_empty()
    }

    /// The broker's range for `api`.
    pub fn broker_range(&self, api: ApiKey) -> Option<VersionRange> {
        self.theirs.get(&api.0).copied()
    }

    /// The highest version of `api` both sides support, or an error naming
    /// the API and both ranges.
    pub fn version_for(&self, api: ApiKey) -> Result<i16> {
        let ours = api.supported_versions();
        let theirs = self.broker_range(api);
        match (ours, theirs) {
            (Some(o), Some(t)) if o.min <= t.max && t.min <= o.max => Ok(o.max.min(t.max)),
            _ => Err(Error::UnsupportedVersion { broker: self.broker.clone(), api, ours, theirs }),
        }
    }

    /// Every API both sides know, with the version that will be used (or
    /// `None` when the ranges do not overlap), in API key order.
    pub fn negotiated(&self) -> Vec<(ApiKey, Option<i16>)> {
        self.theirs.keys().map(|k| ApiKey(*k)).filter(|k| k.supported_versions().is_some()).map(|k| (k, self.version_for(k).ok())).collect()
    }
}

/// The request rill sends.
pub fn request() -> ApiVersionsRequest {
    ApiVersionsRequest {
        client_software_name: "rill".to_string(),
        client_software_version: env!("CARGO_PKG_VERSION").to_string(),
        ..Default::default()
    }
}

/// Decodes an ApiVersions answer to a request sent at `version`. A broker
/// that rejects the version answers with a v0 body, so an answer that does
/// not decode at `version` is read again at v0.
pub fn decode(broker: &str, frame: &Bytes, version: i16) -> Result<ApiVersionsResponse> {
    match decode_response::<ApiVersionsResponse>(frame, version) {
        Ok((_, body)) => Ok(body),
        Err(first) if version > 0 => match decode_response::<ApiVersionsResponse>(frame, 0) {
            Ok((_, body)) if body.error_code == ErrorCode::UNSUPPORTED_VERSION.0 => Ok(body),
            _ => Err(Error::Decode { broker: broker.to_string(), source: first }),
        },
        Err(source) => Err(Error::Decode { broker: broker.to_string(), source }),
    }
}

/// Runs the negotiation on a fresh connection.
pub async fn negotiate(connection: &Connection) -> Result<ApiVersions> {
    let broker = connection.broker().to_string();
    let ours = ApiVersionsRequest::VERSIONS;
    let mut version = INITIAL_API_VERSIONS_VERSION.min(ours.max);
    let body = request();
    for _attempt in 0..3 {
        let (_, frame) = connection.round_trip(&body, version, true).await?;
        let response = decode(&broker, &frame, version)?;
        let code = ErrorCode(response.error_code);
        if code.is_none() {
            return Ok(ApiVersions::from_response(&broker, &response, version));
        }
        if code != ErrorCode::UNSUPPORTED_VERSION {
            return Err(Error::Kafka { broker, context: "ApiVersions".to_string(), code, message: None });
        }
        // KIP-511: the error response lists the broker's ApiVersions range.
        let theirs =
            response.api_keys.iter().find(|k| k.api_key == ApiKey::API_VERSIONS.0).map(|k| VersionRange::new(k.min_version, k.max_version));
        let next = match theirs {
            Some(t) if t.max >= ours.min && t.min <= ours.max => t.max.min(ours.max),
            // A broker too old to say: v0 is understood by every broker.
            None if version > 0 => 0,
            _ => {
                return Err(Error::UnsupportedVersion { broker, api: ApiKey::API_VERSIONS, ours: Some(ours), theirs });
            }
        };
        if next >= version {
            // The broker claims support for what it just rejected: do not loop.
            return Err(Error::UnsupportedVersion { broker, api: ApiKey::API_VERSIONS, ours: Some(ours), theirs });
        }
        debug!(broker = %broker, rejected = version, retry = next, "broker rejected ApiVersions version; retrying");
        version = next;
    }
    Err(Error::UnsupportedVersion { broker, api: ApiKey::API_VERSIONS, ours: Some(ours), theirs: None })
}
