//! What the node knows about the finalized chain, shared between the consensus pipeline
//! (which updates it) and the API (which reads it): the finalized tip, which recent block
//! each state root belongs to, receipts awaiting finalization, the event stream and metrics.

use crate::mempool::Mempool;
use commonware_runtime::{
    Metrics,
    telemetry::metrics::{Counter, CounterFamily, Gauge, Histogram, MetricsExt},
};
use machina_app::Genesis;
use machina_types::{Event, Hash, Height, Receipt, block::Header, market::MarketEvent};
use std::{
    collections::{BTreeMap, VecDeque},
    sync::{Arc, Mutex, RwLock},
};
use tokio::sync::broadcast;

/// A block as the node reports it once finalized.
#[derive(Clone, Debug)]
pub struct FinalizedBlock {
    /// Block digest.
    pub digest: Hash,
    /// Header.
    pub header: Header,
    /// Receipts of its transactions.
    pub receipts: Arc<Vec<Receipt>>,
    /// Events of its block-level steps (market clearing, leases falling due).
    pub events: Arc<Vec<Event>>,
}

impl FinalizedBlock {
    /// Every event of the block: its transactions', then its block-level steps'.
    pub fn all_events(&self) -> impl Iterator<Item = &Event> {
        self.receipts.iter().flat_map(|r| r.events.iter()).chain(self.events.iter())
    }
}

/// What executing a block produced, kept until it is finalized.
#[derive(Clone, Debug, Default)]
pub struct Effects {
    /// Receipts of its transactions.
    pub receipts: Arc<Vec<Receipt>>,
    /// Events of its block-level steps.
    pub events: Arc<Vec<Event>>,
}

/// The latest finalized block.
#[derive(Clone, Debug)]
pub struct Tip {
    /// Height.
    pub height: Height,
    /// Digest.
    pub digest: Hash,
    /// Header.
    pub header: Header,
}

/// How many recent state roots are remembered (to find the block a proof's root belongs to).
const ROOTS_REMEMBERED: usize = 1024;
/// How many executed-but-unfinalized blocks' receipts are kept.
const RECEIPTS_REMEMBERED: usize = 1024;
/// Capacity of the event stream; slow subscribers skip ahead.
const EVENTS_BUFFERED: usize = 1024;
/// Buckets (seconds) of the execution-time histograms.
const EXECUTION_BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0];
/// Window over which the tx/s gauge is computed.
const RATE_WINDOW_MS: u64 = 10_000;

struct Metered {
    height: Gauge,
    mempool: Gauge,
    txs: Counter,
    tps: Gauge,
    latency: Histogram,
    panics: Gauge,
    step_failures: Gauge,
    refusals: CounterFamily<Vec<(String, String)>>,
    admitted: CounterFamily<Vec<(String, String)>>,
    gossip_received: Counter,
    gossip_sent: Counter,
    build_seconds: Histogram,
    verify_seconds: Histogram,
    steps_seconds: Histogram,
    market: MarketMetrics,
}

/// The market as finalized blocks show it: batches cleared, leases made and settled.
/// `leases_made_total - leases_settled_total` (both since this node started) is the
/// settlement backlog; `GET /v1/market` has the chain's own totals.
struct MarketMetrics {
    cleared: Counter,
    units: Counter,
    leases_made: Counter,
    settled: CounterFamily<Vec<(String, String)>>,
    settlement_failures: Counter,
}

impl MarketMetrics {
    fn new(metrics: &impl Metrics) -> Self {
        Self {
            cleared: metrics
                .counter("market_clearings", "markets cleared at a batch end (one per market)"),
            units: metrics.counter("market_units_cleared", "units traded in cleared batches"),
            leases_made: metrics.counter("market_leases_made", "leases made by clearings"),
            settled: metrics.family(
                "market_leases_settled",
                "leases settled, by outcome (delivered: the seller was paid; refunded)",
            ),
            settlement_failures: metrics.counter(
                "market_settlement_failures",
                "due leases a broken invariant kept from settling (passed over, still open)",
            ),
        }
    }

    fn observe(&self, block: &FinalizedBlock) {
        let outcome = |name: &str| vec![("outcome".to_string(), name.to_string())];
        for event in block.all_events() {
            let Event::Market(event) = event else { continue };
            match event {
                MarketEvent::MarketCleared { units, leases, .. } => {
                    self.cleared.inc();
                    self.units.inc_by(*units);
                    self.leases_made.inc_by(u64::from(*leases));
                }
                MarketEvent::Delivered { .. } => {
                    self.settled.get_or_create(&outcome("delivered")).inc();
                }
                MarketEvent::Refunded { .. } => {
                    self.settled.get_or_create(&outcome("refunded")).inc();
                }
                MarketEvent::SettlementFailed { .. } => {
                    self.settlement_failures.inc();
                }
                _ => {}
            }
        }
    }
}

