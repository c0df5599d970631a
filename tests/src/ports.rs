//! Free loopback ports for brokers, controllers, proxies, the KDC and the token endpoint.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, TcpListener};
use std::sync::Mutex;

use crate::error::{HarnessError, Result};

/// Ports already handed out by this process: the OS may offer a port again
/// once its probe socket is closed, and two services must not share one.
static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// A loopback TCP port that was free a moment ago and that this process has
/// not handed out before. Another process could still take it before use;
/// callers that can keep the socket open should bind port 0 themselves.
pub fn free_port() -> Result<u16> {
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    for _ in 0..100 {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(|e| HarnessError::context("binding 127.0.0.1:0 to find a free port", e))?;
        let port = listener
            .local_addr()
            .map_err(|e| HarnessError::context("reading the probe socket's port", e))?
            .port();
        if handed_out.insert(port) {
            return Ok(port);
        }
    }
    Err(HarnessError::new("no free loopback port found after 100 attempts"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_distinct_and_bindable() {
        let ports: Vec<u16> = (0..20).map(|_| free_port().expect("free port")).collect();
        let distinct: std::collections::HashSet<u16> = ports.iter().copied().collect();
        assert_eq!(distinct.len(), ports.len());
        for port in ports {
            TcpListener::bind((Ipv4Addr::LOCALHOST, port)).expect("handed-out port is bindable");
        }
    }
}
