//! rill's producer side by side with librdkafka, the Java client and
//! franz-go, on one real Kafka broker started by the rill-e2e harness.
//!
//! ```text
//! cargo run --release -p rill-benches --bin peer-bench -- produce
//! cargo run --release -p rill-benches --bin peer-bench -- produce --records 500000 --clients rill,java,franz
//! ```
//!
//! Each cell (record size x codec) runs every client in turn, `--rounds`
//! times, alternating the order, on a fresh 6-partition topic each time.
//! Every client is its own process: CPU is what the kernel charged it.
//! Topics are deleted once measured: a whole matrix writes tens of GB.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use rill_benches::peers::cpu::ChildrenUsage;
use rill_benches::peers::rust_child::ChildSpec;
use rill_benches::peers::workload::write_payload_file;
use rill_benches::peers::{franz, java, rdkafka, Compression, Measurement, RunReport, Workload};
use rill_e2e::{BrokerJvm, KafkaCluster};

#[derive(Parser)]
#[command(about = "rill's clients side by side with librdkafka, Java and franz-go on one real Kafka broker")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The cells to measure and how often.
#[derive(clap::Args)]
struct CellArgs {
    #[arg(long, default_value_t = 2_000_000)]
    records: u64,
    #[arg(long, value_delimiter = ',', default_value = "100,1024")]
    sizes: Vec<usize>,
    #[arg(long, value_delimiter = ',', default_value = "none,lz4")]
    codecs: Vec<String>,
    /// Which clients: rill, rdkafka, java, franz.
    #[arg(long, value_delimiter = ',', default_value = "rill,rdkafka,java,franz")]
    clients: Vec<String>,
    #[arg(long, default_value_t = 2)]
    rounds: usize,
}

#[derive(Subcommand)]
enum Command {
    /// Producer throughput and CPU per record.
    Produce(CellArgs),
    /// Consumer throughput and CPU per record: each cell's topic is filled
    /// once (by the Java producer, with the cell's codec), then every client
    /// reads all of it from the start.
    Consume(CellArgs),
    /// One client run inside this process (the parent spawns these).
    Child {
        client: String,
        #[arg(long)]
        bootstrap: String,
        #[arg(long)]
        topic: String,
        #[arg(long)]
        payload_file: PathBuf,
        #[arg(long)]
        records: u64,
        #[arg(long)]
        record_bytes: usize,
        #[arg(long)]
        compression: String,
    },
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Produce(cells) => run_cells(Mode::Produce, &cells),
        Command::Consume(cells) => run_cells(Mode::Consume, &cells),
        Command::Child { client, bootstrap, topic, payload_file, records, record_bytes, compression } => {
            let compression = Compression::parse(&compression).unwrap_or(Compression::None);
            let spec = ChildSpec { bootstrap, topic, payload_file, workload: Workload::new(records, record_bytes, compression) };
            run_child(&client, &spec).map(|report| println!("{}", report.to_json()))
        }
    };
    if let Err(e) = result {
        eprintln!("peer-bench: {e}");
        std::process::exit(1);
    }
}

fn run_child(client: &str, spec: &ChildSpec) -> Result<RunReport, String> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| format!("tokio runtime: {e}"))?;
    match client {
        "rill-produce" => runtime.block_on(rill_benches::peers::rust_child::rill_produce(spec)),
        "rill-consume" => runtime.block_on(rill_benches::peers::rust_child::rill_consume(spec)),
        other => Err(format!("unknown child client {other}")),
    }
}

/// Runs this binary as a child for rill.
fn spawn_rust_child(client: &str, spec: &ChildSpec) -> Result<RunReport, String> {
    let exe = std::env::current_exe().map_err(|e| format!("locating peer-bench: {e}"))?;
    let mut command = std::process::Command::new(exe);
    command
        .args(["child", client, "--bootstrap", &spec.bootstrap, "--topic", &spec.topic])
        .arg("--payload-file")
        .arg(&spec.payload_file)
        .args(["--records", &spec.workload.records.to_string()])
        .args(["--record-bytes", &spec.workload.record_bytes.to_string()])
        .args(["--compression", spec.workload.compression.name()]);
    rill_benches::peers::outcome::run_reporting(command, &format!("the {client} child"))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Produce,
    Consume,
}

