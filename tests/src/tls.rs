//! Certificates for the SSL, MTLS and SASL_SSL listeners, generated per cluster.
//!
//! Two authorities: the harness CA, which signs the broker certificate (SAN
//! `localhost` and `127.0.0.1`; also an expired and a not yet valid one for
//! the listeners that serve them) and a client certificate for mTLS; and an
//! unrelated "rogue" CA with its own client certificate, for the negative
//! tests (untrusted broker, client certificate the broker must refuse).
//! Everything is written as PEM (Kafka reads PEM key and trust stores), and the
//! keystores also as PKCS#12 for clients that want that format.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use rcgen::{BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose};

use crate::error::{Context, HarnessError, Result};
use crate::secret::Secret;

/// A certificate with its private key, as files.
#[derive(Debug, Clone)]
pub struct CertifiedKey {
    /// The certificate alone (PEM).
    pub cert_pem: PathBuf,
    /// The unencrypted PKCS#8 private key (PEM).
    pub key_pem: PathBuf,
    /// The same key in OpenSSL's traditional form (`openssl pkey
    /// -traditional`): SEC1 `EC PRIVATE KEY` for an ECDSA key, PKCS#1
    /// `RSA PRIVATE KEY` for an RSA key.
    pub key_pem_traditional: PathBuf,
    /// The same key as encrypted PKCS#8 (PEM `ENCRYPTED PRIVATE KEY`, PBES2
    /// AES-256-CBC as `openssl pkcs8 -topk8` writes it), password
    /// [`TlsMaterial::pkcs12_password`].
    pub key_pem_encrypted: PathBuf,
    /// Private key, certificate and issuing CA in one PEM file: the format of
    /// Kafka's `ssl.keystore.type=PEM` with `ssl.keystore.location`.
    pub keystore_pem: PathBuf,
    /// The same key and chain as PKCS#12, protected by [`TlsMaterial::pkcs12_password`].
    pub keystore_p12: PathBuf,
}

/// All TLS files of one cluster.
#[derive(Debug, Clone)]
pub struct TlsMaterial {
    /// The harness CA certificate: the trust store clients need.
    pub ca_cert_pem: PathBuf,
    /// The same CA as a PKCS#12 trust store (password [`TlsMaterial::pkcs12_password`]).
    pub ca_truststore_p12: PathBuf,
    /// Broker certificate, SAN `localhost` and `127.0.0.1`.
    pub broker: CertifiedKey,
    /// The same names from the same CA, valid only in 2020: served by the
    /// `SSL_EXPIRED` listener.
    pub broker_expired: CertifiedKey,
    /// The same names from the same CA, valid only from 2099: served by the
    /// `SSL_NOT_YET_VALID` listener.
    pub broker_not_yet_valid: CertifiedKey,
    /// Client certificate (CN `rill-client`, ECDSA P-256 key) accepted by the MTLS listener.
    pub client: CertifiedKey,
    /// The same client with a 2048-bit RSA key (its traditional key file is PKCS#1).
    pub client_rsa: CertifiedKey,
    /// A CA the brokers do not know; trusting only it must make clients refuse the broker.
    pub rogue_ca_cert_pem: PathBuf,
    /// A client certificate signed by the rogue CA; the MTLS listener must refuse it.
    pub rogue_client: CertifiedKey,
    /// Password of every `.p12` file.
    pub pkcs12_password: Secret,
}

/// When a certificate is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Validity {
    /// rcgen's default: from 1975 to 4096.
    Current,
    /// 2020 only: expired ever since.
    Expired,
    /// From 2099: not valid yet.
    NotYetValid,
}

struct Authority {
    key: KeyPair,
    cert: rcgen::Certificate,
    cert_pem: PathBuf,
}

