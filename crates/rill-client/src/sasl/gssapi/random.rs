//! Randomness and wall-clock time for Kerberos. Keys, nonces and sequence
//! numbers must be unpredictable, so they come from the OS CSPRNG (ring),
//! not the client's seeded RNG; timestamps must be wall-clock UTC, because
//! the KDC and the broker check them against their own clocks (RFC 4120
//! section 1.6, five minutes of skew by default).

use std::time::{SystemTime, UNIX_EPOCH};

use ring::rand::{SecureRandom, SystemRandom};

use super::failure::Failure;
use crate::error::KerberosErrorKind;

pub(super) fn fill(bytes: &mut [u8]) -> Result<(), Failure> {
    SystemRandom::new()
        .fill(bytes)
        .map_err(|_| Failure::new(KerberosErrorKind::KdcError, "the OS gave no randomness for Kerberos keys".into()))
}

/// A random 31-bit number (nonces and sequence numbers: positive INTEGERs
/// that fit every peer's 32-bit signed fields).
pub(super) fn nonce() -> Result<u32, Failure> {
    let mut bytes = [0u8; 4];
    fill(&mut bytes)?;
    Ok(u32::from_be_bytes(bytes) & 0x7fff_ffff)
}

/// Seconds since the Unix epoch and the microseconds within the second.
pub(super) fn now() -> Result<(u64, u32), Failure> {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|_| Failure::new(KerberosErrorKind::KdcError, "the system clock is before 1970".into()))?;
    Ok((since.as_secs(), since.subsec_micros()))
}
