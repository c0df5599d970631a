//! Talking to a realm's KDCs over TCP (RFC 4120 section 7.2.2: each message
//! is preceded by its length, 4 bytes big-endian). The KDCs come from
//! `sasl.kerberos.kdc` or krb5.conf (see [`crate::config::KerberosConfig`]).

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::failure::Failure;
use crate::error::KerberosErrorKind;

/// The largest KDC reply accepted; real ones are a few KiB.
const MAX_REPLY_BYTES: usize = 1 << 20;

#[derive(Debug, Clone)]
pub(super) struct Kdc {
    /// `host[:port]`, tried in order.
    pub(super) addresses: Vec<String>,
    pub(super) timeout: Duration,
}

impl Kdc {
    /// Sends `request` and returns the reply, trying each KDC in turn.
    pub(super) async fn exchange(&self, request: &[u8]) -> Result<Vec<u8>, Failure> {
        let mut errors = Vec::new();
        for address in &self.addresses {
            let address = if address.contains(':') { address.clone() } else { format!("{address}:88") };
            match tokio::time::timeout(self.timeout, exchange_once(&address, request)).await {
                Ok(Ok(reply)) => return Ok(reply),
                Ok(Err(e)) => errors.push(format!("{address}: {e}")),
                Err(_) => errors.push(format!("{address}: no reply within {:?} (sasl.kerberos.kdc.timeout.ms)", self.timeout)),
            }
        }
        Err(Failure::new(
            KerberosErrorKind::KdcUnreachable,
            format!("no KDC answered ({}); check sasl.kerberos.kdc or the realm's kdc entries in krb5.conf", errors.join("; ")),
        ))
    }
}

async fn exchange_once(address: &str, request: &[u8]) -> std::io::Result<Vec<u8>> {
    let length = u32::try_from(request.len()).map_err(|_| std::io::Error::other("request too large"))?;
    let mut stream = TcpStream::connect(address).await?;
    let mut framed = Vec::with_capacity(4 + request.len());
    framed.extend_from_slice(&length.to_be_bytes());
    framed.extend_from_slice(request);
    stream.write_all(&framed).await?;
    let mut prefix = [0u8; 4];
    stream.read_exact(&mut prefix).await?;
    let length = u32::from_be_bytes(prefix);
    // The high bit is reserved (RFC 4120 section 7.2.2); a set bit or a huge
    // length is not a KDC speaking Kerberos.
    let length = usize::try_from(length).unwrap_or(usize::MAX);
    if length > MAX_REPLY_BYTES {
        return Err(std::io::Error::other(format!("reply length {length} is over {MAX_REPLY_BYTES} bytes: not a KDC?")));
    }
    let mut reply = vec![0u8; length];
    stream.read_exact(&mut reply).await?;
    Ok(reply)
}
