//! Getting a service ticket from the KDC (RFC 4120 section 3.1 and 3.3):
//! the AS exchange with encrypted-timestamp pre-authentication (the key
//! from the password and the KDC's salt, or from the keytab), then the TGS
//! exchange for `<service>/<broker host>@REALM`.

use std::fmt;

use picky_asn1::wrapper::{
    Asn1SequenceOf, ExplicitContextTag0, ExplicitContextTag1, ExplicitContextTag2, ExplicitContextTag3, ExplicitContextTag4,
    ExplicitContextTag5, ExplicitContextTag7, ExplicitContextTag8, OctetStringAsn1, Optional,
};
use picky_krb::constants::error_codes;
use picky_krb::constants::key_usages;
use picky_krb::crypto::{ChecksumSuite, CipherSuite};
use picky_krb::data_types::{
    Authenticator, AuthenticatorInner, Checksum, EtypeInfo2, KerberosStringAsn1, PaData, PaEncTsEnc, PrincipalName, Ticket,
};
use picky_krb::messages::{
    ApReq, ApReqInner, AsRep, AsReq, EncAsRepPart, EncKdcRepPart, EncTgsRepPart, KdcRep, KdcReq, KdcReqBody, KrbError, TgsRep, TgsReq,
};

use super::der::{self, int, int_value};
use super::failure::Failure;
use super::kdc::Kdc;
use super::keytab::KeytabEntry;
use super::random;
use crate::config::Secret;
use crate::error::KerberosErrorKind;

/// aes256-cts-hmac-sha1-96 and aes128-cts-hmac-sha1-96 (RFC 3962), in
/// order of preference: the encryption types rill asks for.
pub(super) const ETYPES: [u32; 2] = [18, 17];

const PA_TGS_REQ: u32 = 1;
const PA_ENC_TIMESTAMP: u32 = 2;
const PA_ETYPE_INFO2: u32 = 19;
const PA_FX_COOKIE: u32 = 133;
const NT_PRINCIPAL: u32 = 1;
const NT_SRV_INST: u32 = 2;
const NT_SRV_HST: u32 = 3;
/// The ticket lifetime asked for; the KDC caps it at the realm's maximum.
const TICKET_LIFETIME_SECONDS: u64 = 24 * 3600;

/// A key with its encryption type. `Debug` never shows it.
#[derive(Clone)]
pub(super) struct Key {
    pub(super) etype: u32,
    pub(super) bytes: Vec<u8>,
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key(etype {}, <redacted>)", self.etype)
    }
}

impl Key {
    pub(super) fn suite(&self) -> Result<CipherSuite, Failure> {
        suite(self.etype)
    }

    /// The keyed checksum type of this key's encryption type (RFC 3962).
    pub(super) fn checksum_suite(&self) -> Result<ChecksumSuite, Failure> {
        match self.etype {
            18 => Ok(ChecksumSuite::HmacSha196Aes256),
            17 => Ok(ChecksumSuite::HmacSha196Aes128),
            other => Err(Failure::malformed(format!("encryption type {other} is not one rill asked for"))),
        }
    }

    pub(super) fn encrypt(&self, usage: i32, plaintext: &[u8]) -> Result<Vec<u8>, Failure> {
        self.suite()?.cipher().encrypt(&self.bytes, usage, plaintext).map_err(|e| Failure::malformed(format!("encryption failed: {e}")))
    }

    /// Decrypts; `None` when the integrity check fails (the wrong key).
    pub(super) fn decrypt(&self, usage: i32, ciphertext: &[u8]) -> Result<Option<Vec<u8>>, Failure> {
        match self.suite()?.cipher().decrypt(&self.bytes, usage, ciphertext) {
            Ok(plaintext) => Ok(Some(plaintext)),
            Err(picky_krb::crypto::KerberosCryptoError::IntegrityCheck) => Ok(None),
            Err(e) => Err(Failure::malformed(format!("cannot decrypt: {e}"))),
        }
    }

