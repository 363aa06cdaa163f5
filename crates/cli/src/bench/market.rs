//! `bench market`: the market's batch clearing inside the state machine, and intents through
//! the API of a running node.
//!
//! - **Clearing**: on an in-memory state, a maker, devices with provider stake, `--offers`
//!   offers and `--intents` intents spread over `--markets` markets (each a region of one
//!   resource kind) are posted through the state machine's own calls (signatures are
//!   checked before execution, so the book's transactions carry a placeholder). Then the
//!   block that ends the batch runs: every market's uniform-price auction, the leases, the
//!   refunds of savings, the indexes. The figure is that block-level step's time, and leases
//!   made per second of it.
//! - **End to end**: one validator with the API; pre-signed intents (one per transaction,
//!   from many accounts) are posted to `POST /v1/txs` by concurrent clients; the figure is
//!   intents finalized per second, from the first request to the block holding the last.

use super::{
    InMemoryChain, Machine, Nodes, Report, bench_homes, data_dir, expiry_height, unsigned,
};
use anyhow::{Result, bail};
use clap::Args;
use commonware_cryptography::{Signer, ed25519::PrivateKey};
use machina_app::{
    Genesis, Params,
    genesis::{GenesisAccount, MarketParams},
    modules::market::state::Counters,
};
use machina_sdk::{Client, device::DeviceIdentity, tx::TxParams};
use machina_types::{
    Address, Call, IdentityCall, MarketCall, SignedTransaction,
    market::{Component, Delivery, GEOHASH_ALPHABET, MarketEvent, ResourceKind, StakeKind},
};
use serde::Serialize;
use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

/// Options of `bench market`.
#[derive(Args, Debug, Clone)]
pub struct MarketArgs {
    /// Intents in the batch.
    #[arg(long, default_value_t = 100_000)]
    pub intents: usize,
    /// Offers in the batch.
    #[arg(long, default_value_t = 10_000)]
    pub offers: usize,
    /// Markets (regions of one resource kind) they spread over.
    #[arg(long, default_value_t = 100)]
    pub markets: usize,
    /// Intents posted through the API (0: skip the end-to-end part).
    #[arg(long, default_value_t = 20_000)]
    pub api_intents: usize,
    /// Concurrent API clients.
    #[arg(long, default_value_t = 8)]
    pub clients: usize,
    /// Directory for the node's data [default: a fresh temporary directory].
    #[arg(long)]
    pub dir: Option<std::path::PathBuf>,
}

/// Results of `bench market`.
#[derive(Debug, Serialize)]
pub struct MarketReport {
    /// Intents in the cleared batch.
    pub intents: usize,
    /// Offers in it.
    pub offers: usize,
    /// Markets.
    pub markets: usize,
    /// Time of the batch-end step: clearing every market and settling the fills (ms).
    pub clearing_ms: f64,
    /// Leases made.
    pub leases: u64,
    /// Leases made per second of clearing.
    pub leases_per_s: f64,
    /// Units traded.
    pub units: u64,
    /// Intents posted through the API (0: not measured).
    pub api_intents: usize,
    /// Seconds from the first request to the block holding the last intent.
    pub api_seconds: f64,
    /// Intents finalized per second through the API.
    pub api_intents_per_s: f64,
    /// Intents through the API per second as a fraction of what this machine's cores
    /// verify.
    pub api_of_verify_limit: f64,
    /// The machine, calibrated in this run.
    pub machine: Machine,
}

impl Report for MarketReport {
    fn text(&self) -> String {
        let api = if self.api_intents == 0 {
            "not measured".to_string()
        } else {
            format!(
                "{:.0} intents/s finalized ({} intents in {:.2} s; {:.2} of the verification limit)",
                self.api_intents_per_s,
                self.api_intents,
                self.api_seconds,
                self.api_of_verify_limit
            )
        };
        format!(
            "batch               {} intents, {} offers, {} markets\n\
             clearing            {:.1} ms in the state machine: {} leases ({:.0} leases/s), {} units traded\n\
             through the API     {api}\n\
             {}",
            self.intents,
            self.offers,
            self.markets,
            self.clearing_ms,
            self.leases,
            self.leases_per_s,
            self.units,
            self.machine.text()
        )
    }
}

/// A small deterministic generator (the same book on every run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

/// Region `i` of `n`: distinct two-character geohash prefixes.
fn region(i: usize) -> String {
    let alphabet: Vec<char> = GEOHASH_ALPHABET.chars().collect();
    format!("{}{}", alphabet[(i / 32) % 32], alphabet[i % 32])
}