/// The peers' programs, built once per bench run.
struct Peers {
    franz: Option<PathBuf>,
    rdkafka: Option<PathBuf>,
}

impl Peers {
    fn build(clients: &[String], work_dir: &std::path::Path) -> Result<Peers, String> {
        let wanted = |name: &str| clients.iter().any(|c| c == name);
        Ok(Peers {
            franz: if wanted("franz") { Some(franz::build(work_dir)?) } else { None },
            rdkafka: if wanted("rdkafka") { Some(rdkafka::build(&work_dir.join("rdkafka-target"))?) } else { None },
        })
    }

    fn franz(&self) -> Result<&std::path::Path, String> {
        self.franz.as_deref().ok_or_else(|| "franz-go was not built".into())
    }

    fn rdkafka(&self) -> Result<&std::path::Path, String> {
        self.rdkafka.as_deref().ok_or_else(|| "rdkafka-child was not built".into())
    }
}

/// One client's run in one cell.
fn run_client(mode: Mode, client: &str, cluster: &KafkaCluster, peers: &Peers, spec: &ChildSpec) -> Result<RunReport, String> {
    let (bootstrap, topic, records) = (spec.bootstrap.as_str(), spec.topic.as_str(), spec.workload.records);
    match (mode, client) {
        (Mode::Produce, "java") => java::produce(cluster, &spec.workload, topic, &spec.payload_file),
        (Mode::Produce, "franz") => franz::produce(peers.franz()?, bootstrap, &spec.workload, topic, &spec.payload_file),
        (Mode::Produce, "rdkafka") => rdkafka::produce(peers.rdkafka()?, bootstrap, &spec.workload, topic, &spec.payload_file),
        (Mode::Consume, "java") => java::consume(cluster, topic, records),
        (Mode::Consume, "franz") => franz::consume(peers.franz()?, bootstrap, topic, records),
        (Mode::Consume, "rdkafka") => rdkafka::consume(peers.rdkafka()?, bootstrap, topic, records),
        (Mode::Produce, "rill") => spawn_rust_child("rill-produce", spec),
        (Mode::Consume, "rill") => spawn_rust_child("rill-consume", spec),
        (_, other) => Err(format!("unknown client {other} (rill, rdkafka, java, franz)")),
    }
}