    /// A keyed checksum (RFC 3961 get_mic) of `data`.
    pub(super) fn checksum(&self, usage: i32, data: &[u8]) -> Result<Vec<u8>, Failure> {
        self.checksum_suite()?.hasher().checksum(&self.bytes, usage, data).map_err(|e| Failure::malformed(format!("checksum failed: {e}")))
    }

    /// A fresh random key of this key's encryption type (AES keys are random bytes).
    pub(super) fn random_like(&self) -> Result<Key, Failure> {
        let mut bytes = vec![0u8; self.suite()?.cipher().key_size()];
        random::fill(&mut bytes)?;
        Ok(Key { etype: self.etype, bytes })
    }
}

fn suite(etype: u32) -> Result<CipherSuite, Failure> {
    match etype {
        18 => Ok(CipherSuite::Aes256CtsHmacSha196),
        17 => Ok(CipherSuite::Aes128CtsHmacSha196),
        other => Err(Failure::malformed(format!("encryption type {other} is not one rill asked for"))),
    }
}

/// The client principal.
#[derive(Debug, Clone)]
pub(super) struct Principal {
    pub(super) components: Vec<String>,
    pub(super) realm: String,
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.components.join("/"), self.realm)
    }
}

/// What proves the client's identity to the KDC.
pub(super) enum Credentials {
    Password(Secret),
    Keytab(Vec<KeytabEntry>),
}

impl Credentials {
    /// The client's long-term key for `etype`, with the KDC's `salt` for a password.
    fn key(&self, client: &Principal, etype: u32, salt: &str) -> Result<Key, Failure> {
        match self {
            Credentials::Password(password) => {
                let bytes = suite(etype)?
                    .cipher()
                    .generate_key_from_password(password.expose().as_bytes(), salt.as_bytes())
                    .map_err(|e| Failure::malformed(format!("string-to-key failed: {e}")))?;
                Ok(Key { etype, bytes })
            }
            Credentials::Keytab(entries) => entries
                .iter()
                .filter(|e| e.realm == client.realm && e.components == client.components)
                .filter(|e| u32::from(e.enctype) == etype)
                .max_by_key(|e| e.kvno)
                .map(|e| Key { etype, bytes: e.key.clone() })
                .ok_or_else(|| no_keytab_entry(client)),
        }
    }

    /// The encryption types the client can make a key for.
    fn etypes(&self, client: &Principal) -> Vec<u32> {
        ETYPES
            .into_iter()
            .filter(|etype| match self {
                Credentials::Password(_) => true,
                Credentials::Keytab(entries) => {
                    entries.iter().any(|e| e.realm == client.realm && e.components == client.components && u32::from(e.enctype) == *etype)
                }
            })
            .collect()
    }

    fn rejected(&self, client: &Principal, detail: &str) -> Failure {
        match self {
            Credentials::Password(_) => Failure::new(
                KerberosErrorKind::WrongPassword,
                format!("the KDC refused the password of {client} ({detail}); check sasl.password"),
            ),
            Credentials::Keytab(_) => Failure::new(
                KerberosErrorKind::StaleKeytab,
                format!(
                    "the KDC refused the key in sasl.kerberos.keytab for {client} ({detail}): the principal was \
                     re-keyed since the keytab was exported; export it again"
                ),
            ),
        }
    }
}

fn no_keytab_entry(client: &Principal) -> Failure {
    Failure::new(
        KerberosErrorKind::NoKeytabEntry,
        format!(
            "sasl.kerberos.keytab has no aes256-cts-hmac-sha1-96 or aes128-cts-hmac-sha1-96 key for {client}; \
             export one with `kadmin -q \"ktadd -k FILE {client}\"`"
        ),
    )
}

/// A ticket and what the client needs to use it.
#[derive(Debug, Clone)]
pub(super) struct Granted {
    pub(super) ticket: Ticket,
    pub(super) session_key: Key,
    pub(super) crealm: KerberosStringAsn1,
    pub(super) cname: PrincipalName,
}

