//! The initiator's side of a Kerberos 5 GSS-API security context (RFC 4121):
//! the initial context token (an AP-REQ with mutual authentication), the
//! acceptor's AP-REP, then Wrap tokens without confidentiality for the
//! SASL security-layer messages (RFC 4752 section 3.1).

use picky_asn1::wrapper::{ExplicitContextTag0, ExplicitContextTag1, OctetStringAsn1};
use picky_krb::constants::key_usages;
use picky_krb::data_types::{Checksum, EncApRepPart};
use picky_krb::messages::{ApRep, KrbError};

use super::der::{self, int, int_value};
use super::failure::Failure;
use super::random;
use super::tickets::{self, Granted, Key};
use crate::error::KerberosErrorKind;

/// DER of the Kerberos 5 mechanism OID 1.2.840.113554.1.2.2.
const KRB5_OID: [u8; 11] = [0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02];
/// RFC 4121 section 4.1: token ids of the context-establishment tokens.
const TOK_AP_REQ: [u8; 2] = [0x01, 0x00];
const TOK_AP_REP: [u8; 2] = [0x02, 0x00];
const TOK_ERROR: [u8; 2] = [0x03, 0x00];
/// RFC 4121 section 4.2.6.2: Wrap token id and flags.
const TOK_WRAP: [u8; 2] = [0x05, 0x04];
const FLAG_SENT_BY_ACCEPTOR: u8 = 0x01;
const FLAG_SEALED: u8 = 0x02;
const FLAG_ACCEPTOR_SUBKEY: u8 = 0x04;
/// RFC 4121 section 4.1.1.1: the authenticator checksum type of GSS-API.
const GSS_CHECKSUM_TYPE: u32 = 0x8003;
/// GSS_C_MUTUAL_FLAG | GSS_C_CONF_FLAG | GSS_C_INTEG_FLAG, as the Java client asks.
const GSS_FLAGS: u32 = 0x02 | 0x10 | 0x20;
/// AP options: mutual-required (bit 2).
const AP_MUTUAL_REQUIRED: u8 = 0x20;
const HEADER_LEN: usize = 16;

/// A context after the initial token was made.
#[derive(Debug)]
pub(super) struct Context {
    session_key: Key,
    initiator_subkey: Key,
    acceptor_subkey: Option<Key>,
    ctime: u64,
    cusec: u32,
    send_seq: u64,
}

impl Context {
    /// The initial context token (RFC 2743 section 3.1 framing around an
    /// AP-REQ) for the service ticket `service`.
    pub(super) fn initiate(service: &Granted) -> Result<(Context, Vec<u8>), Failure> {
        let initiator_subkey = service.session_key.random_like()?;
        let send_seq = random::nonce()?;
        let mut bindings = Vec::with_capacity(24);
        bindings.extend_from_slice(&16u32.to_le_bytes());
        bindings.extend_from_slice(&[0; 16]); // no channel bindings
        bindings.extend_from_slice(&GSS_FLAGS.to_le_bytes());
        let checksum = Checksum {
            cksumtype: ExplicitContextTag0::from(int(GSS_CHECKSUM_TYPE)),
            checksum: ExplicitContextTag1::from(OctetStringAsn1::from(bindings)),
        };
        let authenticator = tickets::authenticator(service, Some(checksum), Some(&initiator_subkey), Some(send_seq))?;
        let ap_req = tickets::ap_req(service, AP_MUTUAL_REQUIRED, &authenticator, key_usages::AP_REQ_AUTHENTICATOR)?;
        let mut inner = KRB5_OID.to_vec();
        inner.extend_from_slice(&TOK_AP_REQ);
        inner.extend(der::encode(&ap_req, "AP-REQ")?);
        let mut token = vec![0x60];
        token.extend(der_length(inner.len()));
        token.extend(inner);
        let context = Context {
            session_key: service.session_key.clone(),
            initiator_subkey,
            acceptor_subkey: None,
            ctime: authenticator.1,
            cusec: authenticator.2,
            send_seq: u64::from(send_seq),
        };
        Ok((context, token))
    }

