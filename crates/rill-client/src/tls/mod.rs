//! TLS (`security.protocol=SSL` / `SASL_SSL`) with rustls (ring provider):
//! a [`TlsTransport`] that wraps any other [`Transport`].
//!
//! Trust: `ssl.ca.location` (a PEM bundle) or, without it, the Mozilla roots
//! from `webpki-roots`. `ssl.endpoint.identification.algorithm=https`
//! (default) checks the broker's host name against its certificate;
//! `none` checks the chain only. `ssl.certificate.location` +
//! `ssl.key.location` (or a PKCS#12 `ssl.keystore.location`) give a client
//! certificate (mTLS); [`material`] reads every supported form.

mod material;
mod refusal;

pub(crate) use refusal::refusal;

use std::fmt;
use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
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
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => TlsErrorKind::HostnameMismatch,
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
    config: Arc<RustlsConfig>,
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
        match material::trust_anchors(config)? {
            Some(certs) => {
                let key = if config.ca_location.is_some() { "ssl.ca.location" } else { "ssl.truststore.location" };
                for cert in certs {
                    roots.add(cert).map_err(|e| ConfigError::Conflict { message: format!("{key}: invalid CA certificate: {e}") })?;
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
        let client = match material::client_identity(config)? {
            Some(identity) => builder.with_client_auth_cert(identity.chain, identity.key).map_err(|e| {
                let key = if config.keystore_location.is_some() { "ssl.keystore.location" } else { "ssl.key.location" };
                ConfigError::Conflict { message: format!("{key}: the private key does not fit the certificate: {e}") }
            })?,
            None => builder.with_no_client_auth(),
        };
        Ok(TlsTransport { inner, config: Arc::new(client) })
    }
}

impl Transport for TlsTransport {
    fn connect(&self, host: &str, port: u16) -> ConnectFuture {
        let tcp = self.inner.connect(host, port);
        // Each connection gets its own resolver, to learn whether its broker
        // asked for a client certificate (see `refusal`). The clone shares
        // everything else, the session cache included.
        let mut config = (*self.config).clone();
        let (resolver, cert_requested) = refusal::RecordCertRequest::new(config.client_auth_cert_resolver.clone());
        config.client_auth_cert_resolver = resolver;
        let connector = TlsConnector::from(Arc::new(config));
        let name = ServerName::try_from(host.to_string());
        Box::pin(async move {
            let name = name.map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("TLS server name: {e}")))?;
            let stream = tcp.await?;
            let tls =
                connector.connect(name, stream).await.map_err(|e| refusal::name_refusal(e, cert_requested.load(Ordering::Relaxed)))?;
            Ok(Box::new(refusal::RefusalAwareStream::new(tls, cert_requested)) as BoxStream)
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
            Err(rustls::Error::InvalidCertificate(CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. })) => {
                Ok(ServerCertVerified::assertion())
            }
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

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn temp_file(name: &str, contents: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!("rill-tls-test-{}-{name}", std::process::id()));
        std::fs::write(&path, contents).unwrap();
        path
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
        let err = material::read_pem_key(&path, None).unwrap_err();
        assert!(err.to_string().contains("ssl.key.location"), "{err}");
        let _ = std::fs::remove_file(path);
    }

    /// A TLS server on loopback whose certificate (for `localhost`, signed
    /// by a CA the client trusts) expired in 2020: the client must say
    /// "expired", not just "bad certificate".
    #[tokio::test]
    async fn an_expired_broker_certificate_is_reported_as_expired() {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params.not_before = rcgen::date_time_ymd(2019, 1, 1);
        params.not_after = rcgen::date_time_ymd(2020, 1, 1);
        let cert = params.signed_by(&key, &ca, &ca_key).unwrap();

        let server = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.der().clone()], rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()))
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            if let Ok((tcp, _)) = listener.accept().await {
                let _ = acceptor.accept(tcp).await;
            }
        });

        let ca_path = temp_file("expired-ca.pem", &ca.pem());
        let transport = TlsTransport::new(
            &TlsConfig { ca_location: Some(ca_path.clone()), ..TlsConfig::default() },
            Arc::new(crate::transport::TcpTransport),
        )
        .unwrap();
        let err = match transport.connect("localhost", port).await {
            Ok(_) => panic!("an expired certificate was accepted"),
            Err(e) => crate::error::Error::connect("localhost", e),
        };
        assert_eq!(err.tls_kind(), Some(TlsErrorKind::Expired), "{err:?}");
        assert!(err.to_string().contains("expired"), "{err}");
        let _ = std::fs::remove_file(ca_path);
    }

    #[test]
    fn rustls_errors_are_classified() {
        use rustls::AlertDescription;
        assert_eq!(classify(&rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)), TlsErrorKind::UnknownCa);
        assert_eq!(classify(&rustls::Error::InvalidCertificate(CertificateError::Expired)), TlsErrorKind::Expired);
        assert_eq!(classify(&rustls::Error::InvalidCertificate(CertificateError::NotValidForName)), TlsErrorKind::HostnameMismatch);
        assert_eq!(classify(&rustls::Error::AlertReceived(AlertDescription::CertificateRequired)), TlsErrorKind::ClientCertificateRefused);
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
