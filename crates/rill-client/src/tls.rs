//! TLS (`security.protocol=SSL` / `SASL_SSL`) with rustls (ring provider):
//! a [`TlsTransport`] that wraps any other [`Transport`].
//!
//! Trust: `ssl.ca.location` (a PEM bundle) or, without it, the Mozilla roots
//! from `webpki-roots`. `ssl.endpoint.identification.algorithm=https`
//! (default) checks the broker's host name against its certificate;
//! `none` checks the chain only. `ssl.certificate.location` +
//! `ssl.key.location` give a client certificate (mTLS).

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig as RustlsConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_rustls::TlsConnector;

use crate::config::{ConfigError, TlsConfig};
use crate::transport::{BoxStream, ConnectFuture, Transport};

/// Which TLS check failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsErrorKind {
    /// The broker's certificate chain does not lead to a trusted CA (`ssl.ca.location`).
    UnknownCa,
    /// The broker's certificate is not valid for the host name connected to
    /// (`ssl.endpoint.identification.algorithm=https`).
    HostnameMismatch,
    /// The broker's certificate is expired (or not yet valid).
    Expired,
    /// The broker refused the client certificate, or asked for one and got none.
    ClientCertificateRefused,
    /// Another certificate problem (revoked, bad signature, wrong usage, ...).
    BadCertificate,
    /// Another TLS failure (protocol error, alert, no common cipher suite, ...).
    Other,
}

impl fmt::Display for TlsErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TlsErrorKind::UnknownCa => "the broker's certificate is not signed by a trusted CA (check ssl.ca.location)",
            TlsErrorKind::HostnameMismatch => {
                "the broker's certificate does not match its host name (ssl.endpoint.identification.algorithm=https)"
            }
            TlsErrorKind::Expired => "the broker's certificate is expired or not yet valid",
            TlsErrorKind::ClientCertificateRefused => {
                "the broker refused the client certificate or requires one (check ssl.certificate.location / ssl.key.location)"
            }
            TlsErrorKind::BadCertificate => "the broker's certificate is invalid",
            TlsErrorKind::Other => "TLS failure",
        })
    }
}

/// Classifies a rustls error.
pub fn classify(e: &rustls::Error) -> TlsErrorKind {
    use rustls::AlertDescription as A;
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer => TlsErrorKind::UnknownCa,
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                TlsErrorKind::HostnameMismatch
            }
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => TlsErrorKind::Expired,
            _ => TlsErrorKind::BadCertificate,
        },
        rustls::Error::AlertReceived(
            A::CertificateRequired | A::BadCertificate | A::UnknownCA | A::CertificateUnknown | A::AccessDenied,
        ) => TlsErrorKind::ClientCertificateRefused,
        _ => TlsErrorKind::Other,
    }
}

/// The rustls error inside an I/O error from a TLS stream, if any.
pub(crate) fn rustls_error(e: &io::Error) -> Option<&rustls::Error> {
    e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>())
}

/// TLS over another transport (TCP by default).
pub struct TlsTransport {
    inner: Arc<dyn Transport>,
    connector: TlsConnector,
}

impl fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsTransport").finish_non_exhaustive()
    }
}

impl TlsTransport {
    /// Builds the TLS client configuration (reads the PEM files now, so a
    /// bad path is a configuration error before any connection).
    pub fn new(config: &TlsConfig, inner: Arc<dyn Transport>) -> Result<TlsTransport, ConfigError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        match &config.ca_location {
            Some(path) => {
                let certs = read_certs("ssl.ca.location", path)?;
                for cert in certs {
                    roots.add(cert).map_err(|e| file_error("ssl.ca.location", path, format!("invalid CA certificate: {e}")))?;
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| ConfigError::Conflict { message: format!("ssl.ca.location: {e}") })?;
        let builder = RustlsConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ConfigError::Conflict { message: format!("TLS: {e}") })?;
        let builder = if config.verify_hostname {
            builder.with_webpki_verifier(webpki)
        } else {
            builder.dangerous().with_custom_certificate_verifier(Arc::new(NoHostnameVerifier(webpki)))
        };
        let client = match (&config.certificate_location, &config.key_location) {
            (Some(cert), Some(key_path)) => {
                let chain = read_certs("ssl.certificate.location", cert)?;
                let key = read_key(key_path)?;
                builder.with_client_auth_cert(chain, key).map_err(|e| file_error("ssl.key.location", key_path, e.to_string()))?
            }
            (None, None) => builder.with_no_client_auth(),
            (Some(_), None) => return Err(ConfigError::Missing { key: "ssl.key.location" }),
            (None, Some(_)) => return Err(ConfigError::Missing { key: "ssl.certificate.location" }),
        };
        Ok(TlsTransport { inner, connector: TlsConnector::from(Arc::new(client)) })
    }
}