    /// Checks the acceptor's reply token: an AP-REP proving that the broker
    /// holds the service key (mutual authentication), or its KRB-ERROR.
    pub(super) fn accept_reply(&mut self, token: &[u8]) -> Result<(), Failure> {
        let (token_id, body) = unframe(token)?;
        if token_id == TOK_ERROR {
            let error = der::decode::<KrbError>(body, "KRB-ERROR token")?;
            let text = error.0.e_text.0.as_ref().map(|t| format!(": {}", crate::error::peer_text(&der::text(&t.0)))).unwrap_or_default();
            return Err(rejected(format!("the broker refused the ticket with Kerberos error {}{text}", error.0.error_code.0)));
        }
        if token_id != TOK_AP_REP {
            return Err(Failure::malformed(format!("the broker's context token has id {token_id:02x?}, not AP-REP")));
        }
        let ap_rep = der::decode::<ApRep>(body, "AP-REP")?;
        let Some(plaintext) = self.session_key.decrypt(key_usages::AP_REP_ENC, &ap_rep.0.enc_part.0.cipher.0 .0)? else {
            return Err(rejected("the broker's AP-REP does not decrypt with the session key: it is not the service".into()));
        };
        let part = der::decode::<EncApRepPart>(&plaintext, "EncAPRepPart")?.0;
        // RFC 4120 section 3.2.5: the reply echoes the authenticator's time.
        if part.ctime.0 != der::time(self.ctime)? || int_value(&part.cusec.0) != Some(self.cusec) {
            return Err(rejected("the broker's AP-REP does not echo the authenticator's time".into()));
        }
        if let Some(subkey) = part.subkey.0.as_ref() {
            let subkey = Key { etype: int_value(&subkey.0.key_type.0).unwrap_or_default(), bytes: subkey.0.key_value.0 .0.clone() };
            subkey.suite()?;
            self.acceptor_subkey = Some(subkey);
        }
        Ok(())
    }

    /// The key Wrap tokens use (RFC 4121 section 2): the acceptor's subkey
    /// when the token says so, else the initiator's.
    fn wrap_key(&self, acceptor_subkey_flag: bool) -> Result<&Key, Failure> {
        if acceptor_subkey_flag {
            self.acceptor_subkey
                .as_ref()
                .ok_or_else(|| Failure::malformed("a Wrap token names an acceptor subkey the AP-REP did not carry".into()))
        } else {
            Ok(&self.initiator_subkey)
        }
    }

    /// Unwraps a Wrap token from the acceptor (RFC 4121 section 4.2.4).
    pub(super) fn unwrap(&self, token: &[u8]) -> Result<Vec<u8>, Failure> {
        if token.len() < HEADER_LEN {
            return Err(Failure::malformed(format!("a Wrap token of {} bytes is shorter than its header", token.len())));
        }
        let (header, data) = token.split_at(HEADER_LEN);
        let header: [u8; HEADER_LEN] = header.try_into().map_err(|_| Failure::malformed("a Wrap token header is not 16 bytes".into()))?;
        let [id0, id1, flags, filler, ec0, ec1, rrc0, rrc1, ..] = header;
        if [id0, id1] != TOK_WRAP || filler != 0xff {
            return Err(Failure::malformed("the broker's security-layer message is not a Wrap token".into()));
        }
        if flags & FLAG_SENT_BY_ACCEPTOR == 0 {
            return Err(rejected("the broker's Wrap token is not marked as sent by the acceptor (a reflection?)".into()));
        }
        let ec = usize::from(u16::from_be_bytes([ec0, ec1]));
        let rrc = usize::from(u16::from_be_bytes([rrc0, rrc1]));
        let key = self.wrap_key(flags & FLAG_ACCEPTOR_SUBKEY != 0)?;
        // Undo the right rotation of RRC bytes (RFC 4121 section 4.2.5).
        let mut data = data.to_vec();
        if !data.is_empty() {
            let rotation = rrc % data.len();
            data.rotate_left(rotation);
        }
        let mut zeroed = header;
        zeroed[6] = 0;
        zeroed[7] = 0;
        if flags & FLAG_SEALED != 0 {
            // {plaintext | EC filler bytes | header with RRC 0}, encrypted.
            let Some(plaintext) = key.decrypt(key_usages::ACCEPTOR_SEAL, &data)? else {
                return Err(rejected("the broker's sealed Wrap token does not decrypt".into()));
            };
            let Some(length) = plaintext.len().checked_sub(ec + HEADER_LEN) else {
                return Err(Failure::malformed("a sealed Wrap token is shorter than its filler".into()));
            };
            if plaintext.get(length + ec..) != Some(&zeroed[..]) {
                return Err(rejected("the sealed Wrap token's inner header differs from its outer one".into()));
            }
            return Ok(plaintext.get(..length).unwrap_or_default().to_vec());
        }
        // {plaintext | checksum of EC bytes}; the checksum covers the
        // plaintext and the header with EC and RRC zero, keyed with the SEAL
        // usage as every Wrap token is (RFC 4121 section 2; MIC tokens use SIGN).
        let Some(length) = data.len().checked_sub(ec) else {
            return Err(Failure::malformed("a Wrap token is shorter than its checksum".into()));
        };
        let (message, checksum) = data.split_at(length);
        zeroed[4] = 0;
        zeroed[5] = 0;
        let mut signed = message.to_vec();
        signed.extend_from_slice(&zeroed);
        if key.checksum(key_usages::ACCEPTOR_SEAL, &signed)? != checksum {
            return Err(rejected("the checksum of the broker's Wrap token does not verify".into()));
        }
        Ok(message.to_vec())
    }