/// The AS exchange: a ticket-granting ticket for `client`.
pub(super) async fn ticket_granting_ticket(kdc: &Kdc, client: &Principal, credentials: &Credentials) -> Result<Granted, Failure> {
    let etypes = credentials.etypes(client);
    if etypes.is_empty() {
        return Err(no_keytab_entry(client));
    }
    let default_salt = format!("{}{}", client.realm, client.components.concat());
    // First without pre-authentication, to learn the KDC's encryption type
    // and salt (RFC 4120 section 3.1.1: KDC_ERR_PREAUTH_REQUIRED with PA-ETYPE-INFO2).
    let nonce = random::nonce()?;
    let reply = kdc.exchange(&as_req(client, &etypes, nonce, Vec::new())?).await?;
    let (etype, salt, cookie) = match parse_reply(&reply)? {
        Reply::Error(e) if code(&e) == error_codes::KDC_ERR_PREAUTH_REQUIRED => {
            let method_data = method_data(&e)?;
            let (etype, salt) = etype_info(&method_data, &etypes)?.unwrap_or((etypes_first(&etypes), None));
            let cookie = method_data.into_iter().find(|p| int_value(&p.padata_type.0) == Some(PA_FX_COOKIE));
            (etype, salt.unwrap_or(default_salt), cookie)
        }
        Reply::Error(e) => return Err(kdc_error(&e, client, credentials, None)),
        Reply::Rep(rep) => {
            // The principal needs no pre-authentication.
            let padata = rep.padata.0.as_ref().map(|p| p.0 .0.clone()).unwrap_or_default();
            let etype = int_value(&rep.enc_part.0.etype.0).unwrap_or_default();
            let salt = etype_info(&padata, &[etype])?.and_then(|(_, salt)| salt).unwrap_or(default_salt);
            let key = credentials.key(client, etype, &salt)?;
            return as_granted(*rep, &key, nonce, client, credentials);
        }
    };
    let key = credentials.key(client, etype, &salt)?;
    let (seconds, micros) = random::now()?;
    let timestamp = PaEncTsEnc {
        patimestamp: ExplicitContextTag0::from(der::time(seconds)?),
        pausec: Optional::from(Some(ExplicitContextTag1::from(int(micros)))),
    };
    let encrypted = key.encrypt(key_usages::AS_REQ_TIMESTAMP, &der::encode(&timestamp, "PA-ENC-TS-ENC")?)?;
    let mut padata = vec![der::pa_data(PA_ENC_TIMESTAMP, der::encode(&der::encrypted(etype, encrypted), "PA-ENC-TIMESTAMP")?)];
    padata.extend(cookie);
    let nonce = random::nonce()?;
    let reply = kdc.exchange(&as_req(client, &etypes, nonce, padata)?).await?;
    match parse_reply(&reply)? {
        Reply::Error(e) => Err(kdc_error(&e, client, credentials, None)),
        Reply::Rep(rep) => as_granted(*rep, &key, nonce, client, credentials),
    }
}

fn etypes_first(etypes: &[u32]) -> u32 {
    etypes.first().copied().unwrap_or(ETYPES[0])
}

fn as_req(client: &Principal, etypes: &[u32], nonce: u32, padata: Vec<PaData>) -> Result<Vec<u8>, Failure> {
    let components: Vec<&str> = client.components.iter().map(String::as_str).collect();
    let body = req_body(
        Some(der::principal_name(NT_PRINCIPAL, &components)?),
        &client.realm,
        der::principal_name(NT_SRV_INST, &["krbtgt", &client.realm])?,
        nonce,
        etypes,
    )?;
    let request: AsReq = AsReq::from(kdc_req(10, padata, body));
    der::encode(&request, "AS-REQ")
}