impl TlsMaterial {
    /// Generates a fresh CA, broker and client certificates under `dir`.
    pub fn generate(dir: &Path) -> Result<TlsMaterial> {
        std::fs::create_dir_all(dir).context(|| format!("creating {}", dir.display()))?;
        let pkcs12_password = Secret::new("rill-test-store");
        let ca = authority(dir, "ca", "rill test CA")?;
        let rogue_ca = authority(dir, "rogue-ca", "rogue CA unknown to the brokers")?;
        let broker = leaf(
            dir,
            generated_key("broker")?,
            "broker",
            "localhost",
            &["localhost", "127.0.0.1"],
            &[ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth],
            &ca,
            Validity::Current,
            &pkcs12_password,
        )?;
        let broker_with = |file_stem: &str, validity: Validity| {
            leaf(
                dir,
                generated_key(file_stem)?,
                file_stem,
                "localhost",
                &["localhost", "127.0.0.1"],
                &[ExtendedKeyUsagePurpose::ServerAuth],
                &ca,
                validity,
                &pkcs12_password,
            )
        };
        let broker_expired = broker_with("broker-expired", Validity::Expired)?;
        let broker_not_yet_valid = broker_with("broker-not-yet-valid", Validity::NotYetValid)?;
        let client = leaf(
            dir,
            generated_key("client")?,
            "client",
            "rill-client",
            &[],
            &[ExtendedKeyUsagePurpose::ClientAuth],
            &ca,
            Validity::Current,
            &pkcs12_password,
        )?;
        let client_rsa = leaf(
            dir,
            rsa_key(dir, "client-rsa")?,
            "client-rsa",
            "rill-client",
            &[],
            &[ExtendedKeyUsagePurpose::ClientAuth],
            &ca,
            Validity::Current,
            &pkcs12_password,
        )?;
        let rogue_client = leaf(
            dir,
            generated_key("rogue-client")?,
            "rogue-client",
            "rill-client",
            &[],
            &[ExtendedKeyUsagePurpose::ClientAuth],
            &rogue_ca,
            Validity::Current,
            &pkcs12_password,
        )?;
        let ca_truststore_p12 = dir.join("ca-truststore.p12");
        export_truststore(&ca.cert_pem, &ca_truststore_p12, &pkcs12_password)?;
        Ok(TlsMaterial {
            ca_cert_pem: ca.cert_pem,
            ca_truststore_p12,
            broker,
            broker_expired,
            broker_not_yet_valid,
            client,
            client_rsa,
            rogue_ca_cert_pem: rogue_ca.cert_pem,
            rogue_client,
            pkcs12_password,
        })
    }
}

