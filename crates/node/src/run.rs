//! Runs a validator from its home directory on the tokio runtime: authenticated p2p over
//! TCP, the consensus engine, and the HTTP API, until Ctrl-C.

use crate::{
    api::{self, ApiState},
    engine::{self, Channels, EngineConfig, Timeouts, channel},
    gateway,
    health::Health,
    home::{Home, HomeError},
};
use commonware_cryptography::{ChaCha20Poly1305, Signer, ed25519};
use commonware_p2p::{Address as PeerAddress, AddressableManager, authenticated::lookup};
use commonware_runtime::{Metrics, Quota, Runner, Spawner, Supervisor, tokio as cw_tokio};
use commonware_stream::{
    cups::{self, Cups},
    sake::{self, Sake},
};
use commonware_utils::{NZU32, NZUsize, TryCollect, ordered::Map};
use std::{sync::Arc, time::Duration};

/// Why the node stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The home directory is unusable.
    #[error(transparent)]
    Home(#[from] HomeError),
    /// The node's key is not one of the genesis validators.
    #[error("this node's key {0} is not a validator of the genesis")]
    NotValidator(machina_types::Address),
    /// The API could not listen.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: std::net::SocketAddr,
        /// The error.
        source: std::io::Error,
    },
    /// A part of the node stopped unexpectedly.
    #[error("node stopped: {0}")]
    Stopped(String),
    /// The gateway could not start.
    #[error(transparent)]
    Gateway(#[from] gateway::GatewayError),
}

/// Messages per second per peer on each p2p channel.
pub const CHANNEL_QUOTA: Quota = Quota::per_second(NZU32!(8_192));

/// How the p2p transport notices that a TCP connection died and replaces it.
///
/// A cut link does not close a TCP connection: nothing errors, the kernel only retransmits
/// with exponential backoff (at 0.2, 0.6, 1.4, 3.0, 6.2, 12.6, 25.4, 51 s ...). While the
/// connection counts as open, p2p neither redials the peer nor accepts it. Without a short
/// timeout of our own, traffic resumes only at the first retransmission after the heal (up to
/// the partition's length later), and fresh messages then wait behind the queued pings, which
/// the receiver admits one per half ping period: tens of seconds in all. Every validator must
/// use the same values (a peer that pings more often than half our `ping_frequency` is
/// throttled).
#[derive(Clone, Copy, Debug)]
pub struct Transport {
    /// How often a connection carries at least a ping. Three pings per read timeout
    /// tolerate two lost or late ones (p2p's presets: 5 s local, 50 s recommended).
    pub ping_frequency: Duration,
    /// A connection that received nothing for this long is dead: it is closed and the peer
    /// redialed. Only a cut healed before a retransmission gets through within this keeps its
    /// connection (a cut of up to 1.4 s, resuming by 1.4 s); any longer one is redialed. It
    /// also bounds one batched write (up to 8 messages), ample on a LAN. Runtime default: 60 s.
    pub read_write_timeout: Duration,
    /// A dial to a cut peer hangs (its SYNs are lost) until this. Two seconds let TCP resend
    /// the SYN once, at 1 s, so a dial in flight at the heal still connects. Default: 10 s.
    pub connect_timeout: Duration,
    /// Authentication is one round trip and a few signatures. A dial that connected but
    /// hangs holds the peer's reservation (refusing the peer's own dials to us) until this.
    pub handshake_timeout: Duration,
    /// Bounds a whole dial attempt: connecting, then authenticating.
    pub dial_timeout: Duration,
    /// Minimum time between two connection attempts with a peer, either direction; the next
    /// dial after a failed one comes within 1.5 times this (jitter). The recommended 60 s
    /// would keep a validator cut off for up to 90 s after its link is back.
    pub peer_connection_cooldown: Duration,
    /// The dialer starts at most one attempt per tick, across all peers, so a handful of
    /// validators are all redialed within a few ticks of their cooldowns ending.
    pub dial_frequency: Duration,
}

/// The transport timing every validator runs with (see [`Transport`] for each value's why).
pub const TRANSPORT: Transport = Transport {
    ping_frequency: Duration::from_secs(1),
    read_write_timeout: Duration::from_secs(3),
    connect_timeout: Duration::from_secs(2),
    handshake_timeout: Duration::from_secs(2),
    dial_timeout: Duration::from_secs(4),
    peer_connection_cooldown: Duration::from_millis(500),
    dial_frequency: Duration::from_millis(100),
};