fn req_body(cname: Option<PrincipalName>, realm: &str, sname: PrincipalName, nonce: u32, etypes: &[u32]) -> Result<KdcReqBody, Failure> {
    let (seconds, _) = random::now()?;
    Ok(KdcReqBody {
        kdc_options: ExplicitContextTag0::from(der::flags(0)),
        cname: Optional::from(cname.map(ExplicitContextTag1::from)),
        realm: ExplicitContextTag2::from(der::string(realm)?),
        sname: Optional::from(Some(ExplicitContextTag3::from(sname))),
        from: Optional::from(None),
        till: ExplicitContextTag5::from(der::time(seconds.saturating_add(TICKET_LIFETIME_SECONDS))?),
        rtime: Optional::from(None),
        nonce: ExplicitContextTag7::from(int(nonce)),
        etype: ExplicitContextTag8::from(Asn1SequenceOf::from(etypes.iter().map(|e| int(*e)).collect::<Vec<_>>())),
        addresses: Optional::from(None),
        enc_authorization_data: Optional::from(None),
        additional_tickets: Optional::from(None),
    })
}

fn kdc_req(msg_type: u32, padata: Vec<PaData>, body: KdcReqBody) -> KdcReq {
    KdcReq {
        pvno: ExplicitContextTag1::from(int(5)),
        msg_type: ExplicitContextTag2::from(int(msg_type)),
        padata: Optional::from((!padata.is_empty()).then(|| ExplicitContextTag3::from(Asn1SequenceOf::from(padata)))),
        req_body: ExplicitContextTag4::from(body),
    }
}

fn as_granted(rep: KdcRep, key: &Key, nonce: u32, client: &Principal, credentials: &Credentials) -> Result<Granted, Failure> {
    let enc_part = &rep.enc_part.0;
    let etype = int_value(&enc_part.etype.0).unwrap_or_default();
    if etype != key.etype {
        return Err(Failure::malformed(format!("the AS-REP is encrypted with type {etype}, not {}", key.etype)));
    }
    let Some(plaintext) = key.decrypt(key_usages::AS_REP_ENC, &enc_part.cipher.0 .0)? else {
        return Err(credentials.rejected(client, "the AS-REP does not decrypt with it"));
    };
    granted(rep, &plaintext, nonce)
}

/// The ticket and session key of a KDC reply whose encrypted part decrypted to `plaintext`.
fn granted(rep: KdcRep, plaintext: &[u8], nonce: u32) -> Result<Granted, Failure> {
    // RFC 4120 section 5.4.2: some KDCs tag the AS reply's part as EncTGSRepPart; accept both.
    let part: EncKdcRepPart = match der::decode::<EncAsRepPart>(plaintext, "EncASRepPart") {
        Ok(part) => part.0,
        Err(_) => der::decode::<EncTgsRepPart>(plaintext, "EncKDCRepPart")?.0,
    };
    if int_value(&part.nonce.0) != Some(nonce) {
        return Err(Failure::malformed("the KDC reply's nonce is not the request's (a replayed reply?)".into()));
    }
    let session_key = Key { etype: int_value(&part.key.0.key_type.0).unwrap_or_default(), bytes: part.key.0.key_value.0 .0.clone() };
    session_key.suite()?;
    Ok(Granted { ticket: rep.ticket.0, session_key, crealm: rep.crealm.0, cname: rep.cname.0 })
}

