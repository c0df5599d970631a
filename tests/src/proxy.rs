//! Toggleable TCP proxies: how tests stop and start a listener.
//!
//! Each client listener of each broker is advertised on a proxy port owned by
//! the harness and forwarded to the broker's real listener port. Stopping a
//! proxy closes its listening socket (new connections are refused, exactly as
//! when a broker listener goes away) and cuts every open connection; starting
//! it binds the same port again. This is instant and independent of Kafka's
//! version, whereas dynamic listener reconfiguration is slow and version-specific.

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use crate::error::{Context, Result};

struct Shared {
    name: String,
    port: u16,
    upstream: SocketAddr,
    listener: Mutex<Option<TcpListener>>,
    connections: Mutex<HashMap<u64, (TcpStream, TcpStream)>>,
    next_connection_id: AtomicU64,
    stopping: AtomicBool,
}

/// One proxy in front of one broker listener.
pub struct ListenerProxy {
    shared: Arc<Shared>,
    accept_thread: Option<thread::JoinHandle<()>>,
}

impl std::fmt::Debug for ListenerProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenerProxy")
            .field("name", &self.shared.name)
            .field("port", &self.shared.port)
            .field("upstream", &self.shared.upstream)
            .field("running", &self.is_running())
            .finish()
    }
}

impl ListenerProxy {
    /// Binds a free loopback port and forwards it to `upstream`.
    pub fn start(name: &str, upstream: SocketAddr) -> Result<ListenerProxy> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context(|| format!("binding proxy {name}"))?;
        let port = listener.local_addr().context(|| format!("proxy {name} address"))?.port();
        listener.set_nonblocking(true).context(|| format!("proxy {name} non-blocking"))?;
        let shared = Arc::new(Shared {
            name: name.to_string(),
            port,
            upstream,
            listener: Mutex::new(Some(listener)),
            connections: Mutex::new(HashMap::new()),
            next_connection_id: AtomicU64::new(0),
            stopping: AtomicBool::new(false),
        });
        let accepting = Arc::clone(&shared);
        let accept_thread = thread::Builder::new()
            .name(format!("rill-e2e-proxy-{name}"))
            .spawn(move || accept_loop(&accepting))
            .context(|| format!("starting proxy thread {name}"))?;
        Ok(ListenerProxy { shared, accept_thread: Some(accept_thread) })
    }

    /// The port clients connect to (the broker advertises it).
    pub fn port(&self) -> u16 {
        self.shared.port
    }

    pub fn upstream(&self) -> SocketAddr {
        self.shared.upstream
    }

    pub fn is_running(&self) -> bool {
        self.shared.listener.lock().unwrap_or_else(|p| p.into_inner()).is_some()
    }

    /// Refuses new connections and cuts the open ones.
    pub fn stop(&self) {
        *self.shared.listener.lock().unwrap_or_else(|p| p.into_inner()) = None;
        let connections: Vec<_> = self.shared.connections.lock().unwrap_or_else(|p| p.into_inner()).drain().collect();
        for (_, (client, upstream)) in connections {
            let _ = client.shutdown(Shutdown::Both);
            let _ = upstream.shutdown(Shutdown::Both);
        }
    }

    /// Accepts connections again, on the same port.
    pub fn start_again(&self) -> Result<()> {
        let mut listener = self.shared.listener.lock().unwrap_or_else(|p| p.into_inner());
        if listener.is_none() {
            let bound = TcpListener::bind((Ipv4Addr::LOCALHOST, self.shared.port))
                .context(|| format!("re-binding proxy {} on port {}", self.shared.name, self.shared.port))?;
            bound.set_nonblocking(true).context(|| format!("proxy {} non-blocking", self.shared.name))?;
            *listener = Some(bound);
        }
        Ok(())
    }
}

impl Drop for ListenerProxy {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        self.stop();
        if let Some(thread) = self.accept_thread.take() {
            let _ = thread.join();
        }
    }
}

fn accept_loop(shared: &Arc<Shared>) {
    while !shared.stopping.load(Ordering::SeqCst) {
        let accepted = match shared.listener.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            Some(listener) => listener.accept().ok(),
            None => None,
        };
        match accepted {
            Some((client, _)) => {
                if let Err(error) = forward(shared, client) {
                    eprintln!("rill-e2e proxy {}: forwarding to {} failed: {error}", shared.name, shared.upstream);
                }
            }
            None => thread::sleep(Duration::from_millis(2)),
        }
    }
}

fn forward(shared: &Arc<Shared>, client: TcpStream) -> io::Result<()> {
    client.set_nonblocking(false)?;
    let upstream = TcpStream::connect_timeout(&shared.upstream, Duration::from_secs(5))?;
    client.set_nodelay(true)?;
    upstream.set_nodelay(true)?;
    let id = shared.next_connection_id.fetch_add(1, Ordering::SeqCst);
    shared.connections.lock().unwrap_or_else(|p| p.into_inner()).insert(id, (client.try_clone()?, upstream.try_clone()?));
    let pump = |mut from: TcpStream, mut to: TcpStream, shared: Arc<Shared>| {
        move || {
            let _ = io::copy(&mut from, &mut to);
            let _ = to.shutdown(Shutdown::Write);
            let _ = from.shutdown(Shutdown::Read);
            shared.connections.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
        }
    };
    thread::Builder::new().name(format!("rill-e2e-proxy-{}-up", shared.name)).spawn(pump(
        client.try_clone()?,
        upstream.try_clone()?,
        Arc::clone(shared),
    ))?;
    thread::Builder::new().name(format!("rill-e2e-proxy-{}-down", shared.name)).spawn(pump(upstream, client, Arc::clone(shared)))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn forwards_and_toggles() {
        let echo = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("echo bind");
        let echo_addr = echo.local_addr().expect("echo addr");
        thread::spawn(move || {
            for stream in echo.incoming().flatten() {
                thread::spawn(move || {
                    let mut stream = stream;
                    let mut buffer = [0u8; 64];
                    while let Ok(n) = stream.read(&mut buffer) {
                        if n == 0 || stream.write_all(&buffer[..n]).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        let proxy = ListenerProxy::start("echo", echo_addr).expect("proxy");
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, proxy.port())).expect("connect via proxy");
        stream.write_all(b"ping").expect("write");
        let mut reply = [0u8; 4];
        stream.read_exact(&mut reply).expect("read");
        assert_eq!(&reply, b"ping");

        proxy.stop();
        let mut rest = Vec::new();
        stream.set_read_timeout(Some(Duration::from_secs(2))).expect("timeout");
        assert_eq!(stream.read_to_end(&mut rest).unwrap_or(0), 0, "open connection survived stop");
        assert!(TcpStream::connect((Ipv4Addr::LOCALHOST, proxy.port())).is_err(), "stopped proxy accepted");

        proxy.start_again().expect("restart");
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, proxy.port())).expect("connect after restart");
        stream.write_all(b"pong").expect("write");
        stream.read_exact(&mut reply).expect("read");
        assert_eq!(&reply, b"pong");
    }
}
