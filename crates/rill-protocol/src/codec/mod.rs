//! Primitive encoding shared by every message and record batch.
//!
//! Decoding goes through [`Reader`], a cursor over a borrowed [`bytes::Bytes`]
//! that never indexes and checks every length against what remains. Encoding
//! goes through the [`Writer`] extension trait on any [`bytes::BufMut`].

mod reader;
mod uuid;
mod varint;
mod writer;

pub use reader::Reader;
pub use uuid::Uuid;
pub use varint::{uvarint_len, varint_len, varlong_len, zigzag32, zigzag64};
pub use writer::Writer;

/// An unknown tagged field, kept so it round-trips byte for byte.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RawTaggedField {
    pub tag: u32,
    pub data: bytes::Bytes,
}