/// The TGS exchange: a ticket for `<service>/<host>@REALM` (the client's realm).
pub(super) async fn service_ticket(
    kdc: &Kdc,
    tgt: &Granted,
    client: &Principal,
    credentials: &Credentials,
    service: &str,
    host: &str,
) -> Result<Granted, Failure> {
    let nonce = random::nonce()?;
    let body = req_body(None, &client.realm, der::principal_name(NT_SRV_HST, &[service, host])?, nonce, &ETYPES)?;
    // The authenticator's checksum binds the request body to the TGT's session key (RFC 4120 section 3.3.1).
    let checksum =
        tgt.session_key.checksum(key_usages::TGS_REQ_PA_DATA_AP_REQ_AUTHENTICATOR_CKSUM, &der::encode(&body, "KDC-REQ-BODY")?)?;
    let checksum = Checksum {
        cksumtype: ExplicitContextTag0::from(int(u32::from(tgt.session_key.checksum_suite()?))),
        checksum: ExplicitContextTag1::from(OctetStringAsn1::from(checksum)),
    };
    let authenticator = authenticator(tgt, Some(checksum), None, None)?;
    let ap_req = ap_req(tgt, 0, &authenticator, key_usages::TGS_REQ_PA_DATA_AP_REQ_AUTHENTICATOR)?;
    let padata = vec![der::pa_data(PA_TGS_REQ, der::encode(&ap_req, "AP-REQ")?)];
    let request: TgsReq = TgsReq::from(kdc_req(12, padata, body));
    let reply = kdc.exchange(&der::encode(&request, "TGS-REQ")?).await?;
    match parse_reply(&reply)? {
        Reply::Error(e) => Err(kdc_error(&e, client, credentials, Some((service, host)))),
        Reply::Rep(rep) => {
            let Some(plaintext) = tgt.session_key.decrypt(key_usages::TGS_REP_ENC_SESSION_KEY, &rep.enc_part.0.cipher.0 .0)? else {
                return Err(Failure::malformed("the TGS-REP does not decrypt with the TGT's session key".into()));
            };
            granted(*rep, &plaintext, nonce)
        }
    }
}

/// An authenticator for `granted`'s ticket (RFC 4120 section 5.5.1).
pub(super) fn authenticator(
    granted: &Granted,
    checksum: Option<Checksum>,
    subkey: Option<&Key>,
    seq_number: Option<u32>,
) -> Result<(Authenticator, u64, u32), Failure> {
    let (seconds, micros) = random::now()?;
    let inner = AuthenticatorInner {
        authenticator_vno: ExplicitContextTag0::from(int(5)),
        crealm: ExplicitContextTag1::from(granted.crealm.clone()),
        cname: ExplicitContextTag2::from(granted.cname.clone()),
        cksum: Optional::from(checksum.map(ExplicitContextTag3::from)),
        cusec: ExplicitContextTag4::from(int(micros)),
        ctime: ExplicitContextTag5::from(der::time(seconds)?),
        subkey: Optional::from(subkey.map(|k| {
            picky_asn1::wrapper::ExplicitContextTag6::from(picky_krb::data_types::EncryptionKey {
                key_type: ExplicitContextTag0::from(int(k.etype)),
                key_value: ExplicitContextTag1::from(OctetStringAsn1::from(k.bytes.clone())),
            })
        })),
        seq_number: Optional::from(seq_number.map(|s| ExplicitContextTag7::from(int(s)))),
        authorization_data: Optional::from(None),
    };
    Ok((Authenticator::from(inner), seconds, micros))
}

/// An AP-REQ presenting `granted`'s ticket with `authenticator`, encrypted
/// under the ticket's session key with `usage`. `options`: the first byte of
/// the AP options (0x20: mutual-required).
pub(super) fn ap_req(granted: &Granted, options: u8, authenticator: &(Authenticator, u64, u32), usage: i32) -> Result<ApReq, Failure> {
    let encrypted = granted.session_key.encrypt(usage, &der::encode(&authenticator.0, "Authenticator")?)?;
    Ok(ApReq::from(ApReqInner {
        pvno: ExplicitContextTag0::from(int(5)),
        msg_type: ExplicitContextTag1::from(int(14)),
        ap_options: ExplicitContextTag2::from(der::flags(options)),
        ticket: ExplicitContextTag3::from(granted.ticket.clone()),
        authenticator: ExplicitContextTag4::from(der::encrypted(granted.session_key.etype, encrypted)),
    }))
}

enum Reply {
    Rep(Box<KdcRep>),
    Error(Box<KrbError>),
}