impl Transport {
    /// Applies the p2p part to a `lookup` preset.
    fn apply(&self, cfg: &mut lookup::Config<Handshake>) {
        cfg.ping_frequency = self.ping_frequency;
        cfg.handshake_timeout = self.handshake_timeout;
        cfg.dial_timeout = self.dial_timeout;
        cfg.peer_connection_cooldown = self.peer_connection_cooldown;
        cfg.dial_frequency = self.dial_frequency;
    }
}

/// What a started node hands to its caller.
pub struct Started {
    /// Chain knowledge and the mempool.
    pub chain: Arc<crate::chain::ChainInfo>,
    /// Where the API listens.
    pub api: std::net::SocketAddr,
    /// The gateway.
    pub gateway: Arc<gateway::Gateway>,
    /// The finalized state.
    pub db: crate::application::Databases<cw_tokio::Context>,
    /// The node's runtime, to run its async calls (such as admission) from other threads.
    pub runtime: tokio::runtime::Handle,
}

/// Runs the node in `home` until `shutdown` resolves (or a fatal error). `started` is called
/// once the node runs.
pub fn run<F>(
    home: &Home,
    shutdown: F,
    started: impl FnOnce(Started) + Send + 'static,
) -> Result<(), RunError>
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let mut config = home.config()?;
    config.gateway.resolve_paths(home.root());
    let genesis = Arc::new(home.genesis()?);
    let key = home.validator_key()?;
    let gateway_key = home.gateway_key()?;
    let me = machina_types::Address::of(&key.public_key());
    if !genesis.validators.contains(&me) {
        return Err(RunError::NotValidator(me));
    }
    let threads = match config.worker_threads {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    };
    let runtime = cw_tokio::Config::new()
        .with_storage_directory(home.data_dir())
        .with_worker_threads(threads)
        .with_catch_panics(false)
        .with_read_write_timeout(TRANSPORT.read_write_timeout)
        .with_connect_timeout(TRANSPORT.connect_timeout);
    cw_tokio::Runner::new(runtime).start(|context| async move {
        let listener = tokio::net::TcpListener::bind(config.api_listen)
            .await
            .map_err(|source| RunError::Listen { addr: config.api_listen, source })?;
        let validators = genesis.validator_set();
        let (pairs, p2p) = start_p2p(&context, &key, &genesis, &config, &validators);
        let (network, oracle) = p2p;
        let network = network.start();

        let engine_cfg = EngineConfig {
            signer: key.clone(),
            genesis: genesis.clone(),
            partition_prefix: "machina".into(),
            mempool: config.mempool,
            timeouts: Timeouts::for_genesis(&genesis),
            cache_pages: NZUsize!(16_384),
        };
        let node = engine::start(
            context.child("machina"),
            engine_cfg,
            Channels { pairs },
            oracle.clone(),
            oracle,
            |mailbox| mailbox,
        )
        .await;
        let db = node.stateful.subscribe_databases().await;
        let health = Arc::new(Health::new(&context.child("health")));
        watch_finality(health.clone(), node.chain.clone());
        let gateway = gateway::start(&context, &config.gateway, gateway_key, node.chain.clone(), db.clone(), health.clone()).await?;
        tracing::info!(api = %config.api_listen, p2p = %config.p2p_listen, mqtt = ?gateway.mqtt, "node started");
        started(Started {
            chain: node.chain.clone(),
            api: config.api_listen,
            gateway: gateway.clone(),
            db: db.clone(),
            runtime: tokio::runtime::Handle::current(),
        });

        let metrics_context = context.child("metrics");
        let metrics: Arc<dyn Fn() -> String + Send + Sync> =
            Arc::new(move || metrics_context.encode());
        let stopped = context.stopped();
        let limits = api::limits::RequestLimits::default();
        let requests = api::metrics::ApiMetrics::new(&context.child("api"));
        let index = Arc::new(crate::explorer::Index::default());
        let source = Arc::new(crate::explorer::Source { marshal: node.marshal.clone(), db: db.clone() });
        let (follow_index, chain) = (index.clone(), node.chain.clone());
        crate::health::supervise(&context, health.clone(), crate::explorer::SUBSYSTEM, move || {
            crate::explorer::follow(follow_index.clone(), chain.clone(), source.clone())
        });
        let state = ApiState { chain: node.chain.clone(), marshal: node.marshal.clone(), db, metrics, gateway, health, limits, requests, index };
        let api = context.child("api").spawn(move |_| async move {
            let listener = api::limits::LimitedListener::new(listener, config.api);
            let _ = axum::serve(listener, api::router(state))
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });

        let mut engine = node.handle;
        let outcome = tokio::select! {
            _ = shutdown => Ok(()),
            r = &mut engine => Err(RunError::Stopped(format!("consensus engine: {r:?}"))),
            r = network => Err(RunError::Stopped(format!("p2p network: {r:?}"))),
            r = api => Err(RunError::Stopped(format!("api server: {r:?}"))),
        };
        tracing::info!("shutting down");
        // Stop consensus and its actors together first (every finalized block is already
        // durable, and recovery replays the rest), so no actor outlives another it waits on.
        engine.abort();
        let _ = context.stop(0, Some(Duration::from_secs(5))).await;
        outcome
    })
}