fn run_cells(mode: Mode, cells: &CellArgs) -> Result<(), String> {
    let CellArgs { records, sizes, codecs, clients, rounds } = cells;
    let (records, rounds) = (*records, *rounds);
    // Clients are compared against a broker at production speed (C2, G1).
    BrokerJvm::set(BrokerJvm::Server);
    let cluster = KafkaCluster::single();
    let _deleted_topics = DeletedTopicData(cluster);
    let work_dir = rill_e2e::paths::target_dir().join("peer-bench");
    let peers = Peers::build(clients, &work_dir)?;
    let bootstrap = cluster.internal_bootstrap();
    let mut tables = Vec::new();
    for &size in sizes.iter() {
        let payload_file = write_payload_file(&work_dir, size).map_err(|e| format!("payload file: {e}"))?;
        for codec in codecs {
            let compression = Compression::parse(codec).ok_or_else(|| format!("unknown codec {codec} (none, lz4)"))?;
            let workload = Workload::new(records, size, compression);
            // Consumers all read one topic, filled once with the cell's codec.
            let shared_topic = if mode == Mode::Consume {
                let topic = cluster.unique_topic(&format!("bench-consume-{size}-{codec}"));
                cluster.create_topic(&topic, workload.partitions, 1).map_err(|e| e.to_string())?;
                java::produce(cluster, &workload, &topic, &payload_file)?;
                Some(topic)
            } else {
                None
            };
            let mut results: Vec<Measurement> = Vec::new();
            for round in 0..rounds {
                // Alternate the order so no client always runs on a warmer broker.
                let order: Vec<&String> = if round % 2 == 0 { clients.iter().collect() } else { clients.iter().rev().collect() };
                for client in order {
                    let topic = match &shared_topic {
                        Some(topic) => topic.clone(),
                        None => {
                            let topic = cluster.unique_topic(&format!("bench-{client}-{size}-{codec}"));
                            cluster.create_topic(&topic, workload.partitions, 1).map_err(|e| e.to_string())?;
                            topic
                        }
                    };
                    let spec =
                        ChildSpec { bootstrap: bootstrap.clone(), topic, payload_file: payload_file.clone(), workload: workload.clone() };
                    let before = ChildrenUsage::now();
                    let report = run_client(mode, client, cluster, &peers, &spec)?;
                    let used = ChildrenUsage::now().since(&before);
                    let cpu_seconds = used.cpu_seconds();
                    eprintln!(
                        "{} {client} round {round}: {:.0} records/s, {:.2} CPU s (user {:.2}, system {:.2}; {} page faults)",
                        workload.label(),
                        report.records as f64 / report.seconds,
                        cpu_seconds,
                        used.user_seconds,
                        used.system_seconds,
                        used.minor_faults
                    );
                    results.push(Measurement { client: client.clone(), report, cpu_seconds });
                    if shared_topic.is_none() {
                        delete_topic(&bootstrap, &spec.topic);
                    }
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
            if let Some(topic) = &shared_topic {
                delete_topic(&bootstrap, topic);
            }
            tables.push((workload.label(), rill_benches::peers::outcome::best_per_client(&results)));
        }
    }
    let title = match mode {
        Mode::Produce => "Producer, acks=all, idempotent, 6 partitions",
        Mode::Consume => "Consumer, from the earliest offset, 6 partitions",
    };
    println!("{}", rill_benches::peers::outcome::render_table(title, records, &tables));
    Ok(())
}

/// On the way out, removes what the broker has not yet of the topics
/// [`delete_topic`] deleted: Kafka renames a deleted partition's directory
/// `<topic>-<partition>.<id>-delete` and removes it a minute later
/// (`file.delete.delay.ms`), and the broker stops with the run, so each run
/// left its last minute of topics behind, gigabytes each: a session's runs
/// within the hour the run directories are kept filled the disk.
struct DeletedTopicData(&'static KafkaCluster);

impl Drop for DeletedTopicData {
    fn drop(&mut self) {
        for id in self.0.node_ids() {
            let Ok(entries) = std::fs::read_dir(self.0.node(id).data_dir()) else { continue };
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().ends_with("-delete") {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
    }
}

/// Deletes a measured topic (with rill's admin call): one cell of 1 KiB
/// uncompressed records writes about 1 GB per client and round, and a
/// matrix run kept 16-18 GB in the broker's data directory, which filled
/// the development machine's disk after a few runs. A failure is reported,
/// not fatal: the data then stays under `target/kafka-runs`.
fn delete_topic(bootstrap: &str, topic: &str) {
    let deleted = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string()).and_then(|runtime| {
        runtime.block_on(async {
            let config = rill_client::ClientConfig::from_properties([("bootstrap.servers", bootstrap)]).map_err(|e| e.to_string())?;
            let client = rill_client::Client::connect(config).await.map_err(|e| e.to_string())?;
            let results = client.delete_topics(&[topic], Duration::from_secs(30)).await.map_err(|e| e.to_string())?;
            results.into_iter().try_for_each(|r| r.result.map_err(|e| e.to_string()))
        })
    });
    if let Err(e) = deleted {
        eprintln!("peer-bench: deleting topic {topic}: {e} (its data stays under target/kafka-runs)");
    }
}