    /// Wraps `message` for the acceptor, integrity only (RFC 4121 section 4.2.4).
    pub(super) fn wrap(&mut self, message: &[u8]) -> Result<Vec<u8>, Failure> {
        let acceptor_subkey = self.acceptor_subkey.is_some();
        let key = self.wrap_key(acceptor_subkey)?;
        let flags = if acceptor_subkey { FLAG_ACCEPTOR_SUBKEY } else { 0 };
        let header = |ec: u16| {
            let mut h = Vec::with_capacity(HEADER_LEN);
            h.extend_from_slice(&TOK_WRAP);
            h.push(flags);
            h.push(0xff);
            h.extend_from_slice(&ec.to_be_bytes());
            h.extend_from_slice(&0u16.to_be_bytes());
            h.extend_from_slice(&self.send_seq.to_be_bytes());
            h
        };
        let mut signed = message.to_vec();
        signed.extend(header(0));
        let checksum = key.checksum(key_usages::INITIATOR_SEAL, &signed)?;
        let ec = u16::try_from(checksum.len()).map_err(|_| Failure::malformed("checksum too long".into()))?;
        let mut token = header(ec);
        token.extend_from_slice(message);
        token.extend(checksum);
        self.send_seq = self.send_seq.wrapping_add(1);
        Ok(token)
    }
}

fn rejected(message: String) -> Failure {
    Failure::new(KerberosErrorKind::BrokerRejected, message)
}

/// A DER length.
fn der_length(length: usize) -> Vec<u8> {
    match u8::try_from(length) {
        Ok(short) if short < 0x80 => vec![short],
        _ => {
            let bytes = length.to_be_bytes();
            let significant: Vec<u8> = bytes.iter().copied().skip_while(|b| *b == 0).collect();
            let mut out = vec![0x80 | u8::try_from(significant.len()).unwrap_or(0)];
            out.extend(significant);
            out
        }
    }
}