fn authority(dir: &Path, file_stem: &str, common_name: &str) -> Result<Authority> {
    let key = KeyPair::generate().context(|| format!("generating the {common_name} key"))?;
    let mut params = CertificateParams::default();
    params.distinguished_name = name(common_name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let cert = params.self_signed(&key).context(|| format!("self-signing {common_name}"))?;
    let cert_pem = dir.join(format!("{file_stem}.pem"));
    write(&cert_pem, &cert.pem())?;
    Ok(Authority { key, cert, cert_pem })
}

/// A fresh ECDSA P-256 key (rcgen's default).
fn generated_key(file_stem: &str) -> Result<KeyPair> {
    KeyPair::generate().context(|| format!("generating the {file_stem} key"))
}

/// A fresh 2048-bit RSA key from the openssl CLI (ring, under rcgen, signs
/// with RSA keys but cannot generate them).
fn rsa_key(dir: &Path, file_stem: &str) -> Result<KeyPair> {
    let generated = dir.join(format!("{file_stem}.generated.key"));
    let args: Vec<&OsStr> =
        vec!["genpkey".as_ref(), "-algorithm".as_ref(), "RSA".as_ref(), "-pkeyopt".as_ref(), "rsa_keygen_bits:2048".as_ref()];
    openssl(&args, "genpkey -algorithm RSA", &generated)?;
    let pem = std::fs::read_to_string(&generated).context(|| format!("reading {}", generated.display()))?;
    KeyPair::from_pem(&pem).context(|| format!("loading the {file_stem} RSA key"))
}

#[allow(clippy::too_many_arguments)]
fn leaf(
    dir: &Path,
    key: KeyPair,
    file_stem: &str,
    common_name: &str,
    subject_alt_names: &[&str],
    usages: &[ExtendedKeyUsagePurpose],
    issuer: &Authority,
    validity: Validity,
    pkcs12_password: &Secret,
) -> Result<CertifiedKey> {
    let sans: Vec<String> = subject_alt_names.iter().map(|s| s.to_string()).collect();
    let mut params = CertificateParams::new(sans).context(|| format!("subject alternative names for {file_stem}"))?;
    params.distinguished_name = name(common_name);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = usages.to_vec();
    match validity {
        Validity::Current => {}
        Validity::Expired => {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        Validity::NotYetValid => {
            params.not_before = rcgen::date_time_ymd(2099, 1, 1);
            params.not_after = rcgen::date_time_ymd(2100, 1, 1);
        }
    }
    let cert = params.signed_by(&key, &issuer.cert, &issuer.key).context(|| format!("signing the {file_stem} certificate"))?;
    let cert_pem = dir.join(format!("{file_stem}.pem"));
    let key_pem = dir.join(format!("{file_stem}.key"));
    let keystore_pem = dir.join(format!("{file_stem}-keystore.pem"));
    let keystore_p12 = dir.join(format!("{file_stem}.p12"));
    write(&cert_pem, &cert.pem())?;
    write(&key_pem, &key.serialize_pem())?;
    write(&keystore_pem, &format!("{}{}{}", key.serialize_pem(), cert.pem(), issuer.cert.pem()))?;
    export_pkcs12(&cert_pem, &key_pem, &issuer.cert_pem, &keystore_p12, file_stem, pkcs12_password)?;
    let key_pem_encrypted = dir.join(format!("{file_stem}.encrypted.key"));
    encrypt_pkcs8(&key_pem, &key_pem_encrypted, pkcs12_password)?;
    let key_pem_traditional = dir.join(format!("{file_stem}.traditional.key"));
    let args: Vec<&OsStr> = vec!["pkey".as_ref(), "-traditional".as_ref(), "-in".as_ref(), key_pem.as_ref()];
    openssl(&args, "pkey -traditional", &key_pem_traditional)?;
    Ok(CertifiedKey { cert_pem, key_pem, key_pem_traditional, key_pem_encrypted, keystore_pem, keystore_p12 })
}

fn name(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::OrganizationName, "rill tests");
    name.push(DnType::CommonName, common_name);
    name
}

fn write(path: &Path, contents: &str) -> Result<()> {
    std::fs::write(path, contents).context(|| format!("writing {}", path.display()))
}

/// Runs the openssl CLI; `what` names the step in errors.
fn openssl(args: &[&OsStr], what: &str, out: &Path) -> Result<()> {
    let output = Command::new("openssl")
        .args(args)
        .arg("-out")
        .arg(out)
        .output()
        .context(|| format!("running openssl {what} (install openssl: tests/scripts/provision.sh)"))?;
    if !output.status.success() {
        return Err(HarnessError::new(format!("openssl {what} for {} failed: {}", out.display(), String::from_utf8_lossy(&output.stderr))));
    }
    Ok(())
}

/// PKCS#12 through the openssl CLI: rcgen has no PKCS#12 writer and this runs
/// once per cluster.
fn export_pkcs12(cert: &Path, key: &Path, ca: &Path, out: &Path, alias: &str, password: &Secret) -> Result<()> {
    let pass = format!("pass:{}", password.expose());
    let args: Vec<&OsStr> = vec![
        "pkcs12".as_ref(),
        "-export".as_ref(),
        "-name".as_ref(),
        alias.as_ref(),
        "-passout".as_ref(),
        pass.as_ref(),
        "-in".as_ref(),
        cert.as_ref(),
        "-inkey".as_ref(),
        key.as_ref(),
        "-certfile".as_ref(),
        ca.as_ref(),
    ];
    openssl(&args, "pkcs12 -export", out)
}

/// Encrypted PKCS#8 through the openssl CLI, the way users make such keys.
fn encrypt_pkcs8(key: &Path, out: &Path, password: &Secret) -> Result<()> {
    let pass = format!("pass:{}", password.expose());
    let args: Vec<&OsStr> = vec![
        "pkcs8".as_ref(),
        "-topk8".as_ref(),
        "-v2".as_ref(),
        "aes-256-cbc".as_ref(),
        "-passout".as_ref(),
        pass.as_ref(),
        "-in".as_ref(),
        key.as_ref(),
    ];
    openssl(&args, "pkcs8 -topk8", out)
}

/// A PKCS#12 trust store needs Java's "trusted certificate" attribute, which
/// Debian 12's openssl cannot write; keytool (from the JDK that runs Kafka) can.
fn export_truststore(ca: &Path, out: &Path, password: &Secret) -> Result<()> {
    let keytool = std::env::var("JAVA_HOME")
        .map(|home| Path::new(&home).join("bin").join("keytool"))
        .ok()
        .filter(|path| path.exists())
        .unwrap_or_else(|| PathBuf::from("keytool"));
    let _ = std::fs::remove_file(out);
    let output = Command::new(&keytool)
        .args(["-importcert", "-noprompt", "-storetype", "PKCS12", "-alias", "rill-test-ca", "-storepass"])
        .arg(password.expose())
        .arg("-file")
        .arg(ca)
        .arg("-keystore")
        .arg(out)
        .output()
        .context(|| format!("running {} (part of the JDK)", keytool.display()))?;
    if !output.status.success() {
        return Err(HarnessError::new(format!(
            "keytool -importcert into {} failed: {}{}",
            out.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_certificate_chains_to_the_ca_and_names_localhost() {
        let dir = crate::paths::target_dir().join("rill-e2e-unit").join(format!("tls-{}", std::process::id()));
        let tls = TlsMaterial::generate(&dir).expect("generate TLS material");
        let verify = |ca: &Path, cert: &Path| {
            Command::new("openssl").arg("verify").arg("-CAfile").arg(ca).arg(cert).output().expect("run openssl verify").status.success()
        };
        assert!(verify(&tls.ca_cert_pem, &tls.broker.cert_pem));
        assert!(verify(&tls.ca_cert_pem, &tls.client.cert_pem));
        assert!(!verify(&tls.ca_cert_pem, &tls.rogue_client.cert_pem), "rogue client must not chain to the CA");
        // openssl verify checks the dates: the expired and future broker certificates fail only on them.
        for (cert, error) in
            [(&tls.broker_expired.cert_pem, "certificate has expired"), (&tls.broker_not_yet_valid.cert_pem, "not yet valid")]
        {
            let output =
                Command::new("openssl").arg("verify").arg("-CAfile").arg(&tls.ca_cert_pem).arg(cert).output().expect("openssl verify");
            let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
            assert!(!output.status.success() && text.contains(error), "{}: {text}", cert.display());
        }
        let text =
            Command::new("openssl").args(["x509", "-noout", "-text", "-in"]).arg(&tls.broker.cert_pem).output().expect("openssl x509");
        let text = String::from_utf8_lossy(&text.stdout);
        assert!(text.contains("DNS:localhost"), "{text}");
        assert!(text.contains("IP Address:127.0.0.1"), "{text}");
        let p12 = Command::new("openssl")
            .args(["pkcs12", "-noout", "-passin"])
            .arg(format!("pass:{}", tls.pkcs12_password.expose()))
            .arg("-in")
            .arg(&tls.client.keystore_p12)
            .output()
            .expect("openssl pkcs12");
        assert!(p12.status.success(), "{}", String::from_utf8_lossy(&p12.stderr));
        let truststore = std::fs::read(&tls.ca_truststore_p12).expect("PKCS#12 trust store written");
        assert!(!truststore.is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
