//! Key material for TLS: trusted CAs and the client identity, from the forms
//! users already have:
//!
//! - PEM: `ssl.ca.location`, `ssl.certificate.location` + `ssl.key.location`
//!   (PKCS#8, PKCS#1 or SEC1; an encrypted PKCS#8 key with `ssl.key.password`);
//! - PKCS#12 (what Java users have): `ssl.keystore.location` +
//!   `ssl.keystore.password` for the client identity,
//!   `ssl.truststore.location` + `ssl.truststore.password` for trusted CAs
//!   (`ssl.truststore.type=PEM` takes a PEM bundle instead).
//!
//! Passwords are only ever passed to the decoders; errors name the key and
//! the file, never the password.

use std::path::Path;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::{ConfigError, Secret, TlsConfig};

/// A client certificate chain (leaf first) and its private key.
pub(crate) struct ClientIdentity {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

fn file_error(key: &'static str, path: &Path, reason: impl Into<String>) -> ConfigError {
    ConfigError::File { key, path: path.to_path_buf(), reason: reason.into() }
}

/// The trusted CAs the configuration names, or `None` for the default (webpki) roots.
pub(crate) fn trust_anchors(config: &TlsConfig) -> Result<Option<Vec<CertificateDer<'static>>>, ConfigError> {
    match (&config.ca_location, &config.truststore_location) {
        (Some(_), Some(_)) => {
            Err(ConfigError::Conflict { message: "ssl.ca.location and ssl.truststore.location both name trusted CAs; set one".to_string() })
        }
        (Some(path), None) => read_pem_certs("ssl.ca.location", path).map(Some),
        (None, Some(path)) if config.truststore_is_pem => read_pem_certs("ssl.truststore.location", path).map(Some),
        (None, Some(path)) => pkcs12_trusted_certs(path, config.truststore_password.as_ref()).map(Some),
        (None, None) => Ok(None),
    }
}

/// The client identity for mTLS, if one is configured.
pub(crate) fn client_identity(config: &TlsConfig) -> Result<Option<ClientIdentity>, ConfigError> {
    let pem = config.certificate_location.is_some() || config.key_location.is_some();
    match (&config.keystore_location, pem) {
        (Some(_), true) => Err(ConfigError::Conflict {
            message: "ssl.keystore.location and ssl.certificate.location/ssl.key.location both give a client \
                      identity; set one"
                .to_string(),
        }),
        (Some(path), false) => pkcs12_identity(path, config.keystore_password.as_ref()).map(Some),
        (None, true) => match (&config.certificate_location, &config.key_location) {
            (Some(cert), Some(key)) => Ok(Some(ClientIdentity {
                chain: read_pem_certs("ssl.certificate.location", cert)?,
                key: read_pem_key(key, config.key_password.as_ref())?,
            })),
            (Some(_), None) => Err(ConfigError::Missing { key: "ssl.key.location" }),
            _ => Err(ConfigError::Missing { key: "ssl.certificate.location" }),
        },
        (None, false) => Ok(None),
    }
}

pub(crate) fn read_pem_certs(key: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(key, path, e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(key, path, e.to_string()))?;
    if certs.is_empty() {
        return Err(file_error(key, path, "no PEM certificate in the file"));
    }
    Ok(certs)
}

const ENCRYPTED_PKCS8_BEGIN: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----";
const ENCRYPTED_PKCS8_END: &str = "-----END ENCRYPTED PRIVATE KEY-----";

/// A PEM private key: plain PKCS#8 / PKCS#1 / SEC1, or encrypted PKCS#8
/// (RFC 5958 `ENCRYPTED PRIVATE KEY`, PBES2 as OpenSSL writes it by default).
pub(crate) fn read_pem_key(path: &Path, password: Option<&Secret>) -> Result<PrivateKeyDer<'static>, ConfigError> {
    const KEY: &str = "ssl.key.location";
    let text = std::fs::read_to_string(path).map_err(|e| file_error(KEY, path, e.to_string()))?;
    if text.contains("Proc-Type: 4,ENCRYPTED") {
        // Traditional OpenSSL encryption (RFC 1421 headers, EVP_BytesToKey's
        // one-round MD5 KDF) is not PKCS#8. No well-kept pure-Rust crate
        // decrypts it (RustCrypto's pem-rfc7468, pkcs1, pkcs8 and sec1 reject
        // PEM headers), Java's Kafka client does not read it either, and
        // converting is one command.
        return Err(ConfigError::Unsupported {
            key: KEY.to_string(),
            value: path.display().to_string(),
            reason: "the key uses OpenSSL's traditional encryption (Proc-Type: 4,ENCRYPTED); convert it to encrypted \
                     PKCS#8 with `openssl pkcs8 -topk8 -in key.pem -out key.p8.pem` and set ssl.key.password",
        });
    }
    if let Some(block) = encrypted_pkcs8_block(&text) {
        return decrypt_pkcs8(path, block, password);
    }
    PrivateKeyDer::from_pem_slice(text.as_bytes())
        .map_err(|e| file_error(KEY, path, format!("no PKCS#8, PKCS#1 or SEC1 PEM private key: {e}")))
}

