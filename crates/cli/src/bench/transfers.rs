//! `bench transfers`: starts N validators, pre-signs transfers between funded accounts,
//! feeds them to the validators' mempools through the same admission path gossip uses
//! (stateless checks, batched signature verification), and measures what gets finalized:
//! transactions per second, finality latency from admission to the finalized block, and
//! block sizes.

use super::{Machine, Nodes, Report, bench_homes, data_dir, expiry_height, percentile};
use anyhow::Result;
use clap::Args;
use commonware_cryptography::{Signer, ed25519::PrivateKey};
use machina_app::Params;
use machina_node::{ChainInfo, ingress, run::Started};
use machina_sdk::tx::{TxParams, build};
use machina_types::{Address, BankCall, Call, ErrorCode, Hash, SignedTransaction};
use serde::Serialize;
use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// Options of `bench transfers`.
#[derive(Args, Debug, Clone)]
pub struct TransfersArgs {
    /// Validators.
    #[arg(long, default_value_t = 1)]
    pub validators: usize,
    /// Transfers to submit.
    #[arg(long, default_value_t = 200_000)]
    pub txs: usize,
    /// Funded sender accounts.
    #[arg(long, default_value_t = 2_000)]
    pub accounts: usize,
    /// Target block interval (ms).
    #[arg(long, default_value_t = 100)]
    pub block_interval_ms: u64,
    /// Most transactions per block.
    #[arg(long, default_value_t = 16_384)]
    pub max_block_txs: u32,
    /// Offered load in transactions per second (0: as fast as the window allows).
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Most transactions waiting in mempools at once.
    #[arg(long, default_value_t = 40_000)]
    pub window: usize,
    /// Directory for the nodes' data [default: a fresh temporary directory].
    #[arg(long)]
    pub dir: Option<std::path::PathBuf>,
}

/// Results of `bench transfers`.
#[derive(Debug, Serialize)]
pub struct TransfersReport {
    /// Validators.
    pub validators: usize,
    /// Offered load (tx/s), 0 if unpaced.
    pub offered_tx_per_s: u64,
    /// Transactions submitted.
    pub submitted: usize,
    /// Transactions finalized.
    pub finalized: usize,
    /// Seconds from the first admission to the last finalization.
    pub seconds: f64,
    /// Finalized transactions per second.
    pub tx_per_s: f64,
    /// Finality latency percentiles, ms (admission to finalized block).
    pub finality_ms_p50: f64,
    /// 99th percentile.
    pub finality_ms_p99: f64,
    /// Blocks finalized while measuring.
    pub blocks: usize,
    /// Average transactions per non-empty block.
    pub block_txs_avg: f64,
    /// Largest block.
    pub block_txs_max: usize,
    /// Target block interval.
    pub block_interval_ms: u64,
    /// How state is committed.
    pub commit: &'static str,
    /// Finalized transactions per second as a fraction of what this machine's cores verify.
    pub tx_per_s_of_verify_limit: f64,
    /// The machine, calibrated in this run.
    pub machine: Machine,
}

/// Signs `count` transfers spread over `senders` (sequential nonces per sender).
fn presign(senders: &[PrivateKey], count: usize, params: &Params) -> Vec<SignedTransaction> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let per_thread = count.div_ceil(threads);
    let addresses: Vec<Address> = senders.iter().map(|k| Address::of(&k.public_key())).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let addresses = &addresses;
                scope.spawn(move || {
                    let range = (t * per_thread)..((t + 1) * per_thread).min(count);
                    range
                        .map(|i| {
                            let sender = i % senders.len();
                            let tx_params = TxParams {
                                chain_id: "machina-bench".into(),
                                nonce: (i / senders.len()) as u64,
                                expiry_height: expiry_height(),
                                fees: params.fees,
                            };
                            let to = addresses[(i * 7 + 1) % addresses.len()];
                            let calls = vec![Call::Bank(BankCall::Transfer {
                                to,
                                amount: 1 + (i % 1000) as u64,
                            })];
                            build(&senders[sender], &tx_params, calls)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("signer thread")).collect()
    })
}

/// Runs `bench transfers`.
pub fn run(args: &TransfersArgs) -> Result<TransfersReport> {
    let TransfersArgs {
        validators, txs: count, accounts, block_interval_ms, max_block_txs, ..
    } = *args;
    let machine = Machine::calibrate();
    let root = data_dir(args.dir.clone(), "transfers");
    let params = Params { block_interval_ms, max_block_txs, ..Params::default() };
    let senders: Vec<PrivateKey> =
        (0..accounts as u64).map(|i| PrivateKey::from_seed(10_000 + i)).collect();
    let funded: Vec<Address> = senders.iter().map(|k| Address::of(&k.public_key())).collect();
    let homes = bench_homes(&root, validators, &funded, params.clone(), |_| Ok(()))?;
    eprintln!("signing {count} transfers from {accounts} accounts...");
    let txs = presign(&senders, count, &params);

    // Let every validator connect and finalize a few blocks before measuring.
    let nodes = Nodes::start(homes, 10)?;
    let chains: Vec<Arc<ChainInfo>> = nodes.started.iter().map(|s| s.chain.clone()).collect();
    eprintln!("{validators} validator(s) finalizing; submitting...");

    let submitted: Arc<Mutex<HashMap<Hash, Instant>>> =
        Arc::new(Mutex::new(HashMap::with_capacity(count)));
    let observer = observe(chains[0].clone(), submitted.clone(), count);
    let started = Instant::now();
    let refused = feed(&nodes.started, txs, args, &submitted);
    let observed = observer.join().expect("observer thread");
    drop(chains);
    nodes.stop()?;
    let _ = std::fs::remove_dir_all(&root);
    if let Some((code, n)) = refused.iter().next() {
        anyhow::bail!(
            "the mempool refused {} of {count} transfers ({n} with {})",
            refused.values().sum::<usize>(),
            code.name()
        );
    }

    let seconds = observed.last_finalized.map_or(0.0, |t| t.duration_since(started).as_secs_f64());
    let mut latencies = observed.latencies_ms;
    latencies.sort_by(|a, b| a.total_cmp(b));
    let non_empty: Vec<usize> = observed.block_sizes.iter().copied().filter(|n| *n > 0).collect();
    let tx_per_s = if seconds > 0.0 { latencies.len() as f64 / seconds } else { 0.0 };
    Ok(TransfersReport {
        validators,
        offered_tx_per_s: args.rate,
        submitted: count,
        finalized: latencies.len(),
        seconds,
        tx_per_s,
        finality_ms_p50: percentile(&latencies, 50.0),
        finality_ms_p99: percentile(&latencies, 99.0),
        blocks: observed.block_sizes.len(),
        block_txs_avg: if non_empty.is_empty() {
            0.0
        } else {
            non_empty.iter().sum::<usize>() as f64 / non_empty.len() as f64
        },
        block_txs_max: non_empty.iter().copied().max().unwrap_or(0),
        block_interval_ms,
        commit: "durable every block (state and archives synced before the block is acknowledged)",
        tx_per_s_of_verify_limit: machine.fraction(tx_per_s),
        machine,
    })
}