impl Transport for TlsTransport {
    fn connect(&self, host: &str, port: u16) -> ConnectFuture {
        let tcp = self.inner.connect(host, port);
        let connector = self.connector.clone();
        let name = ServerName::try_from(host.to_string());
        Box::pin(async move {
            let name = name.map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("TLS server name: {e}")))?;
            let stream = tcp.await?;
            let tls = connector.connect(name, stream).await?;
            Ok(Box::new(tls) as BoxStream)
        })
    }
}

/// Chain verified, host name not (`ssl.endpoint.identification.algorithm=none`).
#[derive(Debug)]
struct NoHostnameVerifier(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for NoHostnameVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

fn file_error(key: &'static str, path: &Path, reason: String) -> ConfigError {
    ConfigError::File { key, path: path.to_path_buf(), reason }
}

fn read_certs(key: &'static str, path: &PathBuf) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(key, path, e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(key, path, e.to_string()))?;
    if certs.is_empty() {
        return Err(file_error(key, path, "no PEM certificate in the file".to_string()));
    }
    Ok(certs)
}

fn read_key(path: &PathBuf) -> Result<PrivateKeyDer<'static>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| file_error("ssl.key.location", path, e.to_string()))?;
    if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") || text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(ConfigError::Unsupported {
            key: "ssl.key.location".to_string(),
            value: path.display().to_string(),
            reason: "encrypted private keys (ssl.key.password) are not supported yet; use an unencrypted PKCS#8, PKCS#1 or SEC1 PEM key",
        });
    }
    PrivateKeyDer::from_pem_slice(text.as_bytes()).map_err(|e| {
        file_error("ssl.key.location", path, format!("no PKCS#8, PKCS#1 or SEC1 PEM private key: {e}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_file(name: &str, contents: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!("rill-tls-test-{}-{name}", std::process::id()));
        std::fs::write(&path, contents).unwrap();
        path
    }

    #[test]
    fn encrypted_keys_are_not_supported_yet() {
        let path = temp_file("enc.pem", "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n");
        let err = read_key(&path).unwrap_err();
        assert!(matches!(err, ConfigError::Unsupported { .. }), "{err:?}");
        assert!(err.to_string().contains("not supported yet"), "{err}");
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn files_without_pem_items_name_the_key() {
        let path = temp_file("empty.pem", "not a pem file\n");
        let err = TlsTransport::new(
            &TlsConfig { ca_location: Some(path.clone()), ..TlsConfig::default() },
            Arc::new(crate::transport::TcpTransport),
        )
        .unwrap_err();
        assert!(err.to_string().contains("ssl.ca.location"), "{err}");
        let err = read_key(&path).unwrap_err();
        assert!(err.to_string().contains("ssl.key.location"), "{err}");
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn rustls_errors_are_classified() {
        use rustls::AlertDescription;
        assert_eq!(classify(&rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)), TlsErrorKind::UnknownCa);
        assert_eq!(classify(&rustls::Error::InvalidCertificate(CertificateError::Expired)), TlsErrorKind::Expired);
        assert_eq!(
            classify(&rustls::Error::InvalidCertificate(CertificateError::NotValidForName)),
            TlsErrorKind::HostnameMismatch
        );
        assert_eq!(
            classify(&rustls::Error::AlertReceived(AlertDescription::CertificateRequired)),
            TlsErrorKind::ClientCertificateRefused
        );
        assert_eq!(classify(&rustls::Error::HandshakeNotComplete), TlsErrorKind::Other);
    }
}

#[cfg(test)]
mod retry_tests {
    use crate::error::Error;
    use crate::tls::TlsErrorKind;

    #[test]
    fn tls_and_authentication_failures_are_not_retriable() {
        let tls = Error::Tls { broker: "b:1".into(), kind: TlsErrorKind::UnknownCa, message: "x".into() };
        let auth = Error::Authentication { broker: "b:1".into(), mechanism: "PLAIN", message: "x".into() };
        for e in [tls, auth] {
            assert!(!e.is_retriable());
            let wrapped = Error::NoBrokerReachable { tried: vec!["b:1".into()], last: Some(Box::new(e)) };
            assert!(!wrapped.is_retriable());
        }
        assert!(Error::NoBrokerReachable { tried: vec![], last: None }.is_retriable());
    }
}