/// Shared chain knowledge. Cheap to clone through `Arc`.
pub struct ChainInfo {
    genesis: Arc<Genesis>,
    genesis_hash: Hash,
    tip: RwLock<Option<Tip>>,
    roots: Mutex<Recent<(Height, Hash)>>,
    effects: Mutex<Recent<Effects>>,
    rate: Mutex<VecDeque<(u64, u64)>>,
    events: broadcast::Sender<Arc<FinalizedBlock>>,
    observers: Mutex<Vec<Observer>>,
    mempool: Mempool,
    metrics: Metered,
}

/// A function told of each finalized block before anyone can see it finalized.
type Observer = Box<dyn Fn(&FinalizedBlock) + Send + Sync>;

impl ChainInfo {
    /// Creates the shared state, registering metrics on `metrics`.
    pub fn new(genesis: Arc<Genesis>, mempool: Mempool, metrics: &impl Metrics) -> Self {
        let latency_buckets = [0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0];
        let metrics = Metered {
            height: metrics.gauge("finalized_height", "height of the latest finalized block"),
            mempool: metrics.gauge("mempool_size", "transactions waiting in the mempool"),
            txs: metrics.counter("finalized_txs", "transactions in finalized blocks"),
            tps: metrics.gauge("tx_per_second", "finalized transactions per second, last 10 s"),
            latency: metrics.histogram(
                "finality_latency_seconds",
                "time from a transaction reaching this node to its block being finalized",
                latency_buckets,
            ),
            panics: metrics.gauge(
                "execution_panics",
                "calls whose execution hit a broken invariant (failed with `internal`) since start",
            ),
            step_failures: metrics.gauge(
                "block_step_failures",
                "block-level steps that failed (their writes dropped) since start",
            ),
            refusals: metrics.family(
                "transactions_refused",
                "transactions refused before the mempool (API and gossip), by code",
            ),
            admitted: metrics.family(
                "transactions_admitted",
                "transactions admitted to the mempool, by source (local: API, gateway; peer)",
            ),
            gossip_received: metrics
                .counter("gossip_txs_received", "transactions received from peers' gossip"),
            gossip_sent: metrics.counter("gossip_txs_sent", "transactions gossiped to peers"),
            build_seconds: metrics.histogram(
                "block_build_seconds",
                "time to execute a proposed block (state reads included, commit not)",
                EXECUTION_BUCKETS,
            ),
            verify_seconds: metrics.histogram(
                "block_verify_seconds",
                "time to re-execute a peer's block (state reads included, commit not)",
                EXECUTION_BUCKETS,
            ),
            steps_seconds: metrics.histogram(
                "block_steps_seconds",
                "time of a block's block-level steps (market clearing and settlement)",
                EXECUTION_BUCKETS,
            ),
            market: MarketMetrics::new(metrics),
        };
        Self {
            genesis_hash: genesis.hash(),
            genesis,
            tip: RwLock::new(None),
            roots: Mutex::new(Recent::new(ROOTS_REMEMBERED)),
            effects: Mutex::new(Recent::new(RECEIPTS_REMEMBERED)),
            rate: Mutex::default(),
            events: broadcast::channel(EVENTS_BUFFERED).0,
            observers: Mutex::default(),
            mempool,
            metrics,
        }
    }

    /// Counts a transaction admitted to the mempool; `local` if it came through this node
    /// (API, gateway), else from a peer.
    pub fn count_admitted(&self, local: bool) {
        let source = if local { "local" } else { "peer" };
        self.metrics.admitted.get_or_create(&vec![("source".into(), source.into())]).inc();
    }

    /// Counts transactions received from peers' gossip.
    pub fn count_gossip_received(&self, txs: usize) {
        self.metrics.gossip_received.inc_by(txs as u64);
    }

    /// Counts transactions gossiped to peers.
    pub fn count_gossip_sent(&self, txs: usize) {
        self.metrics.gossip_sent.inc_by(txs as u64);
    }

    /// Records how long executing a block took.
    pub fn record_execution(
        &self,
        mode: crate::execute::Mode,
        executed: &crate::execute::Executed,
    ) {
        let histogram = match mode {
            crate::execute::Mode::Build => &self.metrics.build_seconds,
            crate::execute::Mode::Verify => &self.metrics.verify_seconds,
        };
        histogram.observe(executed.time.as_secs_f64());
        self.metrics.steps_seconds.observe(executed.steps_time.as_secs_f64());
    }

    /// Counts a transaction refused before the mempool, by its code.
    pub fn count_refusal(&self, code: machina_types::ErrorCode) {
        self.metrics.refusals.get_or_create(&vec![("code".into(), code.name().into())]).inc();
    }

    /// The genesis document.
    pub fn genesis(&self) -> &Arc<Genesis> {
        &self.genesis
    }

    /// The genesis hash.
    pub fn genesis_hash(&self) -> Hash {
        self.genesis_hash
    }

    /// The mempool.
    pub fn mempool(&self) -> &Mempool {
        &self.mempool
    }

    /// The latest finalized block, once one is known.
    pub fn tip(&self) -> Option<Tip> {
        self.tip.read().expect("tip lock").clone()
    }

