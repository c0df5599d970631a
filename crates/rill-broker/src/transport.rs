//! What the broker needs from a network: a listener that accepts byte
//! streams, and (for followers and the controller's probe) a way to open
//! them. Both are generic so the same broker runs on tokio TCP (the dev
//! broker) and on turmoil's simulated TCP (the simulator).
//!
//! Opening connections uses rill-client's [`rill_client::Transport`] (the
//! simulator's turmoil transport for the client serves the broker too);
//! [`Connector`] is that trait under the name the broker uses.

use std::future::Future;
use std::io;

use tokio::io::{AsyncRead, AsyncWrite};

pub use rill_client::transport::{BoxStream, TcpTransport};
/// Opens streams to `host:port` (rill-client's transport trait).
pub use rill_client::Transport as Connector;

/// Accepts connections. Implemented for tokio's `TcpListener`; the simulator
/// implements it for `turmoil::net::TcpListener` in a few lines:
///
/// ```text
/// impl rill_broker::Listener for SimListener {
///     type Stream = turmoil::net::TcpStream;
///     async fn accept(&mut self) -> std::io::Result<Self::Stream> {
///         self.0.accept().await.map(|(stream, _)| stream)
///     }
/// }
/// ```
pub trait Listener: Send + 'static {
    type Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static;
    fn accept(&mut self) -> impl Future<Output = io::Result<Self::Stream>> + Send;
}

impl Listener for tokio::net::TcpListener {
    type Stream = tokio::net::TcpStream;
    async fn accept(&mut self) -> io::Result<Self::Stream> {
        let (stream, _) = tokio::net::TcpListener::accept(self).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }
}