/// Splits an RFC 2743 section 3.1 token `[APPLICATION 0] { OID, token id, body }`.
fn unframe(token: &[u8]) -> Result<([u8; 2], &[u8]), Failure> {
    let bad = || Failure::malformed("the broker's context token is not a Kerberos 5 GSS-API token".into());
    let (&tag, rest) = token.split_first().ok_or_else(bad)?;
    if tag != 0x60 {
        return Err(bad());
    }
    let (&first, mut rest) = rest.split_first().ok_or_else(bad)?;
    let length = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return Err(bad());
        }
        let (bytes, after) = rest.split_at(count);
        rest = after;
        bytes.iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
    };
    if rest.len() != length {
        return Err(bad());
    }
    let rest = rest.strip_prefix(&KRB5_OID[..]).ok_or_else(bad)?;
    if rest.len() < 2 {
        return Err(bad());
    }
    let (id, body) = rest.split_at(2);
    Ok(([id.first().copied().unwrap_or_default(), id.get(1).copied().unwrap_or_default()], body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> Key {
        Key { etype: 18, bytes: vec![byte; 32] }
    }

    fn context() -> Context {
        Context { session_key: key(1), initiator_subkey: key(2), acceptor_subkey: Some(key(3)), ctime: 0, cusec: 0, send_seq: 7 }
    }

    /// An acceptor's integrity-only Wrap token, built as RFC 4121 describes.
    fn acceptor_wrap(key: &Key, message: &[u8], rrc: u16) -> Vec<u8> {
        let header = |ec: u16, rrc: u16| {
            let mut h = vec![0x05, 0x04, FLAG_SENT_BY_ACCEPTOR | FLAG_ACCEPTOR_SUBKEY, 0xff];
            h.extend(ec.to_be_bytes());
            h.extend(rrc.to_be_bytes());
            h.extend(9u64.to_be_bytes());
            h
        };
        let mut signed = message.to_vec();
        signed.extend(header(0, 0));
        let checksum = key.checksum(key_usages::ACCEPTOR_SEAL, &signed).unwrap();
        let mut data = message.to_vec();
        data.extend(&checksum);
        let rotation = usize::from(rrc) % data.len();
        data.rotate_right(rotation);
        let mut token = header(checksum.len() as u16, rrc);
        token.extend(data);
        token
    }

    #[test]
    fn unwraps_integrity_tokens_and_rejects_tampering() {
        let c = context();
        for rrc in [0, 12, 28] {
            let token = acceptor_wrap(&key(3), &[0x07, 0, 0x10, 0], rrc);
            assert_eq!(c.unwrap(&token).unwrap(), vec![0x07, 0, 0x10, 0]);
        }
        let mut token = acceptor_wrap(&key(3), &[0x07, 0, 0x10, 0], 0);
        token[HEADER_LEN] ^= 1;
        assert!(matches!(c.unwrap(&token), Err(Failure::Kerberos { kind: KerberosErrorKind::BrokerRejected, .. })));
        let token = acceptor_wrap(&key(4), &[1, 0, 0, 0], 0);
        assert!(c.unwrap(&token).is_err());
        for cut in 0..token.len() {
            let _ = c.unwrap(&token[..cut]);
        }
    }

    #[test]
    fn wraps_integrity_tokens_the_acceptor_can_check() {
        let mut c = context();
        let token = c.wrap(&[1, 0, 0, 0]).unwrap();
        assert_eq!(&token[..4], &[0x05, 0x04, FLAG_ACCEPTOR_SUBKEY, 0xff]);
        assert_eq!(u16::from_be_bytes([token[4], token[5]]), 12);
        assert_eq!(u64::from_be_bytes(token[8..16].try_into().unwrap()), 7);
        let (message, checksum) = token[HEADER_LEN..].split_at(4);
        let mut signed = message.to_vec();
        let mut header = token[..HEADER_LEN].to_vec();
        header[4] = 0;
        header[5] = 0;
        signed.extend(header);
        assert_eq!(key(3).checksum(key_usages::INITIATOR_SEAL, &signed).unwrap(), checksum);
        assert_eq!(c.send_seq, 8);
    }

    #[test]
    fn context_token_framing() {
        for length in [0usize, 5, 127, 128, 300, 70_000] {
            let mut token = vec![0x60];
            let mut inner = KRB5_OID.to_vec();
            inner.extend([0x02, 0x00]);
            inner.extend(vec![0xaa; length]);
            token.extend(der_length(inner.len()));
            token.extend(&inner);
            let (id, body) = unframe(&token).unwrap();
            assert_eq!((id, body.len()), (TOK_AP_REP, length));
            assert!(unframe(&token[..token.len() - 1]).is_err());
        }
        assert!(unframe(&[0x60, 0x84, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(unframe(&[]).is_err());
    }
}
