//! Typed decode and encode errors.
//!
//! Every error names the field that failed (a static path such as
//! `FetchResponse.responses.partitions.records`); decoders of whole messages
//! add the API and version through [`DecodeError::in_message`].

use std::fmt;

/// What went wrong while decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// Fewer bytes remain than the field needs.
    MissingData { needed: usize, remaining: usize },
    /// A length prefix that must be non-negative (or -1 for null where allowed) is not.
    InvalidLength { length: i64 },
    /// An array or map count claims more elements than the remaining bytes can hold.
    CountTooLarge { count: u64, remaining: usize },
    /// A string is not valid UTF-8.
    InvalidUtf8,
    /// A varint runs past its maximum encoded length.
    VarintTooLong,
    /// A null was sent for a field that is not nullable at this version.
    UnexpectedNull,
    /// Bytes were left over inside a length-delimited structure that must be consumed exactly.
    TrailingBytes { remaining: usize },
    /// The version is not one this crate knows for the API.
    UnsupportedVersion,
    /// A value is out of its allowed range (e.g. a magic byte, a codec id).
    InvalidValue { value: i64 },
    /// A checksum did not match.
    CrcMismatch { expected: u32, actual: u32 },
    /// A size exceeds a configured cap (frame size, decompressed size).
    LimitExceeded { size: u64, limit: u64 },
    /// A compressed payload could not be decompressed.
    Decompress { codec: &'static str, reason: String },
}

/// A decode failure with the field, and (once known) the API and version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    pub kind: DecodeErrorKind,
    /// Static path of the field being read, e.g. `MetadataResponse.brokers.host`.
    pub field: &'static str,
    /// Message context: (api name, version, "request" | "response").
    pub context: Option<(&'static str, i16, &'static str)>,
}

impl DecodeError {
    pub fn new(kind: DecodeErrorKind, field: &'static str) -> Self {
        DecodeError { kind, field, context: None }
    }

    pub fn missing(field: &'static str, needed: usize, remaining: usize) -> Self {
        Self::new(DecodeErrorKind::MissingData { needed, remaining }, field)
    }

    /// Attach the message this error happened in (keeps the innermost one if already set).
    pub fn in_message(mut self, api: &'static str, version: i16, direction: &'static str) -> Self {
        if self.context.is_none() {
            self.context = Some((api, version, direction));
        }
        self
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some((api, version, dir)) = self.context {
            write!(f, "decoding {api} v{version} {dir}: ")?;
        } else {
            f.write_str("decoding: ")?;
        }
        write!(f, "field `{}`: ", self.field)?;
        match &self.kind {
            DecodeErrorKind::MissingData { needed, remaining } => {
                write!(f, "needs {needed} bytes but only {remaining} remain")
            }
            DecodeErrorKind::InvalidLength { length } => write!(f, "invalid length {length}"),
            DecodeErrorKind::CountTooLarge { count, remaining } => {
                write!(f, "count {count} is larger than the {remaining} remaining bytes can hold")
            }
            DecodeErrorKind::InvalidUtf8 => f.write_str("string is not valid UTF-8"),
            DecodeErrorKind::VarintTooLong => f.write_str("varint is longer than its maximum size"),
            DecodeErrorKind::UnexpectedNull => f.write_str("null is not allowed at this version"),
            DecodeErrorKind::TrailingBytes { remaining } => {
                write!(f, "{remaining} unexpected bytes left over")
            }
            DecodeErrorKind::UnsupportedVersion => f.write_str("unsupported version"),
            DecodeErrorKind::InvalidValue { value } => write!(f, "invalid value {value}"),
            DecodeErrorKind::CrcMismatch { expected, actual } => {
                write!(f, "CRC mismatch: header says {expected:#010x}, data has {actual:#010x}")
            }
            DecodeErrorKind::LimitExceeded { size, limit } => {
                write!(f, "size {size} exceeds the limit of {limit} bytes")
            }
            DecodeErrorKind::Decompress { codec, reason } => {
                write!(f, "{codec} decompression failed: {reason}")
            }
        }
    }
}

impl std::error::Error for DecodeError {}

/// An encode failure: the value cannot be represented at the requested version.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// The API has no such version.
    UnsupportedVersion { api: &'static str, version: i16 },
    /// A field holds a non-default value but does not exist at this version
    /// (Kafka's Java code raises UnsupportedVersionException for the same case).
    FieldNotInVersion { field: &'static str, version: i16 },
    /// A null value for a field that is not nullable at this version.
    NullNotAllowed { field: &'static str, version: i16 },
    /// A string, byte array or array is longer than its length prefix can say.
    TooLong { field: &'static str, length: usize },
    /// Compression failed.
    Compress { codec: &'static str, reason: String },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::UnsupportedVersion { api, version } => {
                write!(f, "encoding {api}: version {version} is not supported")
            }
            EncodeError::FieldNotInVersion { field, version } => write!(
                f,
                "encoding field `{field}`: it has a non-default value but does not exist at version {version}; use a newer version or leave it at its default"
            ),
            EncodeError::NullNotAllowed { field, version } => {
                write!(f, "encoding field `{field}`: null is not allowed at version {version}")
            }
            EncodeError::TooLong { field, length } => {
                write!(f, "encoding field `{field}`: length {length} does not fit its length prefix")
            }
            EncodeError::Compress { codec, reason } => {
                write!(f, "{codec} compression failed: {reason}")
            }
        }
    }
}

impl std::error::Error for EncodeError {}
