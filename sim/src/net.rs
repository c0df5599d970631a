//! turmoil's simulated TCP as rill-client's [`Transport`] (which the broker
//! model also uses as its `Connector` for followers), so clients and brokers
//! run unchanged over the simulated network.

use rill_client::transport::{BoxStream, ConnectFuture};
use rill_client::Transport;

/// Opens connections through turmoil's simulated TCP of the current host.
#[derive(Debug, Clone, Copy, Default)]
pub struct TurmoilTransport;

impl Transport for TurmoilTransport {
    fn connect(&self, host: &str, port: u16) -> ConnectFuture {
        let host = host.to_string();
        Box::pin(async move {
            let stream = turmoil::net::TcpStream::connect((host.as_str(), port)).await?;
            Ok(Box::new(stream) as BoxStream)
        })
    }
}
