//! Sans-IO Apache Kafka wire protocol.
//!
//! This crate turns bytes into typed Kafka messages and back. It owns no
//! sockets, no clocks and no runtime: a driver (the client, the simulated
//! broker, a fuzzer) hands it bytes and gets values, or a typed error that says
//! which API, version and field failed.
//!
//! Rules every decoder here keeps, whatever a peer sends:
//! - no panics, no indexing on peer data;
//! - a length or count is checked against the bytes that remain *before*
//!   anything is allocated for it;
//! - record data of uncompressed batches is handed out as `bytes::Bytes`
//!   slices of the input buffer (zero copy).
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic))]

pub mod api_key;
pub mod checksum;
pub mod codec;
pub mod compression;
pub mod error;
pub mod error_code;
pub mod frame;
pub mod frame_parts;
pub mod message;
pub mod messages;
pub mod produce_frame;
pub mod records;

pub use api_key::ApiKey;
pub use checksum::crc32c;
pub use codec::{Reader, Uuid};
pub use error::{DecodeError, DecodeErrorKind, EncodeError};
pub use error_code::ErrorCode;
pub use message::{Message, Request, Response, VersionRange};