/// The subsystem name of finalization in `/health`.
pub const FINALITY: &str = "finality";

/// Reports finalization down while no block has been finalized for a while: 30 block
/// intervals, at least 10 s (a validator network without a quorum, or a stuck node).
fn watch_finality(health: Arc<Health>, chain: Arc<crate::chain::ChainInfo>) {
    let interval = Duration::from_millis(chain.genesis().params.block_interval_ms);
    let limit = (interval * 30).max(Duration::from_secs(10));
    health.up(FINALITY);
    tokio::spawn(async move {
        let (mut height, mut since) = (chain.height(), std::time::Instant::now());
        let mut down = false;
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let now = chain.height();
            if now != height {
                (height, since) = (now, std::time::Instant::now());
                if down {
                    health.up(FINALITY);
                    down = false;
                }
            } else if !down && since.elapsed() > limit {
                let secs = since.elapsed().as_secs();
                health.down(FINALITY, format!("no block finalized for {secs} s at height {now}"));
                down = true;
            }
        }
    });
}

type Handshake = commonware_stream::SakeCups<ed25519::PrivateKey, ChaCha20Poly1305>;
type Network = lookup::Network<cw_tokio::Context, Handshake>;
type Oracle = lookup::Oracle<ed25519::PublicKey>;
type Pair =
    (lookup::Sender<ed25519::PublicKey, cw_tokio::Context>, lookup::Receiver<ed25519::PublicKey>);

fn start_p2p(
    context: &cw_tokio::Context,
    key: &ed25519::PrivateKey,
    genesis: &machina_app::Genesis,
    config: &crate::home::NodeConfig,
    validators: &commonware_utils::ordered::Set<ed25519::PublicKey>,
) -> (Vec<Pair>, (Network, Oracle)) {
    let handshake: Handshake = Cups::new(
        Sake {
            signer: key.clone(),
            synchrony_bound: Duration::from_secs(5),
            max_handshake_age: Duration::from_secs(10),
            version: sake::Version::V1,
        },
        cups::Version::V1,
    );
    let namespace = format!("machina/{}/p2p", genesis.chain_id).into_bytes();
    let max_peers =
        commonware_p2p::authenticated::peer_set_limit(validators.iter(), &key.public_key());
    let max_message = engine::max_message_size(validators.len());
    let make =
        if config.local_network { lookup::Config::local } else { lookup::Config::recommended };
    let mut p2p_cfg =
        make(handshake, &namespace, config.p2p_listen, max_peers, max_message, NZUsize!(1024));
    TRANSPORT.apply(&mut p2p_cfg);
    if !config.local_network {
        // Recommended admits one handshake per IP per 5 s. When two validators dial each
        // other at once, each refuses the other (a peer being dialed is not accepted), and
        // both retries would wait those 5 s. A validator redials at most once per cooldown.
        p2p_cfg.allowed_handshake_rate_per_ip =
            Quota::with_period(TRANSPORT.peer_connection_cooldown).expect("nonzero cooldown");
    }
    let (mut network, mut oracle) = lookup::Network::new(context.child("p2p"), p2p_cfg);
    let mut peers: Vec<(ed25519::PublicKey, PeerAddress)> = config
        .peers
        .iter()
        .filter_map(|p| Some((p.public_key.public_key()?, PeerAddress::from(p.address))))
        .collect();
    peers.push((key.public_key(), PeerAddress::from(config.p2p_listen)));
    peers.sort_by(|a, b| a.0.cmp(&b.0));
    peers.dedup_by(|a, b| a.0 == b.0);
    let peers: Map<ed25519::PublicKey, PeerAddress> =
        peers.into_iter().try_collect().expect("deduplicated");
    let _ = oracle.track(0, peers);
    let pairs = channel::ALL.iter().map(|c| network.register(*c, CHANNEL_QUOTA)).collect();
    (pairs, (network, oracle))
}
