//! Recognising a broker that refuses the client certificate without a
//! readable alert.
//!
//! In TLS 1.3 the client's handshake ends when it sends its certificate and
//! Finished; the server judges the certificate after that. A refusal should
//! come back as an alert (`certificate_required`, `bad_certificate`, ...),
//! which [`super::classify`] names. Some JDK servers (seen with Kafka 2.8.2
//! on Java 17) encrypt that alert under the handshake keys while the client
//! has moved to the application keys (RFC 8446 section 4.4.4 and 7.1), so
//! all the client sees is a record it cannot decrypt.
//!
//! A record that fails to decrypt right after a handshake in which the
//! broker asked for a client certificate is that refusal: the connection
//! records whether a certificate was asked for ([`RecordCertRequest`]), and
//! [`RefusalAwareStream`] turns such a read error into
//! [`ClientCertificateRefused`], which the error mapping names
//! [`super::TlsErrorKind::ClientCertificateRefused`].

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::client::ResolvesClientCert;
use rustls::sign::CertifiedKey;
use rustls::SignatureScheme;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Wraps a connection's client-certificate resolver and remembers whether
/// the broker asked for a certificate (rustls asks the resolver only then).
#[derive(Debug)]
pub(crate) struct RecordCertRequest {
    inner: Arc<dyn ResolvesClientCert>,
    requested: Arc<AtomicBool>,
}

impl RecordCertRequest {
    pub fn new(inner: Arc<dyn ResolvesClientCert>) -> (Arc<RecordCertRequest>, Arc<AtomicBool>) {
        let requested = Arc::new(AtomicBool::new(false));
        (Arc::new(RecordCertRequest { inner, requested: requested.clone() }), requested)
    }
}

impl ResolvesClientCert for RecordCertRequest {
    fn resolve(&self, root_hint_subjects: &[&[u8]], sigschemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        self.requested.store(true, Ordering::Relaxed);
        self.inner.resolve(root_hint_subjects, sigschemes)
    }

    fn only_raw_public_keys(&self) -> bool {
        self.inner.only_raw_public_keys()
    }

    fn has_certs(&self) -> bool {
        self.inner.has_certs()
    }
}

/// The broker asked for a client certificate and then sent a record the
/// client could not decrypt: its refusal of the certificate (or of its
/// absence), encrypted under keys the client no longer uses.
#[derive(Debug)]
pub(crate) struct ClientCertificateRefused {
    pub source: rustls::Error,
}

impl fmt::Display for ClientCertificateRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the broker asked for a client certificate, then sent what could not be decrypted ({}): it refused the certificate sent, or the lack of one", self.source)
    }
}

impl std::error::Error for ClientCertificateRefused {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// The refusal inside an I/O error from a TLS stream, if it is one.
pub(crate) fn refusal(e: &io::Error) -> Option<&ClientCertificateRefused> {
    e.get_ref().and_then(|inner| inner.downcast_ref::<ClientCertificateRefused>())
}

/// Names a read error [`ClientCertificateRefused`] when it is a decryption
/// failure and the broker had asked for a certificate; any other error is
/// returned as it is.
pub(crate) fn name_refusal(e: io::Error, cert_requested: bool) -> io::Error {
    match super::rustls_error(&e) {
        Some(rustls::Error::DecryptError) if cert_requested => {
            io::Error::new(e.kind(), ClientCertificateRefused { source: rustls::Error::DecryptError })
        }
        _ => e,
    }
}

/// A TLS stream whose read errors go through [`name_refusal`].
pub(crate) struct RefusalAwareStream<S> {
    inner: S,
    cert_requested: Arc<AtomicBool>,
}

impl<S> RefusalAwareStream<S> {
    pub fn new(inner: S, cert_requested: Arc<AtomicBool>) -> Self {
        RefusalAwareStream { inner, cert_requested }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for RefusalAwareStream<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(name_refusal(e, self.cert_requested.load(Ordering::Relaxed)))),
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for RefusalAwareStream<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(mut self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decrypt_error() -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, rustls::Error::DecryptError)
    }

    #[test]
    fn an_undecryptable_record_after_a_certificate_request_is_the_refusal() {
        let named = name_refusal(decrypt_error(), true);
        let refused = refusal(&named).expect("named a refusal");
        assert!(matches!(refused.source, rustls::Error::DecryptError));
        assert_eq!(named.kind(), io::ErrorKind::InvalidData);
        assert!(named.to_string().contains("asked for a client certificate"), "{named}");
    }

    #[test]
    fn without_a_certificate_request_or_with_another_error_nothing_is_renamed() {
        assert!(refusal(&name_refusal(decrypt_error(), false)).is_none());
        let alert = io::Error::new(io::ErrorKind::InvalidData, rustls::Error::AlertReceived(rustls::AlertDescription::HandshakeFailure));
        let kept = name_refusal(alert, true);
        assert!(refusal(&kept).is_none());
        assert!(matches!(super::super::rustls_error(&kept), Some(rustls::Error::AlertReceived(_))));
        assert!(refusal(&name_refusal(io::Error::from(io::ErrorKind::ConnectionReset), true)).is_none());
    }

    #[test]
    fn the_resolver_records_a_request_and_answers_as_the_one_it_wraps() {
        let inner: Arc<dyn ResolvesClientCert> =
            Arc::new(rustls::client::AlwaysResolvesClientRawPublicKeys::new(Arc::new(CertifiedKey::new(vec![], Arc::new(NoKey)))));
        let (resolver, requested) = RecordCertRequest::new(inner);
        assert!(!requested.load(Ordering::Relaxed));
        assert!(resolver.has_certs());
        assert!(resolver.only_raw_public_keys());
        assert!(resolver.resolve(&[], &[SignatureScheme::ED25519]).is_some());
        assert!(requested.load(Ordering::Relaxed));
    }

    #[derive(Debug)]
    struct NoKey;

    impl rustls::sign::SigningKey for NoKey {
        fn choose_scheme(&self, _offered: &[SignatureScheme]) -> Option<Box<dyn rustls::sign::Signer>> {
            None
        }

        fn algorithm(&self) -> rustls::SignatureAlgorithm {
            rustls::SignatureAlgorithm::ED25519
        }
    }
}