/// Runs `bench market`.
pub fn run(args: &MarketArgs) -> Result<MarketReport> {
    if args.markets == 0 || args.markets > 1024 {
        bail!("--markets must be 1..=1024");
    }
    let machine = Machine::calibrate();
    let mut report = clearing(args, machine)?;
    if args.api_intents > 0 {
        let (seconds, count) = through_api(args)?;
        report.api_intents = count;
        report.api_seconds = seconds;
        report.api_intents_per_s = count as f64 / seconds;
        report.api_of_verify_limit = report.machine.fraction(report.api_intents_per_s);
    }
    Ok(report)
}

fn clearing(args: &MarketArgs, machine: Machine) -> Result<MarketReport> {
    const CONSUMERS: usize = 1_000;
    const DEVICES: usize = 100;
    let maker = PrivateKey::from_seed(1);
    let maker_key = PrivateKey::from_seed(2);
    // One seller per device: an account keeps at most 256 orders open.
    let sellers: Vec<PrivateKey> =
        (0..DEVICES as u64).map(|i| PrivateKey::from_seed(3_000 + i)).collect();
    let consumers: Vec<PrivateKey> =
        (0..CONSUMERS as u64).map(|i| PrivateKey::from_seed(1_000 + i)).collect();
    let interval = 1_000_000;
    let funded =
        |k: &PrivateKey| GenesisAccount { address: Address::of(&k.public_key()), balance: 1 << 50 };
    let genesis = Genesis {
        chain_id: "machina-bench".into(),
        genesis_time_ms: 0,
        validators: vec![Address::of(&maker.public_key())],
        accounts: [&maker].into_iter().chain(&sellers).chain(&consumers).map(funded).collect(),
        params: Params {
            market: MarketParams { auction_interval_blocks: interval, ..MarketParams::default() },
            ..Params::default()
        },
    };
    let chain_id = genesis.chain_id.clone();
    let mut m = InMemoryChain::start(genesis)?;
    let placeholder = maker.sign(b"placeholder", b"placeholder");
    let tx = |signer: &PrivateKey, nonce: u64, calls: Vec<Call>| {
        unsigned(&chain_id, Address::of(&signer.public_key()), nonce, calls, &placeholder)
    };

    // A maker, its devices (each owned by a seller with provider stake).
    eprintln!(
        "setting up {} offers and {} intents in {} markets...",
        args.offers, args.intents, args.markets
    );
    let register = IdentityCall::RegisterMaker {
        name: "bench".into(),
        maker_key: Address::of(&maker_key.public_key()),
        bond: 1 << 40,
    };
    m.block(&[tx(&maker, 0, vec![register.into()])])?;
    let devices: Vec<DeviceIdentity> = (0..DEVICES as u64)
        .map(|i| {
            DeviceIdentity::certify(
                PrivateKey::from_seed(50_000 + i),
                Address::of(&maker.public_key()),
                &maker_key,
                "bench",
                &format!("d{i}"),
            )
        })
        .collect();
    let setup: Vec<SignedTransaction> = devices
        .iter()
        .zip(&sellers)
        .map(|(device, seller)| {
            let mut calls =
                device.onboard_calls(&chain_id, &Address::of(&seller.public_key()), None);
            calls.push(MarketCall::Stake { kind: StakeKind::Provider, amount: 1 << 40 }.into());
            tx(seller, 0, calls)
        })
        .collect();
    m.block(&setup)?;

    // The book.
    let mut rng = Lcg(7);
    let expiry = m.now_ms + 3_600_000;
    let mut by_device: Vec<Vec<Call>> = vec![Vec::new(); DEVICES];
    for i in 0..args.offers {
        let offer = MarketCall::Offer {
            device: devices[i % DEVICES].id(),
            kind: ResourceKind::Compute,
            region: region(i % args.markets),
            capacity: 1 + rng.next(100),
            floor_price: 40 + rng.next(80),
            delivery: Delivery::Receipt,
            expiry_ms: expiry,
        };
        by_device[i % DEVICES].push(offer.into());
    }
    let offer_txs: Vec<SignedTransaction> = by_device
        .iter()
        .zip(&sellers)
        .flat_map(|(calls, seller)| {
            calls.chunks(16).enumerate().map(|(n, chunk)| tx(seller, 1 + n as u64, chunk.to_vec()))
        })
        .collect();
    for block in offer_txs.chunks(512) {
        m.block(block)?;
    }
    let mut nonces = vec![0u64; CONSUMERS];
    let intents: Vec<(usize, Call)> = (0..args.intents)
        .map(|i| {
            let call = MarketCall::Intent {
                region: region(i % args.markets),
                components: vec![Component { kind: ResourceKind::Compute, quantity: 1 }],
                units: 1 + rng.next(10),
                max_price: 50 + rng.next(100),
                deadline_ms: expiry,
                min_reputation: 0,
                partial: rng.next(2) == 0,
            };
            ((i / 16) % CONSUMERS, call.into())
        })
        .collect();
    for block in intents.chunks(16 * 512) {
        let txs: Vec<SignedTransaction> = block
            .chunks(16)
            .map(|chunk| {
                let who = chunk[0].0;
                nonces[who] += 1;
                tx(&consumers[who], nonces[who] - 1, chunk.iter().map(|(_, c)| c.clone()).collect())
            })
            .collect();
        m.block(&txs)?;
    }

    // The block that ends the batch.
    eprintln!("clearing...");
    m.height = interval - 1;
    let (clearing_time, out) = m.block(&[])?;
    let counters: Counters =
        m.state.get(&machina_app::modules::market::keys::counters()).unwrap_or_default();
    let leases = counters.next_lease - 1;
    let units: u64 = out
        .events
        .iter()
        .filter_map(|e| match e {
            machina_types::Event::Market(MarketEvent::MarketCleared { units, .. }) => Some(*units),
            _ => None,
        })
        .sum();
    let seconds = clearing_time.as_secs_f64();
    Ok(MarketReport {
        intents: args.intents,
        offers: args.offers,
        markets: args.markets,
        clearing_ms: seconds * 1000.0,
        leases,
        leases_per_s: leases as f64 / seconds,
        units,
        api_intents: 0,
        api_seconds: 0.0,
        api_intents_per_s: 0.0,
        api_of_verify_limit: 0.0,
        machine,
    })
}

