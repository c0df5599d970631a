//! Round trips of every generated message at every version:
//! - encode then decode gives the same value;
//! - decoding then re-encoding gives the same bytes;
//! - `encoded_len` equals the bytes written;
//! - every truncation of the encoding is an `Err` (never a panic);
//! - corrupted encodings never panic.
//!
//! The list of messages is generated (`message_round_trip/generated.rs`).

use bytes::{Bytes, BytesMut};
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use rill_protocol::message::decode_exact;
use rill_protocol::messages::*;
use rill_protocol::Message;

/// Cases per (message, version); override with `RILL_ROUND_TRIP_CASES`.
fn cases() -> u32 {
    std::env::var("RILL_ROUND_TRIP_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(24)
}

fn check_value<M: Message + PartialEq + std::fmt::Debug>(value: &M, version: i16) -> Result<(), TestCaseError> {
    let mut buf = BytesMut::new();
    value.encode(&mut buf, version).map_err(|e| TestCaseError::fail(format!("{} v{version}: encode failed: {e}", M::NAME)))?;
    let len = value.encoded_len(version).map_err(|e| TestCaseError::fail(format!("encoded_len: {e}")))?;
    if len != buf.len() {
        return Err(TestCaseError::fail(format!("{} v{version}: encoded_len {len} but encode wrote {}", M::NAME, buf.len())));
    }
    let bytes: Bytes = buf.freeze();
    let decoded: M = decode_exact(&bytes, version, "test")
        .map_err(|e| TestCaseError::fail(format!("{} v{version}: decode failed: {e}\nbytes: {bytes:02x?}", M::NAME)))?;
    if &decoded != value {
        return Err(TestCaseError::fail(format!("{} v{version}: decoded value differs\n  sent: {value:?}\n  got:  {decoded:?}", M::NAME)));
    }
    let mut again = BytesMut::new();
    decoded.encode(&mut again, version).map_err(|e| TestCaseError::fail(format!("re-encode: {e}")))?;
    if again.as_ref() != bytes.as_ref() {
        return Err(TestCaseError::fail(format!("{} v{version}: re-encoded bytes differ", M::NAME)));
    }
    for cut in 0..bytes.len() {
        let prefix = bytes.slice(..cut);
        if decode_exact::<M>(&prefix, version, "test").is_ok() {
            return Err(TestCaseError::fail(format!("{} v{version}: a {cut}-byte prefix of {} bytes decoded", M::NAME, bytes.len())));
        }
    }
    // Corrupted bytes decode to a value or an error, never a panic; a value
    // that decodes can be encoded again.
    let step = bytes.len() / 48 + 1;
    for at in (0..bytes.len()).step_by(step) {
        for mask in [0xffu8, 0x80, 0x01] {
            let mut bad = bytes.to_vec();
            if let Some(b) = bad.get_mut(at) {
                *b ^= mask;
            }
            if let Ok(v) = decode_exact::<M>(&Bytes::from(bad), version, "test") {
                let _ = v.encode(&mut BytesMut::new(), version);
            }
        }
    }
    Ok(())
}

fn check_all_versions<M, S>(strategy: impl Fn(i16) -> S)
where
    M: Message + PartialEq + Clone + Default + std::fmt::Debug,
    S: proptest::strategy::Strategy<Value = M>,
{
    for version in M::VERSIONS.iter() {
        let mut runner = TestRunner::new(Config { cases: cases(), failure_persistence: None, ..Config::default() });
        let result = runner.run(&strategy(version), |value| check_value(&value, version));
        if let Err(e) = result {
            panic!("{} v{version}: {e}", M::NAME);
        }
        // A version outside the range is refused both ways.
        let mut buf = BytesMut::new();
        assert!(M::default().encode(&mut buf, M::VERSIONS.max + 1).is_err());
    }
}

macro_rules! round_trip_tests {
    ($($name:ident: $ty:ident,)*) => {$(
        #[test]
        fn $name() {
            check_all_versions::<$ty, _>($ty::arbitrary);
        }
    )*};
}

include!("message_round_trip/generated.rs");
