//! `machina bench`: performance measured on real nodes started in this process (each with
//! its own runtime, storage directory and p2p over loopback TCP, as separate nodes would
//! have). Every block is committed durably (state and archives synced) before the next is
//! acknowledged, as in normal operation.

mod channels;
mod explorer;
mod gateway;
mod load;
mod market;
mod ownership;
mod transfers;

use anyhow::bail;
use anyhow::{Context, Result};
use clap::Subcommand;
use commonware_cryptography::{Signer, ed25519::PrivateKey};
use machina_app::{
    BlockEnv, BlockExecutor, Genesis, MemState, Params, exec::Applied, genesis::GenesisAccount,
};
use machina_node::execute::verify_signatures;
use machina_node::{
    home::{Home, NodeConfig, Peer},
    ports::unused_local_addr,
    run::{self, Started},
};
use machina_types::{Address, BankCall, Call, Hash, Outcome, SignedTransaction, Transaction};
use serde::Serialize;
use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
    sync::mpsc,
    thread::JoinHandle,
    time::{Duration, Instant},
};

/// Benchmarks.
#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Finalized native transfers per second and finality latency.
    Transfers(transfers::TransfersArgs),
    /// Gateway throughput: in-process admission of plain and sealed readings (with the
    /// device's sealing and the subscriber's opening cost), MQTT end to end (against a plain
    /// mosquitto broker), and reading-to-finalized-anchor latency.
    Gateway(gateway::GatewayArgs),
    /// Market batch clearing inside the state machine (leases/s), and intents through the
    /// API of a running node (intents/s).
    Market(market::MarketArgs),
    /// A machine's revenue inside the state machine: payments split to holders, claims and
    /// share transfers, per operation, for machines with more and more holders.
    Ownership(ownership::OwnershipArgs),
    /// Payment channels: vouchers signed and verified off chain per second, and the chain's
    /// cost of opening and closing a channel whatever the number of vouchers it paid.
    Channels(channels::ChannelsArgs),
    /// The explorer's main pages rendered in headless Chromium (navigation to rendered) while
    /// a running node takes transfers and API reads.
    Explorer(explorer::ExplorerArgs),
}

/// Runs a benchmark; prints its report as JSON with `json`, else as text.
pub fn run(cmd: BenchCommand, json: bool) -> Result<()> {
    if let Ok(filter) = std::env::var("RUST_LOG") {
        crate::commands::init_logs(&filter);
    }
    match cmd {
        BenchCommand::Transfers(args) => print(&transfers::run(&args)?, json),
        BenchCommand::Gateway(args) => print(&gateway::run(&args)?, json),
        BenchCommand::Market(args) => print(&market::run(&args)?, json),
        BenchCommand::Ownership(args) => print(&ownership::run(&args)?, json),
        BenchCommand::Channels(args) => print(&channels::run(&args)?, json),
        BenchCommand::Explorer(args) => print(&explorer::run(&args)?, json),
    }
}

/// A benchmark's results.
trait Report: Serialize {
    /// The results as aligned text lines.
    fn text(&self) -> String;
}

fn print(report: &impl Report, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string(report)?);
    } else {
        println!("{}", report.text());
    }
    Ok(())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(0, |n| n.get())
}

/// The machine a benchmark ran on, calibrated in the same run: absolute figures vary up to
/// 2x between machines of the same size, so each report also gives its rates as a fraction
/// of what this machine's cores can verify, which is what compares runs across machines.
#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    /// The CPU model, as the kernel names it.
    pub cpu: String,
    /// CPU cores available to the process.
    pub cores: usize,
    /// ed25519 transaction signatures one core verifies per second, in batches of 64,
    /// through the node's own batch verification (the best of five 200 ms rounds, measured
    /// before the benchmark starts).
    pub verify_per_core: f64,
}

