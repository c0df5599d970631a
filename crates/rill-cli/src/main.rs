//! `rill`: the command line.
//!
//! `rill dev-broker [--port 9092] [--data-dir DIR] [--partitions N]` runs a
//! one-node Kafka broker (rill-broker over tokio TCP) for quick starts and
//! examples: any Kafka client can produce to and consume from it. Topics are
//! created on first use (`auto.create.topics.enable`) with `--partitions`
//! partitions. Without `--data-dir` everything lives in memory; with it,
//! every append is flushed to files there and reloaded on the next start.
//!
//! `rill demo [--records N] [--partitions P]` is the main job on the
//! embedded default ([`demo`]): a dev broker in this process, rill's producer
//! and consumer through it, and checks that every record made it exactly once.

mod demo;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rill_broker::{Broker, BrokerConfig, ControllerConfig, Disk, FlushPolicy};

#[derive(Debug, Parser)]
#[command(name = "rill", version, about = "rill: Kafka protocol tools")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a one-node Kafka broker on localhost (in memory unless --data-dir is given).
    DevBroker {
        /// TCP port to listen on.
        #[arg(long, default_value_t = 9092)]
        port: u16,
        /// Host name advertised to clients.
        #[arg(long, default_value = "localhost")]
        host: String,
        /// Keep the logs in this directory (flushed on every append) instead of in memory.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Partitions of topics created on first use or without a count.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..=10_000))]
        partitions: i32,
    },
    /// Produce a numbered sequence through an embedded dev broker with rill's
    /// producer, read it back with rill's consumer, and check every record.
    Demo {
        /// How many records.
        #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..=50_000_000))]
        records: u64,
        /// Partitions of the demo topic.
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(i32).range(1..=1_000))]
        partitions: i32,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("rill: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::DevBroker { port, host, data_dir, partitions } => runtime.block_on(dev_broker(port, host, data_dir, partitions)),
        Command::Demo { records, partitions } => runtime.block_on(async {
            let summary = demo::run(records, partitions).await?;
            println!("{summary}");
            Ok(())
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("rill: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn dev_broker(port: u16, host: String, data_dir: Option<PathBuf>, partitions: i32) -> Result<(), String> {
    let disk = match &data_dir {
        Some(dir) => Disk::open_dir(dir, FlushPolicy::EveryAppend)
            .map_err(|e| format!("--data-dir {}: {e} (pass a writable directory)", dir.display()))?,
        None => Disk::new(FlushPolicy::Manual),
    };
    let listener = tokio::net::TcpListener::bind(("0.0.0.0", port))
        .await
        .map_err(|e| format!("cannot listen on port {port}: {e} (pass a free port with --port)"))?;
    let bound = listener.local_addr().map(|a| a.port()).unwrap_or(port);
    let controller = ControllerConfig { default_partitions: partitions, ..Default::default() };
    let broker = Broker::single_node(BrokerConfig::new(1, host.clone(), bound), disk, controller);
    let mut signals = ShutdownSignals::install()?;
    println!(
        "rill dev broker listening on {host}:{bound} (bootstrap.servers={host}:{bound}; data: {})",
        data_dir.as_ref().map_or("in memory".to_string(), |d| d.display().to_string())
    );
    tokio::select! {
        served = broker.serve(listener) => served.map_err(|e| format!("accepting connections failed: {e}")),
        signal = signals.recv() => {
            // SIGINT or SIGTERM: flush what the log holds before exiting.
            broker.disk().flush();
            println!("rill dev broker stopped ({signal})");
            Ok(())
        }
    }
}

/// SIGINT (Ctrl-C) and SIGTERM (what `kill` and service managers send),
/// registered when this is made, so a signal that arrives right after the
/// broker says it is listening is not missed.
struct ShutdownSignals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    fn install() -> Result<ShutdownSignals, String> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let install = |kind, name| signal(kind).map_err(|e| format!("cannot handle {name}: {e}"));
            Ok(ShutdownSignals {
                interrupt: install(SignalKind::interrupt(), "SIGINT")?,
                terminate: install(SignalKind::terminate(), "SIGTERM")?,
            })
        }
        #[cfg(not(unix))]
        Ok(ShutdownSignals {})
    }

    async fn recv(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => "SIGINT",
                _ = self.terminate.recv() => "SIGTERM",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        }
    }
}