/// Posts `--api-intents` pre-signed intents to a running node's API from concurrent clients;
/// returns the seconds until the last is finalized, and how many were.
fn through_api(args: &MarketArgs) -> Result<(f64, usize)> {
    let root = data_dir(args.dir.clone(), "market");
    let accounts: Vec<PrivateKey> =
        (0..2_000u64).map(|i| PrivateKey::from_seed(100_000 + i)).collect();
    let funded: Vec<Address> = accounts.iter().map(|k| Address::of(&k.public_key())).collect();
    let params = Params::default();
    let homes = bench_homes(&root, 1, &funded, params.clone(), |_| Ok(()))?;
    let nodes = Nodes::start(homes, 3)?;
    let chain = nodes.started[0].chain.clone();
    let client = Client::new(&format!("http://{}", nodes.started[0].api));
    let deadline = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis()
        as u64
        + 3_600_000;
    eprintln!("signing {} intents...", args.api_intents);
    let txs: Vec<SignedTransaction> = (0..args.api_intents)
        .map(|i| {
            let key = &accounts[i % accounts.len()];
            let nonce = (i / accounts.len()) as u64;
            let p = TxParams {
                chain_id: "machina-bench".into(),
                nonce,
                expiry_height: expiry_height(),
                fees: params.fees,
            };
            let call = MarketCall::Intent {
                region: region(i % args.markets),
                components: vec![Component { kind: ResourceKind::Compute, quantity: 1 }],
                units: 1,
                max_price: 100,
                deadline_ms: deadline,
                min_reputation: 0,
                partial: true,
            };
            machina_sdk::tx::build(key, &p, vec![call.into()])
        })
        .collect();
    eprintln!("posting them through the API with {} clients...", args.clients);
    let posted = Arc::new(AtomicUsize::new(0));
    let mut blocks = chain.subscribe();
    let started = Instant::now();
    // Each client posts its share in nonce order (an account's transactions stay in one client).
    let mut shares: Vec<Vec<SignedTransaction>> = vec![Vec::new(); args.clients.max(1)];
    for (i, tx) in txs.into_iter().enumerate() {
        shares[(i % 2_000) * args.clients.max(1) / 2_000].push(tx);
    }
    let handles: Vec<_> = shares
        .into_iter()
        .map(|share| {
            let client = client.clone();
            let posted = posted.clone();
            std::thread::spawn(move || {
                for tx in share {
                    if client.submit(&tx).is_ok() {
                        posted.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    let mut finalized = 0usize;
    let mut last = started;
    let mut idle = Instant::now();
    while finalized < args.api_intents && idle.elapsed() < Duration::from_secs(30) {
        match blocks.try_recv() {
            Ok(block) => {
                let count = block
                    .receipts
                    .iter()
                    .flat_map(|r| r.events.iter())
                    .filter(|e| {
                        matches!(e, machina_types::Event::Market(MarketEvent::IntentPosted { .. }))
                    })
                    .count();
                if count > 0 {
                    finalized += count;
                    last = Instant::now();
                    idle = last;
                }
            }
            Err(_) => std::thread::sleep(Duration::from_millis(1)),
        }
    }
    for h in handles {
        let _ = h.join();
    }
    nodes.stop()?;
    let _ = std::fs::remove_dir_all(&root);
    if finalized < posted.load(Ordering::Relaxed) {
        eprintln!(
            "warning: {} intents posted, {finalized} finalized",
            posted.load(Ordering::Relaxed)
        );
    }
    Ok((last.duration_since(started).as_secs_f64(), finalized))
}