impl Machine {
    /// Measures this machine (about a second on one core).
    pub fn calibrate() -> Self {
        const BATCH: usize = 64;
        let keys: Vec<PrivateKey> =
            (0..BATCH as u64).map(|i| PrivateKey::from_seed(900_000 + i)).collect();
        let txs: Vec<SignedTransaction> = keys
            .iter()
            .zip(keys.iter().cycle().skip(1))
            .map(|(key, to)| {
                Transaction {
                    chain_id: CHAIN_ID.into(),
                    signer: Address::of(&key.public_key()),
                    nonce: 0,
                    fee: 1_000,
                    expiry_height: 1,
                    calls: vec![Call::Bank(BankCall::Transfer {
                        to: Address::of(&to.public_key()),
                        amount: 1,
                    })],
                }
                .sign(key)
            })
            .collect();
        let hashes: Vec<Hash> = txs.iter().map(|tx| tx.hash()).collect();
        let mut rng = commonware_utils::sys_rng();
        let mut verify = || {
            let valid = verify_signatures(&txs, &hashes, |_| false, &mut rng);
            assert!(valid, "calibration signatures verify");
        };
        verify(); // warm caches (decompressed keys)
        // The best of five rounds: a round slowed by a neighbour says less about the machine.
        let verify_per_core = (0..5)
            .map(|_| {
                let start = Instant::now();
                let mut verified = 0usize;
                while start.elapsed() < Duration::from_millis(200) {
                    verify();
                    verified += BATCH;
                }
                verified as f64 / start.elapsed().as_secs_f64()
            })
            .fold(0.0, f64::max);
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split(':').nth(1))
                    .map(|m| m.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        Self { cpu, cores: cores(), verify_per_core }
    }

    /// `rate` (per second) as a fraction of what all cores verify per second.
    pub fn fraction(&self, rate: f64) -> f64 {
        rate / (self.verify_per_core * self.cores.max(1) as f64)
    }

    /// The machine line of a text report.
    pub fn text(&self) -> String {
        format!(
            "machine             {} cores ({}), verifying {:.0} signatures/s per core",
            self.cores, self.cpu, self.verify_per_core
        )
    }
}

/// The benchmark's data directory: `dir`, or a fresh one under the system's temporary
/// directory; emptied first.
fn data_dir(dir: Option<PathBuf>, name: &str) -> PathBuf {
    let root = dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("machina-bench-{name}-{}", std::process::id()))
    });
    let _ = std::fs::remove_dir_all(&root);
    root
}

/// The benchmark chain's id.
pub const CHAIN_ID: &str = "machina-bench";

/// Expiry height of the benchmarks' pre-signed transactions: the furthest ahead a node's
/// mempool admits on a fresh chain, and further than any run lasts.
fn expiry_height() -> u64 {
    machina_node::MempoolConfig::default().max_expiry_blocks
}

/// Validator keys of the benchmark chain.
fn validator_keys(validators: usize) -> Vec<PrivateKey> {
    (0..validators as u64).map(|i| PrivateKey::from_seed(u64::MAX - i)).collect()
}

/// Gateway keys of the benchmark chain's nodes.
fn gateway_keys(validators: usize) -> Vec<PrivateKey> {
    (0..validators as u64).map(|i| PrivateKey::from_seed(u64::MAX - 1_000 - i)).collect()
}

/// Writes `validators` homes for the benchmark chain: `funded` accounts and the nodes'
/// gateways (which pay anchoring fees) start with ample balances; `configure` adjusts each
/// node's configuration.
fn bench_homes(
    root: &Path,
    validators: usize,
    funded: &[Address],
    params: Params,
    configure: impl Fn(&mut NodeConfig) -> Result<()>,
) -> Result<Vec<Home>> {
    let keys = validator_keys(validators);
    let gateways = gateway_keys(validators);
    let validator_addresses: Vec<Address> =
        keys.iter().map(|k| Address::of(&k.public_key())).collect();
    let gateway_addresses: Vec<Address> =
        gateways.iter().map(|k| Address::of(&k.public_key())).collect();
    let genesis = Genesis {
        chain_id: CHAIN_ID.into(),
        genesis_time_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        validators: validator_addresses.clone(),
        accounts: funded
            .iter()
            .chain(&gateway_addresses)
            .map(|address| GenesisAccount { address: *address, balance: 1 << 40 })
            .collect(),
        params,
    };
    genesis.validate()?;
    let addrs: Vec<(SocketAddr, SocketAddr)> =
        (0..validators).map(|_| (unused_local_addr(), unused_local_addr())).collect();
    let mut homes = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let home = Home::new(root.join(format!("node{i}")));
        let peers = keys
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(j, k)| Peer { public_key: Address::of(&k.public_key()), address: addrs[j].1 })
            .collect();
        let mut config = NodeConfig::new(addrs[i].0, addrs[i].1, peers);
        config.mempool.max_txs = 1_000_000;
        config.log = "warn".into();
        configure(&mut config)?;
        home.write_validator_key(key)?;
        home.write_gateway_key(&gateways[i])?;
        home.write_genesis(&genesis)?;
        home.write_config(&config)?;
        homes.push(home);
    }
    Ok(homes)
}

