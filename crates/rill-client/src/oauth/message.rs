//! The OAUTHBEARER client messages (RFC 7628 section 3.1): the initial
//! client response `n,,` `\x01auth=Bearer <token>\x01` `key=value\x01`...
//! `\x01`, and the lone `\x01` that answers a server error challenge.

use std::collections::BTreeMap;

/// The key/value separator of RFC 7628.
const KVSEP: char = '\u{1}';

/// The answer to a server's error challenge (RFC 7628 section 3.2.3): the
/// client must send `\x01` so the server can fail the exchange.
pub(crate) const ERROR_ACK: &[u8] = b"\x01";

/// Checks a SASL extension (RFC 7628 section 3.1: key = 1*ALPHA, value =
/// *(VCHAR / SP / HTAB / CR / LF); `auth` is reserved for the token).
pub fn check_extension(key: &str, value: &str) -> Result<(), &'static str> {
    if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err("extension keys of letters only (RFC 7628)");
    }
    if key == "auth" {
        return Err("extension keys other than `auth` (reserved for the token)");
    }
    if !value.bytes().all(|b| matches!(b, 0x21..=0x7e | b' ' | b'\t' | b'\r' | b'\n')) {
        return Err("extension values of printable ASCII, spaces and tabs (RFC 7628)");
    }
    Ok(())
}

/// The initial client response carrying `token` and `extensions`.
pub(crate) fn client_first(token: &str, extensions: &BTreeMap<String, String>) -> Vec<u8> {
    let mut message = format!("n,,{KVSEP}auth=Bearer {token}{KVSEP}");
    for (key, value) in extensions {
        message.push_str(key);
        message.push('=');
        message.push_str(value);
        message.push(KVSEP);
    }
    message.push(KVSEP);
    message.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_first_message_follows_rfc7628() {
        let extensions: BTreeMap<String, String> =
            [("logicalCluster", "lkc-1"), ("identityPoolId", "pool-2")].map(|(k, v)| (k.into(), v.into())).into();
        let message = client_first("eyJ.x.y", &extensions);
        assert_eq!(message, b"n,,\x01auth=Bearer eyJ.x.y\x01identityPoolId=pool-2\x01logicalCluster=lkc-1\x01\x01");
        assert_eq!(client_first("t", &BTreeMap::new()), b"n,,\x01auth=Bearer t\x01\x01");
    }

    #[test]
    fn extensions_are_checked() {
        assert!(check_extension("logicalCluster", "lkc-1 x").is_ok());
        assert!(check_extension("auth", "x").is_err());
        assert!(check_extension("bad-key", "x").is_err());
        assert!(check_extension("", "x").is_err());
        assert!(check_extension("k", "a\u{1}b").is_err());
    }
}
