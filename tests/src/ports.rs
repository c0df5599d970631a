//! Free loopback ports for brokers, controllers, proxies, the KDC and the token endpoint.
//!
//! Why not port 0: the brokers are separate JVM processes that bind later, so
//! a port must be chosen here and handed over. A port from the kernel's
//! ephemeral range (`net.ipv4.ip_local_port_range`) can be taken in between
//! by any outgoing connection on the machine (CI saw this: a broker failed
//! with "Address already in use"). Ports are therefore picked *below* the
//! ephemeral range, where only listeners that bind explicitly can compete,
//! starting at an offset derived from the process id so that concurrent test
//! processes walk different parts of the range.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, TcpListener};
use std::ops::RangeInclusive;
use std::sync::Mutex;

use crate::error::{HarnessError, Result};

/// Ports already handed out by this process: the OS may offer a port again
/// once its probe socket is closed, and two services must not share one.
static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// Where ports are picked when the ephemeral range cannot be read, and the
/// upper bound of the pick otherwise (well above well-known service ports).
const PICK_FLOOR: u16 = 15_000;
const PICK_CEILING: u16 = 32_000;

/// The kernel's ephemeral port range, if this is Linux and it is readable.
fn ephemeral_range() -> Option<RangeInclusive<u16>> {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let mut bounds = text.split_whitespace().map(str::parse::<u16>);
    let low = bounds.next()?.ok()?;
    let high = bounds.next()?.ok()?;
    Some(low..=high)
}

/// The range ports are picked from: `PICK_FLOOR..=PICK_CEILING` cut below
/// the ephemeral range; `None` when that leaves too little room.
fn pick_range() -> Option<RangeInclusive<u16>> {
    let ceiling = match ephemeral_range() {
        Some(ephemeral) => PICK_CEILING.min(ephemeral.start().saturating_sub(1)),
        None => PICK_CEILING,
    };
    (ceiling > PICK_FLOOR.saturating_add(1_000)).then_some(PICK_FLOOR..=ceiling)
}

/// A loopback TCP port that was free a moment ago and that this process has
/// not handed out before, outside the ephemeral range where possible.
/// Another process could still bind it before use; the cluster retries on
/// fresh ports when a node reports that.
pub fn free_port() -> Result<u16> {
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(range) = pick_range() {
        let (low, high) = (u32::from(*range.start()), u32::from(*range.end()));
        let span = high - low + 1;
        // Different processes start at different places; this one walks on
        // from where it last handed out a port.
        let start = handed_out.last().map(|&p| u32::from(p) + 1).unwrap_or(low + (std::process::id() * 7919) % span);
        for step in 0..span {
            let candidate = low + (start - low + step) % span;
            let Ok(port) = u16::try_from(candidate) else { continue };
            if handed_out.contains(&port) {
                continue;
            }
            if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
                handed_out.insert(port);
                return Ok(port);
            }
        }
    }
    // Fallback (no /proc, or an ephemeral range that starts very low): let the kernel pick.
    for _ in 0..100 {
        let listener =
            TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| HarnessError::context("binding 127.0.0.1:0 to find a free port", e))?;
        let port = listener.local_addr().map_err(|e| HarnessError::context("reading the probe socket's port", e))?.port();
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
    fn ports_are_distinct_bindable_and_outside_the_ephemeral_range() {
        let ports: Vec<u16> = (0..20).map(|_| free_port().expect("free port")).collect();
        let distinct: std::collections::BTreeSet<u16> = ports.iter().copied().collect();
        assert_eq!(distinct.len(), ports.len());
        let ephemeral = ephemeral_range();
        for port in ports {
            TcpListener::bind((Ipv4Addr::LOCALHOST, port)).expect("handed-out port is bindable");
            if let (Some(range), Some(_)) = (&ephemeral, pick_range()) {
                assert!(!range.contains(&port), "port {port} lies in the ephemeral range {range:?}");
            }
        }
    }

    #[test]
    fn a_port_in_use_is_skipped() {
        let first = free_port().expect("free port");
        // Occupy the next candidate; the picker must step over it.
        let next = first.wrapping_add(1);
        let _held = TcpListener::bind((Ipv4Addr::LOCALHOST, next));
        let second = free_port().expect("free port");
        assert_ne!(second, next, "a port held by a listener was handed out");
    }
}
