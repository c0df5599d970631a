//! Small builders and readers for picky-krb's ASN.1 types (RFC 4120
//! section 5): integers, strings, names, times, encrypted data.

use picky_asn1::bit_string::BitString;
use picky_asn1::date::GeneralizedTime;
use picky_asn1::restricted_string::Ia5String;
use picky_asn1::wrapper::{
    Asn1SequenceOf, BitStringAsn1, ExplicitContextTag0, ExplicitContextTag1, ExplicitContextTag2, GeneralStringAsn1, GeneralizedTimeAsn1,
    IntegerAsn1, OctetStringAsn1, Optional,
};
use picky_krb::data_types::{EncryptedData, KerberosFlags, KerberosStringAsn1, KerberosTime, PaData, PrincipalName};
use serde::Serialize;

use super::failure::Failure;

/// A non-negative INTEGER.
pub(super) fn int(value: u32) -> IntegerAsn1 {
    IntegerAsn1::from_bytes_be_unsigned(value.to_be_bytes().to_vec())
}

/// The value of a non-negative INTEGER of at most 32 bits.
pub(super) fn int_value(value: &IntegerAsn1) -> Option<u32> {
    if value.is_negative() {
        return None;
    }
    let bytes = value.as_unsigned_bytes_be();
    if bytes.len() > 4 {
        return None;
    }
    Some(bytes.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)))
}

/// A KerberosString (IA5 characters only, RFC 4120 section 5.2.1).
pub(super) fn string(value: &str) -> Result<KerberosStringAsn1, Failure> {
    Ia5String::from_string(value.to_string())
        .map(GeneralStringAsn1::from)
        .map_err(|_| Failure::malformed(format!("`{value}` is not an IA5 string, as Kerberos names must be")))
}

/// A PrincipalName of `name_type` (1: NT-PRINCIPAL, 2: NT-SRV-INST).
pub(super) fn principal_name(name_type: u32, parts: &[&str]) -> Result<PrincipalName, Failure> {
    let strings = parts.iter().map(|p| string(p)).collect::<Result<Vec<_>, _>>()?;
    Ok(PrincipalName {
        name_type: ExplicitContextTag0::from(int(name_type)),
        name_string: ExplicitContextTag1::from(Asn1SequenceOf::from(strings)),
    })
}

/// KerberosFlags (a 32-bit BIT STRING) with the first byte `first` (bits 0-7).
pub(super) fn flags(first: u8) -> KerberosFlags {
    BitStringAsn1::from(BitString::with_bytes(vec![first, 0, 0, 0]))
}

/// A time `seconds` after the Unix epoch, as KerberosTime (no fraction, UTC).
pub(super) fn time(seconds: u64) -> Result<KerberosTime, Failure> {
    let days = i64::try_from(seconds / 86_400).map_err(|_| Failure::malformed("the clock is out of range".into()))?;
    let in_day = seconds % 86_400;
    let (year, month, day) = civil_from_days(days);
    let date = u16::try_from(year).ok().and_then(|year| {
        GeneralizedTime::new(
            year,
            u8::try_from(month).ok()?,
            u8::try_from(day).ok()?,
            u8::try_from(in_day / 3600).ok()?,
            u8::try_from(in_day % 3600 / 60).ok()?,
            u8::try_from(in_day % 60).ok()?,
        )
    });
    date.map(GeneralizedTimeAsn1::from).ok_or_else(|| Failure::malformed("the clock is out of range".into()))
}

/// Year, month (1-12) and day (1-31) of a day number since 1970-01-01
/// (the proleptic Gregorian calendar; H. Hinnant's days-to-civil algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 { shifted_month + 3 } else { shifted_month - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// EncryptedData of `etype` around `cipher`.
pub(super) fn encrypted(etype: u32, cipher: Vec<u8>) -> EncryptedData {
    EncryptedData {
        etype: ExplicitContextTag0::from(int(etype)),
        kvno: Optional::from(None),
        cipher: ExplicitContextTag2::from(OctetStringAsn1::from(cipher)),
    }
}

/// PA-DATA of `padata_type` holding `value` (DER).
pub(super) fn pa_data(padata_type: u32, value: Vec<u8>) -> PaData {
    PaData {
        padata_type: ExplicitContextTag1::from(int(padata_type)),
        padata_data: ExplicitContextTag2::from(OctetStringAsn1::from(value)),
    }
}

/// DER bytes of a message.
pub(super) fn encode<T: Serialize>(value: &T, what: &str) -> Result<Vec<u8>, Failure> {
    picky_asn1_der::to_vec(value).map_err(|e| Failure::malformed(format!("cannot encode the {what}: {e}")))
}

/// A message decoded from DER bytes that came from a peer.
pub(super) fn decode<'a, T: serde::Deserialize<'a>>(bytes: &'a [u8], what: &str) -> Result<T, Failure> {
    picky_asn1_der::from_bytes(bytes).map_err(|e| Failure::malformed(format!("cannot decode the {what}: {e}")))
}

/// The text of a KerberosString.
pub(super) fn text(value: &KerberosStringAsn1) -> String {
    value.0.as_utf8().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_minimal_and_unsigned() {
        assert_eq!(int(5).0, vec![5]);
        assert_eq!(int(0x80).0, vec![0, 0x80]);
        assert_eq!(int(0xffff_ffff).0, vec![0, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(int_value(&int(0xdead_beef)), Some(0xdead_beef));
        assert_eq!(int_value(&IntegerAsn1::from(vec![0x80])), None);
    }

    #[test]
    fn times_are_generalized_utc() {
        // 2026-12-04T23:59:58Z
        let der = picky_asn1_der::to_vec(&time(1_796_428_798).unwrap()).unwrap();
        assert_eq!(&der[2..], b"20261204235958Z");
        let der = picky_asn1_der::to_vec(&time(951_782_400).unwrap()).unwrap();
        assert_eq!(&der[2..], b"20000229000000Z");
    }
}
