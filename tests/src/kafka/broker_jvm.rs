//! The JVM options of broker (and ZooKeeper) processes.
//!
//! Test clusters live for a minute or two and carry little load. There, C2's
//! compile work and G1's concurrent threads cost more CPU than their faster
//! code and shorter pauses save: on CI's 2 cores every test pays for them.
//! So tests run brokers on C1 alone with the serial collector. A benchmark
//! (benches/'s peer-bench) measures clients against a broker at full speed
//! and asks for [`BrokerJvm::Server`] before its cluster starts.

use std::sync::atomic::{AtomicBool, Ordering};

/// Which JIT and collector broker JVMs of clusters started from now on use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BrokerJvm {
    /// C1 only and the serial collector: the least CPU for a short test run.
    Test,
    /// Tiered compilation with C2 and G1, as production brokers run.
    Server,
}

static SERVER: AtomicBool = AtomicBool::new(false);

impl BrokerJvm {
    /// Sets the JVM kind for clusters started after this call.
    pub fn set(kind: BrokerJvm) {
        SERVER.store(kind == BrokerJvm::Server, Ordering::SeqCst);
    }

    /// The kind set by [`BrokerJvm::set`], unless `RILL_KAFKA_BROKER_JVM`
    /// (`test` or `server`) overrides it, e.g. to compare the two by hand.
    pub fn current() -> BrokerJvm {
        match std::env::var("RILL_KAFKA_BROKER_JVM").as_deref() {
            Ok("server") => return BrokerJvm::Server,
            Ok("test") => return BrokerJvm::Test,
            _ => {}
        }
        if SERVER.load(Ordering::SeqCst) {
            BrokerJvm::Server
        } else {
            BrokerJvm::Test
        }
    }

    /// The JIT and collector options of this kind.
    pub fn options(self) -> Vec<String> {
        let options: &[&str] = match self {
            BrokerJvm::Test => &["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"],
            BrokerJvm::Server => &["-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20"],
        };
        options.iter().map(|option| option.to_string()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_brokers_skip_c2_and_server_brokers_keep_it() {
        assert!(BrokerJvm::Test.options().contains(&"-XX:TieredStopAtLevel=1".to_string()));
        assert!(!BrokerJvm::Server.options().iter().any(|option| option.contains("TieredStopAtLevel")));
    }
}