/// A KDC reply: AS-REP ([APPLICATION 11]), TGS-REP ([APPLICATION 13]) or KRB-ERROR ([APPLICATION 30]).
fn parse_reply(bytes: &[u8]) -> Result<Reply, Failure> {
    match bytes.first() {
        Some(0x6b) => Ok(Reply::Rep(Box::new(der::decode::<AsRep>(bytes, "AS-REP")?.0))),
        Some(0x6d) => Ok(Reply::Rep(Box::new(der::decode::<TgsRep>(bytes, "TGS-REP")?.0))),
        Some(0x7e) => Ok(Reply::Error(Box::new(der::decode::<KrbError>(bytes, "KRB-ERROR")?))),
        _ => Err(Failure::malformed("the KDC's reply is not an AS-REP, TGS-REP or KRB-ERROR".into())),
    }
}

fn code(e: &KrbError) -> u32 {
    e.0.error_code.0
}

/// METHOD-DATA of a KDC_ERR_PREAUTH_REQUIRED error (its e-data).
fn method_data(e: &KrbError) -> Result<Vec<PaData>, Failure> {
    match e.0.e_data.0.as_ref() {
        Some(data) => Ok(der::decode::<Asn1SequenceOf<PaData>>(&data.0 .0, "METHOD-DATA")?.0),
        None => Ok(Vec::new()),
    }
}

/// The first PA-ETYPE-INFO2 entry of a type in `etypes`: its type and salt.
fn etype_info(padata: &[PaData], etypes: &[u32]) -> Result<Option<(u32, Option<String>)>, Failure> {
    let Some(info) = padata.iter().find(|p| int_value(&p.padata_type.0) == Some(PA_ETYPE_INFO2)) else {
        return Ok(None);
    };
    let entries = der::decode::<EtypeInfo2>(&info.padata_data.0 .0, "PA-ETYPE-INFO2")?;
    for entry in entries.0 {
        let Some(etype) = int_value(&entry.etype.0).filter(|e| etypes.contains(e)) else { continue };
        // rill derives AES keys with RFC 3962's default 4096 PBKDF2 iterations.
        if let Some(params) = entry.s2kparams.0.as_ref() {
            if params.0 .0 != [0, 0, 0x10, 0] {
                return Err(Failure::new(
                    KerberosErrorKind::KdcError,
                    "the KDC asks for a non-default string-to-key iteration count, which rill does not support; \
                     use a keytab (sasl.kerberos.keytab)"
                        .into(),
                ));
            }
        }
        return Ok(Some((etype, entry.salt.0.as_ref().map(|s| der::text(&s.0)))));
    }
    Ok(None)
}

/// A KRB-ERROR as a typed failure; `service` is set for the TGS exchange.
fn kdc_error(e: &KrbError, client: &Principal, credentials: &Credentials, service: Option<(&str, &str)>) -> Failure {
    let code = code(e);
    let text = e.0.e_text.0.as_ref().map(|t| format!(": {}", crate::error::peer_text(&der::text(&t.0)))).unwrap_or_default();
    match (code, service) {
        (error_codes::KDC_ERR_C_PRINCIPAL_UNKNOWN, None) => Failure::new(
            KerberosErrorKind::UnknownPrincipal,
            format!("the KDC does not know {client} (KDC_ERR_C_PRINCIPAL_UNKNOWN{text}); check sasl.kerberos.principal"),
        ),
        (error_codes::KDC_ERR_S_PRINCIPAL_UNKNOWN, Some((service, host))) => Failure::new(
            KerberosErrorKind::UnknownService,
            format!(
                "the KDC does not know the broker principal {service}/{host}@{} (KDC_ERR_S_PRINCIPAL_UNKNOWN{text}); \
                 check sasl.kerberos.service.name (the brokers' principals are <service name>/<broker host>)",
                client.realm
            ),
        ),
        (error_codes::KDC_ERR_PREAUTH_FAILED, None) => credentials.rejected(client, &format!("KDC_ERR_PREAUTH_FAILED{text}")),
        (error_codes::KRB_AP_ERR_SKEW, _) => Failure::new(
            KerberosErrorKind::KdcError,
            format!("the KDC says this machine's clock is too far from its own (KRB_AP_ERR_SKEW{text})"),
        ),
        _ => Failure::new(KerberosErrorKind::KdcError, format!("the KDC answered with Kerberos error {code}{text}")),
    }
}