/// Nodes running in this process, one thread each.
struct Nodes {
    started: Vec<Started>,
    stops: Vec<tokio::sync::oneshot::Sender<()>>,
    threads: Vec<JoinHandle<Result<(), run::RunError>>>,
}

impl Nodes {
    /// Starts a node in each of `homes`, and waits until each has finalized `height`.
    fn start(homes: Vec<Home>, height: u64) -> Result<Self> {
        let count = homes.len();
        let (started_tx, started_rx) = mpsc::channel::<Started>();
        let mut stops = Vec::new();
        let mut threads = Vec::new();
        for home in homes {
            let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
            stops.push(stop_tx);
            let started_tx = started_tx.clone();
            threads.push(std::thread::spawn(move || {
                let shutdown = async move {
                    let _ = stop_rx.await;
                };
                run::run(&home, shutdown, move |s| {
                    let _ = started_tx.send(s);
                })
            }));
        }
        let started: Vec<Started> = (0..count)
            .map(|_| started_rx.recv_timeout(Duration::from_secs(60)))
            .collect::<Result<_, _>>()
            .context("nodes did not start")?;
        while started.iter().any(|s| s.chain.height() < height) {
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(Self { started, stops, threads })
    }

    /// Stops every node and waits for them.
    fn stop(self) -> Result<()> {
        drop(self.started);
        for stop in self.stops {
            let _ = stop.send(());
        }
        for thread in self.threads {
            thread.join().expect("node thread")?;
        }
        Ok(())
    }
}

/// An in-memory chain for benchmarks of the state machine: blocks run through the executor
/// on a `MemState`.
struct InMemoryChain {
    state: MemState,
    genesis: Arc<Genesis>,
    height: u64,
    now_ms: u64,
    /// Bytes of state written by every block so far (keys and values, deletions as keys).
    written_bytes: usize,
}

impl InMemoryChain {
    /// A chain of `genesis` with its genesis block run.
    fn start(genesis: Genesis) -> Result<Self> {
        genesis.validate()?;
        let mut chain = Self {
            state: MemState::default(),
            genesis: Arc::new(genesis),
            height: 0,
            now_ms: 1_000,
            written_bytes: 0,
        };
        chain.block(&[])?;
        Ok(chain)
    }

    /// Runs `txs` in blocks of at most 8192; returns the time they took.
    fn timed(&mut self, txs: &[SignedTransaction]) -> Result<Duration> {
        let started = Instant::now();
        for block in txs.chunks(8192) {
            self.block(block)?;
        }
        Ok(started.elapsed())
    }

    /// Runs a block of `txs` (each must succeed); returns the time of its block-level
    /// steps and its output.
    fn block(
        &mut self,
        txs: &[SignedTransaction],
    ) -> Result<(Duration, machina_app::exec::BlockOutput)> {
        self.height += 1;
        self.now_ms += 100;
        let env = BlockEnv {
            height: self.height,
            timestamp_ms: self.now_ms,
            proposer: self.genesis.validators[0],
            genesis: self.genesis.clone(),
        };
        let mut exec = BlockExecutor::new(env);
        let started = Instant::now();
        if exec.begin(&self.state).is_err() {
            bail!("an in-memory state never misses keys");
        }
        let begin = started.elapsed();
        for tx in txs {
            match exec.apply(&self.state, tx, tx.hash()) {
                Ok(Applied::Included(r)) if r.outcome == Outcome::Success => {}
                other => bail!("a setup transaction failed: {other:?}"),
            }
        }
        let out = exec.finish();
        self.written_bytes += out
            .writes
            .iter()
            .map(|(k, v)| k.0.len() + v.as_ref().map_or(0, Vec::len))
            .sum::<usize>();
        self.state.apply(&out.writes);
        Ok((begin, out))
    }
}

/// Microseconds per operation, `n` operations having taken `d`.
fn micros(d: Duration, n: usize) -> f64 {
    d.as_secs_f64() * 1e6 / n.max(1) as f64
}

/// A transaction of `calls` from `signer` with `nonce`; the signature is a placeholder (the
/// executor runs on transactions whose signatures were checked before).
fn unsigned(
    chain_id: &str,
    signer: Address,
    nonce: u64,
    calls: Vec<Call>,
    placeholder: &machina_types::Signature,
) -> SignedTransaction {
    let tx = Transaction {
        chain_id: chain_id.into(),
        signer,
        nonce,
        fee: 0,
        expiry_height: u64::MAX,
        calls,
    };
    let mut signed = SignedTransaction { tx, signature: placeholder.clone() };
    signed.tx.fee = signed.required_fee(&Params::default().fees);
    signed
}