impl Report for TransfersReport {
    fn text(&self) -> String {
        format!(
            "validators          {}\noffered load        {}\nfinalized           {} of {} transfers in {:.2} s\n\
             throughput          {:.0} tx/s ({:.2} of the verification limit)\nfinality latency    p50 {:.1} ms, p99 {:.1} ms\n\
             blocks              {} (avg {:.0} tx, max {} tx, interval target {} ms)\n\
             commit              {}\n{}",
            self.validators,
            if self.offered_tx_per_s == 0 {
                "unpaced".to_string()
            } else {
                format!("{} tx/s", self.offered_tx_per_s)
            },
            self.finalized,
            self.submitted,
            self.seconds,
            self.tx_per_s,
            self.tx_per_s_of_verify_limit,
            self.finality_ms_p50,
            self.finality_ms_p99,
            self.blocks,
            self.block_txs_avg,
            self.block_txs_max,
            self.block_interval_ms,
            self.commit,
            self.machine.text(),
        )
    }
}

/// Admits `txs`, in order, to the validators (each sender always to the same validator),
/// at `load.rate` per second if set, keeping at most `load.window` waiting.
fn feed(
    nodes: &[Started],
    txs: Vec<SignedTransaction>,
    load: &TransfersArgs,
    submitted: &Mutex<HashMap<Hash, Instant>>,
) -> BTreeMap<ErrorCode, usize> {
    const CHUNK: usize = 1024;
    let mut rng = commonware_utils::sys_rng();
    let start = Instant::now();
    let mut sent = 0usize;
    let mut pending = txs.into_iter().peekable();
    let mut refused = BTreeMap::new();
    while pending.peek().is_some() {
        let allowed = match load.rate {
            0 => usize::MAX,
            rate => (start.elapsed().as_secs_f64() * rate as f64) as usize,
        };
        let waiting: usize = nodes.iter().map(|n| n.chain.mempool().len()).sum();
        let budget =
            allowed.saturating_sub(sent).min(CHUNK).min(load.window.saturating_sub(waiting));
        if budget == 0 {
            std::thread::sleep(Duration::from_millis(1));
            continue;
        }
        let mut groups: Vec<Vec<SignedTransaction>> = vec![Vec::new(); nodes.len()];
        for tx in pending.by_ref().take(budget) {
            groups[(tx.tx.signer.0[0] as usize) % nodes.len()].push(tx);
        }
        sent += budget;
        let now = Instant::now();
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        for (node, group) in nodes.iter().zip(groups) {
            let admit = ingress::admit(&node.chain, &node.db, group, now_ms, true, &mut rng);
            let results = node.runtime.block_on(admit);
            let mut map = submitted.lock().expect("submitted lock");
            for result in results {
                match result {
                    Ok(hash) => {
                        map.insert(hash, now);
                    }
                    Err(code) => *refused.entry(code).or_insert(0) += 1,
                }
            }
        }
    }
    refused
}

struct Observed {
    latencies_ms: Vec<f64>,
    block_sizes: Vec<usize>,
    last_finalized: Option<Instant>,
}

/// Watches finalized blocks until `expected` transactions are finalized (or progress stops).
fn observe(
    chain: Arc<ChainInfo>,
    submitted: Arc<Mutex<HashMap<Hash, Instant>>>,
    expected: usize,
) -> std::thread::JoinHandle<Observed> {
    let mut events = chain.subscribe();
    std::thread::spawn(move || {
        let mut observed = Observed {
            latencies_ms: Vec::with_capacity(expected),
            block_sizes: Vec::new(),
            last_finalized: None,
        };
        let mut last_progress = Instant::now();
        while observed.latencies_ms.len() < expected
            && last_progress.elapsed() < Duration::from_secs(30)
        {
            let block = match events.try_recv() {
                Ok(block) => block,
                Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => continue,
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(1));
                    continue;
                }
            };
            let now = Instant::now();
            let map = submitted.lock().expect("submitted lock");
            let mut counted = 0;
            for receipt in block.receipts.iter() {
                if let Some(at) = map.get(&receipt.tx_hash) {
                    observed.latencies_ms.push(now.duration_since(*at).as_secs_f64() * 1000.0);
                    counted += 1;
                }
            }
            if counted > 0 {
                observed.block_sizes.push(counted);
                observed.last_finalized = Some(now);
                last_progress = now;
            }
        }
        observed
    })
}
