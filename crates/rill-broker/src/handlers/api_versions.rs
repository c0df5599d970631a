//! ApiVersions (key 18), versions 0-4.
//!
//! Lists every API and version range this broker serves
//! (`handlers::SUPPORTED`). A request of a newer version than 4 is answered
//! at v0 with UNSUPPORTED_VERSION and the same list (KIP-511), which the
//! connection does before decoding the body.

use rill_protocol::messages::api_versions_response::ApiVersion;
use rill_protocol::messages::ApiVersionsResponse;
use rill_protocol::{ErrorCode, VersionRange};

pub(crate) const VERSIONS: VersionRange = VersionRange::new(0, 4);
pub(crate) const MAX_VERSION: i16 = VERSIONS.max;

pub(crate) fn handle() -> ApiVersionsResponse {
    ApiVersionsResponse {
        error_code: ErrorCode::NONE.0,
        api_keys: super::SUPPORTED
            .iter()
            .map(|(key, range)| ApiVersion { api_key: key.0, min_version: range.min, max_version: range.max, ..Default::default() })
            .collect(),
        ..Default::default()
    }
}

pub(crate) fn unsupported_version() -> ApiVersionsResponse {
    ApiVersionsResponse { error_code: ErrorCode::UNSUPPORTED_VERSION.0, ..handle() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rill_protocol::ApiKey;

    #[test]
    fn lists_every_served_api() {
        let r = handle();
        assert_eq!(r.error_code, 0);
        let produce = r.api_keys.iter().find(|k| k.api_key == ApiKey::PRODUCE.0).unwrap();
        assert_eq!((produce.min_version, produce.max_version), (3, 11));
        assert!(r.api_keys.iter().any(|k| k.api_key == ApiKey::API_VERSIONS.0 && k.max_version == 4));
        assert_eq!(unsupported_version().error_code, ErrorCode::UNSUPPORTED_VERSION.0);
    }
}