fn encrypted_pkcs8_block(text: &str) -> Option<&str> {
    let start = text.find(ENCRYPTED_PKCS8_BEGIN)?;
    let end = start + text.get(start..)?.find(ENCRYPTED_PKCS8_END)? + ENCRYPTED_PKCS8_END.len();
    text.get(start..end)
}

#[cfg(feature = "keystores")]
fn decrypt_pkcs8(path: &Path, block: &str, password: Option<&Secret>) -> Result<PrivateKeyDer<'static>, ConfigError> {
    use pkcs8::der::Decode;
    const KEY: &str = "ssl.key.location";
    let password = password.ok_or(ConfigError::Missing { key: "ssl.key.password" })?;
    let (label, der) = pkcs8::der::pem::decode_vec(block.as_bytes())
        .map_err(|e| file_error(KEY, path, format!("damaged ENCRYPTED PRIVATE KEY block: {e}")))?;
    if label != "ENCRYPTED PRIVATE KEY" {
        return Err(file_error(KEY, path, format!("unexpected PEM label {label}")));
    }
    let info = pkcs8::EncryptedPrivateKeyInfoRef::from_der(&der)
        .map_err(|e| file_error(KEY, path, format!("not an encrypted PKCS#8 key: {e}")))?;
    let plain = info.decrypt(password.expose().as_bytes()).map_err(|e| {
        file_error(KEY, path, format!("cannot decrypt the key: ssl.key.password is wrong or the scheme is unsupported ({e})"))
    })?;
    Ok(PrivateKeyDer::Pkcs8(plain.as_bytes().to_vec().into()))
}

#[cfg(not(feature = "keystores"))]
fn decrypt_pkcs8(path: &Path, _block: &str, _password: Option<&Secret>) -> Result<PrivateKeyDer<'static>, ConfigError> {
    Err(ConfigError::Unsupported {
        key: "ssl.key.location".to_string(),
        value: path.display().to_string(),
        reason: "encrypted PKCS#8 keys need rill-client's `keystores` feature",
    })
}

#[cfg(feature = "keystores")]
fn open_pkcs12(
    key: &'static str,
    password_key: &'static str,
    path: &Path,
    password: Option<&Secret>,
) -> Result<p12_keystore::Pkcs12Archive, ConfigError> {
    let data = std::fs::read(path).map_err(|e| file_error(key, path, e.to_string()))?;
    // Java writes and reads keystores with an empty password too.
    let password = password.map(Secret::expose).unwrap_or("");
    p12_keystore::Pkcs12Archive::from_pkcs12(&data, password).map_err(|e| match e {
        p12_keystore::error::Error::MacError(_) => {
            file_error(key, path, format!("the store's integrity check failed: {password_key} is wrong (or the file is damaged)"))
        }
        other => file_error(key, path, format!("not a PKCS#12 store rill can read: {other}")),
    })
}

/// Every certificate of a PKCS#12 truststore. Stores written by
/// `openssl pkcs12 -export -nokeys` lack Java's "trusted" attribute, so
/// every certificate counts, as Java users would expect of a truststore.
#[cfg(feature = "keystores")]
fn pkcs12_trusted_certs(path: &Path, password: Option<&Secret>) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    const KEY: &str = "ssl.truststore.location";
    let archive = open_pkcs12(KEY, "ssl.truststore.password", path, password)?;
    let certs: Vec<CertificateDer<'static>> = archive.certs.iter().map(|bag| CertificateDer::from(bag.cert.as_der().to_vec())).collect();
    if certs.is_empty() {
        return Err(file_error(KEY, path, "the truststore holds no certificate"));
    }
    Ok(certs)
}

