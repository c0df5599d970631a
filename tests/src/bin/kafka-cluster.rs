//! Starts a harness Kafka cluster by hand, for local work:
//!
//! ```text
//! cargo run -p rill-e2e --bin kafka-cluster            # single node
//! cargo run -p rill-e2e --bin kafka-cluster -- --three-nodes
//! ```
//!
//! Prints the bootstrap address of every listener, the credentials, the CA
//! and keytab paths, then runs until Ctrl-C (or until stdin closes with
//! `--until-stdin-closes`, for scripts). Everything stops with it.

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rill_e2e::{KafkaCluster, Topology};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|arg| arg == "--help" || arg == "-h") {
        println!(
            "usage: kafka-cluster [--three-nodes] [--until-stdin-closes]\n\n\
             Starts a KRaft cluster with PLAINTEXT, SSL, MTLS, SASL_PLAINTEXT and SASL_SSL listeners,\n\
             a Kerberos KDC and an OAuth token endpoint. Kafka version: RILL_KAFKA_VERSION (default 4.3.1);\n\
             run tests/scripts/provision.sh first."
        );
        return;
    }
    let topology = if args.iter().any(|arg| arg == "--three-nodes") { Topology::ThreeNodes } else { Topology::Single };
    let until_stdin_closes = args.iter().any(|arg| arg == "--until-stdin-closes");
    // SAFETY: installing a handler that only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t);
    }
    let cluster = match KafkaCluster::start(topology) {
        Ok(cluster) => cluster,
        Err(error) => {
            eprintln!("kafka-cluster: could not start the {} cluster:\n{error}", topology.label());
            std::process::exit(1);
        }
    };
    println!("{}", cluster.summary());
    if until_stdin_closes {
        println!("Running until stdin closes.");
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
    } else {
        println!("Running until Ctrl-C.");
        while !INTERRUPTED.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    println!("Stopping the cluster.");
    drop(cluster);
}
