//! The pluggable transport: how a byte stream to a broker is opened.
//!
//! The client only needs an `AsyncRead + AsyncWrite` stream per broker
//! address. [`TcpTransport`] uses tokio's TCP; a simulator supplies its own
//! (turmoil's simulated TCP), TLS wraps TCP. The client logic is the same
//! for all of them: no cfg-forked copies.

use std::future::Future;
use std::io;
use std::pin::Pin;

use tokio::io::{AsyncRead, AsyncWrite};

/// A connected byte stream.
pub trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

/// A boxed connected stream.
pub type BoxStream = Box<dyn Stream>;

/// The future [`Transport::connect`] returns.
pub type ConnectFuture = Pin<Box<dyn Future<Output = io::Result<BoxStream>> + Send>>;

/// Opens connections to brokers. Object safe: the client holds an `Arc<dyn Transport>`.
pub trait Transport: Send + Sync + 'static {
    /// Connects to `host:port`. The client bounds the time this may take
    /// (`socket.connection.setup.timeout.ms`).
    fn connect(&self, host: &str, port: u16) -> ConnectFuture;
}

/// tokio TCP with `TCP_NODELAY` (Kafka requests are small and latency-bound).
#[derive(Debug, Clone, Copy, Default)]
pub struct TcpTransport;

impl Transport for TcpTransport {
    fn connect(&self, host: &str, port: u16) -> ConnectFuture {
        let host = host.to_string();
        Box::pin(async move {
            let stream = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
            stream.set_nodelay(true)?;
            Ok(Box::new(stream) as BoxStream)
        })
    }
}

/// The transport `security.protocol` asks for: TCP, or TLS over TCP.
pub fn for_config(config: &crate::config::ClientConfig) -> Result<std::sync::Arc<dyn Transport>, crate::config::ConfigError> {
    let tcp: std::sync::Arc<dyn Transport> = std::sync::Arc::new(TcpTransport);
    if config.security_protocol.uses_tls() {
        Ok(std::sync::Arc::new(crate::tls::TlsTransport::new(&config.tls, tcp)?))
    } else {
        Ok(tcp)
    }
}