/// The one private key of a PKCS#12 keystore and its chain: the certificate
/// with the key's local key id, then its issuers as far as the store has them.
#[cfg(feature = "keystores")]
fn pkcs12_identity(path: &Path, password: Option<&Secret>) -> Result<ClientIdentity, ConfigError> {
    const KEY: &str = "ssl.keystore.location";
    let archive = open_pkcs12(KEY, "ssl.keystore.password", path, password)?;
    let key = match archive.keys.as_slice() {
        [key] => key,
        [] => return Err(file_error(KEY, path, "the keystore holds no private key")),
        keys => {
            return Err(file_error(
                KEY,
                path,
                format!("the keystore holds {} private keys; give rill a keystore with exactly one", keys.len()),
            ))
        }
    };
    let leaf = archive
        .certs
        .iter()
        .find(|bag| bag.local_key_id.as_deref().is_some_and(|id| key.local_key_id.as_ref().is_some_and(|k| k.0 == id)))
        .or_else(|| archive.certs.iter().find(|bag| bag.local_key_id.is_some()))
        .or_else(|| archive.certs.first())
        .ok_or_else(|| file_error(KEY, path, "the keystore holds no certificate for its private key"))?;
    let mut chain = vec![leaf.cert.clone()];
    // Walk up the issuers; bounded by the number of certificates, so a
    // cycle in a crafted store cannot loop.
    for _ in 0..archive.certs.len() {
        let Some(last) = chain.last() else { break };
        if last.issuer() == last.subject() {
            break;
        }
        match archive.certs.iter().find(|bag| bag.cert.subject() == last.issuer() && !chain.contains(&bag.cert)) {
            Some(issuer) => chain.push(issuer.cert.clone()),
            None => break,
        }
    }
    Ok(ClientIdentity {
        chain: chain.iter().map(|c| CertificateDer::from(c.as_der().to_vec())).collect(),
        key: PrivateKeyDer::Pkcs8(key.key.as_der().to_vec().into()),
    })
}

#[cfg(not(feature = "keystores"))]
fn pkcs12_trusted_certs(path: &Path, _: Option<&Secret>) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    Err(keystores_disabled("ssl.truststore.location", path))
}

#[cfg(not(feature = "keystores"))]
fn pkcs12_identity(path: &Path, _: Option<&Secret>) -> Result<ClientIdentity, ConfigError> {
    Err(keystores_disabled("ssl.keystore.location", path))
}

#[cfg(not(feature = "keystores"))]
fn keystores_disabled(key: &str, path: &Path) -> ConfigError {
    ConfigError::Unsupported {
        key: key.to_string(),
        value: path.display().to_string(),
        reason: "PKCS#12 stores need rill-client's `keystores` feature",
    }
}

#[cfg(all(test, feature = "keystores"))]
mod tests {
    use std::path::PathBuf;

    use pkcs8::der::Decode;

    use super::*;

    struct Fixture {
        dir: PathBuf,
        ca: rcgen::CertifiedKey,
        leaf: rcgen::CertifiedKey,
    }