    /// The finalized height (0 before the first block).
    pub fn height(&self) -> Height {
        self.tip().map_or(0, |t| t.height)
    }

    /// Subscribes to finalized blocks.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<FinalizedBlock>> {
        self.events.subscribe()
    }

    /// The (height, digest) of the recent block whose state root is `root`.
    pub fn block_of_root(&self, root: &Hash) -> Option<(Height, Hash)> {
        self.roots.lock().expect("roots lock").get(root).copied()
    }

    /// Remembers that `header`'s block (digest `digest`) produced its state root. Called
    /// before the block's state is applied, so a reader of the applied state can always
    /// find the block its root belongs to.
    pub fn note_root(&self, digest: Hash, header: &Header) {
        self.roots.lock().expect("roots lock").insert(header.state_root, (header.height, digest));
    }

    /// Keeps what an execution of block `digest` produced.
    pub fn cache_effects(&self, digest: Hash, output: machina_app::exec::BlockOutput) {
        let effects =
            Effects { receipts: Arc::new(output.receipts), events: Arc::new(output.events) };
        self.effects.lock().expect("effects lock").insert(digest, effects);
    }

    /// The cached receipts of block `digest`, if it was executed here and not yet finalized.
    pub fn receipts(&self, digest: &Hash) -> Option<Arc<Vec<Receipt>>> {
        self.effects.lock().expect("effects lock").get(digest).map(|e| e.receipts.clone())
    }

    /// Takes the cached effects of block `digest`, if it was executed here since start.
    pub fn take_effects(&self, digest: &Hash) -> Option<Effects> {
        self.effects.lock().expect("effects lock").remove(digest)
    }

    /// Calls `observer` with every finalized block (its state already applied) before the
    /// block's transactions read as finalized, the tip moves or subscribers hear of it: caches
    /// of the state use this to never serve a value older than what clients were told.
    pub fn observe(&self, observer: impl Fn(&FinalizedBlock) + Send + Sync + 'static) {
        self.observers.lock().expect("observers lock").push(Box::new(observer));
    }

    /// Records a finalized block: observers, tip, mempool pruning, metrics, subscribers.
    pub fn on_finalized(
        &self,
        block: FinalizedBlock,
        txs: &[machina_types::SignedTransaction],
        now_ms: u64,
    ) {
        for observer in self.observers.lock().expect("observers lock").iter() {
            observer(&block);
        }
        let hashes: Vec<Hash> = block.receipts.iter().map(|r| r.tx_hash).collect();
        for hash in &hashes {
            if let Some(pending) = self.mempool.get(hash) {
                let secs = now_ms.saturating_sub(pending.received_ms) as f64 / 1000.0;
                self.metrics.latency.observe(secs);
            }
        }
        self.mempool.on_finalized(block.header.height, txs, &hashes);
        let count = hashes.len() as u64;
        self.metrics.txs.inc_by(count);
        self.metrics.market.observe(&block);
        let _ = self.metrics.height.try_set(block.header.height);
        let _ = self.metrics.mempool.try_set(self.mempool.len());
        let _ = self.metrics.tps.try_set(self.rate(now_ms, count));
        use std::sync::atomic::Ordering::Relaxed;
        let _ = self.metrics.panics.try_set(machina_app::exec::PANICS.load(Relaxed));
        let _ = self.metrics.step_failures.try_set(machina_app::exec::STEP_FAILURES.load(Relaxed));
        *self.tip.write().expect("tip lock") = Some(Tip {
            height: block.header.height,
            digest: block.digest,
            header: block.header.clone(),
        });
        let _ = self.events.send(Arc::new(block));
    }

    fn rate(&self, now_ms: u64, count: u64) -> u64 {
        let mut window = self.rate.lock().expect("rate lock");
        window.push_back((now_ms, count));
        while window.front().is_some_and(|(t, _)| now_ms.saturating_sub(*t) > RATE_WINDOW_MS) {
            window.pop_front();
        }
        let total: u64 = window.iter().map(|(_, c)| c).sum();
        let span = now_ms.saturating_sub(window.front().map_or(now_ms, |(t, _)| *t)).max(1000);
        total * 1000 / span
    }
}

use commonware_runtime::telemetry::metrics::GaugeExt as _;

/// A map that keeps only its most recently inserted `capacity` entries.
struct Recent<V> {
    map: BTreeMap<Hash, V>,
    order: VecDeque<Hash>,
    capacity: usize,
}

impl<V> Recent<V> {
    fn new(capacity: usize) -> Self {
        Self { map: BTreeMap::new(), order: VecDeque::new(), capacity }
    }

    fn insert(&mut self, key: Hash, value: V) {
        if self.map.insert(key, value).is_none() {
            self.order.push_back(key);
        }
        while self.order.len() > self.capacity {
            let old = self.order.pop_front().expect("non-empty");
            self.map.remove(&old);
        }
    }

    fn get(&self, key: &Hash) -> Option<&V> {
        self.map.get(key)
    }

    fn remove(&mut self, key: &Hash) -> Option<V> {
        self.map.remove(key)
    }
}