    /// A CA and a client certificate it signed, in a fresh directory.
    fn fixture(name: &str) -> Fixture {
        let dir = std::env::temp_dir().join(format!("rill-tls-material-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.distinguished_name.push(rcgen::DnType::CommonName, "rill test CA");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let mut leaf_params = rcgen::CertificateParams::new(vec!["client".to_string()]).unwrap();
        leaf_params.distinguished_name.push(rcgen::DnType::CommonName, "rill client");
        let leaf_cert = leaf_params.signed_by(&leaf_key, &ca_cert, &ca_key).unwrap();
        Fixture {
            dir,
            ca: rcgen::CertifiedKey { cert: ca_cert, key_pair: ca_key },
            leaf: rcgen::CertifiedKey { cert: leaf_cert, key_pair: leaf_key },
        }
    }

    impl Fixture {
        fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
            let path = self.dir.join(name);
            std::fs::write(&path, contents).unwrap();
            path
        }

        fn encrypted_key_pem(&self, password: &str) -> String {
            let der = self.leaf.key_pair.serialize_der();
            let info = pkcs8::PrivateKeyInfoRef::from_der(&der).unwrap();
            let params = pkcs8::pkcs5::pbes2::Parameters::generate_pbkdf2_sha256_aes256cbc(2048, b"rill-salt", [7; 16]).unwrap();
            let doc = info.encrypt_with_params(params, password).unwrap();
            doc.to_pem("ENCRYPTED PRIVATE KEY", pkcs8::LineEnding::LF).unwrap().to_string()
        }

        fn keystore(&self, password: &str, with_key: bool) -> Vec<u8> {
            use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain};
            let leaf = Certificate::from_der(self.leaf.cert.der()).unwrap();
            let ca = Certificate::from_der(self.ca.cert.der()).unwrap();
            let mut store = KeyStore::new();
            if with_key {
                let key = PrivateKey::from_der(&self.leaf.key_pair.serialize_der()).unwrap();
                store.add_entry("client", KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new("k1", key, [leaf, ca])));
            } else {
                store.add_entry("ca", KeyStoreEntry::Certificate(ca));
            }
            store.writer(password).write().unwrap()
        }
    }

    fn tls(configure: impl FnOnce(&mut TlsConfig)) -> TlsConfig {
        let mut config = TlsConfig::default();
        configure(&mut config);
        config
    }

    #[test]
    fn an_encrypted_pkcs8_key_decrypts_with_its_password() {
        let f = fixture("enc-ok");
        let path = f.write("key.pem", f.encrypted_key_pem("s3cret-kp"));
        let key = read_pem_key(&path, Some(&Secret::new("s3cret-kp"))).unwrap();
        assert_eq!(key.secret_der(), f.leaf.key_pair.serialize_der().as_slice(), "the decrypted key is the original");
    }

    #[test]
    fn an_encrypted_pkcs8_key_with_a_wrong_or_missing_password_names_the_key_not_the_password() {
        let f = fixture("enc-bad");
        let path = f.write("key.pem", f.encrypted_key_pem("right-pw"));
        let err = read_pem_key(&path, Some(&Secret::new("Wr0ng-pw-XYZ"))).unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(text.contains("ssl.key.password is wrong"), "{text}");
        assert!(!text.contains("Wr0ng-pw-XYZ") && !text.contains("right-pw"), "a password leaked: {text}");
        let err = read_pem_key(&path, None).unwrap_err();
        assert!(matches!(err, ConfigError::Missing { key: "ssl.key.password" }), "{err:?}");
    }

    #[test]
    fn traditional_openssl_encryption_gets_the_conversion_command() {
        let f = fixture("legacy");
        let path = f.write(
            "key.pem",
            "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n",
        );
        let err = read_pem_key(&path, Some(&Secret::new("x"))).unwrap_err();
        assert!(matches!(&err, ConfigError::Unsupported { key, .. } if key == "ssl.key.location"), "{err:?}");
        assert!(err.to_string().contains("openssl pkcs8 -topk8"), "{err}");
    }

    #[test]
    fn a_pkcs12_keystore_gives_the_key_and_its_chain() {
        let f = fixture("p12");
        let path = f.write("client.p12", f.keystore("ks-pass", true));
        let config = tls(|c| {
            c.keystore_location = Some(path.clone());
            c.keystore_password = Some(Secret::new("ks-pass"));
        });
        let identity = client_identity(&config).unwrap().expect("an identity");
        assert_eq!(identity.key.secret_der(), f.leaf.key_pair.serialize_der().as_slice());
        let chain: Vec<&[u8]> = identity.chain.iter().map(|c| c.as_ref()).collect();
        assert_eq!(chain, vec![f.leaf.cert.der().as_ref(), f.ca.cert.der().as_ref()], "leaf first, then its CA");
        // And rustls accepts it as a client identity.
        super::super::TlsTransport::new(&config, std::sync::Arc::new(crate::transport::TcpTransport)).unwrap();
    }

    #[test]
    fn a_wrong_keystore_password_is_named() {
        let f = fixture("p12-bad");
        let path = f.write("client.p12", f.keystore("ks-pass", true));
        let config = tls(|c| {
            c.keystore_location = Some(path.clone());
            c.keystore_password = Some(Secret::new("N0t-the-pass"));
        });
        let err = client_identity(&config).err().expect("a wrong password fails");
        let text = format!("{err} {err:?}");
        assert!(text.contains("ssl.keystore.password is wrong"), "{text}");
        assert!(!text.contains("N0t-the-pass"), "the password leaked: {text}");
    }

    #[test]
    fn a_pkcs12_truststore_and_a_pem_truststore_give_the_ca() {
        let f = fixture("trust");
        let p12 = f.write("trust.p12", f.keystore("ts-pass", false));
        let pem = f.write("trust.pem", f.ca.cert.pem());
        let from_p12 = trust_anchors(&tls(|c| {
            c.truststore_location = Some(p12.clone());
            c.truststore_password = Some(Secret::new("ts-pass"));
        }))
        .unwrap()
        .unwrap();
        let from_pem = trust_anchors(&tls(|c| {
            c.truststore_location = Some(pem.clone());
            c.truststore_is_pem = true;
        }))
        .unwrap()
        .unwrap();
        assert_eq!(from_p12, vec![f.ca.cert.der().clone()]);
        assert_eq!(from_pem, from_p12);
    }

    #[test]
    fn two_sources_for_the_same_thing_conflict() {
        let f = fixture("conflict");
        let pem = f.write("ca.pem", f.ca.cert.pem());
        let err = trust_anchors(&tls(|c| {
            c.ca_location = Some(pem.clone());
            c.truststore_location = Some(pem.clone());
        }))
        .unwrap_err();
        assert!(err.to_string().contains("ssl.truststore.location"), "{err}");
        let err = client_identity(&tls(|c| {
            c.keystore_location = Some(pem.clone());
            c.certificate_location = Some(pem.clone());
        }))
        .err()
        .expect("conflict");
        assert!(err.to_string().contains("ssl.keystore.location"), "{err}");
    }
}
